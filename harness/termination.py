"""SIGTERM (what Slurm, `timeout` and `kill` send) ends a command the way Ctrl-C does: the
KeyboardInterrupt paths run (the last checkpoint kept, tune's note), and the CLI prints the
`bench run --resume` hint, with exit status 143 (128 + SIGTERM) instead of 130.
"""

from __future__ import annotations

import signal

TERMINATED_STATUS = 143
RECEIVED: list[int] = []  # the SIGTERMs this command received


def _interrupt(signum, frame) -> None:
    RECEIVED.append(signum)
    raise KeyboardInterrupt


def install():
    """Route SIGTERM to KeyboardInterrupt; returns the previous handler, for ``restore``."""
    RECEIVED.clear()
    return signal.signal(signal.SIGTERM, _interrupt)


def restore(previous) -> None:
    signal.signal(signal.SIGTERM, previous)


def stopped(interrupted_status: int) -> tuple[str, int]:
    """What to print and the exit status of a command stopped by Ctrl-C or SIGTERM."""
    return ("terminated (SIGTERM)", TERMINATED_STATUS) if RECEIVED else ("aborted", interrupted_status)
