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


def test_a_run_an_interrupted_sweep_left_is_continued_not_started_over(tiny_backbone, tmp_path):
    """A sweep stopped mid-run left that run unfinished beside the new one the next sweep started;
    now the next sweep resumes it from its checkpoint in the same folder, to the same record."""
    results, lines = tmp_path / "results", []
    (path,) = sweep(results, tiny_backbone, lines)
    whole = json.loads(path.read_text())
    path.unlink()  # as if stopped after its last checkpoint, before its record
    lines.clear()
    (again,) = sweep(results, tiny_backbone, lines)
    said = [line for line in lines if line.startswith("resume (stopped before): gan_only budget=0.5 kimg")]
    assert again == path and len(said) == 1 and said[0].endswith(path.parent.name)
    assert [p.name for p in results.iterdir() if not p.name.startswith(".")] == [path.parent.name]
    resumed = json.loads(again.read_text())
    assert resumed["metrics"] == whole["metrics"]
    assert [p["metrics"] for p in resumed["curve"]["points"]] == [p["metrics"] for p in whole["curve"]["points"]]

    lines.clear()  # a stopped run with other settings is not this grid point's: left alone, a new run made
    path.unlink()
    other = run_sweep(["gan_only"], "digits", [0.25, 0.5], [0], results, [*OVERRIDES, "g_lr=1e-3"], "cpu",
                      str(tiny_backbone), show_progress=False, echo=lines.append)
    assert other[0] != path and not any(line.startswith("resume") for line in lines)


def test_ctrl_c_in_a_sweep_says_the_same_sweep_continues_and_it_does(tiny_backbone, tmp_path, monkeypatch, capsys):
    import harness.runner
    from helpers import invoke_bench

    results = tmp_path / "results"
    args = ["sweep", "--methods", "gan_only", "--budgets", "0.25", "--seeds", "0", "--results", str(results),
            "--backbone", str(tiny_backbone), "--device", "cpu", "--quiet",
            *[part for o in OVERRIDES for part in ("--set", o)]]

    def stopped(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(harness.runner, "train", stopped)
        code, _, err = invoke_bench(monkeypatch, capsys, *args)
    (left,) = [p for p in results.iterdir() if not p.name.startswith(".")]
    assert code == 130 and f"the same bench sweep command continues, resuming {left.name}" in err, err
    code, out, err = invoke_bench(monkeypatch, capsys, *args)
    assert code == 0 and f"resume (stopped before): gan_only budget=0.25 kimg seed=0: {left.name}" in out, err
    assert (left / "record.json").is_file() and [p for p in results.iterdir() if not p.name.startswith(".")] == [left]
