"""Downloads for real users (who are online); offline, a clear error that says what to put where."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from harness.errors import MissingArtefactError

OFFLINE_ENVS = ("BENCH_OFFLINE", "HF_HUB_OFFLINE")


def offline_requested() -> bool:
    """Whether the user (or a test) said not to touch the network."""
    return any(os.environ.get(name, "0") not in ("", "0") for name in OFFLINE_ENVS)


def download(url: str, dest: Path, what: str, sha256: str | None = None, timeout: float = 10.0) -> Path:
    """Fetch ``url`` to ``dest`` atomically with progress on stderr, verifying ``sha256`` when known."""
    hint = f"{what}: {dest.name} is not in {dest.parent}. Download {url} and put it at {dest} (or pass its path)."
    if offline_requested():
        raise MissingArtefactError(hint + " (offline mode is set, so it was not downloaded)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0)
            digest = hashlib.sha256()
            from harness.progress import transfer_progress

            with transfer_progress(f"downloading {dest.name}", total) as advance, open(tmp, "wb") as f:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    f.write(chunk)
                    digest.update(chunk)
                    advance(len(chunk))
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        tmp.unlink(missing_ok=True)
        raise MissingArtefactError(f"{hint} (download failed: {getattr(exc, 'reason', exc)})") from None
    if sha256 and digest.hexdigest() != sha256:
        tmp.unlink(missing_ok=True)
        raise MissingArtefactError(f"{what}: {url} has sha256 {digest.hexdigest()}, expected {sha256}")
    os.replace(tmp, dest)
    return dest
