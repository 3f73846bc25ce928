"""`bench sample --out FILE.npz` resumes (harness/sample_shards.py): a stopped export continues from
its per-batch shards to the same bytes as one that never stopped; a damaged or foreign shard is
redone, never trusted; a killed run leaves no npz; another generator's parts need --force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import invoke_bench, write_tiny_backbone


@pytest.fixture(scope="module")
def conditional_backbone(tmp_path_factory) -> Path:
    return write_tiny_backbone(tmp_path_factory.mktemp("cond") / "cond.safetensors", label_dim=3)


def export(monkeypatch, capsys, backbone: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return invoke_bench(monkeypatch, capsys, "sample", "--method", "backbone_one_step", "--backbone", str(backbone),
                        "--seeds", "0-9", "--batch", "3", "--out", str(out), "--quiet", *extra)


def stop_after(monkeypatch, batches: int) -> None:
    """Ctrl-C in the middle of an export: the generator call after ``batches`` batches is interrupted."""
    import harness.evaluate

    original, calls = harness.evaluate.generate_batch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) > batches:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(harness.evaluate, "generate_batch", interrupted)


@pytest.fixture
def uninterrupted(conditional_backbone: Path, tmp_path: Path, monkeypatch, capsys) -> bytes:
    code, text, err = export(monkeypatch, capsys, conditional_backbone, tmp_path / "whole.npz")
    assert code == 0 and "10 images written" in text, err
    assert not (tmp_path / ".whole.npz.parts").exists()  # the shards are removed once assembled
    return (tmp_path / "whole.npz").read_bytes()


def test_a_stopped_export_resumes_to_the_same_file(conditional_backbone: Path, uninterrupted: bytes, tmp_path: Path,
                                                   monkeypatch, capsys) -> None:
    out, parts = tmp_path / "resumed.npz", tmp_path / ".resumed.npz.parts"
    with monkeypatch.context() as patch:
        stop_after(patch, 2)
        code, _, err = export(patch, capsys, conditional_backbone, out)
    assert code == 130 and f"aborted; the images of {out} made so far are kept: the same command continues" in err
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))  # no half-written npz anywhere
    assert sorted(p.name for p in parts.iterdir()) == ["bench-sample.json", "part-000000.npz", "part-000001.npz"]
    code, text, err = export(monkeypatch, capsys, conditional_backbone, out)
    assert code == 0 and "4 images written, 6 already there kept" in text, err
    assert out.read_bytes() == uninterrupted and not parts.exists()
    with np.load(out, allow_pickle=False) as data:
        assert sorted(data.files) == ["arr_0", "arr_1"] and data["arr_0"].shape == (10, 8, 8, 1)


def test_a_damaged_or_foreign_shard_is_redone(conditional_backbone: Path, uninterrupted: bytes, tmp_path: Path,
                                              monkeypatch, capsys) -> None:
    from harness.sample_files import write_arrays

    out, parts = tmp_path / "resumed.npz", tmp_path / ".resumed.npz.parts"
    with monkeypatch.context() as patch:
        stop_after(patch, 3)
        assert export(patch, capsys, conditional_backbone, out)[0] == 130
    damaged = bytearray((parts / "part-000000.npz").read_bytes())
    npy = damaged.index(b"\x93NUMPY")  # arr_0's .npy entry: 10 bytes, the header, then the pixels
    damaged[npy + 10 + int.from_bytes(damaged[npy + 8:npy + 10], "little") + 5] ^= 0xFF
    (parts / "part-000000.npz").write_bytes(bytes(damaged))
    with np.load(parts / "part-000001.npz", allow_pickle=False) as data:  # valid arrays of other seeds
        other = {"arr_0": data["arr_0"], "arr_1": data["arr_1"], "seeds": data["seeds"] + 100}
    write_arrays(parts / "part-000001.npz", other)
    (parts / "part-000002.npz").write_bytes((parts / "part-000002.npz").read_bytes()[:-40])  # cut short
    code, text, err = export(monkeypatch, capsys, conditional_backbone, out)
    assert code == 0 and "10 images written" in text, err
    assert out.read_bytes() == uninterrupted


def test_parts_of_another_generator_need_force(conditional_backbone: Path, tmp_path: Path, monkeypatch,
                                               capsys) -> None:
    out, parts = tmp_path / "x.npz", tmp_path / ".x.npz.parts"
    with monkeypatch.context() as patch:
        stop_after(patch, 1)
        assert export(patch, capsys, conditional_backbone, out)[0] == 130
    other = write_tiny_backbone(tmp_path / "other.safetensors", seed=1, label_dim=3)
    before = (parts / "part-000000.npz").read_bytes()
    code, _, err = export(monkeypatch, capsys, other, out)
    assert code == 2 and "unfinished export of another generator" in err and len(err.strip().splitlines()) == 1
    assert (parts / "part-000000.npz").read_bytes() == before and not out.exists()
    code, text, err = export(monkeypatch, capsys, other, out, "--force")
    assert code == 0 and "10 images written" in text and not parts.exists(), err
    with np.load(out, allow_pickle=False) as data:  # the npz itself holds only ADM's arrays
        assert sorted(data.files) == ["arr_0", "arr_1"] and data["arr_0"].shape == (10, 8, 8, 1)


def test_the_same_arrays_give_the_same_bytes(tmp_path: Path) -> None:
    from harness.sample_files import read_npz, write_npz

    images = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    first = write_npz(tmp_path / "a.npz", images, np.array([1, 0])).read_bytes()
    assert write_npz(tmp_path / "b.npz", images, np.array([1, 0])).read_bytes() == first
    read, labels = read_npz(tmp_path / "a.npz")
    assert np.array_equal(read, images) and labels.tolist() == [1, 0]
