"""``$BENCH_FEATURE_CACHE``: the switch of the real-feature and k-NN radii caches
(harness/metrics/feature_cache.py, radii_cache.py).

Apart from the caches, so that the CLI can refuse a misspelt value before any work without loading
torch (which the caches' modules import): with the variable set, `bench --version` or a usage error
would otherwise spend ~2 s importing it.
"""

from __future__ import annotations

import os

from harness.errors import UsageError

ENV = "BENCH_FEATURE_CACHE"
SWITCH = {"": True, "on": True, "1": True, "true": True, "yes": True, "off": False, "0": False, "false": False, "no": False}


def cache_on() -> bool:
    """off/0/false/no turn the caches off, on/1/true/yes or unset keep them; any other value is a usage error."""
    value = os.environ.get(ENV, "").strip().lower()
    if value not in SWITCH:
        raise UsageError(f"{ENV}={os.environ[ENV]!r}: expected off (0, false, no) or on (1, true, yes)")
    return SWITCH[value]
