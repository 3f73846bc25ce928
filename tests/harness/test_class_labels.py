"""`bench sample --class-labels` (harness/class_labels.py): several labels assigned to seeds by
position, cycling; recorded in the npz's arr_1 and the PNG folder's manifest; refused for an
unconditional model and outside the model's classes before any sampling (through the entry point)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.class_labels import assign, parse_class_labels
from harness.errors import UsageError
from helpers import invoke_bench, run_main_in_process, snapshot, write_tiny_backbone


@pytest.fixture(scope="module")
def backbones(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("backbones")
    return {"cond": write_tiny_backbone(folder / "cond.safetensors", label_dim=4),
            "uncond": write_tiny_backbone(folder / "uncond.safetensors")}


def sample(monkeypatch, capsys, backbone: Path, *args: str) -> tuple[int, str, str]:
    return invoke_bench(monkeypatch, capsys, "sample", "--method", "backbone_one_step", "--backbone", str(backbone),
                        "--quiet", *args)


def test_labels_cycle_through_the_list_by_seed_position() -> None:
    assert parse_class_labels("0,3,7") == [0, 3, 7] and parse_class_labels("1-3,1") == [1, 2, 3, 1]
    assert assign(parse_class_labels("0,3,7"), 7) == [0, 3, 7, 0, 3, 7, 0]
    assert assign(parse_class_labels("0-9"), 10) == list(range(10))  # as many as seeds: one each
    assert assign([2], 3) == [2, 2, 2] and assign(None, 3) is None and parse_class_labels(None) is None
    for text, message in (("a", "'a' is not a class label"), ("3-1", "ends before it starts"), ("", "not a class")):
        with pytest.raises(UsageError, match=message):
            parse_class_labels(text)


def test_labels_are_stored_in_arr_1_and_the_png_manifest(backbones, tmp_path: Path, monkeypatch, capsys) -> None:
    from PIL import Image

    from harness.sample_files import read_npz

    common = ["--seeds", "5,1,10-12", "--class-labels", "3,0"]
    code, _, err = sample(monkeypatch, capsys, backbones["cond"], *common, "--out", str(tmp_path / "s.npz"))
    assert code == 0, err
    images, labels = read_npz(tmp_path / "s.npz")
    assert labels.tolist() == [3, 0, 3, 0, 3]  # seeds 5, 1, 10, 11, 12 in the order listed
    code, _, err = sample(monkeypatch, capsys, backbones["cond"], *common, "--out", str(tmp_path / "png"))
    assert code == 0, err
    manifest = json.loads((tmp_path / "png" / "bench-sample.json").read_text())
    assert manifest["labels"] == [["000001.png", 0], ["000005.png", 3], ["000010.png", 3], ["000011.png", 0],
                                  ["000012.png", 3]] and manifest["class_labels"] == "3,0"
    pngs = [np.asarray(Image.open(tmp_path / "png" / f"{s:06d}.png")) for s in (5, 1, 10, 11, 12)]
    assert np.array_equal(images[..., 0], np.stack(pngs))
    # The labels are what the generator is given (a random tiny backbone barely reacts to its class).
    import harness.evaluate

    given, original = [], harness.evaluate.seed_latents

    def spy(*args, **kwargs):
        latents, onehot = original(*args, **kwargs)
        given.extend(onehot.argmax(1).tolist())
        return latents, onehot

    monkeypatch.setattr(harness.evaluate, "seed_latents", spy)
    code, _, err = sample(monkeypatch, capsys, backbones["cond"], *common, "--out", str(tmp_path / "again.npz"))
    assert code == 0 and given == [3, 0, 3, 0, 3], err


def test_drawn_labels_are_recorded_and_a_resume_with_other_labels_is_refused(backbones, tmp_path: Path, monkeypatch,
                                                                             capsys) -> None:
    from harness.evaluate import seed_latents

    out = tmp_path / "png"
    code, _, err = sample(monkeypatch, capsys, backbones["cond"], "--seeds", "0-3", "--out", str(out))
    assert code == 0, err
    drawn = seed_latents(range(4), (1, 8, 8), 4)[1].argmax(1).tolist()  # the eval protocol's classes
    assert [label for _, label in json.loads((out / "bench-sample.json").read_text())["labels"]] == drawn
    other = [str((d + 1) % 4) for d in drawn]
    before = snapshot(out)
    code, _, err = sample(monkeypatch, capsys, backbones["cond"], "--seeds", "0-3", "--class-labels",
                          ",".join(other), "--out", str(out))
    assert code == 2 and "is kept from before with class" in err and snapshot(out) == before, err
    code, text, err = sample(monkeypatch, capsys, backbones["cond"], "--seeds", "0-5", "--out", str(out))
    assert code == 0 and "2 images written, 4 already there kept" in text, err
    code, text, err = sample(monkeypatch, capsys, backbones["cond"], "--seeds", "0-3", "--class-labels",
                             ",".join(other), "--out", str(out), "--force")
    assert code == 0 and "4 images written" in text, err
    labels = dict(json.loads((out / "bench-sample.json").read_text())["labels"])
    assert [labels[f"{s:06d}.png"] for s in range(4)] == [int(o) for o in other]


@pytest.mark.parametrize("model, labels, message", [
    ("uncond", "0", "--class-labels 0: the model is unconditional"),
    ("cond", "1,4", "--class-labels 1,4: label 4 is outside the model's 4 classes (0-3)"),
])
def test_entry_point_refuses_labels_the_model_cannot_take(backbones, model: str, labels: str, message: str,
                                                          tmp_path: Path) -> None:
    result = run_main_in_process("sample", "--method", "backbone_one_step", "--backbone", str(backbones[model]),
                                 "--seeds", "0-3", "--class-labels", labels, "--out", str(tmp_path / "o.npz"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # no npz, no parts folder


def test_a_label_list_that_does_not_parse_is_refused_before_loading(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, err = sample(monkeypatch, capsys, tmp_path / "no-such-backbone.pkl", "--seeds", "0-3", "--class-labels",
                          "0,x", "--out", str(tmp_path / "o"))
    assert code == 2 and "--class-labels 0,x: 'x' is not a class label" in err and not (tmp_path / "o").exists()
