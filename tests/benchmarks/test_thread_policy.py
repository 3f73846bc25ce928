"""The quick start under a competing CPU load, with the old and the new thread policy (issue #26).

Old policy: torch's default, one OpenMP thread per usable core and OpenMP's default (spinning)
wait, i.e. the `bench` of before harness/threads.py; it is reproduced by calling the Typer app
directly (no ``main``, so no passive wait) with ``--threads <cores>``. New policy: the installed
`bench` executable with nothing set, which picks the free cores and a passive wait. The load is one
busy-looping process per usable core, started before the run and stopped after it; the quiet
rounds give the reference ("within 2x of a quiet machine").

Skipped in the default test run; run with
``python -m pytest tests/benchmarks/test_thread_policy.py --benchmark-only -n 0``, e.g. under
``taskset -c 0,1`` to stand in for a 2-core machine. ``BENCH_QUICKSTART_KIMG`` shortens the
training (default: the quick start's own digits preset). Seconds land in ``extra_info``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import bench_executable

QUICK_START = ["run", "--method", "gan_only", "--dataset", "digits", "--quiet"]
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
OLD_POLICY = ("import sys; from harness.cli import app; sys.argv = ['bench', *sys.argv[1:]]; "
              "app(standalone_mode=False)")


def start_load(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def command(policy: str, results: Path) -> tuple[list[str], dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")}
    args = [*QUICK_START, "--results", str(results)]
    if os.environ.get("BENCH_QUICKSTART_KIMG"):
        args += ["--budget-kimg", os.environ["BENCH_QUICKSTART_KIMG"]]
    if policy == "old":
        return [sys.executable, "-c", OLD_POLICY, *args, "--threads", str(CORES)], env
    return [bench_executable(), *args], env


@pytest.mark.parametrize("load", ["quiet", "loaded"])
@pytest.mark.parametrize("policy", ["old", "new"])
def test_quick_start_threads(benchmark, policy, load, tmp_path):
    argv, env = command(policy, tmp_path / "results")
    burners = start_load(CORES) if load == "loaded" else []
    outcome = {}

    def quick_start() -> None:
        outcome["proc"] = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600)

    try:
        benchmark.pedantic(quick_start, rounds=1, iterations=1)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    proc = outcome["proc"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    (record_path,) = (tmp_path / "results").glob("*/record.json")
    record = json.loads(record_path.read_text())
    assert record["status"] == "completed"
    hardware = record["environment"]["hardware"]
    benchmark.group = "quick start (gan_only on digits)"
    benchmark.extra_info.update(policy=policy, load=load, competing_processes=len(burners), cores=CORES,
                                threads=hardware["cpu_threads"],
                                chosen_by=(hardware.get("cpu_threads_policy") or {}).get("source", "--threads (old)"),
                                train_seconds=round(record["timing"]["train_seconds"], 2),
                                wall_seconds=round(record["timing"]["wall_seconds"], 2),
                                console=[line for line in proc.stderr.splitlines() if line.startswith("threads:")])
