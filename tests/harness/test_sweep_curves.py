"""`bench sweep` reads budgets off curves: one run per method and seed to the largest budget with curve
points at the others; finished work is recognised; --separate-runs keeps one run per budget."""

import json

from harness.records import load_records
from harness.sweep import run_sweep

OVERRIDES = ["train.batch_size=32", "d_width=16", "eval.num_samples=100", "eval.batch_size=100"]


def sweep(results, backbone, lines, **kwargs):
    return run_sweep(["gan_only"], "digits", [0.25, 0.5], [0], results, OVERRIDES, "cpu", str(backbone),
                     show_progress=False, echo=lines.append, **kwargs)


def test_sweep_runs_one_curve_per_method_and_seed_and_skips_it_after(tiny_backbone, tmp_path):
    results, lines = tmp_path / "results", []
    separate = sweep(results, tiny_backbone, lines, separate_runs=True)
    assert len(separate) == 2
    assert sorted(r["budget_kimg"] for r in load_records(results)[0]) == [0.25, 0.5]
    (curve_path,) = sweep(results, tiny_backbone, lines)  # the 0.5 kimg run has no 0.25 point: one curve run
    record = json.loads(curve_path.read_text())
    assert record["budget_kimg"] == 0.5 and record["config"]["eval"]["at_kimg"] == [0.25]
    assert [(p["kimg"], p["final"]) for p in record["curve"]["points"]] == [(0.25, False), (0.5, True)]
    by_budget = {r["budget_kimg"]: r for r in load_records(results)[0] if "curve" not in r}
    assert record["curve"]["points"][0]["metrics"] == by_budget[0.25]["metrics"], \
        "the curve's 0.25 kimg point is the 0.25 kimg run's result"
    lines.clear()
    assert sweep(results, tiny_backbone, lines) == [] and sweep(results, tiny_backbone, lines, separate_runs=True) == []
    assert lines[0] == "skip (done): gan_only budget=0.5 kimg (curve points at 0.25 kimg) seed=0"
