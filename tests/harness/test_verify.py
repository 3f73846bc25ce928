"""`bench verify` re-runs CPU references side by side only as far as their thread counts fit the cores."""

from harness.verify import parallel_workers


def reference(device: str, threads: int) -> dict:
    return {"environment": {"hardware": {"device": device, "cpu_threads": threads}}}


def test_parallel_workers_fit_recorded_threads_into_the_cores(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert parallel_workers([reference("cpu", 1)] * 3) == 2
    assert parallel_workers([reference("cpu", 1), reference("cpu", 2)]) == 1  # one needs both cores
    assert parallel_workers([reference("cpu", 1)]) == 1
    assert parallel_workers([reference("cpu", 1), reference("cuda", 1)]) == 1  # GPU runs one at a time
