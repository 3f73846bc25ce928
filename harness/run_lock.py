"""One process trains a run folder at a time: an exclusive lock on ``checkpoint/.lock``.

Two `bench run --resume` of one run (or a resume while the run is still training, or two sweeps
handed the same grid point) would both train and overwrite each other's checkpoint. The lock is
``fcntl.flock`` on a file in the run's checkpoint folder: the kernel releases it when the holder
exits, however it exits (SIGKILL included), so a crashed run never leaves a stale lock behind
(a killed holder leaves the empty file, which the next process simply locks).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from harness.errors import BenchError

LOCK_NAME = ".lock"


class RunBusy(BenchError):
    """Another live process holds the run folder (exit 1)."""


@contextlib.contextmanager
def hold(folder: Path, what: str, name: str = LOCK_NAME) -> Iterator[None]:
    """Hold ``folder/<name>`` exclusively for the block, or fail at once if another process holds it.

    The file is removed on release (a failed command leaves the folder as it was); a process that
    locked a file just removed by its holder sees that the path no longer names its file and retries.
    A missing folder is nothing to guard: the block runs without a lock.
    """
    folder = Path(folder)
    if not folder.is_dir():
        yield
        return
    path = folder / name
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise RunBusy(f"{what} is in use by another process (pid {holder}); wait for it to end or stop it, "
                          f"then try again") from None
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        handle.close()  # closing releases the lock


def run_lock(run_dir: Path) -> contextlib.AbstractContextManager:
    """The lock of a training run's folder (kept in its checkpoint folder, beside the state)."""
    return hold(Path(run_dir) / "checkpoint", f"run {Path(run_dir).name}")
