"""KID beside FD in the one-step, cost and freeze-ablation tables (issue #24): mean ± its std over subsets in a column named
by network and sample count; `bench eval` records join the run they measured (item 7), never a new row."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from harness.report import build_report
from report_fixtures import metric, run_record, write_records


def kid_metric(value: float, std: float, n: int = 2000) -> dict:
    kid = metric("kid", value, "inception-v3-compat", n, "fashion-mnist:test")
    kid["details"] = {"std": std, "subsets": 100, "subset_size": 1000}
    return kid


def test_kid_columns_and_eval_records_join_their_run(tmp_path: Path) -> None:
    run = run_record(0, method="gan_only", case=6, seed=0, budget_kimg=50.0, gpu=False)
    other_seed = run_record(1, method="gan_only", case=6, seed=1, budget_kimg=50.0, gpu=False)
    evaluation = {**run, "run_id": "fashion-mnist-gan_only-s0-eval", "timing": {"wall_seconds": 9e9},
                  "evaluation": {"evaluation_of": run["run_id"]},
                  "metrics": [metric("fid", 55.5, "inception-v3-compat", 2000, "fashion-mnist:test"),
                              kid_metric(0.0123, 0.0007)]}
    orphan = {**run_record(2, method="dmd", case=6, seed=0, budget_kimg=50.0, gpu=False),
              "evaluation": {"evaluation_of": "a-run-not-stored-here"},
              "metrics": [kid_metric(0.5, 0.01)]}
    write_records(tmp_path / "results", [run, other_seed, evaluation, orphan])
    build_report(tmp_path / "results", tmp_path / "out", figures=False)  # tables only

    one_step = (tmp_path / "out" / "one_step.md").read_text()
    cost = (tmp_path / "out" / "cost.md").read_text()
    for table in (one_step, cost):
        assert "KID · inception-v3-compat · own · n=2000 · ref fashion-mnist:test" in table
        assert "mean ± std over subsets" in table and "FID · inception-v3-compat · own · n=2000" in table
    d2o = [line for line in one_step.splitlines() if line.startswith("| D2O | gan_only |") and run["backbone"]["name"] in line]
    assert len(d2o) == 1  # the eval record adds columns to the run's row, it is not a third run
    assert "0.0123 ± 0.0007" in d2o[0] and "55.500" in d2o[0]
    assert "0.5000 ± 0.0100" in one_step  # an eval whose run is not stored stands as its own row
    frozen = run_record(3, method="gan_only_frozen", case=6, seed=0, budget_kimg=50.0, freeze_level=1, gpu=False)
    frozen["metrics"].append(kid_metric(0.25, 0.02, n=5000))
    write_records(tmp_path / "frozen", [frozen])
    build_report(tmp_path / "frozen", tmp_path / "frozen-out", figures=False)  # tables only
    ablation = (tmp_path / "frozen-out" / "freeze_ablation.md").read_text()
    assert "KID · inception-v3-compat · own · n=5000" in ablation and "0.2500 ± 0.0200" in ablation
    cost_row = next(line for line in cost.splitlines() if "| D2O |" in line)
    assert "2 |" in cost_row and str(round(9e9 / 3600)) not in cost_row  # the eval's hours are not the run's
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "one_step.csv").read_text())))
    kid_rows = sorted((r["bench_method"], r["kid_mean"], r["kid_subset_std"]) for r in rows if r["metric"] == "kid")
    assert kid_rows == [("dmd", "0.5", "0.01"), ("gan_only", "0.0123", "0.0007")]
    html = (tmp_path / "out" / "index.html").read_text()  # each row's sources name the eval record
    assert "fashion-mnist-gan_only-s0-eval/record.json; fashion-mnist-gan_only-s1-00001/record.json" in html
