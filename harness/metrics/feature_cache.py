"""Real-image features kept on disk, so each evaluation of a dataset does not re-extract them.

Every run's FD and precision/recall need the features of all real images (70,000 for
Fashion-MNIST: minutes on a CPU core, most of a small run's evaluation). They depend only on the
images, the feature network's weights and where they were computed (device kind, and the thread
count on a CPU, which changes summation order), so those name the file: a cached tensor is exactly
what extraction would return there, and records stay bit-identical. Files are safetensors (no pickle), written whole then renamed (concurrent runs
never read half a file); one that does not load or has the wrong shape is recomputed and replaced.
``$BENCH_FEATURE_CACHE=off`` turns the cache off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch

from harness.data.readers import data_cache_dir

ENV = "BENCH_FEATURE_CACHE"


def cache_path(dataset, extractor) -> Path | None:
    """Where this dataset's features in this network live; None when they cannot be keyed safely."""
    weights = getattr(extractor, "weights_sha256", None)
    sha = getattr(dataset, "sha256", None)
    if os.environ.get(ENV, "").lower() in ("off", "0", "false") or not weights or not sha:
        return None
    device = torch.device(getattr(extractor, "device", "cpu")).type
    if device == "cpu":
        device = f"cpu{torch.get_num_threads()}t"
    name = f"{dataset.name}-{sha[:16]}-{extractor.name}-{weights[:16]}-{device}.safetensors"
    return data_cache_dir() / "features" / name


def real_features(dataset, extractor, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """The dataset's features in ``extractor``: from the cache file when it holds them, else computed and stored."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    path = cache_path(dataset, extractor)
    if path is not None and path.is_file():
        try:
            features = load_file(path)["features"]
            if features.ndim == 2 and features.shape[0] == len(dataset):
                return features
        except (SafetensorError, KeyError, OSError, ValueError):
            pass  # unreadable or foreign: recompute below and replace it
    features = compute()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
            save_file({"features": features.contiguous()}, partial)
            partial.replace(path)
        except OSError:
            pass  # a read-only cache only costs time
    return features


def dataset_features(dataset, extractor) -> torch.Tensor:
    """All of ``dataset``'s images in ``extractor``, through the cache."""
    return real_features(dataset, extractor, lambda: extractor(dataset.all_images()))
