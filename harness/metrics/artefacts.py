"""Where the metric networks' weight files come from: an explicit path, the weights directory, the
library's own cache, or a download; never a hang and never a traceback when none of them works.

Search order for a file ``NAME``:

1. an explicit path (``--inception-weights PATH``, else the file's environment variable, e.g.
   ``$BENCH_INCEPTION_WEIGHTS``): used as given (no hash check: any weights in the format), or an
   error if it is missing;
2. the weights directory: ``--weights-dir``, else ``$BENCH_WEIGHTS_DIR``, else ``~/.cache/bench/weights``;
3. torch's hub cache (``torch.hub.get_dir()/checkpoints``), where torch-fidelity itself downloads to;
4. a download into the weights directory, unless offline mode is set (``BENCH_OFFLINE`` or
   ``HF_HUB_OFFLINE``) or the host does not answer within two seconds.

When all fail, ``MissingArtefactError`` names the file, its URL and the path to put it at.
Files found in a cache under their official name are checked against the sha256 prefix that
torch hub names carry (``...-6726825d.pth``), so a truncated download is caught, not measured with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.download import offline_requested
from harness.errors import BenchError, MissingArtefactError
from harness.files import WEIGHTS_DIR_ENV, sha256_file as file_sha256, torch_hub_checkpoints, weights_dir


@dataclass(frozen=True)
class WeightsFile:
    """A published weights file: its name, where it is downloaded from and what it is."""

    file_name: str
    url: str
    what: str
    sha256_prefix: str | None = None  # the hash fragment in torch-hub-style names, checked when known
    env: str | None = None  # an environment variable that may hold an explicit path to the file


@dataclass(frozen=True)
class ResolvedWeights:
    path: Path
    sha256: str
    source: str  # "explicit", "weights-dir", "torch-hub-cache", "downloaded" or a converted source's name
    provenance: dict | None = None  # where converted weights came from and how far they are verified


def missing_message(spec: WeightsFile, folder: Path) -> str:
    explicit = f"pass its path with --inception-weights{f' or ${spec.env}' if spec.env else ''}"
    return (f"{spec.what}: weights file {spec.file_name} was not found. Download {spec.url} and put it at "
            f"{folder / spec.file_name} (or {explicit}, or set ${WEIGHTS_DIR_ENV} to the folder holding it)")


def _checked(spec: WeightsFile, path: Path, source: str) -> ResolvedWeights:
    sha = file_sha256(path)
    if spec.sha256_prefix and not sha.startswith(spec.sha256_prefix):
        raise BenchError(f"{spec.what}: {path} has sha256 {sha[:16]}..., not the published file's {spec.sha256_prefix}...; "
                         f"it is damaged or a different file: delete it, or pass it explicitly to measure with it anyway")
    return ResolvedWeights(path, sha, source)


def resolve_weights(spec: WeightsFile, explicit: Path | str | None = None, folder: Path | str | None = None,
                    download: bool = True) -> ResolvedWeights:
    """The file ``spec`` describes, found or fetched as the module docstring says."""
    if explicit is None and spec.env and os.environ.get(spec.env):
        explicit = os.environ[spec.env]
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise MissingArtefactError(f"{spec.what}: {path} does not exist (the published file is {spec.file_name}, "
                                       f"from {spec.url})")
        return ResolvedWeights(path, file_sha256(path), "explicit")
    target_dir = weights_dir(folder)
    for candidate, source in ((target_dir / spec.file_name, "weights-dir"),
                              (torch_hub_checkpoints() / spec.file_name, "torch-hub-cache")):
        if candidate.is_file():
            return _checked(spec, candidate, source)
    hint = missing_message(spec, target_dir)
    if not download:
        raise MissingArtefactError(hint)
    if offline_requested():
        raise MissingArtefactError(f"{hint} (offline mode is set, so it was not downloaded)")
    from urllib.parse import urlparse

    from harness.data.readers import host_reachable

    if not host_reachable(spec.url):
        raise MissingArtefactError(f"{hint} ({urlparse(spec.url).hostname} is not reachable, so it was not downloaded)")
    from harness.download import download as fetch

    path = fetch(spec.url, target_dir / spec.file_name, spec.what)
    return _checked(spec, path, "downloaded")
