"""The real set's k-NN radii kept on disk beside its features (issue #26).

Precision/recall (Kynkäänniemi et al. 2019, sec. 2) need, for every real image, the distance to
its k-th nearest real neighbour: for Fashion-MNIST's 70,000 images that is 70,000 x 70,000
distances, about two minutes on a CPU core, the same at every evaluation and every curve point.
The radii depend only on the real features, k, the dtype and where they were computed (device kind,
and the thread count on a CPU, which changes summation order), so the file is named by those
(content-addressed: the sha256 of the features tensor), and a cached tensor is exactly what the
computation would return there; records stay bit-identical.

Like the feature cache (harness/metrics/feature_cache.py) a file proves itself before use: its
provenance (features hash, k, dtype, count) and the sha256 of its tensor must match, and the radii
of the feature cache's check rows (a fixed spread and as many drawn afresh on every load) are
computed again and compared. A file that fails is recomputed and
replaced, with one note. ``$BENCH_FEATURE_CACHE=off`` turns this cache off too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from harness.data.readers import data_cache_dir
from harness.metrics.feature_cache import cache_on, check_indices, load_or_compute, tensor_sha256

FORMAT = "1"
REBUILT: dict[str, str] = {}  # cache file -> why it was rebuilt in this process


def radii_path(features: torch.Tensor, k: int) -> Path | None:
    if not cache_on():
        return None
    device = features.device.type
    if device == "cpu":
        device = f"cpu{torch.get_num_threads()}t"
    name = f"knn-radii-{tensor_sha256(features)[:24]}-k{k}-{str(features.dtype).split('.')[-1]}-{device}.safetensors"
    return data_cache_dir() / "features" / name


def provenance(features: torch.Tensor, k: int, radii: torch.Tensor) -> dict[str, str]:
    return {"format": FORMAT, "features_sha256": tensor_sha256(features), "k": str(k), "count": str(features.shape[0]),
            "dtype": str(radii.dtype), "tensor_sha256": tensor_sha256(radii)}


def mismatch(features: torch.Tensor, k: int, radii: torch.Tensor, meta: dict[str, str],
             rows: Callable[[torch.Tensor], torch.Tensor]) -> str | None:
    """Why cached radii cannot be trusted, or None when they prove to be what they claim."""
    expected = provenance(features, k, radii)
    for key in ("format", "features_sha256", "k", "count", "dtype"):
        if meta.get(key) != expected[key]:
            return f"its {key} is {meta.get(key)!r}, expected {expected[key]!r}"
    if radii.shape != (features.shape[0],):
        return f"its tensor is {tuple(radii.shape)}, not one radius per real row"
    if meta.get("tensor_sha256") != expected["tensor_sha256"]:
        return "its checksum does not match its content (the file was changed)"
    index = check_indices(features.shape[0])
    fresh, cached = rows(index).to(radii.device, radii.dtype), radii[index]
    # A smaller distance block may round the last bits differently; other features or another k do not come close.
    if not torch.allclose(fresh, cached, rtol=1e-4, atol=1e-6 * (float(cached.abs().max()) or 1.0)):
        return f"the radii of {len(index)} rows computed again do not match the cached ones"
    return None


def cached_radii(features: torch.Tensor, k: int, compute: Callable[[], torch.Tensor],
                 rows: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The k-NN radii of ``features`` from the cache file when it proves its content, else computed
    (``compute()``) and stored; ``rows(index)`` computes the radii of some rows, for the check."""
    return load_or_compute(radii_path(features, k), "radii", "k-NN radii cache", REBUILT,
                           lambda radii, meta: mismatch(features, k, radii, meta, rows), compute,
                           lambda radii: provenance(features, k, radii), device=str(features.device))
