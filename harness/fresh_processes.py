"""Jobs in fresh interpreters, a few at a time, where a process that dies is an error, not a hang.

`bench verify` re-runs each reference with the numerics it was made with, and torch fixes those
when it loads, so every re-run needs a fresh (spawned) interpreter. ``multiprocessing.Pool`` waited
forever for the answer of a worker the kernel had killed (out of memory, SIGKILL), and
``concurrent.futures``' executor finishes every queued job before Ctrl-C can end the command. Here a
process that ends without its answer is one line naming its job and how it ended, Ctrl-C ends the
running jobs, and after either no queued job starts.
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


def _child(function: Callable, args: tuple, send) -> None:
    """One job in its process: SIGINT ignored (the parent answers Ctrl-C and ends this process), then
    ("ok", result) or ("error", the exception) through the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        outcome = ("ok", function(*args))
    except BaseException as exc:  # handed to the parent, which raises it as its own
        outcome = ("error", exc)
    try:
        send.send(outcome)
    except Exception as exc:  # an answer that does not pickle: its text
        send.send(("error", RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]} ({exc})")))
    send.close()


def run_in_fresh_processes(function: Callable, jobs: Sequence[tuple], workers: int, names: Sequence[str]) -> list:
    """``function(*job)`` for each job, each in a new spawned process, at most ``workers`` at once;
    the results in job order. An exception in a job is raised here; a process that ends without an
    answer raises a BenchError naming ``names[i]``. Either way, or on Ctrl-C, the running processes are
    ended and no queued job starts."""
    context = multiprocessing.get_context("spawn")
    results: list = [None] * len(jobs)
    queued, running = list(range(len(jobs))), {}
    try:
        while queued or running:
            while queued and len(running) < max(1, workers):
                i = queued.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_child, args=(function, tuple(jobs[i]), send), daemon=True)
                process.start()
                send.close()  # this side's copy: the pipe reports EOF once the child's end is gone
                running[i] = (process, receive)
            ready = wait([receive for _, receive in running.values()])
            for i, (process, receive) in list(running.items()):
                if receive not in ready:
                    continue
                try:
                    status, value = receive.recv()
                except EOFError:  # the process is gone without an answer
                    process.join()
                    raise BenchError(f"{names[i]}: its process ended without a result "
                                     f"({how_it_ended(process.exitcode)})") from None
                process.join()
                receive.close()
                del running[i]
                if status == "error":
                    raise value
                results[i] = value
    finally:
        for process, receive in running.values():
            process.terminate()
            process.join()
            receive.close()
    return results
