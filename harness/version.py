"""`bench --version`: the package version and the git commit of the code that runs (what a record's
`environment.git` stores), so a bug report names the exact code."""

from __future__ import annotations

import typer


def version_line() -> str:
    from harness import __version__
    from harness.records import git_state

    git = git_state()
    if git["commit"] is None:  # installed from a wheel or copied without .git
        return f"bench {__version__} (git commit unknown: not a git checkout)"
    dirty = ", with uncommitted changes" if git["dirty"] else ""
    return f"bench {__version__} (git {git['commit'][:12]}{dirty})"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


def root_options(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                              help="Print bench's version and git commit, then exit.")) -> None:
    """Run, measure and compare one-step generators made from diffusion models."""
