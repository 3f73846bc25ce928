"""harness/fresh_processes.py: jobs in spawned interpreters, a few at a time; a process that dies is an
error naming its job (``multiprocessing.Pool`` waited for its answer forever), and after an error no
queued job starts. ``operator.call`` lets one job list mix functions the child can import by name."""

from __future__ import annotations

import operator
import os
import time
from pathlib import Path

import pytest

from harness.errors import BenchError
from harness.fresh_processes import how_it_ended, run_in_fresh_processes


def test_results_come_back_in_job_order_from_at_most_two_fresh_processes() -> None:
    jobs = [(pow, 2, 10), (pow, 3, 2), (os.getpid,), (os.getpid,), (os.getpid,)]
    results = run_in_fresh_processes(operator.call, jobs, 2, ["a", "b", "c", "d", "e"])
    assert results[:2] == [1024, 9]
    assert os.getpid() not in results[2:] and len(set(results[2:])) <= 2, "two workers, none of them this process"
    assert len(set(run_in_fresh_processes(operator.call, [(os.getpid,)] * 3, 1, "abc"))) == 1, "one worker: reused"


@pytest.mark.parametrize("job, how", [((os.abort,), "killed by SIGABRT"), ((os._exit, 3), "exit status 3")])
def test_a_process_that_dies_is_one_error_naming_its_job_and_no_queued_job_starts(job, how, tmp_path) -> None:
    queued = tmp_path / "queued-job-ran"
    start = time.monotonic()
    with pytest.raises(BenchError) as raised:
        run_in_fresh_processes(operator.call, [job, (Path.touch, queued)], 1, ["ref-a", "ref-b"])
    assert str(raised.value) == f"ref-a: its process ended without a result ({how})"
    assert not queued.exists() and time.monotonic() - start < 60


def test_an_exception_in_a_job_is_raised_as_itself() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        run_in_fresh_processes(operator.call, [(int, "x")], 1, ["ref"])


def test_a_kill_by_the_kernel_names_the_likely_cause() -> None:
    assert how_it_ended(-9) == "killed by SIGKILL (out of memory?)" and how_it_ended(-15) == "killed by SIGTERM"


def test_verify_whose_re_run_is_killed_fails_in_one_line_instead_of_waiting_forever(tmp_path, monkeypatch) -> None:
    """The kernel's OOM killer, played by a thread of this process: the re-run's process is SIGKILLed once
    its run folder exists (training under way); `bench verify`'s function raises one error naming the
    reference. multiprocessing.Pool, which verify used before, waited for that answer forever."""
    import multiprocessing
    import signal
    import tempfile
    import threading

    from harness.verify import verify_references
    from helpers import run_main_in_process, write_tiny_backbone

    made = run_main_in_process("run", "--method", "gan_only", "--dataset", "digits", "--device", "cpu",
                               "--backbone", str(write_tiny_backbone(tmp_path / "tiny.safetensors")),
                               "--budget-kimg", "0.2", "--num-samples", "64", "--set", "train.batch_size=16",
                               "--set", "d_width=8", "--set", "eval.batch_size=64", "--reference", "--quiet",
                               "--results", str(tmp_path / "results"))
    assert made.returncode == 0, made.stderr
    run_id = Path(made.stdout.strip().splitlines()[-1]).parent.name
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where verify's scratch folder goes
    killed = []

    def out_of_memory() -> None:
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            if list((tmp_path / "tmp").glob("bench-verify-*/*/")):  # the re-run made its run folder
                for child in multiprocessing.active_children():
                    os.kill(child.pid, signal.SIGKILL)
                    killed.append(child.pid)
            time.sleep(0.005)

    watcher = threading.Thread(target=out_of_memory, daemon=True)
    watcher.start()
    with pytest.raises(BenchError) as raised:
        verify_references(tmp_path / "results")
    watcher.join()
    assert killed
    assert str(raised.value) == f"{run_id}: its process ended without a result (killed by SIGKILL (out of memory?))"
