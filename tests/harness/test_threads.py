"""The thread policy (harness/threads.py): free cores unless the user set a count, said and recorded."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from harness import threads
from harness.errors import UsageError
from helpers import bench_executable


def never_measured(cpus):
    raise AssertionError("an explicit count must not measure the load")


@pytest.mark.parametrize("cores, busy, expected", [(2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.7, 1), (2, 2.0, 1),
                                                   (16, 3.2, 13), (1, 0.9, 1)])
def test_free_cores_leave_the_busy_ones_and_keep_one(cores, busy, expected) -> None:
    assert threads.free_core_count(cores, busy) == expected


def test_threads_flag_then_omp_num_threads_then_the_free_cores(monkeypatch) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: [0, 1, 2, 3])
    flag = threads.choose(3, {"OMP_NUM_THREADS": "1"}, measure=never_measured)
    assert (flag.count, flag.source) == (3, "--threads")
    omp = threads.choose(None, {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}, measure=never_measured)
    assert (omp.count, omp.source, omp.wait_policy) == (2, "OMP_NUM_THREADS", "PASSIVE")
    free = threads.choose(None, {}, measure=lambda cpus: 2.7 if cpus == [0, 1, 2, 3] else 0.0)
    assert (free.count, free.source, free.cores, free.busy) == (1, "free cores", 4, 2.7)
    assert free.describe() == "threads: 1 (2.7 of 4 cores busy with other work; override with --threads N)"


@pytest.mark.parametrize("requested, environ, message", [
    (0, {}, "--threads 0"), (None, {"OMP_NUM_THREADS": "two"}, "OMP_NUM_THREADS='two'"),
    (100000, {}, "--threads 100000: give a whole number from 1 to 1024"),  # OpenMP crashed (rc 139) on it
    (None, {"OMP_NUM_THREADS": "5000"}, "OMP_NUM_THREADS='5000'")])
def test_bad_counts_are_usage_errors(requested, environ, message) -> None:
    with pytest.raises(UsageError, match=message):
        threads.choose(requested, environ, measure=never_measured)


def test_busy_cores_reads_the_cores_of_this_process(monkeypatch) -> None:
    """/proc/stat's per-CPU lines: busy = (non-idle jiffies) / (all jiffies) over the look, summed."""
    samples = iter([{0: (100, 1000), 1: (0, 1000)}, {0: (175, 1100), 1: (10, 1100)}])
    monkeypatch.setattr(threads, "_cpu_times", lambda cpus: next(samples))
    assert threads.busy_cores([0, 1], seconds=0) == pytest.approx(0.75 + 0.10)


def test_passive_wait_when_a_core_is_busy_spinning_when_quiet_and_the_users_choice_stands() -> None:
    busy, quiet = (lambda cpus: 1.2), (lambda cpus: 0.1)
    environ = {}
    threads.prefer_passive_wait(environ, ["bench", "run"], measure=busy, torch_loaded=False)
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    environ = {"OMP_WAIT_POLICY": " "}
    threads.prefer_passive_wait(environ, ["bench", "eval"], measure=quiet, torch_loaded=False)
    assert environ == {}  # OpenMP's default: spinning threads, faster when nothing competes
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    threads.prefer_passive_wait(environ, ["bench", "run"], measure=busy, torch_loaded=False)
    assert environ == {"OMP_WAIT_POLICY": "ACTIVE"}

    def never(cpus):
        raise AssertionError("a command that does not compute takes no look at the cores")

    environ = {}
    threads.prefer_passive_wait(environ, ["bench", "list"], measure=never, torch_loaded=False)
    assert environ == {}
    for one in (["bench", "run", "--threads", "1"], ["bench", "pretrain", "--threads=1"]):
        threads.prefer_passive_wait(environ, one, measure=never, torch_loaded=False)  # one thread: nothing waits
    environ = {"OMP_NUM_THREADS": "1"}
    threads.prefer_passive_wait(environ, ["bench", "run"], measure=never, torch_loaded=False)
    assert environ == {"OMP_NUM_THREADS": "1"}


@pytest.mark.parametrize("argv", [["bench", "verify"], ["bench", "run", "--resume", "RUN"],
                                  ["bench", "run", "--resume=RUN"], ["bench", "eval", "--threads", "1"],
                                  ["bench", "sample", "RUN"], ["bench", "analyze", "x"], ["bench", "tune"]])
def test_one_thread_is_no_promise_where_a_records_count_may_rule(argv) -> None:
    """verify's re-runs, a resumed run and a re-made generator take the thread count their record states,
    whatever OMP_NUM_THREADS says: on a busy machine they still get sleeping waits (a two-thread
    reference re-run under `OMP_NUM_THREADS=1 bench verify` with a competing process spun 8x slower)."""
    environ = {"OMP_NUM_THREADS": "1"}
    threads.prefer_passive_wait(environ, argv, measure=lambda cpus: 1.0, torch_loaded=False)
    assert environ == {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def test_no_look_once_torch_has_loaded_and_no_earlier_look_is_reused(monkeypatch) -> None:
    """A second command in one process (the tests run many through the entry point's function): torch's
    OpenMP runtime read the wait policy when it loaded, so a look (0.25 s each) would change nothing."""
    def never(cpus):
        raise AssertionError("no look at the cores once torch is loaded")

    monkeypatch.setattr(threads, "_LOOK", [1.4])  # an earlier command's
    environ = {}
    threads.prefer_passive_wait(environ, ["bench", "verify"], measure=never, torch_loaded=True)
    assert environ == {} and threads._LOOK == []


def test_the_entry_point_takes_no_look_in_a_process_that_has_loaded_torch(monkeypatch, tmp_path) -> None:
    """`prefer_passive_wait` sees for itself that torch is loaded (as it is in this process), so an
    in-process `bench eval`, a command that would look otherwise, takes no look."""
    import sys

    from helpers import run_main_in_process

    reached = []  # the wait policy's checks after its torch test; the look follows them
    monkeypatch.setattr(threads, "_one_thread", lambda *args: reached.append(args) or False)
    assert "torch" in sys.modules
    refused = run_main_in_process("eval", "--samples", str(tmp_path / "none"), "--dataset", "digits")
    assert refused.returncode == 2 and "--samples" in refused.stderr, refused.stderr
    assert reached == []


def test_the_thread_count_reuses_the_wait_policys_look(monkeypatch) -> None:
    monkeypatch.setattr(threads, "_LOOK", [])
    monkeypatch.setattr(threads, "usable_cores", lambda: [0, 1])
    monkeypatch.setattr(threads, "busy_cores", lambda cpus, seconds=0.25: 1.4)
    threads.prefer_passive_wait({}, ["bench", "run"], measure=threads.busy_cores, torch_loaded=False)
    monkeypatch.setattr(threads, "busy_cores", lambda cpus, seconds=0.25: 0.0)  # a second look would differ
    choice = threads.choose(None, {}, measure=threads.busy_cores)
    assert (choice.count, choice.busy) == (1, 1.4)


def test_run_without_a_count_says_its_choice_and_records_it(tmp_path) -> None:
    """The installed executable, OMP_NUM_THREADS unset: the console says the choice, the record keeps it."""
    from helpers import write_tiny_backbone

    backbone = write_tiny_backbone(tmp_path / "tiny.safetensors")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    proc = subprocess.run([bench_executable(), "run", "--method", "backbone_one_step", "--dataset", "digits",
                           "--device", "cpu", "--num-samples", "32", "--backbone", str(backbone),
                           "--results", str(tmp_path / "r"), "--quiet"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    (said,) = [line for line in proc.stderr.splitlines() if line.startswith("threads: ")]
    record = json.loads(open(proc.stdout.strip().splitlines()[-1]).read())
    hardware = record["environment"]["hardware"]
    policy = hardware["cpu_threads_policy"]
    assert said.startswith(f"threads: {hardware['cpu_threads']} (")
    assert ("OpenMP wait passive" in said) == (policy["wait_policy"] == "PASSIVE") == (policy["busy"] >= 0.5)
    assert policy["source"] == "free cores" and policy["count"] == hardware["cpu_threads"]
    assert 1 <= policy["count"] <= policy["cores"]


@pytest.mark.parametrize("args", [
    ["sweep", "--methods", "gan_only,nope", "--budgets", "1"],
    ["tune", "--method", "nope", "--budget-kimg", "1", "--trials", "1"],
    ["tune", "--method", "gan_only", "--budget-kimg", "1", "--trials", "0"],
], ids=["sweep-unknown-method", "tune-unknown-method", "tune-bad-trials"])
def test_a_refused_sweep_or_tune_says_only_its_error(args, tmp_path) -> None:
    """The thread count is chosen (and said) after every check, as for `bench run`: a typo gets one line."""
    from helpers import run_main_in_process

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    result = run_main_in_process(*args, "--results", str(tmp_path / "r"), env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "r").exists()
