"""How `bench show RUN` and `bench run --from-record RUN` find a run (harness/run_references.py find_record):
a record file, a run folder, a run id or its unique beginning in --results, the same way for both. Typed
text is matched as text, never as a glob, and what is not there is one line with exit 2."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from helpers import run_bench, run_main_in_process

RUN_ID = "digits-gan_only-s0-20260101-000000-abcd"


def _store(results: Path, run_id: str = RUN_ID) -> Path:
    """A finished run's record with a real config (what --from-record re-runs), written without training."""
    from harness.build import configure

    config = configure("gan_only", "digits", seed=0, device="cpu")
    record = {"schema_version": 1, "run_id": run_id, "status": "completed", "method": "gan_only",
              "dataset": "digits", "seed": 0, "budget_kimg": 1.0, "nfe": 1, "metrics": [], "config": asdict(config)}
    folder = results / run_id
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps(record))
    return folder


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    """One stored run, beside folders that are no runs (a glob `*` took them for runs)."""
    results = tmp_path / "r"
    _store(results)
    for stray in ("tensorboard", "checkpoint-notes", "digits-notes"):
        (results / stray).mkdir()
    return results


def _one_line_usage_error(out) -> None:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


@pytest.mark.parametrize("typed", ["/nonexistent", "/nonexistent/run", "**", "*", "digits-*", "[", "?", "nowhere/x",
                                   "../nowhere", ""])
def test_show_of_what_is_not_there_is_one_line(typed: str, results: Path) -> None:
    """`/abs` crashed (NotImplementedError), `**` too (ValueError); `*` listed the stray folders as runs."""
    out = run_main_in_process("show", typed, "--results", str(results))
    _one_line_usage_error(out)
    assert f"no run '{typed}'" in out.stderr and "matches" not in out.stderr


def test_a_prefix_counts_run_folders_only(results: Path) -> None:
    _store(results, "digits-gan_only-s1-20260101-000000-ef01")
    out = run_main_in_process("show", "digits", "--results", str(results))
    _one_line_usage_error(out)
    assert "'digits' matches 2 runs" in out.stderr and "digits-notes" not in out.stderr
    out = run_main_in_process("show", "digits-gan_only-s0", "--results", str(results))
    assert out.returncode == 0 and out.stdout.strip().endswith(f"{RUN_ID}/record.json"), out.stderr


@pytest.mark.parametrize("form", ["record file", "run folder", "run id", "unique beginning"])
def test_from_record_takes_what_show_takes(form: str, results: Path, tmp_path: Path) -> None:
    """A record file was joined onto --results; a beginning of a run id was not looked up."""
    record = results / RUN_ID / "record.json"
    typed = {"record file": str(record), "run folder": str(record.parent), "run id": RUN_ID,
             "unique beginning": "digits-gan"}[form]
    elsewhere = tmp_path / "r9"  # --results names another folder when the run is given by its path
    where = results if form in ("run id", "unique beginning") else elsewhere
    shown = run_main_in_process("show", typed, "--results", str(where))
    assert shown.returncode == 0 and shown.stdout.strip().endswith(str(record)), shown.stderr
    # --method differing stops before any work, once the record is read: proof it was found
    out = run_main_in_process("run", "--from-record", typed, "--results", str(where), "--method", "dmd")
    _one_line_usage_error(out)
    assert f"--method dmd differs from {record}'s method 'gan_only'" in out.stderr
    assert not elsewhere.exists()


@pytest.mark.parametrize("typed, message", [
    ("/nonexistent", "no run '/nonexistent'"),
    ("nowhere/record.json", "no run 'nowhere/record.json'"),
    ("no-such-run", "no run 'no-such-run' in"),
    ("*", "no run '*' in"),
    ("digits-dmd", "has no record yet (unfinished); continue it with: bench run --resume"),
    ("garbled", "garbled/record.json"),
])
def test_from_record_of_what_is_no_record_is_one_line(typed: str, message: str, results: Path) -> None:
    (results / "digits-dmd-s3-20260101-000000-dead" / "checkpoint").mkdir(parents=True)
    (results / "garbled").mkdir()
    (results / "garbled" / "record.json").write_text("{not json")
    out = run_main_in_process("run", "--from-record", typed, "--results", str(results))
    _one_line_usage_error(out)
    assert message in out.stderr


def test_the_installed_bench_says_no_run_with_exit_2(results: Path) -> None:
    """The crash the tester met, through the real executable (`show`; `run`, whose refusals start the
    executable in test_cli_contract, through its function in this process)."""
    for args, runner in ((["show", "/nonexistent"], run_bench), (["run", "--from-record", "/nonexistent"],
                                                                run_main_in_process)):
        out = runner(*args, "--results", str(results))
        _one_line_usage_error(out)
        assert "no run '/nonexistent'" in out.stderr


def test_show_and_from_record_share_one_resolver() -> None:
    from harness import config_files, run_references, runs_command

    assert runs_command.find_record is config_files.find_record is run_references.find_record
