"""The device run's stages (issue #20): each a command under a hard time limit in its own process
group, and the state kept in the ignored .device-state/ so a repeated call on a warm machine
continues: ``snapshot`` copies new outputs there after every stage, ``restore`` puts them back."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from kit import NOT_RETURNED, RETURNED_ROOTS


@dataclass
class Stage:
    """One step of a device run: a command under a hard time limit. ``done`` (when given) says whether
    its results are all there: it is skipped when they are, and left ``incomplete`` when a clean exit
    did not make them (a stage that stopped starting work at its own deadline)."""

    name: str
    command: list[str]
    limit_s: float
    done: Callable[[], bool] | None = field(default=None, repr=False)
    env: dict = field(default_factory=dict, repr=False)


@dataclass
class StageResult:
    name: str
    status: str  # finished | incomplete | failed | timeout | skipped (done) | skipped (no time)
    seconds: float = 0.0
    returncode: int | None = None


def run_stage(stage: Stage, cwd: Path, log, grace_s: float = 10.0) -> StageResult:
    """Runs the stage in its own process group; at its limit SIGTERM, then SIGKILL after ``grace_s``."""
    if stage.done is not None and stage.done():
        return StageResult(stage.name, "skipped (done)")
    if stage.limit_s <= 0:
        return StageResult(stage.name, "skipped (no time)")
    start = time.monotonic()
    proc = subprocess.Popen(stage.command, cwd=cwd, env={**os.environ, **stage.env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)
    timed_out = False

    def stop() -> None:
        nonlocal timed_out
        timed_out = True
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(wait)
                return
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue

    timer = threading.Timer(stage.limit_s, stop)
    timer.start()
    try:
        for line in proc.stdout:
            log(line.rstrip("\n"))
        proc.wait()
    finally:
        timer.cancel()
    seconds = round(time.monotonic() - start, 1)
    status = "timeout" if timed_out else ("finished" if proc.returncode == 0 else "failed")
    if status == "finished" and stage.done is not None and not stage.done():
        status = "incomplete"
    return StageResult(stage.name, status, seconds, proc.returncode)


def returned(rel: Path) -> bool:
    """Whether a file under the tree is something a run brings back."""
    parts = rel.parts
    return (any(str(rel).startswith(root + "/") for root in RETURNED_ROOTS)
            and not any(p in NOT_RETURNED for p in parts) and not rel.name.endswith(".tmp"))


def snapshot(repo: Path, since: float, state: Path) -> list[str]:
    """Copies every returnable file changed since ``since`` into ``state/tree`` (kept across warm calls)."""
    copied = []
    for root in RETURNED_ROOTS:
        base = repo / root
        if not base.is_dir():
            continue
        for f in base.rglob("*"):
            rel = f.relative_to(repo)
            if f.is_file() and returned(rel) and f.stat().st_mtime >= since:
                target = state / "tree" / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, target)
                copied.append(str(rel))
    return copied


def restore(repo: Path, state: Path) -> list[str]:
    """Puts an earlier call's outputs (on this warm machine) back into the tree where they are missing."""
    restored = []
    tree = state / "tree"
    if tree.is_dir():
        for f in sorted(tree.rglob("*")):
            rel = f.relative_to(tree)
            target = repo / rel
            if f.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, target)
                restored.append(str(rel))
    return restored


def summarise(results: list[StageResult], started: float) -> dict:
    pending = [r.name for r in results if r.status not in ("finished", "skipped (done)")]
    return {"stages": [asdict(r) for r in results], "pending": pending,
            "seconds": round(time.monotonic() - started, 1)}
