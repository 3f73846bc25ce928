"""Hostile input, round seven: records whose parts are of another type than runs write (`bench runs`,
`show`, `report`, `eval`, `sample` ended in tracebacks, `report` after rewriting some tables), and a
record whose method settings were edited after its generator was trained (measured as if it were that
generator). Shapes: harness/record_shape.py; the settings hash: harness/build.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import run_main_in_process, snapshot, tiny_fd_run

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "results" / "digits-gan_only-s0-20261204-202829-380cc527"

EDITS = {  # where, new value: each made a command end in a traceback
    "config.eval": "x", "config": "x", "config.method_config": -1, "environment": "x",
    "environment.hardware": -1, "timing": "x", "training": -1, "method_info": "x", "metrics": "x",
    "metrics.0": None, "metrics.0.num_samples": "x", "run_id": [], "failure": "x",
}


def edited(record: dict, where: str, value) -> dict:
    *parents, last = where.split(".")
    part = record
    for key in parents:
        part = part[int(key)] if isinstance(part, list) else part[key]
    if isinstance(part, list):
        part[int(last)] = value
    else:
        part[last] = value
    return record


def results_with(tmp_path: Path, edits: dict) -> Path:
    """The stored reference run, and beside it one copy per edit (folder ``edited-<where>``)."""
    results = tmp_path / "results"
    shutil.copytree(REFERENCE, results / REFERENCE.name)
    for i, (where, value) in enumerate(edits.items()):
        record = edited(json.loads((REFERENCE / "record.json").read_text()), where, value)
        record["run_id"] = record["run_id"] if where == "run_id" else f"{record['run_id']}-{i}"
        (results / f"edited-{where}").mkdir()
        (results / f"edited-{where}" / "record.json").write_text(json.dumps(record))
    return results


def test_report_leaves_each_malformed_record_out_with_one_line(tmp_path):
    """One report over every edit (each had crashed it, some after tables were rewritten)."""
    from harness.report import build_report

    written, problems = build_report(results_with(tmp_path, EDITS), tmp_path / "tables")
    assert tmp_path / "tables" / "index.html" in written
    for where in EDITS:
        assert [p for p in problems if f"edited-{where}/record.json" in p and "malformed" in p], (where, problems)
    assert len(problems) == len(EDITS)


@pytest.mark.parametrize("where", ["timing", "environment.hardware", "metrics.0.num_samples", "run_id"])
def test_runs_lists_the_rest_and_show_refuses_the_malformed_one(where, tmp_path):
    results = results_with(tmp_path, {where: EDITS[where]})
    listed = run_main_in_process("runs", "--results", str(results))
    assert listed.returncode == 0 and REFERENCE.name in listed.stdout, listed.stderr
    assert f"edited-{where}/record.json" in listed.stderr and "Traceback" not in listed.stderr
    shown = run_main_in_process("show", str(results / f"edited-{where}" / "record.json"))
    assert shown.returncode == 2 and shown.stderr.count("\n") == 1 and "Traceback" not in shown.stderr, shown.stderr


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    return tiny_fd_run(tmp_path_factory.mktemp("trained"), budget_kimg=0.064, num_samples=32)


@pytest.mark.parametrize("where, value, said", [
    ("config.method_config.sigma", 40.0, "are not those generator.safetensors was trained with"),
    ("config.method_config.d_width", -1, "d_width"),
    ("config.method_config.beta1", -1, "beta1"),
    ("config.backbone", None, "its config names no backbone"),
    ("config.method_config", "x", "its config.method_config is 'x', not an object"),
    ("config.seed", "x", "its config.seed is 'x', not a whole number"),
    ("config.train.budget_kimg", "x", "not a number"),
])
def test_eval_and_sample_refuse_an_edited_run_config(trained_run, where, value, said, tmp_path):
    run_dir = shutil.copytree(trained_run, tmp_path / "runs" / trained_run.name)
    (run_dir / "record.json").write_text(json.dumps(edited(json.loads((run_dir / "record.json").read_text()),
                                                           where, value)))
    before = snapshot(run_dir)
    for args in (["eval", "--checkpoint", str(run_dir), "--metric", "fd", "--num-samples", "20", "--results",
                  str(tmp_path / "r")], ["sample", str(run_dir), "--seeds", "0-3", "--out", str(tmp_path / "s")]):
        done = run_main_in_process(*args)
        assert done.returncode == 2 and said in done.stderr, (args[0], done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert snapshot(run_dir) == before and not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


def test_the_untouched_run_still_evaluates(trained_run, tmp_path):
    done = run_main_in_process("eval", "--checkpoint", str(trained_run), "--metric", "fd", "--num-samples", "20",
                               "--results", str(tmp_path / "r"), "--quiet")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("args, env, said", [
    (["--set", "eval.metrics=fd,fd"], {}, "'fd' is named twice"),  # was measured and stored twice
    (["--seed", "99999999999999999999999"], {}, "got 99999999999999999999999"),  # said 1e+23
    ([], {"BENCH_FEATURE_CACHE": "garbage"}, "BENCH_FEATURE_CACHE='garbage': expected off"),  # was ignored
])
def test_run_refuses_before_any_work(args, env, said, tmp_path):
    import os

    done = run_main_in_process("run", "--method", "gan_only", "--results", str(tmp_path / "r"), *args,
                               env={**os.environ, **env})
    assert done.returncode == 2 and said in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "r").exists()


def test_a_kept_snapshot_is_refused_for_an_edited_record_too(tmp_path):
    from harness.runner import configure, run
    from helpers import write_tiny_backbone

    backbone = write_tiny_backbone(tmp_path / "tiny.safetensors")
    config = configure("gan_only", "digits", backbone=str(backbone), budget_kimg=0.064, device="cpu", num_samples=32,
                       overrides=["train.batch_size=32", "d_width=8", "eval.batch_size=64", "eval.every_kimg=0.032",
                                  "train.keep_snapshots=all", "eval.metrics=fd"])
    run_dir = run(config, tmp_path / "runs", show_progress=False).parent
    args = ["sample", str(run_dir), "--seeds", "0-1", "--snapshot", "0.032"]
    assert run_main_in_process(*args, "--out", str(tmp_path / "ok")).returncode == 0
    record = json.loads((run_dir / "record.json").read_text())
    record["config"]["method_config"]["sigma"] = 40.0
    (run_dir / "record.json").write_text(json.dumps(record))
    done = run_main_in_process(*args, "--out", str(tmp_path / "s"))
    assert done.returncode == 2 and "are not those" in done.stderr and "was trained with" in done.stderr, done.stderr


@pytest.mark.parametrize("text", ["[1]", '"s"', "null", json.dumps({"run_id": "r", "status": "completed", "method": []})])
@pytest.mark.parametrize("command", [["report", "--run"], ["analyze", "spectrum", "--run"], ["analyze", "mismatch", "--run"]])
def test_plotting_or_analysing_a_malformed_record_is_one_line(command, text, tmp_path):
    """`bench report --run` and `bench analyze` read the record themselves; a non-object or mistyped one
    ended in a traceback (AttributeError / TypeError)."""
    run = tmp_path / "results" / "r"
    run.mkdir(parents=True)
    (run / "record.json").write_text(text)
    before = snapshot(tmp_path)
    result = run_main_in_process(*command, str(run), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "malformed record" in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("start", [{"config": 5}, {"config": {"train": "x"}}, {"config": {"method": [], "seed": "x"}}])
def test_runs_lists_an_unfinished_run_with_mistyped_start_settings(start, tmp_path):
    """`bench runs` reads each unfinished run's checkpoint/run.json; a mistyped one was an AttributeError."""
    folder = tmp_path / "results" / "r1" / "checkpoint"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(start))
    listed = run_main_in_process("runs", "--results", str(tmp_path / "results"))
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith("r1 ")]
    assert "unfinished (bench run --resume r1" in row and "[]" not in row
