"""`bench report` with training curves: the curves figure (mean, min–max band, references), rows read
off curves (PD's labelled as snapshots), the best-snapshot column, and `bench report --run`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from harness.report import build_report
from report_fixtures import run_record, snapshot, with_curve, write_records

KIMGS = [1.0, 2.0, 5.0]


def curve_records() -> list[dict]:
    return [with_curve(run_record(6000, "gan_only", case=5, seed=0), [100.0, 40.0, 30.0], KIMGS),
            with_curve(run_record(6001, "gan_only", case=5, seed=1), [120.0, 20.0, 50.0], KIMGS),
            with_curve(run_record(6002, "progressive_distillation", case=5, seed=0), [500.0, 300.0, 200.0], KIMGS,
                       depends=True),
            run_record(6003, "teacher", case=5, seed=0, fd=10.0),
            run_record(6004, "backbone_one_step", case=5, seed=0, fd=1400.0)]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("curves")
    results = write_records(root / "results", curve_records())
    heard = []
    written, problems = build_report(results, root / "a", on_written=heard.append)
    assert problems == [] and heard == written and all(path.is_file() for path in heard)  # told as written
    build_report(results, root / "b")
    return root / "a", root / "b"


def rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_curve_lines_are_means_with_a_min_max_band_and_references(built):
    a, _ = built
    table = rows(a / "curves.csv")
    d2o = {float(r["kimg"]): r for r in table if r["kind"] == "curve" and r["bench_method"] == "gan_only"}
    assert sorted(d2o) == KIMGS
    assert (float(d2o[2.0]["fd"]), float(d2o[2.0]["fd_min"]), float(d2o[2.0]["fd_max"])) == (30.0, 20.0, 40.0)
    assert d2o[2.0]["seeds"] == "2" and float(d2o[2.0]["train_images"]) == 2000.0
    pd_rows = {float(r["kimg"]): r["snapshot_of_schedule"] for r in table
                if r["kind"] == "curve" and r["bench_method"] == "progressive_distillation"}
    assert pd_rows == {1.0: "true", 2.0: "true", 5.0: "false"}
    refs = {r["bench_method"]: float(r["fd"]) for r in table if r["kind"] == "reference"}
    assert refs == {"teacher": 10.0, "backbone_one_step": 1400.0}
    assert any(r["kind"] == "reported" for r in table), "the ImageNet panel keeps the Figure 1A points"
    text = (a / "curves.md").read_text()
    assert "min–max over seeds" in text and "(snapshot)" in text


def test_png_and_pdf_are_written_and_reruns_are_byte_identical(built):
    a, b = built
    files_a, files_b = snapshot(a), snapshot(b)
    assert files_a["curves.png"].startswith(b"\x89PNG") and files_a["curves.pdf"].startswith(b"%PDF")
    assert b"CreationDate" not in files_a["curves.pdf"]
    assert files_a == files_b


def test_equal_budget_rows_are_read_off_the_curves(built):
    a, _ = built
    table = [r for r in rows(a / "one_step.csv") if r["dataset"] == "digits" and r["reproduced_mean"]]
    by = {(r["method"], float(r["budget_kimg"])): float(r["reproduced_mean"]) for r in table}
    assert by[("D2O", 1.0)] == 110.0 and by[("D2O", 2.0)] == 30.0 and by[("D2O", 5.0)] == 40.0
    assert by[("PD (snapshot of a 5 kimg schedule)", 2.0)] == 300.0 and by[("PD", 5.0)] == 200.0
    assert ("PD", 2.0) not in by, "a PD point before the end is never shown as a run at that budget"


def test_best_snapshot_has_its_own_labelled_column_beside_the_final(built):
    a, _ = built
    best = [r for r in rows(a / "one_step.csv") if r["best_snapshot_mean"]]
    d2o = [r for r in best if r["bench_method"] == "gan_only"]
    assert len(d2o) == 1 and float(d2o[0]["best_snapshot_mean"]) == 25.0 and d2o[0]["best_snapshot_runs"] == "2"
    text = (a / "one_step.md").read_text()
    assert "best snapshot FD" in text and "25.000 ± 7.071" in text and "40.000 ± 14.142" in text


def test_without_curves_there_is_no_best_snapshot_column(tmp_path):
    results = write_records(tmp_path / "results", [run_record(7000, "gan_only", case=5, seed=0, fd=3.0)])
    build_report(results, tmp_path / "out", figures=False)  # tables only
    assert "best snapshot" not in (tmp_path / "out" / "one_step.md").read_text()
    assert "no stored runs with a training curve yet" in (tmp_path / "out" / "curves.md").read_text()


def test_report_run_plots_one_run(tmp_path):
    results = write_records(tmp_path / "results", curve_records()[:1])
    run_dir = next((tmp_path / "results").iterdir())
    lines = [{"progress/images_seen": 512 * i, "progress/kimg": 0.512 * i, "loss/loss_g": 1.0 / i,
              "grad_norm/generator": 0.1 * i, "lr/generator": 1e-4, "perf/images_per_second": 300.0}
             for i in (1, 2, 3)]
    (run_dir / "stats.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    from helpers import run_main_in_process  # the entry point's function: no fresh `import torch` per call

    command = ["report", "--results", str(results), "--out", str(tmp_path / "o")]
    done = run_main_in_process(*command, "--run", run_dir.name)
    assert done.returncode == 0, done.stderr
    png, pdf = (tmp_path / "o" / f"run-{run_dir.name}.png"), (tmp_path / "o" / f"run-{run_dir.name}.pdf")
    assert png.read_bytes().startswith(b"\x89PNG") and pdf.read_bytes().startswith(b"%PDF")
    both = run_main_in_process(*command, "--run", run_dir.name, "--no-figures")
    assert both.returncode == 2 and both.stderr == "error: --no-figures with --run: one run's plot is only figures\n"
    missing = run_main_in_process(*command, "--run", "no-such-run")
    assert missing.returncode == 2 and missing.stderr.startswith("error: no run 'no-such-run'")
