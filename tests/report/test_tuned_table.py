"""The tuned table (harness/report/tables/tuned.py) from synthetic studies, re-runs and default runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from report_fixtures import metric

from harness.records import RECORD_NAME, load_records, write_json_atomic
from harness.report import build_report
from harness.report.inputs import sort_records


def record(run_id: str, seed: int, fd: float, mc: dict, budget: float = 20.0, tags: dict | None = None) -> dict:
    return {"schema_version": 1, "run_id": run_id, "status": "completed", "method": "gan_only_frozen",
            "dataset": "digits", "seed": seed, "budget_kimg": budget, "nfe": 1, "teacher_passes_per_image": 0.0,
            "backbone": {"name": "edm-digits-8x8-uncond", "sha256": "b" * 64},
            "config": {"backbone": "edm-digits-8x8-uncond", "train": {"batch_size": 128},
                       "eval": {"first_seed": 0, "num_samples": 2000, "fd_impl": "own"}, "method_config": mc,
                       "tags": tags or {}},
            "metrics": [metric("fd", fd, "digits-classifier", 2000, "digits")]}


def store(folder: Path, rec: dict) -> None:
    (folder / rec["run_id"]).mkdir(parents=True)
    write_json_atomic(folder / rec["run_id"] / RECORD_NAME, rec)


def test_default_vs_tuned_row(tmp_path):
    results = tmp_path / "results"
    default_mc = {"g_lr": 5e-4, "freeze_level": 1}
    store(results, record("d0", 0, 10.0, default_mc))
    store(results, record("d1", 1, 14.0, default_mc))
    store(results, record("other-level", 0, 99.0, {"g_lr": 5e-4, "freeze_level": 2}))  # another method variant
    store(results, record("other-budget", 1, 98.0, default_mc, budget=5.0))
    store(results, record("tagged", 1, 97.0, default_mc, tags={"study": "x", "role": "trial"}))
    control = record("random-init", 0, 96.0, {**default_mc, "init": "random"})  # the thesis control, not a default
    store(results, {**control, "method_info": {"init": "random"}})
    study = results / "tuning" / "digits-gan_only_frozen-5kimg"
    tuned_mc = {"g_lr": 1e-3, "freeze_level": 1}
    tags = {"study": study.name, "role": "rerun", "from_trial": 0, "params": {"g_lr": 1e-3}}
    store(study / "reruns", record("t0", 0, 4.0, tuned_mc, tags=tags))
    store(study / "reruns", record("t1", 1, 6.0, tuned_mc, tags=tags))
    store(study / "reruns", record("stale", 2, 50.0, {"g_lr": 2e-4, "freeze_level": 1}, tags={**tags, "from_trial": 3}))
    trials = [{"number": 0, "state": "complete", "value": 3.0, "params": {"g_lr": 1e-3}},
              {"number": 1, "state": "complete", "value": 7.0, "params": {"g_lr": 5e-4}},
              {"number": 2, "state": "complete", "value": 5.0, "params": {"g_lr": 1e-4}},
              {"number": 3, "state": "pruned", "value": None, "params": {"g_lr": 2e-4}},
              {"number": 4, "state": "fail", "value": None, "params": {"g_lr": 2e-3}, "outcome": "diverged"},
              {"number": 5, "state": "fail", "value": None, "params": {"g_lr": 2e-3}, "outcome": "surplus"}]
    (study / "study.json").write_text(json.dumps({
        "settings": {"method": "gan_only_frozen", "dataset": "digits", "backbone": "edm-digits-8x8-uncond",
                     "budget_kimg": 5.0, "sampler": "tpe", "space": {"g_lr": {"kind": "float"}}},
        "defaults": {"g_lr": 5e-4}, "spent": 5, "trials": trials, "pruning": "off", "objective": "held-out FD",
        "best": {"number": 0, "value": 3.0, "params": {"g_lr": 1e-3}}}))

    build_report(results, tmp_path / "tables", figures=False)  # tables only
    rows = list(csv.DictReader((tmp_path / "tables" / "tuned.csv").open()))
    assert len(rows) == 1
    row = rows[0]
    assert (row["trials_spent"], row["trials_pruned"], row["trials_diverged"]) == ("5", "1", "1")
    assert float(row["default_fd_mean"]) == 12.0 and row["default_seeds"] == "2", "only the matching default runs"
    assert float(row["tuned_fd_mean"]) == 5.0 and row["tuned_seeds"] == "2", "only re-runs of the best trial"
    assert (float(row["trial_fd_best"]), float(row["trial_fd_median"]), float(row["trial_fd_worst"])) == (3, 5, 7)
    assert json.loads(row["chosen"]) == {"g_lr": 1e-3} and row["rerun_budget_kimg"] == "20.0"
    text = (tmp_path / "tables" / "tuned.md").read_text()
    assert "12.0 ± 2.8 (2)" in text and "5.0 ± 1.4 (2)" in text and "g_lr=0.001 (0.0005)" in text
    assert "1 re-run(s) of an earlier best trial are not shown" in text


def test_without_studies_the_table_says_how_to_make_them(tmp_path):
    (tmp_path / "results").mkdir()
    build_report(tmp_path / "results", tmp_path / "tables", figures=False)  # tables only
    assert "scripts/tune_digits.sh" in (tmp_path / "tables" / "tuned.md").read_text()


def evaluation(eval_id: str, of: str, fid: float, seed: int) -> dict:
    """A `bench eval --checkpoint` record of run ``of``: Inception FID with more samples."""
    rec = record(eval_id, seed, 0.0, {"g_lr": 5e-4, "freeze_level": 1})
    rec["metrics"] = [metric("fid", fid, "inception-v3-compat", 5000, "digits:test")]
    rec["evaluation"] = {"evaluation_of": of, "num_samples": 5000}
    return rec


def test_evaluations_of_reruns_and_default_runs_get_columns_of_their_own(tmp_path):
    results = tmp_path / "results"
    default_mc, tuned_mc = {"g_lr": 5e-4, "freeze_level": 1}, {"g_lr": 1e-3, "freeze_level": 1}
    for seed, fd in enumerate((10.0, 14.0, 30.0)):
        store(results, record(f"d{seed}", seed, fd, default_mc))
        store(results, evaluation(f"e-d{seed}", f"d{seed}", 100.0 + seed, seed))
    study = results / "tuning" / "digits-gan_only_frozen-5kimg"
    tags = {"study": study.name, "role": "rerun", "from_trial": 0}
    store(study / "reruns", record("t0", 0, 4.0, tuned_mc, tags=tags))  # measured again itself
    store(study / "reruns", record("t1", 1, 14.0, tuned_mc, tags=tags))  # d1's generator made again: same values
    store(study / "reruns", record("t2", 2, 30.000001, tuned_mc, tags=tags))  # not bit-identical to d2
    store(results, evaluation("e-t0", "t0", 50.0, 0))
    (study / "study.json").write_text(json.dumps({
        "settings": {"method": "gan_only_frozen", "dataset": "digits", "backbone": "edm-digits-8x8-uncond",
                     "budget_kimg": 5.0, "space": {"g_lr": {"kind": "float"}}},
        "defaults": {"g_lr": 5e-4}, "spent": 1, "trials": [], "best": {"number": 0, "params": {"g_lr": 1e-3}}}))

    build_report(results, tmp_path / "tables", figures=False)  # tables only
    (row,) = csv.DictReader((tmp_path / "tables" / "tuned.csv").open())
    assert row["default_seeds"] == "3" and row["tuned_seeds"] == "3", "eval records are neither defaults nor re-runs"
    (again,) = json.loads(row["other_measurements"])
    assert again["metric"] == "fid" and again["num_samples"] == 5000
    assert (again["default_mean"], again["default_seeds"]) == (101.0, 3)
    assert (again["tuned_mean"], again["tuned_seeds"]) == (75.5, 2), "t0's own FID and d1's carried over, not d2's"
    text = (tmp_path / "tables" / "tuned.md").read_text()
    assert "FID n=5,000 101.0 ± 1.0 (3)" in text and "FID n=5,000 75.5 ± 36.1 (2)" in text
    assert "1 re-run(s) made their default run's generator again" in text
    runs = sort_records(load_records(results)[0], results).runs
    assert {r.run_id: r.evaluations for r in runs} == {f"d{i}": (f"e-d{i}/record.json",) for i in range(3)}, \
        "a default run's evaluation joins its row; a re-run's is not a run of its own"
