"""A quick end for every `bench` process (issue #26: the suite starts ~50 of them, a user one per command).

When a command returns, CPython's finalisation tears the module graph down and runs the cyclic garbage
collector over everything torch loaded before the process ends: 0.4 s after `import torch` alone and
0.9 s after a training run (which imports ``torch._dynamo``: torch's optimisers do at their first
step), measured on 2 CPU cores on 2026-12-07. A process about to end gains nothing from that collection:
bench closes every file it writes where it writes it, and the interpreter still flushes stdout and
stderr afterwards. So the last exit handler calls ``gc.freeze()`` (Python >= 3.7), which moves every
object still alive out of the collector's reach; objects freed by reference counting are freed as
before. The same run then ends 0.2 s after its last line.
"""

from __future__ import annotations

import atexit
import gc


def skip_final_collection() -> None:
    """Register ``gc.freeze`` to run at exit, once however often a command runs in one process."""
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)  # first registered here, so it runs after handlers registered later
