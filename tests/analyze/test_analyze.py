"""`bench analyze mismatch|spectrum` on a tiny random backbone and a tiny gan_only run on digits, and the
report tables (d) and (e) built from the records they write; plus the spectrum maths on known images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from harness.cli import app
from harness.report import build_report

cli = CliRunner()


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> dict:
    """One tiny D2O run on digits, both analyses through the CLI, then the report."""
    from helpers import tiny_fd_run

    root = tmp_path_factory.mktemp("analyze")
    run_dir = tiny_fd_run(root, 0.064, 64)
    mismatch = cli.invoke(app, ["analyze", "mismatch", "--run", str(run_dir), "--num-samples", "48",
                                "--steps", "2..3", "--device", "cpu"])
    spectrum = cli.invoke(app, ["analyze", "spectrum", "--run", str(run_dir), "--num-samples", "48",
                                "--teacher-steps", "2", "--device", "cpu", "--quiet"])
    assert mismatch.exit_code == 0, mismatch.output
    assert spectrum.exit_code == 0, spectrum.output
    # Each generator's sampling reports (a teacher on a CPU can take minutes); --quiet silences it.
    for label in ("student, one step", "teacher, 2 Heun steps", "teacher, 3 Heun steps"):
        assert f"{label}: 48/48 images" in mismatch.stderr, mismatch.stderr
    assert "Heun steps" not in spectrum.stderr and "fine-tuning" not in spectrum.stderr, spectrum.stderr
    written, problems = build_report(root / "results", root / "tables")
    return {"run_dir": run_dir, "mismatch": Path(mismatch.stdout.strip().splitlines()[-1]),
            "spectrum": Path(spectrum.stdout.strip().splitlines()[-1]), "tables": root / "tables",
            "problems": problems}


def test_mismatch_record_holds_fd_to_student_and_data_per_teacher_steps(analysed):
    record = json.loads(analysed["mismatch"].read_text())
    assert analysed["mismatch"].parent.parent == analysed["run_dir"].parent  # stored beside the run
    assert record["kind"] == "analysis-mismatch" and record["status"] == "completed"
    assert record["source_run"]["dir"] == analysed["run_dir"].name and record["method"] == "gan_only"
    assert record["measurement"]["extractor"] == "digits-classifier" and record["measurement"]["num_samples"] == 48
    rows = record["results"]["teacher"]
    assert [r["steps"] for r in rows] == [2, 3] and [r["nfe"] for r in rows] == [3, 5]
    assert all(r["teacher_vs_student"] >= 0 and r["teacher_vs_data"] >= 0 for r in rows)
    assert record["results"]["student_vs_data"] > 0


def test_spectrum_record_holds_four_spectra_and_band_errors(analysed):
    record = json.loads(analysed["spectrum"].read_text())
    assert record["kind"] == "analysis-spectrum"
    assert set(record["spectra"]) == {"real", "teacher", "before", "after"}
    assert all(len(v) == 5 for v in record["spectra"].values())  # 8x8 images: radii 0..4
    assert record["analysis"]["bands"] == {"low": [1, 2], "mid": [3], "high": [4]}
    for source in ("teacher", "before", "after"):
        assert set(record["band_errors"][source]) == {"low", "mid", "high"}
        assert all(v >= 0 for v in record["band_errors"][source].values())
    assert record["spectra"]["before"] != record["spectra"]["after"]  # fine-tuning changed the generator


def test_report_turns_the_analyses_into_tables_d_and_e(analysed):
    tables = analysed["tables"]
    assert analysed["problems"] == []
    mismatch = (tables / "mismatch.md").read_text()
    assert "## digits 8x8 (offline): D2O, budget 0.064 kimg" in mismatch
    assert "| teacher, Heun 2 steps | 3 |" in mismatch and "| one-step student | 1 |" in mismatch
    spectrum = (tables / "spectrum.md").read_text()
    assert "| one step, before fine-tuning |" in spectrum and "| one step, after fine-tuning (D2O) |" in spectrum
    assert "no stored" not in mismatch and "no stored spectrum" not in spectrum
    assert (tables / "spectrum.png").read_bytes().startswith(b"\x89PNG")
    runs = (tables / "runs.csv").read_text()
    assert "analysis-mismatch" in runs and "analysis-spectrum" in runs


def test_analysing_an_analysis_or_a_missing_run_is_a_clear_error(analysed, tmp_path):
    result = cli.invoke(app, ["analyze", "mismatch", "--run", str(analysed["mismatch"].parent)])
    assert result.exit_code != 0 and "is an analysis record" in str(result.exception)
    result = cli.invoke(app, ["analyze", "spectrum", "--run", str(tmp_path / "nope")])
    assert result.exit_code != 0 and "not a run directory" in str(result.exception)


def test_radial_spectrum_of_known_images():
    from harness.analyze.spectrum import band_errors, frequency_bands, radial_power

    flat = torch.full((2, 1, 8, 8), 0.5)
    power = radial_power(flat)
    assert power[0] > 0 and np.allclose(power[1:], 0)
    x = torch.arange(8, dtype=torch.float64)
    wave = torch.cos(2 * torch.pi * 2 * x / 8).expand(8, 8).reshape(1, 1, 8, 8)  # 2 cycles per image
    power = radial_power(wave)
    assert int(np.argmax(power)) == 2
    bands = frequency_bands(len(power))
    assert bands == {"low": [1, 2], "mid": [3], "high": [4]}
    errors = band_errors(np.log10(power + 1e-12), np.log10(power + 1e-12), bands)
    assert errors == {"low": 0.0, "mid": 0.0, "high": 0.0}


def test_steps_option_parsing():
    from harness.analyze.common import parse_steps
    from harness.errors import UsageError

    assert parse_steps("2..10") == list(range(2, 11))
    assert parse_steps("4,2,2") == [2, 4] and parse_steps("5") == [5]
    for bad in ("0..3", "a..b", ""):
        with pytest.raises(UsageError):
            parse_steps(bad)
