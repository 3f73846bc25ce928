"""A seed measured twice at one budget (its own run, and a longer run's curve point there) counts once:
the report's ± is the std over seeds, in the one-step table, the cost and freeze tables, Figure 1A and the
claims (harness/report/formatting.py ``per_seed``)."""

from __future__ import annotations

import csv
import io
import statistics

from harness.report import build_report
from report_fixtures import run_record, with_curve, write_records

FD_AT_2 = {0: 100.0, 1: 110.0, 2: 130.0}


def records() -> list[dict]:
    out = []
    for seed, fd in FD_AT_2.items():  # the 2-kimg runs, and 20-kimg runs whose curve passes the same values
        out.append(run_record(8000 + seed, "gan_only", case=6, seed=seed, fd=fd, budget_kimg=2.0, gpu=False))
        out.append(with_curve(run_record(8100 + seed, "gan_only", case=6, seed=seed, gpu=False),
                              [fd, 90.0 + seed], [2.0, 20.0]))
    return out


def test_per_seed_averages_within_a_seed_then_keeps_one_value_each():
    from harness.report.formatting import per_seed

    assert per_seed([(2, 5.0), (0, 1.0), (2, 7.0), (1, 3.0)]) == [1.0, 3.0, 6.0]


def test_a_seed_measured_by_two_runs_counts_once_in_the_spread(tmp_path):
    results = write_records(tmp_path / "results", records())
    _, problems = build_report(results, tmp_path / "tables", figures=False)  # tables only
    assert problems == []
    rows = [r for r in csv.DictReader(io.StringIO((tmp_path / "tables" / "one_step.csv").read_text()))
            if r["bench_method"] == "gan_only" and r["budget_kimg"] == "2.0" and r.get("reproduced_mean")]
    assert len(rows) == 1 and (rows[0]["seeds"], rows[0]["runs"]) == ("3", "6")
    assert float(rows[0]["reproduced_std"]) == statistics.stdev(FD_AT_2.values())  # 15.28, not the 6-value 13.66
    figure = [r for r in csv.DictReader(io.StringIO((tmp_path / "tables" / "figure_1a.csv").read_text()))
              if r["kind"] == "reproduced" and r["budget_kimg"] == "2.0"]
    assert [float(r["fd_std"]) for r in figure] == [statistics.stdev(FD_AT_2.values())]
    table = (tmp_path / "tables" / "one_step.md").read_text()
    assert "| 3 (6 runs) |" in table and "a seed's values are averaged first, so ± is the std over seeds" in table
