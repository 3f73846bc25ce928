"""The CLI's exit statuses are a contract scripts and CI rely on, tested through the installed `bench`
entry point in a subprocess (what `pip install` made), not through the Typer app object:
0 success, 2 a user error (message, no traceback), non-zero every failure, 130 on Ctrl-C."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import (bench_executable, run_bench, run_main_in_process, sigint_at_default, snapshot,
                     write_tiny_backbone)

TINY_RUN = ["--method", "gan_only", "--dataset", "digits", "--device", "cpu", "--num-samples", "64",
            "--set", "train.batch_size=16", "--set", "d_width=8", "--set", "eval.batch_size=64", "--quiet"]


# Cases marked True also start the real executable; the others call its function in this process
# (helpers.run_main_in_process: the same code without the ~1.5 s a fresh `import torch` costs each).
@pytest.mark.parametrize("args, message, real", [
    (["--bogus-flag"], "No such option: --bogus-flag", True),
    (["run", "--nonsense"], "No such option: --nonsense", False),
    (["run", "--method"], "requires an argument", False),
    (["nosuchcommand"], "No such command 'nosuchcommand'", True),
    (["run", "--method", "gan_only", "--seed", "abc"], "Invalid value for '--seed'", False),
    (["list", "nothing-of-that-kind"], "unknown list 'nothing-of-that-kind'", False),
    (["run", "--method", "nope"], "unknown method 'nope'", True),
])
def test_user_errors_exit_2_with_a_message_and_no_traceback(tmp_path, args, message, real):
    result = run_bench(*args, cwd=tmp_path) if real else run_main_in_process(*args, cwd=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert list(tmp_path.iterdir()) == []  # nothing created where it ran


def test_help_and_list_exit_0(tmp_path):
    assert run_bench("--help", cwd=tmp_path).returncode == 0
    listed = run_bench("list", "methods", cwd=tmp_path)
    assert listed.returncode == 0 and "gan_only" in listed.stdout


def test_commands_that_compute_nothing_never_load_torch(tmp_path):
    """`--version`, `--help`, usage errors and `runs` answer in a fraction of a second, also with
    $BENCH_FEATURE_CACHE set: checking its value imported the caches, and torch with them (~2 s;
    every such test process paid it, as the suite sets the variable). A mistyped seed list or pickle
    name, or an unknown `bench list` kind, is refused before torch loads too."""
    import os
    import sys

    code = ("import sys\nfrom harness.cli import main\n"
            "for args in (['--version'], ['--help'], ['nosuchcommand'], ['runs', '--results', 'none'],\n"
            "             ['sample', 'r', '--seeds', '0-4,x', '--out', 'o'], ['backbones', 'convert', 'a.pkl', 'b'],\n"
            "             ['list', 'nope']):\n"
            "    sys.argv = ['bench', *args]\n"
            "    try:\n        main()\n    except SystemExit as exit:\n        code = exit.code\n"
            "    print('torch?', args[0], code, 'torch' in sys.modules, file=sys.__stderr__)\n")
    env = {**os.environ, "BENCH_FEATURE_CACHE": "off"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    answers = [line for line in proc.stderr.splitlines() if line.startswith("torch? ")]
    assert answers == ["torch? --version 0 False", "torch? --help 0 False", "torch? nosuchcommand 2 False",
                       "torch? runs 2 False", "torch? sample 2 False", "torch? backbones 2 False",
                       "torch? list 2 False"], proc.stderr[-2000:]


def test_verify_on_an_empty_results_folder_fails(tmp_path):
    empty = tmp_path / "results"
    empty.mkdir()
    result = run_bench("verify", "--results", str(empty))
    assert result.returncode != 0
    assert "no reference records" in result.stdout and "bench run --reference" in result.stdout
    a_file, absent = tmp_path / "a-file", tmp_path / "absent"
    a_file.touch()
    tune = ["tune", "--method", "gan_only", "--budget-kimg", "0.1", "--trials", "1"]
    for command, where, message in ((["verify"], absent, "no such folder"), (["verify"], a_file, "a plain file"),
                                    (tune, a_file, "a plain file")):  # a typo'd folder is a usage error
        refused = run_main_in_process(*command, "--results", str(where))
        assert refused.returncode == 2 and f"--results {where}: {message}" in refused.stderr, refused.stderr


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """A tiny reference record made through the entry point (0.1 kimg on the 8x8 test backbone), once for
    the tests that copy it."""
    root = tmp_path_factory.mktemp("reference")
    backbone = write_tiny_backbone(root / "tiny.safetensors")
    results = root / "results"
    made = run_main_in_process("run", *TINY_RUN, "--backbone", str(backbone), "--budget-kimg", "0.1", "--reference",
                               "--results", str(results))  # made in this process; `bench verify` below is real
    assert made.returncode == 0, made.stderr
    return Path(made.stdout.strip().splitlines()[-1])


def test_verify_passes_an_untouched_reference_and_fails_a_tampered_one(reference_run, tmp_path):
    """One results folder with the reference as made and a copy whose FD was moved far beyond the 5%
    tolerance: verify re-runs both, says which is which, and exits 1; nothing stored changes."""
    results = tmp_path / "results"
    shutil.copytree(reference_run.parent, results / reference_run.parent.name)
    tampered_dir = results / f"{reference_run.parent.name}-tampered"
    shutil.copytree(reference_run.parent, tampered_dir)
    record = json.loads((tampered_dir / "record.json").read_text())
    record["run_id"] = tampered_dir.name
    record["metrics"][0]["value"] *= 3.0
    (tampered_dir / "record.json").write_text(json.dumps(record))
    before = snapshot(results)
    result = run_bench("verify", "--results", str(results))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{reference_run.parent.name}: ok (identical)" in result.stdout
    assert f"{tampered_dir.name}: FAIL" in result.stdout and "Traceback" not in result.stderr
    assert snapshot(results) == before  # verify re-runs elsewhere; the stored references are untouched
    # Said on stderr: the plan first, then each re-run's progress in lines that name its reference.
    said = result.stderr.splitlines()
    assert said[0].startswith("verify: re-running 2 references (native numerics) to the end, "), said[0]
    for run_id in (reference_run.parent.name, tampered_dir.name):
        assert any(line.startswith(f"{run_id}: ") and " images, " in line for line in said), (run_id, said)


def test_ctrl_c_mid_verify_exits_130_and_starts_no_queued_rerun(reference_run, tmp_path):
    """Two long references that re-run one at a time (each takes every core): Ctrl-C during the first
    ends `bench verify` with 130 at once, and the second never starts (a concurrent.futures pool ran
    every queued re-run to its end first)."""
    import os

    results, ids = tmp_path / "results", []
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    for name in ("a", "b"):
        folder = shutil.copytree(reference_run.parent, results / f"{reference_run.parent.name}-{name}")
        record = json.loads((folder / "record.json").read_text())
        record["run_id"] = folder.name
        record["config"]["train"]["budget_kimg"] = 3.0  # seconds: stopped after its first tenth
        record["environment"]["hardware"]["cpu_threads"] = cores  # so one re-run at a time
        (folder / "record.json").write_text(json.dumps(record))
        ids.append(folder.name)
    proc = subprocess.Popen([bench_executable(), "verify", "--results", str(results)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=sigint_at_default)
    said = []
    for line in proc.stderr:  # the first re-run's first progress line: it is under way
        said.append(line)
        if any(line.startswith(f"{run_id}: ") for run_id in ids):
            break
    assert proc.poll() is None, "".join(said)[-2000:] + proc.communicate()[1][-2000:]  # still re-running
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole foreground group
    start = time.monotonic()
    _, rest = proc.communicate(timeout=120)
    said = "".join(said) + rest
    assert proc.returncode == 130 and "aborted" in said and "Traceback" not in said, said[-2000:]
    assert time.monotonic() - start < 30, "exits at once, not after the re-runs"
    assert sum(any(line.startswith(f"{run_id}: ") for line in said.splitlines()) for run_id in ids) == 1, said[-2000:]


def test_verify_until_kimg_reruns_to_a_curve_point_and_refuses_one_that_is_not_there(tmp_path):
    """`bench verify --until-kimg K` re-runs a reference only to its curve point at K and compares that
    point (a copy with that point tampered fails, in the same call); a K without a point, or not positive,
    is a usage error (exit 2)."""
    backbone = write_tiny_backbone(tmp_path / "tiny.safetensors")
    results = tmp_path / "results"
    made = run_main_in_process("run", *TINY_RUN, "--backbone", str(backbone), "--budget-kimg", "0.1",
                               "--eval-every-kimg", "0.05", "--reference", "--results", str(results))
    assert made.returncode == 0, made.stderr
    record_path = Path(made.stdout.strip().splitlines()[-1])
    for value, message in (("0.07", "no curve point at 0.07 kimg (its points: 0.05, 0.1)"),
                           ("-1", "--until-kimg must be positive")):
        refused = run_main_in_process("verify", "--results", str(results), "--until-kimg", value)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    tampered_dir = shutil.copytree(record_path.parent, results / f"{record_path.parent.name}-tampered")
    record = json.loads(record_path.read_text())
    record["run_id"] = tampered_dir.name
    record["curve"]["points"][0]["metrics"][0]["value"] *= 3.0
    (tampered_dir / "record.json").write_text(json.dumps(record))
    quick = run_bench("verify", "--results", str(results), "--until-kimg", "0.05", "--quiet")
    assert quick.returncode == 1, quick.stdout + quick.stderr
    said = quick.stdout.strip().splitlines()
    assert f"{record_path.parent.name}: ok (identical) at 0.05 kimg" in said, said
    assert f"{tampered_dir.name}: FAIL at 0.05 kimg" in quick.stdout, said
    assert quick.stderr == "", "--quiet: neither the plan nor the re-run's progress"


def test_ctrl_c_mid_run_exits_130_and_says_how_to_resume(tmp_path):
    backbone = write_tiny_backbone(tmp_path / "tiny.safetensors")
    results = tmp_path / "results"
    args = [*TINY_RUN, "--backbone", str(backbone), "--budget-kimg", "1000", "--set", "checkpoint_kimg=0.05",
            "--results", str(results)]
    proc = subprocess.Popen([bench_executable(), "run", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=sigint_at_default)
    deadline = time.monotonic() + 240
    while not list(results.glob("*/checkpoint/state.safetensors")):  # training is under way
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint within 240 s"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err)
    assert "aborted" in err and "bench run --resume" in err
    assert "Traceback" not in err
    assert not list(results.glob("*/record.json"))  # an interrupted run stores no result


@pytest.mark.parametrize("variable", ["BENCH_DATA_DIR", "BENCH_WEIGHTS_DIR", "BENCH_CACHE_DIR", "BENCH_BACKBONE_DIR"])
def test_a_folder_variable_naming_a_file_is_one_line_before_any_work(variable, tmp_path):
    """Found by a hostile-input hunt: "File exists" (weights), silently unused (cache), a stalled run (data)."""
    import os

    (tmp_path / "a-file").write_text("")
    env = {**os.environ, variable: str(tmp_path / "a-file")}
    result = run_main_in_process("run", "--method", "gan_only", "--results", str(tmp_path / "r"), env=env)
    assert result.returncode == 2 and result.stderr == f"error: ${variable}={tmp_path / 'a-file'}: not a folder; " \
                                                       "point it at a folder (or unset it)\n", result.stderr
    assert not (tmp_path / "r").exists()
    assert run_main_in_process("--version", env=env).returncode == 0


def test_the_folder_variables_checked_are_those_the_modules_read() -> None:
    """harness/files.py names them without importing the modules (that would load numpy and torch first)."""
    from harness.backbones.loading import CACHE_ENV
    from harness.data.readers import DATA_DIR_ENV
    from harness.files import FOLDER_VARIABLES, WEIGHTS_DIR_ENV
    from harness.metrics.reference import CACHE_DIR_ENV

    assert sorted(FOLDER_VARIABLES) == sorted([CACHE_ENV, DATA_DIR_ENV, WEIGHTS_DIR_ENV, CACHE_DIR_ENV])
