"""Files on disk the harness reads but does not make: one sha256 hasher and one place to look for
weight files, shared by backbones, metric networks and discriminator feature networks.

Weights directory: an explicit folder (``--weights-dir``), else ``$BENCH_WEIGHTS_DIR``, else
``~/.cache/bench/weights``; after it, torch hub's ``checkpoints`` folder (where torchvision and
torch-fidelity download to). Nothing here downloads.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from harness.errors import in_brief

WEIGHTS_DIR_ENV = "BENCH_WEIGHTS_DIR"
# Every variable that names a folder bench reads from or writes to (harness/data/readers.py,
# harness/backbones/loading.py, harness/metrics/reference.py and this module).
FOLDER_VARIABLES = ("BENCH_DATA_DIR", "BENCH_BACKBONE_DIR", "BENCH_CACHE_DIR", WEIGHTS_DIR_ENV)


def check_folder_variables(environ: dict | None = None) -> None:
    """A folder variable naming something that exists but is no folder is one line before any work: it
    was "File exists" (weights), silently unused (cache) or a run that stalled (data)."""
    from harness.errors import UsageError

    environ = os.environ if environ is None else environ
    for name in FOLDER_VARIABLES:
        value = environ.get(name)
        if value and Path(value).expanduser().exists() and not Path(value).expanduser().is_dir():
            raise UsageError(f"${name}={value}: not a folder; point it at a folder (or unset it)")

_SHA_CACHE: dict[tuple[str, int, int], str] = {}
# What ``np.load`` of a damaged or foreign .npz raises (zipfile's BadZipFile is none of the others).
NPZ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


def npz_trouble(path: Path | str, exc: BaseException) -> str:
    """Why ``np.load`` could not read ``path``, in a few words. A file that is no zip archive (every .npz
    is one) is said to be so: numpy takes it for a pickle and suggests loading it unsafely."""
    try:
        with open(path, "rb") as f:
            is_zip = f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")  # a member, or an empty archive's end record
    except OSError:
        is_zip = True
    if not is_zip:
        return "not a zip archive, as every .npz is"
    return f"{type(exc).__name__}: {in_brief(exc, 100, otherwise='truncated or damaged')}"


def sha256_file(path: Path | str) -> str:
    """SHA-256 of a file, remembered per (path, size, mtime) so large files are hashed once per process."""
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def default_weights_dir() -> Path:
    return Path.home() / ".cache" / "bench" / "weights"


def weights_dir(flag: Path | str | None = None) -> Path:
    """The weights directory: the flag, else $BENCH_WEIGHTS_DIR, else ~/.cache/bench/weights."""
    chosen = flag or os.environ.get(WEIGHTS_DIR_ENV) or default_weights_dir()
    return Path(chosen).expanduser()


def torch_hub_checkpoints() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_search_dirs(flag: Path | str | None = None) -> list[Path]:
    """Where a weights file is looked for, in order: the weights directory, then torch hub's cache."""
    return [weights_dir(flag), torch_hub_checkpoints()]
