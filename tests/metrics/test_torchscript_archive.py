"""The restricted TorchScript reader: tensors and attributes come out exactly, nothing in the file runs,
and damaged or foreign archives are one-line errors."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
import pytest
import torch
from torchscript_layers import Layers, layer, save_torchscript

from harness.errors import BenchError
from harness.metrics.torchscript_archive import read_tensors


@pytest.fixture
def small_archive(tmp_path: Path) -> tuple[Path, list[torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    tensors = [torch.randn(4, 3, 3, 3, generator=g), torch.randn(4, generator=g), torch.randn(4, generator=g),
               torch.rand(4, generator=g), torch.randn(5, 4, 1, 3, generator=g), torch.randn(5, generator=g),
               torch.randn(5, generator=g), torch.rand(5, generator=g)]
    net = Layers([layer(*tensors[:4], 2, (0, 0)), layer(*tensors[4:], 1, (0, 1))])
    return save_torchscript(net, tmp_path / "small.pt"), tensors


def test_reads_tensors_and_attributes_exactly(small_archive) -> None:
    path, tensors = small_archive
    archive = read_tensors(path)
    assert list(archive.tensors) == [f"layers.{i}.{p}" for i in (0, 1) for p in ("weight", "beta", "mean", "var")]
    for got, expected in zip(archive.tensors.values(), tensors):
        assert got.dtype == expected.dtype and torch.equal(got, expected)
    assert archive.scalars["layers.0.stride"] == 2 and archive.scalars["layers.0.padding"] == 0
    assert archive.scalars["layers.1.padding"] == [0, 1]
    assert archive.classes["layers.1"].endswith("Conv2dLayerAsymmetric")


def _rewrite(src: Path, dst: Path, replace: dict[str, bytes]) -> Path:
    """A copy of the zip ``src`` with some members' bytes replaced."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, replace.get(info.filename.split("/", 1)[1], zin.read(info)))
    return dst


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_refuses_any_other_global_and_runs_nothing(small_archive, tmp_path: Path) -> None:
    path, _ = small_archive
    exploit = _Exploit()
    exploit.marker = tmp_path / "ran"
    bad = _rewrite(path, tmp_path / "bad.pt", {"data.pkl": pickle.dumps(exploit, protocol=2)})
    with pytest.raises(BenchError, match=r"refusing to read: its data.pkl asks for the global '(posix|os)\.system'"):
        read_tensors(bad)
    assert not exploit.marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "not a zip", "no data.pkl", "short storage"])
def test_damaged_archives_are_one_line_errors(small_archive, tmp_path: Path, damage: str) -> None:
    path, _ = small_archive
    data = path.read_bytes()
    bad = tmp_path / "bad.pt"
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "not a zip":
        bad.write_bytes(b"\x80\x02}q\x00.")  # a pickle, not an archive
    elif damage == "no data.pkl":
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("archive/version", "3")
    else:
        _rewrite(path, bad, {"data/0": b"\x00" * 8})
    with pytest.raises(BenchError) as err:
        read_tensors(bad)
    message = str(err.value)
    assert "\n" not in message and str(bad) in message
    assert ("TorchScript archive" in message) or ("holds 8 bytes" in message)
