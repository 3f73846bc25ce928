"""Benchmarks measure the machine as the user started pytest on it: their OMP_NUM_THREADS, else torch's
own thread count, not the one thread per process the tests use (tests/conftest.py)."""

from __future__ import annotations

import pytest

from helpers import USER_CPU_THREADS


@pytest.fixture(autouse=True)
def users_cpu_threads(monkeypatch):
    import torch

    variable, count = USER_CPU_THREADS[0]
    if variable is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", variable)
    torch.set_num_threads(count)
    yield
    torch.set_num_threads(1)
