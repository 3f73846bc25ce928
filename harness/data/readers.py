"""Pure readers for the on-disk formats real datasets come in: CIFAR-10 python batches, EDM
``dataset_tool`` zips and idx files (MNIST / Fashion-MNIST).

Each reader returns numpy arrays (images uint8 NCHW, labels int64) and turns every way a file can
be wrong (truncated, corrupt, mislabelled) into a one-line ``BenchError`` that names the file, so
the CLI never shows a traceback for a bad download. The last section says where data files live
and fetches them when online; the dataset modules share it.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import tarfile
import threading
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlparse

import numpy as np

from harness.data.array_pickle import RefusedGlobal, load_array_pickle  # noqa: F401  (re-exported)
from harness.download import offline_requested
from harness.errors import BenchError, MissingArtefactError, in_brief

# Everything that reading a damaged file can raise; converted to BenchError at the boundary.
_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, zipfile.BadZipFile, tarfile.TarError, KeyError, IndexError)


# --- CIFAR-10 python batches -----------------------------------------------------------------

CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_BATCHES = ("test_batch",)
CIFAR10_DIR = "cifar-10-batches-py"


def _batch_field(batch: dict, key: str, where: str) -> Any:
    """CIFAR batches pickled by Python 2 have bytes keys, re-pickled ones str keys: accept both."""
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise BenchError(f"{where}: CIFAR-10 batch has no '{key}' entry")


def parse_cifar10_batch(data: bytes, where: str, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """One batch's bytes -> (uint8 [N, 3, 32, 32], int64 [N]), checking shapes and label range."""
    batch = load_array_pickle(data, where)
    if not isinstance(batch, dict):
        raise BenchError(f"{where}: CIFAR-10 batch is a {type(batch).__name__}, expected a dict")
    images = np.asarray(_batch_field(batch, "data", where))
    labels = np.asarray(_batch_field(batch, "labels", where))
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != 3 * 32 * 32:
        raise BenchError(f"{where}: CIFAR-10 data is {images.dtype} {images.shape}, expected uint8 [N, 3072]")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise BenchError(f"{where}: {labels.shape[0] if labels.ndim else 0} labels for {images.shape[0]} images")
    labels = checked_labels(labels, num_classes, where)
    return images.reshape(-1, 3, 32, 32), labels


def checked_labels(labels: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    """Class indices as int64, refusing non-integers and anything outside 0..num_classes-1."""
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise BenchError(f"{where}: labels are {labels.dtype}, expected integer class indices")
    labels = labels.astype(np.int64)
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise BenchError(f"{where}: label {int(bad[0])} is outside 0..{num_classes - 1}")
    return labels


def _concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def read_cifar10_dir(directory: Path, batches: Iterable[str] = CIFAR10_TRAIN_BATCHES) -> tuple[np.ndarray, np.ndarray]:
    """Read ``batches`` from an extracted ``cifar-10-batches-py`` directory, in order."""
    parts = []
    for name in batches:
        path = Path(directory) / name
        if not path.is_file():
            raise BenchError(f"{directory}: CIFAR-10 batch file '{name}' is missing")
        parts.append(parse_cifar10_batch(path.read_bytes(), str(path)))
    return _concat(parts)


def read_cifar10_tar(archive: Path, batches: Iterable[str] = CIFAR10_TRAIN_BATCHES) -> tuple[np.ndarray, np.ndarray]:
    """Read ``batches`` straight out of ``cifar-10-python.tar.gz`` (nothing is extracted to disk)."""
    wanted = list(batches)
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted and base not in found:
                    found[base] = tar.extractfile(member).read()  # type: ignore[union-attr]
    except _READ_ERRORS as exc:  # tarfile's "could not be opened" lists each compression it tried, one per line
        unopened = isinstance(exc, tarfile.ReadError) and str(exc).startswith("file could not be opened")
        raise BenchError(f"{archive}: " + ("not a tar archive (plain, gzip, bzip2 or xz)" if unopened else
                         f"truncated or corrupt tar archive ({type(exc).__name__}: {in_brief(exc)})")) from None
    missing = [name for name in wanted if name not in found]
    if missing:
        raise BenchError(f"{archive}: not the CIFAR-10 python archive (no {', '.join(missing)} inside)")
    return _concat([parse_cifar10_batch(found[name], f"{archive}:{name}") for name in wanted])


# --- EDM dataset_tool archives ---------------------------------------------------------------

_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".ppm", ".tif", ".tiff")


def _decode_image(data: bytes, where: str) -> np.ndarray:
    """PNG (or other PIL) bytes -> uint8 CHW; EDM's loader keeps L as 1 channel and RGB as 3."""
    import PIL.Image

    try:
        with PIL.Image.open(io.BytesIO(data)) as image:
            if image.mode not in ("L", "RGB"):
                raise BenchError(f"{where}: image mode {image.mode}, expected L or RGB (EDM dataset_tool output)")
            array = np.asarray(image)
    except BenchError:
        raise
    except (*_READ_ERRORS, PIL.UnidentifiedImageError, PIL.Image.DecompressionBombError, SyntaxError) as exc:
        why = "in no format PIL recognises" if isinstance(exc, PIL.UnidentifiedImageError) else exc  # not its buffer's repr
        raise BenchError(f"{where}: truncated or corrupt image ({why})") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _parse_edm_labels(raw: bytes | None, names: list[str], where: str) -> np.ndarray | None:
    """``dataset.json`` -> int64 labels in image order, or None when absent or ``{"labels": null}``."""
    if raw is None:
        return None
    try:
        labels = json.loads(raw)["labels"]
    except (ValueError, TypeError, KeyError) as exc:
        raise BenchError(f"{where}: dataset.json is not {{\"labels\": [[name, label], ...] or null}} ({exc})") from None
    if labels is None:
        return None
    try:
        by_name = {str(name): label for name, label in labels}
    except (TypeError, ValueError):
        raise BenchError(f"{where}: dataset.json labels must be [file name, label] pairs") from None
    if len(by_name) != len(names) or any(name not in by_name for name in names):
        unlabelled = next((name for name in names if name not in by_name), None)
        detail = f"no label for {unlabelled}" if unlabelled else "labels name files that are not in the archive"
        raise BenchError(f"{where}: dataset.json has {len(by_name)} labels for {len(names)} images ({detail})")
    values = [by_name[name] for name in names]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise BenchError(f"{where}: dataset.json labels must be integer class indices")
    return np.asarray(values, dtype=np.int64)


def _stack_images(names: list[str], read: Callable[[str], bytes], where: str) -> np.ndarray:
    """Decode every image into one preallocated array (no per-image copies kept), checking shapes."""
    from harness.progress import phase_progress

    if not names:
        raise BenchError(f"{where}: no images inside")
    first = _decode_image(read(names[0]), f"{where}:{names[0]}")
    if first.shape[1] != first.shape[2]:
        raise BenchError(f"{where}:{names[0]}: image is {first.shape[2]}x{first.shape[1]}, expected square")
    out = np.empty((len(names), *first.shape), dtype=np.uint8)
    out[0] = first
    # CIFAR-10's 50,000 PNGs take tens of seconds to decode: shown once it lasts (harness/progress.py).
    with phase_progress(f"decoding {len(names):,} images of {where}", len(names) - 1, "images") as advance:
        for i, name in enumerate(names[1:], start=1):
            image = _decode_image(read(name), f"{where}:{name}")
            if image.shape != first.shape:
                raise BenchError(f"{where}:{name}: image is {image.shape}, others are {first.shape} (CHW)")
            out[i] = image
            advance(1)
    return out


def read_edm_zip(archive: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """An EDM ``dataset_tool`` zip -> (uint8 [N, C, R, R] sorted by member name, int64 labels or None)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith(_IMAGE_EXTENSIONS))
            raw = zf.read("dataset.json") if "dataset.json" in zf.namelist() else None
            labels = _parse_edm_labels(raw, names, str(archive))
            images = _stack_images(names, zf.read, str(archive))
    except BenchError:
        raise
    except _READ_ERRORS as exc:
        raise BenchError(f"{archive}: truncated or corrupt zip archive ({type(exc).__name__}: {in_brief(exc)})") from None
    return images, labels


def read_edm_folder(folder: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The same layout as ``read_edm_zip``, unpacked into a directory (EDM accepts both)."""
    folder = Path(folder)
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in _IMAGE_EXTENSIONS)
    json_path = folder / "dataset.json"
    labels = _parse_edm_labels(json_path.read_bytes() if json_path.is_file() else None, names, str(folder))
    return _stack_images(names, lambda name: (folder / name).read_bytes(), str(folder)), labels


def read_edm_dataset(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    return read_edm_folder(path) if Path(path).is_dir() else read_edm_zip(path)



def read_edm_checked(path: Path, resolution: int, channels: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """An EDM archive that must hold ``channels`` x ``resolution`` x ``resolution`` images.

    With ``num_classes`` > 0 every image needs a label in range; with 0 (unconditional) labels are
    ignored and all zero, because AFHQv2's zip carries cat/dog/wild folder labels it was not trained on.
    """
    images, labels = read_edm_dataset(path)
    if images.shape[1:] != (channels, resolution, resolution):
        raise BenchError(f"{path}: images are {images.shape[2]}x{images.shape[3]}x{images.shape[1]}, "
                         f"expected {resolution}x{resolution}x{channels}")
    if not num_classes:
        return images, np.zeros(len(images), dtype=np.int64)
    if labels is None:
        raise BenchError(f"{path}: has no class labels (dataset.json missing or null); {num_classes} classes expected")
    return images, checked_labels(labels, num_classes, f"{path}: dataset.json")

# --- idx files (MNIST, Fashion-MNIST) --------------------------------------------------------

_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_maybe_gzip(path: Path) -> bytes:
    """Whole file, gunzipped when it starts with the gzip magic (whatever its name says)."""
    try:
        data = Path(path).read_bytes()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError, zlib.error) as exc:
        raise BenchError(f"{path}: truncated or corrupt gzip file ({exc})") from None


def parse_idx(data: bytes, where: str) -> np.ndarray:
    """idx bytes -> array: magic 0x0000, a dtype byte, a dims byte, big-endian int32 sizes, data.

    Byte data comes back as a read-only view of ``data`` (no copy: Fashion-MNIST is 55 MB and
    its loader copies once, into the padded array); wider types are converted to native order.
    """
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES or data[3] == 0:
        raise BenchError(f"{where}: not an idx file (bad magic {data[:4].hex() or 'empty'})")
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise BenchError(f"{where}: truncated idx header")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise BenchError(f"{where}: idx file has {len(data) - header} data bytes, header {shape} says {expected}"
                         f" ({'truncated' if len(data) - header < expected else 'trailing bytes'})")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array if dtype.itemsize == 1 else array.astype(dtype.newbyteorder("="))


def read_idx(path: Path) -> np.ndarray:
    """An idx file, raw or gzipped."""
    return parse_idx(_read_maybe_gzip(path), str(path))


def read_idx_images(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """idx3 uint8 images -> uint8 [N, 1, H, W] (read-only), optionally insisting on ``size``."""
    images = read_idx(path)
    if images.dtype != np.uint8 or images.ndim != 3 or (size is not None and images.shape[1:] != size):
        want = f"[N, {size[0]}, {size[1]}]" if size else "[N, H, W]"
        raise BenchError(f"{path}: idx holds {images.dtype} {images.shape}, expected uint8 images {want}")
    return images[:, None]


def read_idx_labels(path: Path, num_classes: int) -> np.ndarray:
    """idx1 uint8 labels -> int64 [N] in 0..num_classes-1."""
    labels = read_idx(path)
    if labels.ndim != 1:
        raise BenchError(f"{path}: idx holds {labels.dtype} {labels.shape}, expected a 1-d label vector")
    return checked_labels(labels, num_classes, str(path))


def read_idx_pair(images_path: Path, labels_path: Path, num_classes: int,
                  size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Matching image and label idx files, refusing a count mismatch."""
    images, labels = read_idx_images(images_path, size), read_idx_labels(labels_path, num_classes)
    if len(images) != len(labels):
        raise BenchError(f"{labels_path}: {len(labels)} labels for the {len(images)} images in {images_path}")
    return images, labels


# --- Where data files live, and fetching them when online ------------------------------------

DATA_DIR_ENV = "BENCH_DATA_DIR"


def data_cache_dir() -> Path:
    """Where datasets are looked for and downloaded to: $BENCH_DATA_DIR or ~/.cache/bench/data."""
    return Path(os.environ.get(DATA_DIR_ENV) or Path.home() / ".cache" / "bench" / "data").expanduser()




def host_reachable(url: str, timeout: float = 2.0) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout`` seconds, DNS included.

    The probe runs in a daemon thread because name resolution ignores socket timeouts; a machine
    without network must get its clear error in seconds, not after a minute-long resolver hang.
    """
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((parsed.hostname, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def fetch(url: str, dest: Path, md5: str | None, hint: str) -> Path:
    """Download ``url`` to ``dest`` with torchvision (md5-checked) if online, else raise ``hint``.

    ``hint`` is the whole user-facing message: what is missing, where to get it, where to put it.
    """
    if offline_requested():
        raise MissingArtefactError(f"{hint} (offline mode is set, so it was not downloaded)")
    if not host_reachable(url):
        raise MissingArtefactError(f"{hint} ({urlparse(url).hostname} is not reachable, so it was not downloaded)")
    from torchvision.datasets.utils import download_url

    try:
        download_url(url, str(dest.parent), dest.name, md5)
    except (OSError, RuntimeError, ValueError) as exc:
        raise MissingArtefactError(f"{hint} (download failed: {exc})") from None
    if not dest.is_file():
        raise MissingArtefactError(f"{hint} (download did not produce {dest})")
    return dest
