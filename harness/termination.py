"""SIGTERM (what Slurm, `timeout` and `kill` send) ends a command the way Ctrl-C does: the
KeyboardInterrupt paths run (the last checkpoint kept, tune's note), and the CLI prints the
`bench run --resume` hint, with exit status 143 (128 + SIGTERM) instead of 130.
"""

from __future__ import annotations

import signal
import sys

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


# What a stopped command was writing, for the line that says how to continue it: lists set by the commands
# (read here through sys.modules, so this module imports none of them).
ACTIVE = (("harness.pretrain_state", "ACTIVE"), ("harness.sample_command", "ACTIVE_EXPORT"),
          ("harness.runner", "ACTIVE_RUN_DIR"), ("harness.sweep", "SWEEPING"))


def _active(module: str, name: str) -> list:
    return getattr(sys.modules[module], name) if module in sys.modules else []


def forget_earlier_work() -> None:
    """The Ctrl-C line names what this command writes, not what an earlier one in this process did."""
    for module, name in ACTIVE:
        _active(module, name).clear()


def resume_hint() -> str:
    """Where to continue an interrupted `bench run` or sweep (the run folder keeps its last checkpoint),
    pre-training or sample export."""
    pretraining, export = _active(*ACTIVE[0]), _active(*ACTIVE[1])
    if pretraining and pretraining[0].is_file():
        return f"; the pre-training state {pretraining[0]} is kept: repeat the command with --resume"
    if export:
        return f"; the images of {export[0]} made so far are kept: the same command continues"
    runs = _active(*ACTIVE[2])
    if not runs or not (runs[0] / "checkpoint").is_dir():
        return ""
    if _active(*ACTIVE[3]):
        return f"; the same bench sweep command continues, resuming {runs[0].name} (or: bench run --resume {runs[0]})"
    return f"; continue with: bench run --resume {runs[0]}"
