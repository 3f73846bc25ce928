"""`bench tune` in-process: the grid sampler, and pruning through the runner's curve-point hook."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from harness.tuning.command import TuneOptions, tune_command

SMALL = ["train.batch_size=32", "d_width=16", "eval.batch_size=100"]


def options(backbone: Path, results: Path, trials: int, **kw) -> TuneOptions:
    return TuneOptions(method="gan_only", dataset="digits", budget_kimg=0.1, trials=trials, backbone=str(backbone),
                       results=results, device="cpu", overrides=list(SMALL), num_samples=100, show_progress=False,
                       **kw)


@pytest.mark.slow
def test_grid_study_runs_each_grid_point_once(tiny_backbone, tmp_path):
    o = options(tiny_backbone, tmp_path, 2, grid=True, study="g",
                space=["g_lr=1e-4,5e-4", "d_lr=5e-4", "r1_gamma=0.01"])
    summary = tune_command(o, echo=lambda _: None)
    params = sorted(t["params"]["g_lr"] for t in summary["trials"] if t["state"] == "complete")
    assert params == [1e-4, 5e-4] and summary["settings"]["sampler"] == "grid"
    assert not any(t["default"] for t in summary["trials"]), "a grid study does not enqueue the default"


@pytest.mark.slow
def test_curve_points_prune_trials_when_the_runner_reports_them(tiny_backbone, tmp_path, monkeypatch):
    """Curve points reach Optuna through the runner's ``on_curve_point`` hook and prune trials (a
    stand-in run reports points whose FD is worse for smaller lrs, then trains as usual)."""
    from harness import runner

    real_run = runner.run

    def run_with_points(config, results_dir, show_progress=True, on_curve_point=None, **kwargs):
        lr = config.method_config["g_lr"]
        for kimg in (0.025, 0.05, 0.075):  # worse FD for smaller lrs, like a curve would show
            on_curve_point({"kimg": kimg, "final": False, "metrics": [{"name": "fd", "value": 1e-3 / lr + kimg}]})
        return real_run(config, results_dir, show_progress=show_progress, **kwargs)

    monkeypatch.setattr(runner, "run", run_with_points)
    o = options(tiny_backbone, tmp_path, 6, study="p", startup_trials=1, seed=3,
                space=["g_lr=1e-5:1e-3", "d_lr=5e-4", "r1_gamma=0.01"])
    o.overrides.append("eval.every_kimg=0.025")  # the trials' runs have points before their end
    summary = tune_command(o, echo=lambda _: None)
    assert "median pruner" in summary["pruning"]
    states = [t["state"] for t in summary["trials"]]
    assert "pruned" in states and summary["spent"] == 6, states
    records = {p.parent.name for p in (tmp_path / "tuning" / "p").glob("*/record.json")}
    for t in summary["trials"]:
        assert (t["run_id"] in records) == (t["state"] == "complete"), "a pruned trial stops before its record"
    study = optuna.load_study(study_name="p", storage=f"sqlite:///{tmp_path / 'tuning' / 'p.db'}")
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert all(t.intermediate_values for t in pruned), "pruned on reported points"
    assert json.loads((tmp_path / "tuning" / "p" / "study.json").read_text())["spent"] == 6
