"""The small things a released tool carries: `bench --version` (version + commit), shell completion,
the licence pyproject names and a citation file pointing to the paper bench reproduces."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import yaml

from helpers import invoke_bench, run_bench
from harness import __version__

ROOT = Path(__file__).resolve().parents[2]


def test_version_names_the_package_version_and_the_git_commit() -> None:
    result = run_bench("--version", cwd=ROOT)  # the installed executable, as a user types it
    assert result.returncode == 0, result.stderr
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert result.stdout.startswith(f"bench {__version__} (git {head[:12]}"), result.stdout


def test_version_outside_a_checkout_says_the_commit_is_unknown(monkeypatch, capsys) -> None:
    import harness.records

    monkeypatch.setattr(harness.records, "git_state", lambda: {"commit": None, "dirty": None})
    code, out, _ = invoke_bench(monkeypatch, capsys, "--version")
    assert code == 0 and out.strip() == f"bench {__version__} (git commit unknown: not a git checkout)"


def test_shell_completion_is_offered(monkeypatch, capsys) -> None:
    code, out, _ = invoke_bench(monkeypatch, capsys, "--help")
    assert code == 0 and "--install-completion" in out
    # Typer finds the shell from the process tree (shellingham), not from an argument: a suite started
    # with no shell above it (setsid, cron) found none ("Shell  not supported."), so the test names one.
    import typer.completion

    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    code, out, err = invoke_bench(monkeypatch, capsys, "--show-completion")
    assert code == 0 and "complete" in out and "_BENCH_COMPLETE" in out, out + err


def test_license_is_the_apache_2_text_pyproject_names() -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.lstrip().startswith("Apache License\n") and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"] == "Apache-2.0"


def test_citation_file_describes_bench_and_points_to_the_paper() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["version"] == __version__
    assert cff["license"] == "Apache-2.0"
    ids = {ref["identifiers"][0]["value"]: ref for ref in cff["references"]}
    assert set(ids) == {"arXiv:2506.09376", "arXiv:2405.20750"}
    authors = [(a["given-names"], a["family-names"]) for a in ids["arXiv:2506.09376"]["authors"]]
    assert authors == [("Bowen", "Zheng"), ("Tianming", "Yang")] and ids["arXiv:2506.09376"]["year"] == 2025
