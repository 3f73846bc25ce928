"""Jobs in fresh interpreters, a few at a time, where a process that dies is an error, not a hang.

`bench verify` re-runs each reference with the numerics it was made with, and torch fixes those
when it loads, so every re-run needs a fresh (spawned) interpreter. ``multiprocessing.Pool`` waited
forever for the answer of a worker the kernel had killed (out of memory, SIGKILL), and
``concurrent.futures``' executor finishes every queued job before Ctrl-C can end the command. Here a
process that ends without its answer is one line naming its job and how it ended, Ctrl-C ends the
running jobs, and after either no queued job starts. Like a pool, a worker takes job after job (each
spawn costs a fresh ``import torch``).
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait

from harness.errors import BenchError


def how_it_ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        return f"killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    return f"exit status {exitcode}"


def _worker(function: Callable, connection) -> None:
    """A worker process: SIGINT ignored (the parent answers Ctrl-C and ends this process); then, for
    each job it is sent, ("ok", result) or ("error", the exception) back, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            args = connection.recv()
        except EOFError:
            return
        try:
            outcome = ("ok", function(*args))
        except BaseException as exc:  # handed to the parent, which raises it as its own
            outcome = ("error", exc)
        try:
            connection.send(outcome)
        except Exception as exc:  # an answer that does not pickle: its text
            connection.send(("error", RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]} ({exc})")))


def run_in_fresh_processes(function: Callable, jobs: Sequence[tuple], workers: int, names: Sequence[str]) -> list:
    """``function(*job)`` for each job in ``workers`` new spawned processes (each takes the next queued
    job when it is done, as a pool's workers do); the results in job order. An exception in a job is
    raised here; a process that ends without its answer raises a BenchError naming ``names[i]``.
    Either way, or on Ctrl-C, the processes are ended and no queued job starts."""
    context = multiprocessing.get_context("spawn")
    results: list = [None] * len(jobs)
    queued, idle, busy, started = list(range(len(jobs))), [], {}, []
    try:
        for _ in range(max(1, min(workers, len(jobs)))):
            here, there = context.Pipe()
            process = context.Process(target=_worker, args=(function, there), daemon=True)
            process.start()
            there.close()  # this side's copy: the pipe reports EOF once the worker's end is gone
            started.append((process, here))
            idle.append((process, here))
        while queued or busy:
            while queued and idle:
                process, here = idle.pop()
                i = queued.pop(0)
                try:
                    here.send(tuple(jobs[i]))
                except OSError:  # it died while idle
                    process.join()
                    raise _died(names[i], process) from None
                busy[here] = (i, process)
            for here in wait(list(busy)):
                i, process = busy.pop(here)
                try:
                    status, value = here.recv()
                except EOFError:  # the process is gone without its answer
                    process.join()
                    raise _died(names[i], process) from None
                if status == "error":
                    raise value
                results[i] = value
                idle.append((process, here))
    finally:
        for process, here in started:
            process.terminate()
            process.join()
            here.close()
    return results


def _died(name: str, process) -> BenchError:
    return BenchError(f"{name}: its process ended without a result ({how_it_ended(process.exitcode)})")
