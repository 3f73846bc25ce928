"""What `bench show RUN` and `bench run --from-record RUN` accept as RUN: a record file, a run folder,
or a run id (or its unique beginning) in the results folder, found in one place so both agree.

Typed text is a name or a path, never a glob, and a path we may not read is "nothing there" rather
than a traceback; an unfinished run is named with the command that continues it.
"""

from __future__ import annotations

from pathlib import Path

from harness import records
from harness.errors import UsageError


def _kind(path: Path) -> str:
    """'file', 'folder' or '' for a typed path: a name too long, or a folder we may not enter, is nothing
    there for us rather than an OSError traceback."""
    try:
        return "file" if path.is_file() else "folder" if path.is_dir() else ""
    except (OSError, ValueError):
        return ""


def _is_run_folder(folder: Path) -> bool:
    """A folder `bench run` made (a record, or an unfinished run's checkpoint), so that a stray folder
    beside the runs (``tensorboard``) is not counted as a run a prefix matches."""
    return _kind(folder / records.RECORD_NAME) == "file" or _kind(folder / "checkpoint") == "folder"


def _runs_named(run: str, results: Path) -> list[Path]:
    """The run folder called ``run`` in ``results``, else those whose name begins with it. Typed text
    is compared as text, never as a glob: ``*`` matched every folder, ``**`` and ``/abs`` crashed."""
    if _is_run_folder(results / run):
        return [results / run]
    if _kind(results) != "folder":
        return []
    try:
        entries = sorted(results.iterdir())
    except OSError as exc:
        raise UsageError(f"--results {results}: cannot list it ({exc.strerror or exc})") from None
    return [p for p in entries if p.name.startswith(run) and _kind(p) == "folder" and _is_run_folder(p)]


def find_record(run: str, results: Path) -> Path:
    """RUN as a record file, a run folder, or a run id (or its unique beginning) in ``results``: what both
    `bench show` and `bench run --from-record` accept, found in one place so they agree. It lives here,
    not in the CLI module, because ``configure_from_file`` needs it below the CLI layer."""
    results, given = Path(results), Path(run)
    if run and _kind(given) == "file":
        return given
    is_id = bool(run) and given.name == run and run not in (".", "..")  # no separator: a name, not a path
    folders = [given] if run and _kind(given) == "folder" and (_is_run_folder(given) or not is_id) else []
    if not folders and not is_id:
        raise UsageError(f"no run '{run}': not a record file or a run folder (give a run id, a run folder "
                         f"or a record.json; `bench runs` lists them)")
    if not folders:
        folders = _runs_named(run, results)
    if len(folders) > 1:
        names = ", ".join(f.name for f in folders[:5])
        raise UsageError(f"'{run}' matches {len(folders)} runs in {results} ({names}{', ...' if len(folders) > 5 else ''}); "
                         f"give more of the run id")
    if folders:
        folder = folders[0]
        if _kind(folder / records.RECORD_NAME) == "file":
            return folder / records.RECORD_NAME
        if _kind(folder / "checkpoint") == "folder":
            raise UsageError(f"run {folder.name} has no record yet (unfinished); continue it with: "
                             f"bench run --resume {folder}")
    raise UsageError(f"no run '{run}' in {results} (give a run id, a run folder or a record.json; `bench runs` lists them)")
