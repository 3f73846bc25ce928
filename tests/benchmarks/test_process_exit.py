"""How long a `bench` process takes to end after its last line, with and without harness/shutdown.py
(issue #26: the suite starts ~50 `bench` processes, a user one per command).

A tiny training run through the installed executable (``with``), and the same run through the entry
point's function with the final collection left in place (``without``: ``main`` is called with
``skip_final_collection`` made a no-op, so CPython's finalisation collects torch's module graph as it
did before). Seconds from the record path (the last line) to the process's end land in ``extra_info``.

``python -m pytest tests/benchmarks/test_process_exit.py --benchmark-only -n 0``
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import pytest

from helpers import bench_executable, write_tiny_backbone

WITHOUT = ("import sys; from harness import shutdown; shutdown.skip_final_collection = lambda: None; "
           "from harness.cli import main; sys.argv = ['bench', *sys.argv[1:]]; main()")


@pytest.mark.parametrize("final_collection", ["skipped", "kept"])
def test_seconds_from_last_line_to_exit(benchmark, final_collection, tmp_path):
    backbone = write_tiny_backbone(tmp_path / "tiny.safetensors")
    args = ["run", "--method", "gan_only", "--dataset", "digits", "--backbone", str(backbone), "--device", "cpu",
            "--budget-kimg", "0.1", "--num-samples", "100", "--set", "train.batch_size=32", "--set", "d_width=16",
            "--set", "eval.batch_size=100", "--quiet", "--threads", "1"]
    argv = [bench_executable()] if final_collection == "skipped" else [sys.executable, "-c", WITHOUT]
    gaps, codes = [], []

    def one_run() -> None:
        proc = subprocess.Popen([*argv, *args, "--results", str(tmp_path / f"r{len(gaps)}")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
        last = time.perf_counter()
        for _ in proc.stdout:
            last = time.perf_counter()
        codes.append(proc.wait())
        gaps.append(time.perf_counter() - last)

    benchmark.pedantic(one_run, rounds=3, iterations=1)
    assert codes == [0, 0, 0]
    benchmark.extra_info["seconds_from_last_line_to_exit"] = round(statistics.median(gaps), 3)
