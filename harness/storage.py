"""Disk errors as one-line messages: what was being written, where, and how much space it needed.

A full disk (ENOSPC), a read-only file system (EROFS) or an exhausted quota (EDQUOT) while a run
writes its checkpoint, the feature cache, its record or its samples must not end in a traceback
or a half file: writers wrap the write in ``disk_errors`` and remove their temporary file, so the
previous complete file (the last good checkpoint) stays, and the user learns what to free.
safetensors reports these as ``SafetensorError`` carrying the OS error code in its text, so both
kinds are recognised here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from pathlib import Path
from typing import Iterator

from harness.errors import BenchError

DISK_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EROFS: "the file system is read-only",
               errno.EDQUOT: "the disk quota is exhausted"}


class DiskError(BenchError):
    """A write failed because the disk is full, read-only or over quota (exit 1)."""


def os_error_code(exc: BaseException) -> int | None:
    """The errno of an OSError, or the one inside a safetensors error's text: its Rust I/O error
    reads "... No space left on device (os error 28)" (older releases wrote "code: 28")."""
    if isinstance(exc, OSError):
        return exc.errno
    match = re.search(r"\(os error (\d+)\)|code: (\d+)", str(exc))
    if match:
        return int(match.group(1) or match.group(2))
    return None


def megabytes(n: int | None) -> str:
    return "unknown" if n is None else f"{n / 1e6:.1f} MB"


def free_bytes(path: Path) -> int | None:
    for folder in (Path(path), *Path(path).parents):
        if folder.exists():
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                return None
    return None


@contextlib.contextmanager
def disk_errors(what: str, path: Path, needed: int | None = None, hint: str = "",
                temporary: Path | None = None) -> Iterator[None]:
    """Turn a disk error inside the block into one ``DiskError`` line; remove ``temporary`` if left."""
    try:
        yield
    except Exception as exc:  # OSError, or safetensors' own error type
        code = os_error_code(exc)
        if temporary is not None:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
        if code not in DISK_ERRNOS:
            raise
        free = free_bytes(Path(path).parent)
        raise DiskError(f"could not write {what} {path}: {DISK_ERRNOS[code]} (it needs {megabytes(needed)}, "
                        f"{megabytes(free)} free){hint}") from None


def remove_stale_temporaries(folder: Path, name: str) -> None:
    """Temporary files ``.<name>.<pid>.tmp`` left by a process killed mid-write (never the live file)."""
    for stale in Path(folder).glob(f".{name}.*.tmp"):
        pid = stale.name[len(name) + 2:].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                stale.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
