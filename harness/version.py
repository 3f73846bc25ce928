"""`bench --version`: the package version and the git commit of the code that runs (what a record's
`environment.git` stores), so a bug report names the exact code."""

from __future__ import annotations


def version_line() -> str:
    from harness import __version__
    from harness.records import git_state

    git = git_state()
    if git["commit"] is None:  # installed from a wheel or copied without .git
        return f"bench {__version__} (git commit unknown: not a git checkout)"
    dirty = ", with uncommitted changes" if git["dirty"] else ""
    return f"bench {__version__} (git {git['commit'][:12]}{dirty})"
