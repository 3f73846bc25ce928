"""Benchmark: `bench report` regenerates every table and figure from 1,000 records in at most 5 s.

Skipped by default (``--benchmark-skip`` in pyproject's addopts); run it with the other benchmarks:
``python -m pytest tests/benchmarks --benchmark-only``.

The timer is the process's CPU time: on machines shared with other jobs wall-clock time measures
the neighbours too. The wall-clock times of the rounds are kept in the benchmark's extra_info.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
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
    # Every document as Markdown, CSV and LaTeX, every figure as PNG and PDF, and the two indexes
    # (README.md, index.html); counted by kind, so a new table does not break the benchmark (40 was stale).
    kinds = Counter(Path(path).suffix for path in written)
    assert problems == [] and kinds[".csv"] == kinds[".tex"] == kinds[".md"] - 1 >= 10, kinds
    assert kinds[".png"] == kinds[".pdf"] >= 4 and kinds[".html"] == 1
    assert benchmark.stats.stats.max <= BUDGET_SECONDS
