"""Reference statistics for FID: the mean and covariance of real-image features.

Format: EDM's ``.npz`` (NVlabs/edm fid.py), written with ``numpy.savez`` holding exactly ``mu``
(float64 [D]) and ``sigma`` (float64 [D, D], divisor n - 1). ``bench refstats`` writes the same
two arrays, and its provenance (dataset hash, network weights hash, image pipeline, image count)
in a JSON file beside it, so published files and ours are read the same way.

A statistics file is identified in records by its file name and sha256. Statistics computed from a
dataset are cached under ``$BENCH_CACHE_DIR/refstats`` (default ``~/.cache/bench/refstats``), keyed
by a hash of everything they depend on: dataset content, network, weights, layer and pipeline.

Pipelines ("modes"): ``legacy_tensorflow`` is uint8 images at native resolution resized inside the
network (EDM, TF, torch-fidelity, clean-fid's legacy_tensorflow); ``clean`` is clean-fid's float
PIL-bicubic resize. Statistics of one pipeline are not valid for the other; published EDM files
are ``legacy_tensorflow``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.errors import BenchError, MissingArtefactError
from harness.files import NPZ_ERRORS, npz_trouble
from harness.metrics.features import file_sha256

CACHE_DIR_ENV = "BENCH_CACHE_DIR"
LEGACY_TENSORFLOW = "legacy_tensorflow"
CLEAN = "clean"
MODES = (LEGACY_TENSORFLOW, CLEAN)


@dataclass(frozen=True)
class ReferenceStatistics:
    """``mu`` [D] and ``sigma`` [D, D] in float64, the pipeline they were made with, and the record
    of where they came from (``record["id"]`` is what report columns are keyed by)."""

    mu: np.ndarray
    sigma: np.ndarray
    mode: str
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "bench").expanduser() / "refstats"


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def check_statistics(mu: Any, sigma: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Statistics a Frechet distance can be computed from: real, finite, and a covariance that is
    symmetric with no negative variance (a negated one gave FID 0.0, a lopsided one any number)."""
    mu, sigma = np.asarray(mu), np.asarray(sigma)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise BenchError(f"{where}: mu {mu.shape} and sigma {sigma.shape} are not [D] and [D, D]")
    if mu.dtype.kind not in "fiu" or sigma.dtype.kind not in "fiu":
        raise BenchError(f"{where}: mu and sigma must hold real numbers, not {mu.dtype} / {sigma.dtype}")
    mu, sigma = mu.astype(np.float64), sigma.astype(np.float64)
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise BenchError(f"{where}: mu or sigma holds NaN or Inf")
    scale = float(np.abs(sigma).max()) if sigma.size else 0.0
    if float(np.abs(sigma - sigma.T).max(initial=0.0)) > 1e-6 * max(scale, 1e-300):
        raise BenchError(f"{where}: sigma is not symmetric, so it is no covariance matrix")
    if (np.diag(sigma) < 0).any():
        raise BenchError(f"{where}: sigma has a negative variance on its diagonal, so it is no covariance matrix")
    return mu, sigma


def load_npz(path: Path | str, mode: str | None = None) -> ReferenceStatistics:
    """Read EDM-format statistics; ``mode`` comes from our JSON sidecar if there is one, else is
    assumed ``legacy_tensorflow`` (EDM's protocol) unless given."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingArtefactError(f"reference statistics {path} do not exist (EDM publishes them at "
                                   f"https://nvlabs-fi-cdn.nvidia.com/edm/fid-refs/<name>.npz; `bench refstats` computes them)")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a .npy file holds one bare array
            raise BenchError(f"{path}: a single array (.npy), not an .npz with arrays 'mu' and 'sigma'")
        with loaded as data:
            if "mu" not in data.files or "sigma" not in data.files:
                raise BenchError(f"{path}: reference statistics need arrays 'mu' and 'sigma', found {', '.join(data.files) or 'none'}")
            mu, sigma = check_statistics(data["mu"], data["sigma"], str(path))
    except NPZ_ERRORS as exc:
        raise BenchError(f"{path}: not a readable .npz ({npz_trouble(path, exc)})") from None
    provenance: dict[str, Any] = {}
    if sidecar(path).is_file():
        try:
            provenance = json.loads(sidecar(path).read_text())
        except (OSError, ValueError):
            provenance = {}
    stored_mode = provenance.get("mode")
    if mode is not None and stored_mode is not None and mode != stored_mode:
        raise BenchError(f"{path} holds {stored_mode}-mode statistics, not {mode}")
    record = {"id": path.name, "kind": "npz", "file": path.name, "sha256": file_sha256(path), "dim": int(mu.shape[0])}
    for key in ("dataset", "dataset_sha256", "num_images", "extractor", "extractor_weights_sha256"):
        if key in provenance:
            record[key] = provenance[key]
    return ReferenceStatistics(mu, sigma, mode or stored_mode or LEGACY_TENSORFLOW, record)


def save_npz(stats: ReferenceStatistics, path: Path | str, provenance: dict[str, Any] | None = None) -> Path:
    """Write ``mu`` and ``sigma`` exactly as EDM's files hold them (atomically), and the JSON sidecar."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp.npz")
    try:
        np.savez(tmp, mu=stats.mu.astype(np.float64), sigma=stats.sigma.astype(np.float64))
        os.replace(tmp, path)
        info = {"mode": stats.mode, **(provenance or {})}
        sidecar(path).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise BenchError(f"could not write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def cache_key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def cached_statistics(parts: dict[str, Any], compute: Callable[[], tuple[np.ndarray, np.ndarray]],
                      reference: dict[str, Any], mode: str, use_cache: bool = True,
                      directory: Path | None = None, probe: Callable[[], np.ndarray] | None = None) -> ReferenceStatistics:
    """Statistics keyed by ``parts`` (everything they depend on): read from the cache, or computed and stored.

    The returned record is ``reference`` (the dataset's) plus the cache key, so a value measured
    against cached statistics names the same reference as one measured against the images.

    Self-checking like the feature cache: the sidecar holds the sha256 of ``mu`` and ``sigma``, and
    ``probe`` (features of a few fixed images) is stored beside them and recomputed on every load; an
    entry failing either check is recomputed, and the record says why (``rebuilt``).
    """
    key = cache_key({**parts, "mode": mode})
    record = {**reference, "statistics_key": key, "mode": mode}
    path = (directory or cache_dir()) / f"{key}.npz"
    probe_path = path.with_name(f"{key}.probe.npy")
    rebuilt = None
    if use_cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                mu, sigma = check_statistics(data["mu"], data["sigma"], str(path))
            stored = json.loads(sidecar(path).read_text()).get("statistics_sha256")
            if stored != _arrays_sha256(mu, sigma):
                rebuilt = "its mu/sigma differ from the hash recorded when they were made"
            elif probe is not None and not np.array_equal(np.load(probe_path, allow_pickle=False), probe()):
                rebuilt = "the network no longer gives the stored features of its probe images"
            else:
                return ReferenceStatistics(mu, sigma, mode, {**record, "cached": True})
        except (*NPZ_ERRORS, BenchError):
            rebuilt = "unreadable"  # a damaged cache entry is recomputed and replaced
    mu, sigma = compute()
    mu, sigma = check_statistics(mu, sigma, "computed statistics")
    stats = ReferenceStatistics(mu, sigma, mode, {**record, "cached": False, **({"rebuilt": rebuilt} if rebuilt else {})})
    if use_cache:
        try:
            save_npz(stats, path, {**parts, "reference": reference, "statistics_sha256": _arrays_sha256(mu, sigma)})
            if probe is not None:
                np.save(probe_path, probe(), allow_pickle=False)
        except (BenchError, OSError):
            pass  # an unwritable cache costs time, not correctness
    return stats


def _arrays_sha256(mu: np.ndarray, sigma: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(mu).tobytes() + np.ascontiguousarray(sigma).tobytes()).hexdigest()
