"""`bench sample` never lets one generator's export vouch for another's images: files or shards no
manifest vouches for need --force, the manifest covers every export into the folder, and stale or
misnamed outputs are refused in one line before anything is made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import invoke_bench, snapshot, write_tiny_backbone


@pytest.fixture(scope="module")
def backbones(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("mixing")
    return {"one": write_tiny_backbone(folder / "one.safetensors"),
            "two": write_tiny_backbone(folder / "two.safetensors", seed=1),
            "cond": write_tiny_backbone(folder / "cond.safetensors", label_dim=3)}


def export(monkeypatch, capsys, backbone: Path, out: Path | str, seeds: str, *extra: str) -> tuple[int, str, str]:
    return invoke_bench(monkeypatch, capsys, "sample", "--method", "backbone_one_step", "--backbone", str(backbone),
                        "--seeds", seeds, "--out", str(out), "--quiet", *extra)


def manifest(folder: Path) -> dict:
    return json.loads((folder / "bench-sample.json").read_text())


def one_line(err: str) -> bool:
    return len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_pngs_without_a_manifest_are_refused_unless_force(backbones, tmp_path: Path, monkeypatch, capsys) -> None:
    """EDM's generate.py (or a deleted manifest) leaves the same file names and no bench-sample.json."""
    out = tmp_path / "s"
    assert export(monkeypatch, capsys, backbones["two"], out, "0-9")[0] == 0
    (out / "bench-sample.json").unlink()
    before = snapshot(out)
    code, _, err = export(monkeypatch, capsys, backbones["one"], out, "0-19")
    assert code == 2 and one_line(err) and "no bench-sample.json vouches for them" in err and "000000.png" in err, err
    assert snapshot(out) == before
    code, text, err = export(monkeypatch, capsys, backbones["one"], out, "0-19", "--force")
    assert code == 0 and "20 images written" in text, err
    assert export(monkeypatch, capsys, backbones["one"], tmp_path / "ref", "0-19")[0] == 0
    assert snapshot(out) == snapshot(tmp_path / "ref")  # every image is the new generator's


def test_pngs_the_manifest_does_not_list_are_refused(backbones, tmp_path: Path, monkeypatch, capsys) -> None:
    out, foreign = tmp_path / "s", tmp_path / "foreign"
    assert export(monkeypatch, capsys, backbones["one"], out, "0-9")[0] == 0
    assert export(monkeypatch, capsys, backbones["two"], foreign, "15")[0] == 0
    (out / "000015.png").write_bytes((foreign / "000015.png").read_bytes())  # copied in by hand
    before = snapshot(out)
    code, _, err = export(monkeypatch, capsys, backbones["one"], out, "0-19")
    assert code == 2 and one_line(err) and "000015.png" in err and "does not list them" in err, err
    assert snapshot(out) == before
    code, text, err = export(monkeypatch, capsys, backbones["one"], out, "0-14")  # what it lists is kept
    assert code == 0 and "5 images written, 10 already there kept" in text, err


def test_npz_parts_without_a_manifest_are_refused_unless_force(backbones, tmp_path: Path, monkeypatch,
                                                               capsys) -> None:
    import harness.evaluate

    out, parts = tmp_path / "m.npz", tmp_path / ".m.npz.parts"
    original, calls = harness.evaluate.generate_batch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(harness.evaluate, "generate_batch", interrupted)
        assert export(patch, capsys, backbones["two"], out, "0-9", "--batch", "3")[0] == 130
    (parts / "bench-sample.json").unlink()
    before = snapshot(parts)
    code, _, err = export(monkeypatch, capsys, backbones["one"], out, "0-9", "--batch", "3")
    assert code == 2 and one_line(err) and "no bench-sample.json" in err and str(parts) in err, err
    assert snapshot(parts) == before and not out.exists()
    code, text, err = export(monkeypatch, capsys, backbones["one"], out, "0-9", "--batch", "3", "--force")
    assert code == 0 and "10 images written" in text and not parts.exists(), err
    assert export(monkeypatch, capsys, backbones["one"], tmp_path / "ref.npz", "0-9", "--batch", "3")[0] == 0
    assert out.read_bytes() == (tmp_path / "ref.npz").read_bytes()


def test_the_manifest_describes_every_export_into_the_folder(backbones, tmp_path: Path, monkeypatch,
                                                             capsys) -> None:
    out = tmp_path / "s"
    assert export(monkeypatch, capsys, backbones["one"], out, "0-9")[0] == 0
    assert export(monkeypatch, capsys, backbones["one"], out, "3")[0] == 0
    assert (manifest(out)["seeds"], manifest(out)["num_images"]) == ("0-9", 10)
    assert export(monkeypatch, capsys, backbones["one"], out, "15-16")[0] == 0
    assert (manifest(out)["seeds"], manifest(out)["num_images"]) == ("0-9,15-16", 12)
    code, text, err = export(monkeypatch, capsys, backbones["one"], out, "0-16")  # the union vouches for 12
    assert code == 0 and "5 images written, 12 already there kept" in text, err
    assert (manifest(out)["seeds"], manifest(out)["num_images"]) == ("0-16", 17)
    code, _, err = export(monkeypatch, capsys, backbones["one"], out, "0-4", "--force")  # vouches for these only
    assert code == 0 and (manifest(out)["seeds"], manifest(out)["num_images"]) == ("0-4", 5), err
    code, _, err = export(monkeypatch, capsys, backbones["one"], out, "0-16")
    assert code == 2 and "000005.png" in err and "does not list them" in err, err


def test_an_older_manifest_still_loads(backbones, tmp_path: Path, monkeypatch, capsys) -> None:
    """Manifests before the union named the last call's seeds only; the images they name are kept."""
    out = tmp_path / "s"
    assert export(monkeypatch, capsys, backbones["one"], out, "0-4")[0] == 0
    old = manifest(out)
    (out / "bench-sample.json").write_text(json.dumps({**old, "seeds": "2-4", "num_images": 3}))
    for name in ("000000.png", "000001.png"):
        (out / name).unlink()
    code, text, err = export(monkeypatch, capsys, backbones["one"], out, "0-6")
    assert code == 0 and "4 images written, 3 already there kept" in text, err
    assert (manifest(out)["seeds"], manifest(out)["num_images"]) == ("0-6", 7)


def test_labels_listed_by_position_are_per_file_once_exports_mix(backbones, tmp_path: Path, monkeypatch,
                                                                 capsys) -> None:
    out = tmp_path / "s"
    assert export(monkeypatch, capsys, backbones["cond"], out, "0-3", "--class-labels", "0,1")[0] == 0
    assert export(monkeypatch, capsys, backbones["cond"], out, "9", "--class-labels", "2")[0] == 0
    got = manifest(out)
    assert (got["seeds"], got["num_images"]) == ("0-3,9", 5) and got["label_rule"].startswith("per file")
    assert dict(got["labels"]) == {"000000.png": 0, "000001.png": 1, "000002.png": 0, "000003.png": 1,
                                   "000009.png": 2}


def test_a_manifest_without_its_source_is_named_so(backbones, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "s"
    assert export(monkeypatch, capsys, backbones["one"], out, "0-1")[0] == 0
    (out / "bench-sample.json").write_text("{}")
    code, _, err = export(monkeypatch, capsys, backbones["one"], out, "0-1")
    assert code == 2 and one_line(err) and "a manifest without its source" in err and "None" not in err, err


def test_a_file_where_the_parts_folder_goes_is_refused(backbones, tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / ".x.npz.parts").write_text("stale")
    before = snapshot(tmp_path)
    for extra in ((), ("--force",)):
        code, _, err = export(monkeypatch, capsys, backbones["one"], tmp_path / "x.npz", "0-3", *extra)
        assert code == 2 and one_line(err) and ".x.npz.parts is a file" in err, err
        assert snapshot(tmp_path) == before and not (tmp_path / "x.npz").exists()


def test_an_npz_name_with_a_trailing_slash_is_refused(backbones, tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, err = export(monkeypatch, capsys, backbones["one"], f"{tmp_path}/x.npz/", "0-3")
    assert code == 2 and one_line(err) and "trailing slash" in err, err
    assert list(tmp_path.iterdir()) == []
