"""runs.md: a value that carries its own spread (KID's std over subsets) shows it beside the value."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from harness.report import build_report
from report_fixtures import metric, run_record, write_records


def test_kid_is_shown_with_its_std_over_subsets(tmp_path: Path) -> None:
    record = run_record(0, method="gan_only", case=6)
    kid = metric("kid", 0.012345, "inception-v3-compat", 2000, "fashion-mnist")
    kid["details"] = {"std": 0.00071, "subsets": 100, "subset_size": 1000}
    record["metrics"].append(kid)
    write_records(tmp_path / "results", [record, run_record(1, method="dmd", case=6)])
    build_report(tmp_path / "results", tmp_path / "out", figures=False)  # tables only
    markdown = (tmp_path / "out" / "runs.md").read_text()
    assert "0.01235 ± 0.00071" in markdown and "KID's std over subsets" in markdown
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "runs.csv").read_text())))
    std_columns = [c for c in rows[0] if c.startswith("KID") and c.endswith(" std")]
    assert len(std_columns) == 1
    assert sorted(r[std_columns[0]] for r in rows) == ["", "0.00071"]
