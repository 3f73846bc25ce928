"""Benchmark: `bench report` regenerates every table and figure from 1,000 records in at most 5 s.

Skipped by default (``--benchmark-skip`` in pyproject's addopts); run it with the other benchmarks:
``python -m pytest tests/benchmarks --benchmark-only``.

The timer is the process's CPU time: on machines shared with other jobs wall-clock time measures
the neighbours too. The wall-clock times of the rounds are kept in the benchmark's extra_info.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from harness.report import build_report
sys.path.insert(0, str(Path(__file__).parents[1] / "report"))  # the report tests' synthetic records
from report_fixtures import synthetic_records, write_records  # noqa: E402

RECORDS = 1000
BUDGET_SECONDS = 5.0


@pytest.fixture(scope="module")
def thousand_records(tmp_path_factory):
    return write_records(tmp_path_factory.mktemp("bench") / "results", synthetic_records(RECORDS))


@pytest.mark.benchmark(timer=time.process_time)
def test_report_on_1000_records(benchmark, thousand_records, tmp_path):
    build_report(thousand_records, tmp_path / "warm")  # imports and font caches are not what is measured
    walls: list[float] = []

    def timed():
        start = time.perf_counter()
        result = build_report(thousand_records, tmp_path / "tables")
        walls.append(time.perf_counter() - start)
        return result

    written, problems = benchmark.pedantic(timed, rounds=3, iterations=1)
    benchmark.extra_info["wall_seconds"] = [round(w, 3) for w in walls]
    assert problems == [] and len(written) == 40  # 10 documents x 3 texts, 4 figures x (PNG, PDF), 2 indexes
    assert benchmark.stats.stats.max <= BUDGET_SECONDS
