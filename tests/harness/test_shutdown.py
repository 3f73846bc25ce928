"""harness/shutdown.py: a `bench` process skips the final garbage collection of everything torch loaded."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count(), file=sys.stderr))  # runs last
from harness.cli import main
sys.argv = ["bench", "--version"]  # the same exit path as every command, without torch's seconds
main()
"""


def test_the_last_exit_handler_freezes_what_is_alive_and_output_is_complete() -> None:
    """Run through the entry point's function in a fresh interpreter: after the command, every object
    still alive is frozen (so CPython's finalisation does not collect it), and stdout is whole."""
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    frozen = int(done.stderr.strip().splitlines()[-1].removeprefix("frozen at exit: "))
    assert frozen > 10_000, done.stderr  # the module graph: tens of thousands of objects
    assert done.stdout.startswith("bench ") and done.stdout.endswith(")\n"), done.stdout


def test_registering_twice_keeps_one_handler(monkeypatch) -> None:
    """A test process runs many commands through ``main``: the handler stays registered once."""
    import atexit
    import gc

    from harness import shutdown

    registered = []
    monkeypatch.setattr(atexit, "register", lambda fn: registered.append(fn))
    monkeypatch.setattr(atexit, "unregister", lambda fn: registered.remove(fn) if fn in registered else None)
    shutdown.skip_final_collection()
    shutdown.skip_final_collection()
    assert registered == [gc.freeze]
