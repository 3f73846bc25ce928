"""Hostile input, round five (found by trying files and flags through `bench`): JSON that is no record
given to `bench show`, a FIFO where a record or config belongs, a run folder copied under another name,
one `--set` key given twice. Resume and generator swaps: tests/harness/test_resume.py; thread counts:
tests/harness/test_threads.py."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from helpers import run_bench, run_main_in_process

RECORD = {"schema_version": 1, "run_id": "digits-gan_only-s0-x", "status": "completed", "method": "gan_only",
          "dataset": "digits", "seed": 0, "budget_kimg": 1.0, "nfe": 1, "metrics": []}


def stored(results: Path, name: str = RECORD["run_id"], **fields) -> Path:
    folder = results / name
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps({**RECORD, **fields}))
    return folder


@pytest.mark.parametrize("content, lacking", [({"run_id": "x"}, "status"),  # a generator card has a run_id too
                                              ({**RECORD, "status": 5}, "status"), ([1, 2], None)])
def test_show_of_json_that_is_no_record_is_one_line(content, lacking, tmp_path):
    path = tmp_path / "rid.json"
    path.write_text(json.dumps(content))
    out = run_main_in_process("show", str(path))
    assert out.returncode == 2 and "Traceback" not in out.stderr and len(out.stderr.splitlines()) == 1
    assert "not a bench record" in out.stderr and (lacking is None or f"its {lacking} is missing" in out.stderr)


def test_a_fifo_where_a_record_or_config_belongs_is_named_not_waited_on(tmp_path):
    results = tmp_path / "results"
    stored(results)
    (results / "run-fifo").mkdir()
    os.mkfifo(results / "run-fifo" / "record.json")
    listed = run_bench("runs", "--results", str(results), timeout=60)  # hung for ever before
    assert listed.returncode == 0 and "run-fifo/record.json: unreadable record" in listed.stderr
    assert RECORD["run_id"] in listed.stdout
    os.mkfifo(tmp_path / "cfg.toml")
    config = run_bench("run", "--config", str(tmp_path / "cfg.toml"), "--results", str(results), timeout=60)
    assert config.returncode == 2 and "not a regular file" in config.stderr


def test_a_run_folder_copied_under_another_name_counts_once(tmp_path):
    results = tmp_path / "results"
    original = stored(results)
    shutil.copytree(original, results / "copy-of-run")
    listed = run_main_in_process("runs", "--results", str(results), "--json")
    assert listed.returncode == 0 and [r["run_id"] for r in json.loads(listed.stdout)] == [RECORD["run_id"]]
    assert f"run {RECORD['run_id']} again" in listed.stderr and "counted once" in listed.stderr


def test_one_set_key_given_twice_is_refused_before_work(tmp_path):
    out = run_main_in_process("run", "--method", "gan_only", "--results", str(tmp_path / "r"), "--set",
                              "eval.num_samples=200", "--set", "num_samples=300")
    assert out.returncode == 2 and "--set eval.num_samples is given twice (200 and 300)" in out.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("flag", ["--seed", "--num-samples", "--budget-kimg"])
def test_an_integer_too_large_for_a_float_is_one_line(flag, tmp_path):
    """`check_number` turned it into a float: OverflowError, a traceback."""
    huge = "1" + "0" * 400
    out = run_main_in_process("run", "--method", "gan_only", flag, huge, "--results", str(tmp_path / "r"))
    assert out.returncode == 2 and "Traceback" not in out.stderr and len(out.stderr.splitlines()) == 1
    assert "(401 digits)" in out.stderr or "finite" in out.stderr


@pytest.mark.parametrize("args, message", [
    (["show", "a\nb"], "no run 'a\\nb'"),  # a typed newline stays in the one error line
    (["sweep", "--methods", "gan_only", "--budgets", "nan", "--seeds", "0"], "--budgets must be a finite number"),
])
def test_messages_name_what_was_typed_on_one_line(args, message, tmp_path):
    out = run_main_in_process(*args, "--results", str(tmp_path / "r"))
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and message in out.stderr, out.stderr


def test_real_subset_beyond_the_data_names_the_flag():
    from harness.data import load_dataset
    from harness.data.subsets import subset
    from harness.errors import UsageError

    with pytest.raises(UsageError, match="^--real-subset 0:999999 is images 0:999999, outside digits's 0:1797$"):
        subset(load_dataset("digits"), "0:999999", "--real-subset")


def test_metrics_edited_to_one_string_are_named_not_read_letter_by_letter():
    from harness.config import EvalConfig
    from harness.errors import UsageError
    from harness.validate import check_eval

    with pytest.raises(UsageError, match="eval.metrics must be a list of metric names, got 'fd'"):
        check_eval(EvalConfig(metrics="fd"))  # a hand-edited record's config: was "unknown metric 'f'"


def test_a_folder_given_as_the_fid_network_file_is_named_a_folder(tmp_path):
    out = run_main_in_process("weights", "--model", str(tmp_path))
    assert out.returncode == 2 and f"--model {tmp_path} is a folder" in out.stderr
