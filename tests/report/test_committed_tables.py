"""The committed tables/ are exactly what `bench report --results results --out <tmp>` writes now.

Stale tables (records added or changed since the last `bench report`, or report code changed)
fail here; regenerate with `bench report --results results --out tables` and commit both.
"""

from __future__ import annotations

import sys
from pathlib import Path

from report_fixtures import snapshot

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_committed_tables_match_a_fresh_report(tmp_path, monkeypatch, capsys):
    from harness.cli import main

    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setattr(sys, "argv", ["bench", "report", "--results", "results", "--out", str(tmp_path / "tables")])
    try:
        main()
    except SystemExit as exc:
        assert exc.code in (0, None), capsys.readouterr().err
    fresh, committed = snapshot(tmp_path / "tables"), snapshot(REPO_ROOT / "tables")
    assert sorted(committed) == sorted(fresh), "tables/ holds other files than `bench report` writes"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale tables (rerun `bench report --results results --out tables`): {stale}"
