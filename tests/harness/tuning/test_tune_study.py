"""`bench tune` end to end on a tiny backbone: a 3-trial study, a study killed mid-trial and resumed,
two processes sharing one study, and bad input, all through the `bench` entry point (the executable
in a subprocess; the refusals that need no process of their own call its function in-process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna  # in the test extra: the tests of the optional `bench tune` always run
import pytest

from helpers import bench_executable, run_main_in_process, sigint_at_default, snapshot

SMALL = ["--set", "train.batch_size=32", "--set", "d_width=16", "--set", "eval.batch_size=100"]


def tune_args(backbone: Path, results: Path, trials: int, budget: float = 0.1, *extra: str) -> list[str]:
    return ["tune", "--method", "gan_only", "--dataset", "digits", "--backbone", str(backbone), "--device", "cpu",
            "--budget-kimg", str(budget), "--trials", str(trials), "--num-samples", "100", "--results", str(results),
            "--quiet", *SMALL, *extra]


def bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([bench_executable(), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def load(results: Path, name: str):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{results / 'tuning' / name}.db")


def records_in(folder: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in folder.glob("*/record.json")}


def fd(record: dict) -> float:
    return next(m["value"] for m in record["metrics"] if m["name"] == "fd")


@pytest.mark.slow
def test_three_trial_study_end_to_end_then_best_rerun_and_report(tiny_backbone, tmp_path):
    results = tmp_path / "results"
    args = tune_args(tiny_backbone, results, 3, 0.1, "--rerun-seeds", "0,1")
    first = run_main_in_process(*args)  # the entry point's function; the tests below start the executable
    assert first.returncode == 0, first.stderr
    name = "digits-gan_only-0.1kimg"
    study = load(results, name)
    trials = study.trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert trials[0].params == {"d_lr": 5e-4, "g_lr": 5e-4, "r1_gamma": 0.01}, "trial 0 is the dataset preset"
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 3
    assert "no per-run curve points" in study.user_attrs["pruning"] or "median" in study.user_attrs["pruning"]
    said = first.stdout + first.stderr  # and the command says it, before its trials
    assert f"study {name}: pruning {study.user_attrs['pruning']}" in said

    folder = results / "tuning" / name
    trial_records = records_in(folder)
    assert len(trial_records) == 3
    for t in trials:  # every trial is an ordinary record, tagged, scored on held-out seeds
        record = trial_records[t.user_attrs["run_id"]]
        assert record["status"] == "completed" and record["seed"] == 100
        assert record["config"]["tags"]["study"] == name and record["config"]["tags"]["trial"] == t.number
        assert {k: record["config"]["method_config"][k] for k in t.params} == t.params
        entry = next(m for m in record["metrics"] if m["name"] == "fd")
        assert entry["seeds"] == [1_000_000, 1_000_099] and entry["value"] == t.value

    summary = json.loads((folder / "study.json").read_text())
    best = min(trials, key=lambda t: t.value)
    assert summary["best"]["number"] == best.number and summary["spent"] == 3

    reruns = records_in(folder / "reruns")
    assert sorted(r["seed"] for r in reruns.values()) == [0, 1]
    for record in reruns.values():  # the best settings on fresh seeds, measured on the final seeds
        assert {k: record["config"]["method_config"][k] for k in best.params} == best.params
        assert next(m for m in record["metrics"] if m["name"] == "fd")["seeds"] == [0, 99]
        assert record["config"]["tags"] == {"study": name, "role": "rerun", "from_trial": best.number,
                                            "params": best.params, "seed": record["seed"], "budget_kimg": 0.1}

    again = run_main_in_process(*args)  # a finished study and its re-runs: nothing is redone
    assert again.returncode == 0, again.stderr
    assert len(load(results, name).trials) == 3 and len(records_in(folder / "reruns")) == 2

    from harness.report import build_report

    build_report(results, tmp_path / "tables", figures=False)  # tables only
    rows = (tmp_path / "tables" / "tuned.csv").read_text().splitlines()
    assert len(rows) == 2 and f",{name}," in rows[1] and ",3,0,0," in rows[1]


@pytest.fixture(scope="module")
def uninterrupted_fd(tmp_path_factory) -> float:
    """FD of the first trial's run (the preset, seed 100) trained without a stop, once for both stop signals
    (the same weights as ``tiny_backbone``: write_tiny_backbone is seeded)."""
    from harness.runner import configure, run
    from harness.seeding import cpu_threads
    from helpers import write_tiny_backbone

    folder = tmp_path_factory.mktemp("straight")
    straight = configure("gan_only", "digits", backbone=str(write_tiny_backbone(folder / "tiny.safetensors")),
                         budget_kimg=0.5, seed=100, device="cpu", num_samples=100,
                         overrides=["train.batch_size=32", "d_width=16", "eval.batch_size=100", "checkpoint_kimg=0.125",
                                    "eval.first_seed=1000000"])
    with cpu_threads(1):
        return fd(json.loads(run(straight, folder / "results", show_progress=False).read_text()))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_study_stopped_mid_trial_resumes_its_run_from_the_checkpoint(sig, tiny_backbone, tmp_path, uninterrupted_fd):
    results = tmp_path / "results"
    args = tune_args(tiny_backbone, results, 2, 0.5, "--set", "checkpoint_kimg=0.125", "--heartbeat-s", "1")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([bench_executable(), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=sigint_at_default)
    folder = results / "tuning" / "digits-gan_only-0.5kimg"
    state, deadline = None, time.time() + 600
    while state is None and time.time() < deadline and proc.poll() is None:
        found = list(folder.glob("*/checkpoint/state.safetensors"))
        state = found[0] if found else None
        time.sleep(0.05)
    assert state is not None, f"no checkpoint appeared: {proc.communicate()[1].decode()[-2000:]}"
    os.kill(proc.pid, sig)
    _, err = proc.communicate()
    killed = state.parent.parent
    assert not (killed / "record.json").exists(), "the trial finished before it was killed; make it longer"
    if sig == signal.SIGINT:  # Ctrl-C: exit 130, the trial is failed as interrupted and queued again
        assert proc.returncode == 130, err.decode()[-2000:]
    else:
        # The killed trial is stale once its last heartbeat is older than the grace period (2 s). Optuna stamps
        # beats with SQLite's CURRENT_TIMESTAMP in whole seconds, so waiting took 3.5 s; the stored beat is
        # moved a minute back instead, which is what the resume would read after a minute's wait.
        import sqlite3
        from contextlib import closing

        with closing(sqlite3.connect(results / "tuning" / "digits-gan_only-0.5kimg.db")) as db, db:
            moved = db.execute("UPDATE trial_heartbeats SET heartbeat = datetime(heartbeat, '-60 seconds')")
            assert moved.rowcount == 1, "the killed trial's one heartbeat"

    resumed = run_main_in_process(*args)  # the stop was a real process's; resuming needs none of its own
    assert resumed.returncode == 0, resumed.stderr
    trials = load(results, "digits-gan_only-0.5kimg").trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"], "killed trial re-queued, then one more"
    assert trials[1].params == trials[0].params and trials[1].user_attrs["trial_root"] == 0
    assert trials[1].user_attrs["run_id"] == killed.name, "the re-queued trial continued the killed run"
    assert len(records_in(folder)) == 2
    assert trials[1].value == uninterrupted_fd, "resuming gives the value an uninterrupted trial gets"


@pytest.mark.slow
def test_two_processes_split_one_study(tiny_backbone, tmp_path):
    results = tmp_path / "results"
    args = tune_args(tiny_backbone, results, 4, 0.3)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([bench_executable(), *args], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    study = load(results, "digits-gan_only-0.3kimg")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 4
    assert all(t.user_attrs.get("outcome") == "surplus" for t in study.trials if t.state.name != "COMPLETE")
    ran = [{line.split(":")[0] for line in out.splitlines() if "FD" in line and line.startswith("trial ")}
           for out, _ in outs]
    assert ran[0] and ran[1] and not ran[0] & ran[1], f"each process ran its own trials: {ran}"
    records = records_in(results / "tuning" / "digits-gan_only-0.3kimg")
    assert sorted(r["config"]["tags"]["trial"] for r in records.values()) == sorted(t.number for t in complete)


@pytest.mark.parametrize("extra, message", [
    (["--space", "nope=1:2"], "unknown key 'nope'"),
    (["--space", "r1_interval=1.5:4"], "not a whole number"),
    (["--space", "g_lr=0:1:log"], "log range needs LOW > 0"),
    (["--space", "r1_interval=a,b"], "every choice must be a int"),
    (["--trials", "0"], "--trials must be at least 1"),
    (["--rerun-seeds", "0,100"], "re-runs train on fresh seeds"),
    (["--set", "eval.first_seed=999950"], "overlap the final evaluation's seeds"),
    (["--trials", "3", "--grid", "--space", "g_lr=1e-4,5e-4", "--space", "d_lr=5e-4", "--space", "r1_gamma=0.01"],
     "more than the grid's 2 points"),
    # values a --space lets a trial set are checked like --set's, before the study exists, naming --space
    (["--space", "g_lr=-1"], "error: --space g_lr=-1: g_lr must be positive, got -1\n"),
    (["--space", "r1_interval=0"], "--space r1_interval=0: r1_interval must be >= 1, got 0"),
    (["--space", "r1_interval=0,1"], "--space r1_interval=0,1: r1_interval must be >= 1, got 0"),
    (["--space", "r1_interval=0:4"], "--space r1_interval=0:4: r1_interval must be >= 1, got 0"),
    (["--space", "beta2=0.5:0.9999999", "--grid", "--grid-points", "2"],  # its grid rounds the top to 1
     "--space beta2=0.5:0.9999999: beta2 must be >= 0 and < 1, got 1"),
    (["--space", "g_lr=1e-4,,5e-4"], "--space g_lr=1e-4,,5e-4: an empty choice"),
    (["--space", "g_lr=1e-4:1e-3", "--space", "g_lr=1e-5"], "--space g_lr is given twice"),
    (["--startup-trials", "-1"], "--startup-trials must be at least 0, got -1"),
    (["--study", ""], "--study '': a study name is 1-128"),
])
def test_bad_input_is_a_one_line_usage_error(extra, message, tiny_backbone, tmp_path):
    result = run_main_in_process(*tune_args(tiny_backbone, tmp_path / "results", 1), *extra)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "results" / "tuning").exists(), "nothing is stored for a refused study"


@pytest.mark.parametrize("space, message", [
    (["sigma_min=0.5:100"], "--space sigma_min=0.5:100: sigma_min=100 must be below sigma_max=80"),
    (["sigma_min=0.002:1", "sigma_max=0.5:80"],  # each end alone is fine; the largest low and smallest high are not
     "--space sigma_min=0.002:1 --space sigma_max=0.5:80: sigma_min=1 must be below sigma_max=0.5"),
    (["loss=foo"],  # a text setting with its choices declared on the Config (harness.config.one_of)
     "--space loss=foo: loss must be one of pseudo_huber, l2, lpips, got 'foo'"),
])
def test_space_values_of_an_ordered_pair_are_checked_together(space, message, tiny_backbone, tmp_path):
    args = ["tune", "--method", "consistency_distillation", "--backbone", str(tiny_backbone), "--device", "cpu",
            "--budget-kimg", "0.1", "--trials", "1", "--num-samples", "100", "--results", str(tmp_path / "results"),
            "--quiet", *(f for pair in space for f in ("--space", pair))]
    result = run_main_in_process(*args)
    assert result.returncode == 2 and result.stderr == f"error: {message}\n", result.stderr
    assert not (tmp_path / "results" / "tuning").exists(), "nothing is stored for a refused study"


@pytest.mark.slow
def test_existing_study_with_other_settings_is_refused_and_kept(tiny_backbone, tmp_path):
    results = tmp_path / "results"
    made = run_main_in_process(*tune_args(tiny_backbone, results, 1, 0.1, "--study", "s"))
    assert made.returncode == 0, made.stderr
    before = snapshot(results)
    other = run_main_in_process(*tune_args(tiny_backbone, results, 1, 0.1, "--study", "s", "--space", "g_lr=1e-4:1e-3"))
    assert other.returncode == 2 and "exists" in other.stderr and "space" in other.stderr, other.stderr
    assert other.stderr.count("\n") == 1
    assert snapshot(results) == before, "the stored study and its records are untouched"
    method = run_main_in_process("tune", "--method", "teacher", "--budget-kimg", "1", "--trials", "1", "--results", str(results))
    assert method.returncode == 2 and "does not train" in method.stderr


def test_without_optuna_the_command_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['optuna'] = None; sys.argv = ['bench'] + sys.argv[1:]; "
            "from harness.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", code, "tune", "--method", "gan_only", "--budget-kimg", "1",
                             "--trials", "1", "--results", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stderr == 'error: bench tune needs Optuna: pip install -e ".[tune]"\n'
