"""The committed tables/ are exactly what `bench report --results results --out <tmp>` writes now.

Stale tables (records added or changed since the last `bench report`, or report code changed)
fail here; regenerate with `bench report --results results --out tables` and commit both.
In a git checkout only the committed records count, so the quick start's own run (a new
record in results/) does not make the committed tables look stale.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from report_fixtures import snapshot

REPO_ROOT = Path(__file__).resolve().parents[2]


def committed_results(tmp_path: Path) -> Path:
    """A copy of the git-tracked files under results/ (results/ itself outside a git checkout)."""
    listed = subprocess.run(["git", "ls-files", "-z", "results"], cwd=REPO_ROOT, capture_output=True)
    if listed.returncode != 0 or not listed.stdout:
        return REPO_ROOT / "results"
    for name in listed.stdout.decode().split("\0"):
        if name:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO_ROOT / name, tmp_path / name)
    return tmp_path / "results"


def test_committed_tables_match_a_fresh_report(tmp_path, monkeypatch, capsys):
    from harness.cli import main

    results = committed_results(tmp_path)
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setattr(sys, "argv", ["bench", "report", "--results", str(results), "--out", str(tmp_path / "tables")])
    try:
        main()
    except SystemExit as exc:
        assert exc.code in (0, None), capsys.readouterr().err
    fresh, committed = snapshot(tmp_path / "tables"), snapshot(REPO_ROOT / "tables")
    assert sorted(committed) == sorted(fresh), "tables/ holds other files than `bench report` writes"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale tables (rerun `bench report --results results --out tables`): {stale}"
