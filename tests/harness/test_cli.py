"""The command line: clear one-line errors with the right exit codes, and nothing stored is touched."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import invoke_bench, snapshot
from harness.cli import app

runner = CliRunner()


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def bench(capsys, monkeypatch):
    def invoke(*args: str) -> Result:
        return Result(*invoke_bench(monkeypatch, capsys, *args))

    return invoke


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    """A results folder holding one valid-looking record, to check that failed commands leave it alone."""
    run = tmp_path / "results" / "digits-gan_only-s0-x"
    run.mkdir(parents=True)
    (run / "record.json").write_text(json.dumps({"schema_version": 1, "run_id": "digits-gan_only-s0-x",
                                                 "status": "completed", "metrics": []}))
    return tmp_path / "results"


def test_list_shows_registered_names():
    result = runner.invoke(app, ["list", "methods"])
    assert result.exit_code == 0
    assert "gan_only" in result.stdout and "teacher" in result.stdout


@pytest.mark.parametrize("args, valid", [
    (["--method", "nope"], "gan_only"),
    (["--method", "gan_only", "--dataset", "nope"], "digits"),
    (["--method", "gan_only", "--backbone", "nope"], "edm-cifar10-32x32-uncond-ve"),
])
def test_unknown_names_exit_2_and_list_valid_names(args, valid, stored, bench):
    before = snapshot(stored)
    result = bench("run", *args, "--results", str(stored))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: unknown") and valid in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(stored) == before


@pytest.mark.parametrize("args, message", [
    (["--budget-kimg", "-1"], "--budget-kimg must be positive"),
    (["--budget-kimg", "0"], "--budget-kimg must be positive"),
    (["--set", "bogus=1"], "unknown key 'bogus'"),
    (["--set", "g_lr=fast"], "expected a value of type float"),
])
def test_bad_run_options_are_clear_errors(args, message, stored, bench):
    before = snapshot(stored)
    result = bench("run", "--method", "gan_only", "--results", str(stored), *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(stored) == before


def test_missing_backbone_file_is_a_clear_error(stored, tmp_path, bench):
    before = snapshot(stored)
    result = bench("run", "--method", "gan_only", "--backbone", str(tmp_path / "absent.safetensors"),
                   "--results", str(stored))
    assert result.returncode == 2 and "absent.safetensors: no such file" in result.stderr  # like --data (#29)
    assert "Traceback" not in result.stderr
    assert snapshot(stored) == before


def test_report_names_corrupt_record_and_uses_the_rest(stored, tmp_path, bench):
    bad = stored / "broken-run"
    bad.mkdir()
    (bad / "record.json").write_text('{"schema_version": 1, "run_id": ')  # half-written
    before = snapshot(stored)
    result = bench("report", "--results", str(stored), "--out", str(tmp_path / "tables"))
    assert result.returncode == 0
    assert "broken-run/record.json: unreadable record" in result.stderr
    assert (tmp_path / "tables" / "runs.md").is_file()
    assert snapshot(stored) == before


def test_a_command_forgets_what_an_earlier_one_in_the_same_process_was_writing(tmp_path, monkeypatch, capsys):
    """The Ctrl-C line names what *this* command keeps: a pre-training, run or export of an earlier
    command in the same process (the Python API, a notebook, the suite) is not it."""
    import harness.pretrain_state as pretrain_state
    import harness.runner as runner_module
    from harness.sample_command import ACTIVE_EXPORT

    stale = tmp_path / "old.state"
    stale.write_bytes(b"x")
    monkeypatch.setattr(pretrain_state, "ACTIVE", [stale])
    monkeypatch.setattr(runner_module, "ACTIVE_RUN_DIR", [tmp_path])
    ACTIVE_EXPORT[:] = [tmp_path / "old.npz"]
    code, _, _ = invoke_bench(monkeypatch, capsys, "list")
    assert code == 0
    assert pretrain_state.ACTIVE == [] and runner_module.ACTIVE_RUN_DIR == [] and ACTIVE_EXPORT == []


def test_sweep_and_tune_take_seed_lists_in_edms_syntax(tmp_path, monkeypatch, capsys):
    """`bench sample --seeds 0-49999` and `bench sweep --seeds 0-2` read seeds alike (harness/seed_ranges.py)."""
    import harness.sweep
    import harness.tuning.command

    seen = {}
    monkeypatch.setattr(harness.sweep, "run_sweep", lambda methods, dataset, budgets, seeds, *rest, **kw:
                        seen.update(sweep=(budgets, seeds)))
    monkeypatch.setattr(harness.tuning.command, "tune_command", lambda options, **kw: seen.update(tune=options.rerun_seeds))
    code, _, err = invoke_bench(monkeypatch, capsys, "sweep", "--methods", "gan_only", "--budgets", "1,2.5",
                                "--seeds", "0-2,7", "--results", str(tmp_path), "--threads", "1")
    assert code == 0, err
    code, _, err = invoke_bench(monkeypatch, capsys, "tune", "--method", "gan_only", "--budget-kimg", "1", "--trials", "1",
                                "--rerun-seeds", "3-5", "--results", str(tmp_path), "--threads", "1")
    assert code == 0, err
    assert seen == {"sweep": ([1.0, 2.5], [0, 1, 2, 7]), "tune": [3, 4, 5]}
