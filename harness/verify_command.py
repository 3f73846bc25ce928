"""`bench verify`: the command's flags; the re-runs and comparisons live in harness/verify.py."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def verify(results: Path = typer.Option(Path("results"), help="results directory"),
           until_kimg: Optional[float] = typer.Option(
               None, help="quick check: re-run each reference only to its curve point at this kimg"),
           quiet: bool = typer.Option(False, "--quiet", help="no plan or progress lines (stderr); the results still print")
           ) -> None:
    """Re-run the records marked as regression references; fail if a metric moved beyond its tolerance."""
    from harness.verify import verify_references

    echo = None if quiet else (lambda line: typer.echo(line, err=True))
    ok, lines = verify_references(results, until_kimg, show_progress=not quiet, echo=echo)
    for line in lines:
        typer.echo(line)
    if not ok:
        raise typer.Exit(1)
