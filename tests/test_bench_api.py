"""The Python API (`import bench`): the README's example runs as written, and each function returns
values, not paths. This file sits in tests/, not tests/bench/: such a folder would be found as a
namespace package `bench` ahead of the installed one when pytest runs without the repository on
sys.path."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    section = README.read_text().split("### Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README's Python API section has no python block"
    return match.group(1)


def test_readme_example_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    pytest.importorskip("pandas", reason="bench.records() returns a DataFrame: pandas is in the test extra")
    code = readme_example()
    assert len(code.strip().splitlines()) <= 10
    monkeypatch.chdir(tmp_path)  # its results folder lands here
    scope: dict = {}
    exec(compile(code, "README.md (Python API)", "exec"), scope)
    run, images, table = scope["run"], scope["images"], scope["table"]
    assert images.dtype == np.uint8 and images.shape == (100, 8, 8, 1)
    assert (tmp_path / "my-results" / run.run_id / "config.toml").is_file()
    assert scope["again"].record == run.record
    final = table[(table.run_id == run.run_id) & (table.point == "final")]
    assert sorted(final.metric) == ["fd", "precision", "recall"]
    assert float(final[final.metric == "fd"].value.iloc[0]) == run.metrics["fd"]
    assert set(final.extractor) == {"digits-classifier"} and run.run_id in capsys.readouterr().out


def test_records_without_pandas_say_what_to_install(tmp_path: Path, monkeypatch) -> None:
    import sys

    import bench
    from harness.errors import BenchError

    monkeypatch.setitem(sys.modules, "pandas", None)  # as if it were not installed
    with pytest.raises(BenchError, match=r"pip install -e \"\.\[notebook\]\""):
        bench.records(tmp_path)
    assert bench.metric_rows(tmp_path) == []
    assert sorted(bench.__all__) == ["Run", "evaluate", "load", "metric_rows", "records", "run", "sample"]
