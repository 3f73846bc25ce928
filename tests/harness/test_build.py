"""harness.build: configs from records (one-line errors for foreign ones) and a stored run rebuilt whole."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from harness import records
from harness.build import config_from_record, configure, load_generator, load_run
from harness.errors import UsageError


def test_config_round_trips_through_a_record_and_foreign_ones_are_named(tiny_backbone) -> None:
    config = configure("gan_only", "digits", backbone=str(tiny_backbone), budget_kimg=0.1, device="cpu",
                       overrides=["train.batch_size=32", "d_width=16"], num_samples=100)
    stored = json.loads(json.dumps(records.sanitize({"config": asdict(config)})))
    assert config_from_record(stored) == config
    with pytest.raises(UsageError, match="holds no run config"):
        config_from_record({"step": 3}, "state.safetensors")
    stored["config"]["eval"]["colour"] = "blue"
    with pytest.raises(UsageError, match="unknown config key 'eval.colour'"):
        config_from_record(stored)


def test_load_run_returns_the_run_whole(tiny_backbone, tmp_path) -> None:
    from harness.runner import run

    config = configure("gan_only", "digits", backbone=str(tiny_backbone), budget_kimg=0.1, device="cpu",
                       overrides=["train.batch_size=32", "d_width=16", "eval.batch_size=100"], num_samples=100)
    path = run(config, tmp_path, show_progress=False)
    loaded = load_run(path.parent)
    assert loaded.record == json.loads(path.read_text()) and loaded.config.method == "gan_only"
    assert loaded.backbone.sha256 == loaded.record["backbone"]["sha256"]
    assert loaded.dataset.sha256 == loaded.record["data"]["sha256"]
    generator, record = load_generator(path.parent)
    z = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(generator(z, None), loaded.generator(z, None)) and record == loaded.record
    assert (path.parent / "checkpoint" / "run.json").is_file(), "a run stores its start settings for --resume"


def test_every_record_kind_has_the_same_envelope() -> None:
    record = records.envelope({"kind": "mismatch", "value": float("nan"), "path": records.REPO_ROOT}, "cpu")
    assert record["schema_version"] == records.SCHEMA_VERSION and record["created_utc"].endswith("Z")
    assert set(record["environment"]) == {"versions", "hardware", "git", "packages"}
    clean = records.sanitize(record)
    assert clean["value"] is None and clean["path"] == str(records.REPO_ROOT)


def test_a_stored_config_without_a_later_setting_rebuilds_as_it_ran() -> None:
    """Records made before PD's clipping and CD's RAdam/warm-up existed ran without them."""
    from harness.build import build_method  # noqa: F401  (the same path `bench run --resume` takes)

    base = asdict(configure("consistency_distillation", "digits"))
    old = json.loads(json.dumps(base))
    for key in ("optimizer", "lr_warmup_kimg"):
        old["method_config"].pop(key, None)
    rebuilt = config_from_record({"config": old})
    assert (rebuilt.method_config["optimizer"], rebuilt.method_config["lr_warmup_kimg"]) == ("adam", 0.0)
    new = json.loads(json.dumps(base))
    new["method_config"].update(optimizer="radam", lr_warmup_kimg=5.0)
    kept = config_from_record({"config": new})
    assert (kept.method_config["optimizer"], kept.method_config["lr_warmup_kimg"]) == ("radam", 5.0)
    pd = json.loads(json.dumps(asdict(configure("progressive_distillation", "digits"))))
    pd["method_config"].pop("max_grad_norm", None)
    assert config_from_record({"config": pd}).method_config["max_grad_norm"] == 0.0
