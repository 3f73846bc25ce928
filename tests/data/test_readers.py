"""Format readers and dataset loaders on small files written here, plus the real Debian Fashion-MNIST.

Every damaged-input case must end in a one-line BenchError naming the file; missing data must end
in a MissingArtefactError that says where to get it and where to put it, fast and without network.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harness.download import OFFLINE_ENVS
from harness.data import DATASETS
from harness.data import cifar10, edm_zips, fashion_mnist, readers
from harness.errors import BenchError, MissingArtefactError

REAL_HOST_REACHABLE = readers.host_reachable

# ---------------------------------------------------------------------------------------------
# helpers that write the formats
# ---------------------------------------------------------------------------------------------


def cifar_batch(n: int, seed: int, label_offset: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"training batch", b"labels": [(i + label_offset) % 10 for i in range(n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}


def write_cifar_dir(root: Path, n: int = 2) -> Path:
    directory = root / readers.CIFAR10_DIR
    directory.mkdir(parents=True)
    for i, name in enumerate(readers.CIFAR10_TRAIN_BATCHES + readers.CIFAR10_TEST_BATCHES):
        (directory / name).write_bytes(pickle.dumps(cifar_batch(n, seed=i, label_offset=i), protocol=2))
    return directory


def write_tar_gz(directory: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(directory, arcname=directory.name)
    return dest


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def edm_images(n: int, res: int = 8, channels: int = 3) -> list[np.ndarray]:
    """HWC (or HW) uint8 images whose first pixel is their index, so order is checkable."""
    shape = (res, res, channels) if channels == 3 else (res, res)
    images = [np.random.default_rng(i).integers(0, 256, shape, dtype=np.uint8) for i in range(n)]
    for i, image in enumerate(images):
        image.flat[0] = i
    return images


def edm_name(i: int) -> str:
    return f"{i // 1000:05d}/img{i:08d}.png"


def write_edm_zip(dest: Path, images: list[np.ndarray], labels: object = "none") -> Path:
    """EDM's layout; ``labels`` "none" omits dataset.json, else it is written as {"labels": labels}."""
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in reversed(range(len(images))):  # written out of order: the reader must sort
            zf.writestr(edm_name(i), png_bytes(images[i]))
        if labels != "none":
            zf.writestr("dataset.json", json.dumps({"labels": labels}))
    return dest


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def assert_names(exc: pytest.ExceptionInfo, *parts: object) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for part in parts:
        assert str(part) in message, f"{part!r} not in {message!r}"


# ---------------------------------------------------------------------------------------------
# CIFAR-10 python batches
# ---------------------------------------------------------------------------------------------


def test_cifar_dir_reads_batches_in_order(tmp_path: Path) -> None:
    directory = write_cifar_dir(tmp_path)
    images, labels = readers.read_cifar10_dir(directory)
    assert images.shape == (10, 3, 32, 32) and images.dtype == np.uint8
    expected = np.concatenate([cifar_batch(2, i, i)[b"data"] for i in range(5)]).reshape(-1, 3, 32, 32)
    np.testing.assert_array_equal(images, expected)
    assert labels.tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5] and labels.dtype == np.int64
    test_images, _ = readers.read_cifar10_dir(directory, readers.CIFAR10_TEST_BATCHES)
    np.testing.assert_array_equal(test_images, cifar_batch(2, 5, 5)[b"data"].reshape(-1, 3, 32, 32))


def py2_cifar_batch(data: bytes, labels: list[int]) -> bytes:
    """A batch exactly as the real files are: Python 2 cPickle protocol 2, py2 ``str`` keys and
    pixel data, the array under numpy 1's ``numpy.core.multiarray._reconstruct`` name."""
    def string(b: bytes) -> bytes:
        return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<I", len(b)) + b)

    dtype = (b"cnumpy\ndtype\n" + string(b"u1") + b"K\x00K\x01\x87R(K\x03" + string(b"|")
             + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + string(b"b") + b"\x87R"
             + b"(K\x01" + struct.pack("<BHBH", ord("M"), len(labels), ord("M"), 3072) + b"\x86" + dtype
             + b"\x89" + string(data) + b"tb")
    label_list = b"](" + b"".join(b"K" + bytes([label]) for label in labels) + b"e"
    return (b"\x80\x02}(" + string(b"batch_label") + string(b"training batch 1 of 5") + string(b"labels")
            + label_list + string(b"data") + array + b"u.")


def test_cifar_python2_pickle() -> None:
    data = np.random.default_rng(0).integers(0, 256, (3, 3072), dtype=np.uint8)
    images, labels = readers.parse_cifar10_batch(py2_cifar_batch(data.tobytes(), [6, 9, 9]), "data_batch_1")
    np.testing.assert_array_equal(images, data.reshape(3, 3, 32, 32))
    assert labels.tolist() == [6, 9, 9] and images.flags.writeable


def test_cifar_tar_matches_dir_and_str_keys_work(tmp_path: Path) -> None:
    directory = write_cifar_dir(tmp_path)
    (directory / "data_batch_3").write_bytes(pickle.dumps(
        {k.decode(): v for k, v in cifar_batch(2, 2, 2).items()}, protocol=pickle.HIGHEST_PROTOCOL))
    archive = write_tar_gz(directory, tmp_path / "cifar-10-python.tar.gz")
    from_tar, from_dir = readers.read_cifar10_tar(archive), readers.read_cifar10_dir(directory)
    np.testing.assert_array_equal(from_tar[0], from_dir[0])
    np.testing.assert_array_equal(from_tar[1], from_dir[1])


def test_cifar_truncated_tar(tmp_path: Path) -> None:
    archive = write_tar_gz(write_cifar_dir(tmp_path), tmp_path / "cifar-10-python.tar.gz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(BenchError) as exc:
        readers.read_cifar10_tar(archive)
    assert_names(exc, archive, "truncated")


def test_a_file_that_is_no_tar_archive_is_one_line(tmp_path: Path) -> None:
    """tarfile lists every compression it tried, one per line; the error stays one line."""
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"x")
    with pytest.raises(BenchError) as exc:
        readers.read_cifar10_tar(archive)
    assert_names(exc, archive, "not a tar archive (plain, gzip, bzip2 or xz)")


def test_cifar_tar_without_batches(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "readme.txt").write_text("hi")
    archive = write_tar_gz(other, tmp_path / "other.tar.gz")
    with pytest.raises(BenchError) as exc:
        readers.read_cifar10_tar(archive)
    assert_names(exc, archive, "data_batch_1")


@pytest.mark.parametrize("batch, message", [
    ({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}, "2 labels for 3 images"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "label 10 is outside 0..9"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [-1, 0]}, "label -1 is outside 0..9"),
    ({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, "expected uint8 [N, 3072]"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "expected uint8 [N, 3072]"),
    ({b"labels": [0, 1]}, "no 'data' entry"),
    ([1, 2, 3], "expected a dict"),
])
def test_cifar_mislabelled_batches(tmp_path: Path, batch: object, message: str) -> None:
    directory = write_cifar_dir(tmp_path)
    (directory / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(BenchError) as exc:
        readers.read_cifar10_dir(directory)
    assert_names(exc, directory / "data_batch_2", message)


def test_cifar_truncated_batch(tmp_path: Path) -> None:
    directory = write_cifar_dir(tmp_path)
    batch = directory / "data_batch_4"
    batch.write_bytes(batch.read_bytes()[:5000])
    with pytest.raises(BenchError) as exc:
        readers.read_cifar10_dir(directory)
    assert_names(exc, batch, "truncated")


def test_cifar_missing_batch_file(tmp_path: Path) -> None:
    directory = write_cifar_dir(tmp_path)
    (directory / "data_batch_5").unlink()
    with pytest.raises(BenchError) as exc:
        readers.read_cifar10_dir(directory)
    assert_names(exc, directory, "data_batch_5")


class _RunsShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_hostile_cifar_pickle_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    directory = write_cifar_dir(tmp_path)
    batch = directory / "data_batch_1"
    batch.write_bytes(pickle.dumps({b"data": _RunsShell(marker), b"labels": [0]}, protocol=2))
    with pytest.raises(BenchError) as exc:
        readers.read_cifar10_dir(directory)
    assert_names(exc, batch, f"refuses global {os.system.__module__}.system")
    assert not marker.exists()


@pytest.mark.parametrize("payload, named", [
    (b"cbuiltins\nexec\n(S'open(\"{m}\", \"w\")'\ntR.", "builtins.exec"),
    (b"c_codecs\nencode\n(Vx\nVrot13\ntR.", "rot13"),
    (b"cnumpy\nload\n(S'{m}'\ntR.", "numpy.load"),
])
def test_other_hostile_globals_are_refused(tmp_path: Path, payload: bytes, named: str) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(BenchError) as exc:
        readers.load_array_pickle(payload.replace(b"{m}", str(marker).encode()), "evil.pkl")
    assert_names(exc, "evil.pkl", named)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# EDM dataset_tool zips
# ---------------------------------------------------------------------------------------------


def test_edm_zip_with_labels_sorted_by_name(tmp_path: Path) -> None:
    images = edm_images(5)
    labels = [[edm_name(i), i % 3] for i in range(5)]
    archive = write_edm_zip(tmp_path / "toy-8x8.zip", images, list(reversed(labels)))
    array, read_labels = readers.read_edm_zip(archive)
    assert array.shape == (5, 3, 8, 8) and array.dtype == np.uint8
    np.testing.assert_array_equal(array, np.stack(images).transpose(0, 3, 1, 2))
    assert read_labels.tolist() == [0, 1, 2, 0, 1]


@pytest.mark.parametrize("labels", ["none", None])
def test_edm_zip_without_labels(tmp_path: Path, labels: object) -> None:
    archive = write_edm_zip(tmp_path / "toy.zip", edm_images(3, channels=1), labels)
    array, read_labels = readers.read_edm_zip(archive)
    assert array.shape == (3, 1, 8, 8) and read_labels is None


def test_edm_folder_layout(tmp_path: Path) -> None:
    images = edm_images(3)
    for i, image in enumerate(images):
        (tmp_path / edm_name(i)).parent.mkdir(exist_ok=True)
        (tmp_path / edm_name(i)).write_bytes(png_bytes(image))
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [[edm_name(i), 7] for i in range(3)]}))
    array, labels = readers.read_edm_dataset(tmp_path)
    np.testing.assert_array_equal(array, np.stack(images).transpose(0, 3, 1, 2))
    assert labels.tolist() == [7, 7, 7]


@pytest.mark.parametrize("labels, message", [
    ([[edm_name(0), 0], [edm_name(1), 1]], "2 labels for 3 images (no label for 00000/img00000002.png)"),
    ([[edm_name(i), 0] for i in range(3)] + [["00000/img00000009.png", 1]], "not in the archive"),
    ([[edm_name(i), [0.5, 0.5]] for i in range(3)], "integer class indices"),
    ([[edm_name(i)] for i in range(3)], "[file name, label] pairs"),
])
def test_edm_zip_mislabelled(tmp_path: Path, labels: object, message: str) -> None:
    archive = write_edm_zip(tmp_path / "toy.zip", edm_images(3), labels)
    with pytest.raises(BenchError) as exc:
        readers.read_edm_zip(archive)
    assert_names(exc, archive, message)


def test_edm_zip_bad_json(tmp_path: Path) -> None:
    archive = write_edm_zip(tmp_path / "toy.zip", edm_images(2))
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("dataset.json", "{not json")
    with pytest.raises(BenchError) as exc:
        readers.read_edm_zip(archive)
    assert_names(exc, archive, "dataset.json")


def test_edm_zip_truncated(tmp_path: Path) -> None:
    archive = write_edm_zip(tmp_path / "toy.zip", edm_images(4))
    archive.write_bytes(archive.read_bytes()[:-300])
    with pytest.raises(BenchError) as exc:
        readers.read_edm_zip(archive)
    assert_names(exc, archive, "truncated")


def test_edm_zip_corrupt_png(tmp_path: Path) -> None:
    archive = tmp_path / "toy.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(edm_name(0), png_bytes(edm_images(1)[0]))
        zf.writestr(edm_name(1), png_bytes(edm_images(1)[0])[:100])
    with pytest.raises(BenchError) as exc:
        readers.read_edm_zip(archive)
    assert_names(exc, f"{archive}:{edm_name(1)}", "truncated or corrupt image")


def test_edm_zip_member_that_is_no_image_is_named_without_a_buffer_repr(tmp_path: Path) -> None:
    archive = tmp_path / "toy.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(edm_name(0), b"plain text, not an image")
    with pytest.raises(BenchError) as exc:
        readers.read_edm_zip(archive)
    assert_names(exc, f"{archive}:{edm_name(0)}", "truncated or corrupt image (in no format PIL recognises)")
    assert " object at 0x" not in str(exc.value)


def test_edm_zip_mixed_sizes_and_modes(tmp_path: Path) -> None:
    archive = write_edm_zip(tmp_path / "toy.zip", [edm_images(1, res=8)[0], edm_images(1, res=16)[0]])
    with pytest.raises(BenchError) as exc:
        readers.read_edm_zip(archive)
    assert_names(exc, edm_name(1), "others are (3, 8, 8)")
    rgba = tmp_path / "rgba.zip"
    write_edm_zip(rgba, [np.zeros((8, 8, 4), np.uint8)])
    with pytest.raises(BenchError) as exc:
        readers.read_edm_zip(rgba)
    assert_names(exc, rgba, "mode RGBA")


def test_edm_checked_shape_and_labels(tmp_path: Path) -> None:
    labelled = write_edm_zip(tmp_path / "a.zip", edm_images(3), [[edm_name(i), i * 4] for i in range(3)])
    images, labels = readers.read_edm_checked(labelled, 8, 3, 10)
    assert labels.tolist() == [0, 4, 8]
    assert readers.read_edm_checked(labelled, 8, 3, 0)[1].tolist() == [0, 0, 0]  # unconditional: ignored
    with pytest.raises(BenchError) as exc:
        readers.read_edm_checked(labelled, 8, 3, 5)
    assert_names(exc, labelled, "label 8 is outside 0..4")
    with pytest.raises(BenchError) as exc:
        readers.read_edm_checked(labelled, 64, 3, 10)
    assert_names(exc, labelled, "8x8x3, expected 64x64x3")
    unlabelled = write_edm_zip(tmp_path / "b.zip", edm_images(3))
    with pytest.raises(BenchError) as exc:
        readers.read_edm_checked(unlabelled, 8, 3, 10)
    assert_names(exc, unlabelled, "no class labels")


# ---------------------------------------------------------------------------------------------
# idx files
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip(tmp_path: Path, gz: bool) -> None:
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1], np.uint8)
    read_images, read_labels = readers.read_idx_pair(write_idx(tmp_path / "im", images, gz),
                                                     write_idx(tmp_path / "lb", labels, gz), 10, (28, 28))
    np.testing.assert_array_equal(read_images[:, 0], images)
    assert read_labels.tolist() == labels.tolist() and read_labels.dtype == np.int64
    wide = np.arange(6, dtype=">i4").reshape(2, 3)
    (tmp_path / "wide").write_bytes(idx_bytes(wide, 0x0C))
    np.testing.assert_array_equal(readers.read_idx(tmp_path / "wide"), wide)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_wrong_magic(tmp_path: Path, gz: bool) -> None:
    data = b"\x08\x03\0\0" + bytes(100)
    path = tmp_path / "bad"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(BenchError) as exc:
        readers.read_idx(path)
    assert_names(exc, path, "bad magic")


def test_idx_truncated_raw_and_gz(tmp_path: Path) -> None:
    images = np.zeros((4, 28, 28), np.uint8)
    raw = write_idx(tmp_path / "raw", images, gz=False)
    raw.write_bytes(raw.read_bytes()[:-10])
    with pytest.raises(BenchError) as exc:
        readers.read_idx(raw)
    assert_names(exc, raw, "truncated")
    gz = write_idx(tmp_path / "gz.gz", images, gz=True)
    gz.write_bytes(gz.read_bytes()[:-12])
    with pytest.raises(BenchError) as exc:
        readers.read_idx(gz)
    assert_names(exc, gz, "truncated")
    header = tmp_path / "header"
    header.write_bytes(idx_bytes(images)[:9])
    with pytest.raises(BenchError) as exc:
        readers.read_idx(header)
    assert_names(exc, header, "truncated idx header")


def test_idx_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(3, np.uint8)) + b"\0")
    with pytest.raises(BenchError) as exc:
        readers.read_idx(path)
    assert_names(exc, path, "trailing bytes")


def test_idx_label_count_range_and_dims(tmp_path: Path) -> None:
    images = write_idx(tmp_path / "im", np.zeros((3, 28, 28), np.uint8), gz=False)
    short = write_idx(tmp_path / "short", np.zeros(2, np.uint8), gz=False)
    with pytest.raises(BenchError) as exc:
        readers.read_idx_pair(images, short, 10)
    assert_names(exc, short, "2 labels for the 3 images", images)
    wild = write_idx(tmp_path / "wild", np.array([0, 10, 1], np.uint8), gz=False)
    with pytest.raises(BenchError) as exc:
        readers.read_idx_pair(images, wild, 10)
    assert_names(exc, wild, "label 10 is outside 0..9")
    with pytest.raises(BenchError) as exc:  # labels and images swapped
        readers.read_idx_pair(wild, images, 10)
    assert_names(exc, wild, "expected uint8 images")
    with pytest.raises(BenchError) as exc:
        readers.read_idx_images(images, size=(32, 32))
    assert_names(exc, images, "[N, 32, 32]")


# ---------------------------------------------------------------------------------------------
# dataset loaders
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty cache dir, offline mode, and a network probe that fails the test if it is reached
    (``fetch`` probes before it imports torchvision's downloader, so nothing can download)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(readers.DATA_DIR_ENV, str(cache))
    monkeypatch.setenv("BENCH_OFFLINE", "1")

    def no_network(*args: object, **kwargs: object) -> bool:
        raise AssertionError("tried the network")

    monkeypatch.setattr(readers, "host_reachable", no_network)
    return cache


def test_registry_entries() -> None:
    expected = {"cifar10": (32, 3, 10, "edm-cifar10-32x32-uncond-ve", "inception-v3-compat"),
                "afhqv2-64": (64, 3, 0, "edm-afhqv2-64x64-uncond-ve", "inception-v3-compat"),
                "ffhq-64": (64, 3, 0, "edm-ffhq-64x64-uncond-ve", "inception-v3-compat"),
                "imagenet-64": (64, 3, 1000, "edm-imagenet-64x64-cond-adm", "inception-v3-compat"),
                "fashion-mnist": (32, 1, 10, "edm-fashion-mnist-32x32-uncond", "fashion-mnist-classifier")}
    for name, (res, channels, classes, backbone, extractor) in expected.items():
        spec = DATASETS.get(name)
        assert (spec.resolution, spec.channels, spec.num_classes, spec.default_backbone,
                spec.feature_extractor) == (res, channels, classes, backbone, extractor)


def test_cifar10_loads_dir_tar_and_edm_zip(tmp_path: Path) -> None:
    directory = write_cifar_dir(tmp_path)
    archive = write_tar_gz(directory, tmp_path / "cifar-10-python.tar.gz")
    images = edm_images(4, res=32)
    zipped = write_edm_zip(tmp_path / "cifar10-32x32.zip", images, [[edm_name(i), i] for i in range(4)])
    from_dir, from_tar = cifar10.load_cifar10(directory), cifar10.load_cifar10(archive)
    assert from_dir.sha256 == from_tar.sha256 and len(from_dir) == 10 and from_dir.images.dtype == torch.uint8
    assert cifar10.load_cifar10(tmp_path).sha256 == from_dir.sha256  # parent of cifar-10-batches-py
    from_zip = cifar10.load_cifar10(zipped)
    assert from_zip.images.shape == (4, 3, 32, 32) and from_zip.labels.tolist() == [0, 1, 2, 3]
    small = write_edm_zip(tmp_path / "small.zip", edm_images(2, res=8), [[edm_name(i), 0] for i in range(2)])
    with pytest.raises(BenchError) as exc:
        cifar10.load_cifar10(small)
    assert_names(exc, small, "expected 32x32x3")


def test_cifar10_from_cache(offline: Path) -> None:
    write_cifar_dir(offline)
    assert len(cifar10.load_cifar10(None)) == 10


def test_cifar10_missing_offline(offline: Path) -> None:
    start = time.monotonic()
    with pytest.raises(MissingArtefactError) as exc:
        cifar10.load_cifar10(None)
    assert time.monotonic() - start < 2
    assert_names(exc, cifar10.CIFAR10_URL, "cifar-10-python.tar.gz", offline / "cifar-10-python.tar.gz")


def test_cifar10_missing_unreachable_host(offline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline mode not set: the reachability probe fails fast and becomes the same clear error."""
    for name in OFFLINE_ENVS:
        monkeypatch.delenv(name, raising=False)

    def unreachable(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(readers.socket, "create_connection", unreachable)
    monkeypatch.setattr(readers, "host_reachable", REAL_HOST_REACHABLE)
    start = time.monotonic()
    with pytest.raises(MissingArtefactError) as exc:
        cifar10.load_cifar10(None)
    assert time.monotonic() - start < 3
    assert_names(exc, cifar10.CIFAR10_URL, offline / "cifar-10-python.tar.gz", "not reachable")


def test_cifar10_given_path_missing(tmp_path: Path) -> None:
    with pytest.raises(MissingArtefactError) as exc:
        cifar10.load_cifar10(tmp_path / "nope.tar.gz")
    assert_names(exc, tmp_path / "nope.tar.gz", cifar10.CIFAR10_URL)


@pytest.mark.parametrize("spec", edm_zips.EDM_ZIPS, ids=lambda s: s.name)
def test_edm_zip_datasets_missing(offline: Path, spec: edm_zips.EdmZip) -> None:
    start = time.monotonic()
    with pytest.raises(MissingArtefactError) as exc:
        DATASETS.get(spec.name).load(None)
    assert time.monotonic() - start < 2
    assert_names(exc, spec.file_name, offline / spec.file_name, "dataset_tool", spec.make_command)


def test_edm_zip_datasets_load(offline: Path) -> None:
    offline.mkdir()
    write_edm_zip(offline / "ffhq-64x64.zip", edm_images(3, res=64))
    ffhq = DATASETS.get("ffhq-64").load(None)
    assert ffhq.images.shape == (3, 3, 64, 64) and ffhq.num_classes == 0 and ffhq.labels.tolist() == [0, 0, 0]
    imagenet = write_edm_zip(offline / "in.zip", edm_images(2, res=64), [[edm_name(0), 999], [edm_name(1), 5]])
    assert DATASETS.get("imagenet-64").load(imagenet).labels.tolist() == [999, 5]
    with pytest.raises(MissingArtefactError) as exc:
        DATASETS.get("afhqv2-64").load(offline / "elsewhere.zip")
    assert_names(exc, offline / "elsewhere.zip", "dataset_tool")


def write_fashion_dir(directory: Path, gz: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 3), ("t10k", 2)):
        images = np.full((n, 28, 28), 200 if split == "train" else 100, np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(directory / f"{split}-images-idx3-ubyte{suffix}", images, gz)
        write_idx(directory / f"{split}-labels-idx1-ubyte{suffix}", np.arange(n, dtype=np.uint8), gz)


@pytest.mark.parametrize("gz", [False, True])
def test_fashion_mnist_from_path_is_padded_train_first(tmp_path: Path, gz: bool) -> None:
    write_fashion_dir(tmp_path, gz)
    data = fashion_mnist.load_fashion_mnist(tmp_path)
    assert data.images.shape == (5, 1, 32, 32) and data.images.dtype == torch.uint8
    assert data.labels.tolist() == [0, 1, 2, 0, 1]
    assert data.images[:, :, 2:30, 2:30].flatten(1).tolist() == [[200] * 784] * 3 + [[100] * 784] * 2
    x = data.all_images()
    border = torch.ones_like(x, dtype=torch.bool)
    border[:, :, 2:30, 2:30] = False
    assert (x[border] == -1).all()


def test_fashion_mnist_from_cache(offline: Path) -> None:
    write_fashion_dir(offline / "fashion-mnist", gz=True)
    assert len(fashion_mnist.load_fashion_mnist(None, system_dir=offline / "no-debian")) == 5


def test_fashion_mnist_missing_offline(offline: Path) -> None:
    start = time.monotonic()
    with pytest.raises(MissingArtefactError) as exc:
        fashion_mnist.load_fashion_mnist(None, system_dir=offline / "no-debian")
    assert time.monotonic() - start < 2
    assert_names(exc, "apt-get install dataset-fashion-mnist", offline / "fashion-mnist",
                 "train-images-idx3-ubyte.gz", fashion_mnist.MIRROR)


def test_fashion_mnist_given_dir_incomplete(tmp_path: Path) -> None:
    write_fashion_dir(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(MissingArtefactError) as exc:
        fashion_mnist.load_fashion_mnist(tmp_path)
    assert_names(exc, tmp_path, "t10k-labels-idx1-ubyte")


@pytest.mark.fashion_mnist  # skipped without the apt package (tests/conftest.py); CI runs it with it, required
def test_real_debian_fashion_mnist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The real data CI relies on; fails when the package is absent and BENCH_REQUIRE_FASHION_MNIST=1."""
    if not fashion_mnist.has_all_files(fashion_mnist.DEBIAN_DIR):
        pytest.fail(f"Fashion-MNIST is not installed in {fashion_mnist.DEBIAN_DIR}: "
                    "run `apt-get install dataset-fashion-mnist`", pytrace=False)
    monkeypatch.setenv(readers.DATA_DIR_ENV, str(tmp_path))  # must not come from a cache
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    data = DATASETS.get("fashion-mnist").load(None)
    assert str(fashion_mnist.DEBIAN_DIR) in data.source
    assert data.images.shape == (70000, 1, 32, 32) and data.images.dtype == torch.uint8
    assert data.labels.shape == (70000,) and torch.bincount(data.labels).tolist() == [7000] * 10
    x = data.batch(torch.arange(0, 70000, 7))[0]
    assert x.min() == -1 and x.max() == 1
    assert (x[:, :, :2] == -1).all() and (x[:, :, :, -2:] == -1).all()


def test_digits_reader_matches_scikit_learn():
    """The digits are read from scikit-learn's file without importing it; they must be its arrays."""
    from sklearn.datasets import load_digits

    from harness.data.digits import load_digits_dataset

    bunch = load_digits()
    dataset = load_digits_dataset()
    expected = torch.from_numpy(bunch.images).to(torch.float32).div(8.0).sub(1.0).unsqueeze(1)
    assert torch.equal(dataset.images, expected)
    assert torch.equal(dataset.labels, torch.from_numpy(bunch.target).to(torch.int64))
