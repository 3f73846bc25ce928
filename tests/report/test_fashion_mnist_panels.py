"""Figure 1A-style panels for Fashion-MNIST (issue #27): one panel per dataset, backbone and measurement in
curves.png and figure_1a.png, each with its own backbone's teacher and one-step references, so curves from
a CPU-scale and a GPU-scale backbone never share a line."""

from __future__ import annotations

import csv
import io

from harness.report import build_report
from report_fixtures import run_record, with_curve, write_records

SMALL = "edm-fashion-mnist-32x32-uncond-small"


def on(record: dict, backbone: str | None) -> dict:
    if backbone:
        record["backbone"]["name"] = backbone
    return record


def fashion_records() -> list[dict]:
    records = []
    for backbone, teacher, one_step, base in ((None, 5.0, 500.0, 100.0), (SMALL, 50.0, 400.0, 200.0)):
        for seed in (0, 1):
            records.append(on(with_curve(run_record(7000 + seed + 10 * bool(backbone), "gan_only", case=6, seed=seed),
                                         [base * 3, base + seed, base - 10 + seed], [1.0, 5.0, 20.0]), backbone))
        records.append(on(run_record(7100 + bool(backbone), "teacher", case=6, seed=0, fd=teacher), backbone))
        records.append(on(run_record(7200 + bool(backbone), "backbone_one_step", case=6, seed=0, fd=one_step),
                          backbone))
    return records


def test_each_fashion_mnist_backbone_gets_its_panel_with_its_references(tmp_path):
    results = write_records(tmp_path / "results", fashion_records())
    _, problems = build_report(results, tmp_path / "tables")
    assert problems == []
    for name in ("curves", "figure_1a"):
        rows = list(csv.DictReader(io.StringIO((tmp_path / "tables" / f"{name}.csv").read_text())))
        panels = {}
        for row in rows:
            if row["dataset"] == "fashion-mnist":
                panels.setdefault(row["panel"], []).append(row)
        assert len(panels) == 2, name  # one per backbone, never one line through both
        refs = sorted(tuple(sorted((r["bench_method"], float(r["fd"])) for r in panel if r["kind"] == "reference"))
                      for panel in panels.values())
        assert refs == [(("backbone_one_step", 400.0), ("teacher", 50.0)),
                        (("backbone_one_step", 500.0), ("teacher", 5.0))]
        finals = sorted(float(r["fd"]) for panel in panels.values() for r in panel
                        if r["kind"] != "reference" and float(r.get("kimg") or r.get("budget_kimg")) == 20.0)
        assert finals == [90.5, 190.5], name  # each backbone's own two seeds, averaged apart
        text = (tmp_path / "tables" / f"{name}.md").read_text()
        assert f"backbone {SMALL}" in text and "training images" in text
    assert (tmp_path / "tables" / "curves.png").read_bytes().startswith(b"\x89PNG")
