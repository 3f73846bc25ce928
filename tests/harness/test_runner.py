"""The shared training loop end to end on digits, with a tiny random backbone the test writes."""

import json
from pathlib import Path

import pytest
import torch

from harness.runner import configure, run


def tiny_config(backbone: Path, method: str = "gan_only", seed: int = 0, budget: float = 0.5, samples: int = 200):
    return configure(method, "digits", backbone=str(backbone), budget_kimg=budget, seed=seed, device="cpu",
                     overrides=["train.batch_size=32", "eval.batch_size=100", "d_width=16"] if method == "gan_only"
                     else ["num_steps=2"], num_samples=samples)


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_gan_only_record_has_everything_needed_to_reproduce(tiny_backbone, tmp_path):
    path = run(tiny_config(tiny_backbone), tmp_path / "results", show_progress=False)
    record = read(path)
    assert record["status"] == "completed" and record["method"] == "gan_only" and record["nfe"] == 1
    assert record["budget_kimg"] == 0.5 and record["training"]["images_seen"] >= 500
    assert len(record["backbone"]["sha256"]) == 64 and len(record["data"]["sha256"]) == 64
    assert record["config"]["method_config"]["d_width"] == 16
    assert set(record["environment"]["versions"]) >= {"torch", "numpy", "python", "bench"}
    assert "commit" in record["environment"]["git"]
    names = {m["name"]: m for m in record["metrics"]}
    assert set(names) == {"fd", "precision", "recall"}
    assert names["fd"]["num_samples"] == 200 and names["fd"]["extractor"] == "digits-classifier"
    assert names["fd"]["value"] > 0 and 0 <= names["precision"]["value"] <= 1
    assert (path.parent / "samples.png").is_file() and (path.parent / "generator.safetensors").is_file()
    from harness.sample_grid import read_tiles  # the grid is titled, padded, and cut back into its samples

    tiles, layout = read_tiles(path.parent / "samples.png", 8, 0, 64)
    assert layout.top > 0 and layout.gutter > 0 and len(tiles) == layout.count and tiles[0].shape[0] == 8


def test_same_seed_same_metrics_and_weights(tiny_backbone, tmp_path):
    a = run(tiny_config(tiny_backbone, seed=3), tmp_path / "r", show_progress=False)
    b = run(tiny_config(tiny_backbone, seed=3), tmp_path / "r", show_progress=False)
    c = run(tiny_config(tiny_backbone, seed=4), tmp_path / "r", show_progress=False)
    assert a.parent != b.parent
    values = lambda p: [m["value"] for m in read(p)["metrics"]]  # noqa: E731
    assert values(a) == values(b)
    assert values(a) != values(c)
    from harness.backbones.files import load_weights

    wa, _ = load_weights(a.parent / "generator.safetensors")
    wb, _ = load_weights(b.parent / "generator.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_teacher_does_not_train_and_counts_nfe(tiny_backbone, tmp_path):
    record = read(run(tiny_config(tiny_backbone, method="teacher"), tmp_path / "r", show_progress=False))
    assert record["status"] == "completed" and record["nfe"] == 3 and record["budget_kimg"] == 0.0
    assert record["training"] == {}


def test_nan_loss_gives_failed_record_without_metrics(tiny_backbone, tmp_path, monkeypatch):
    from baselines.gan_only import GanOnly

    original = GanOnly.train_step

    def poisoned(self, real, labels, step, rng):
        losses = original(self, real, labels, step, rng)
        if step == 3:
            losses["loss_g"] = torch.tensor(float("nan"))
        return losses

    monkeypatch.setattr(GanOnly, "train_step", poisoned)
    record = read(run(tiny_config(tiny_backbone), tmp_path / "r", show_progress=False))
    assert record["status"] == "failed" and record["metrics"] == []
    assert record["failure"]["step"] == 4 and "loss_g" in record["failure"]["reason"]


def test_resolution_mismatch_is_caught_before_training(tmp_path):
    from helpers import write_tiny_backbone
    from harness.errors import BenchError

    wrong = write_tiny_backbone(tmp_path / "wrong.safetensors", img_resolution=16)
    with pytest.raises(BenchError, match="dataset digits is 1x8x8 but backbone wrong is 1x16x16"):
        run(tiny_config(wrong), tmp_path / "r", show_progress=False)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
