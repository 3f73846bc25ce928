"""Real-image features kept on disk, so each evaluation of a dataset does not re-extract them.

Every run's FD and precision/recall need the features of all real images (70,000 for
Fashion-MNIST: minutes on a CPU core, most of a small run's evaluation). They depend only on the
images, the feature network's weights and where they were computed (device kind, and on a CPU the
thread count and the numerics mode, harness/numerics.py, which change summation order), so those name
the file: a cached tensor is exactly
what extraction would return there, and records stay bit-identical. Files are safetensors (no
pickle), written whole then renamed (concurrent runs never read half a file).

A cached file proves its content before it is used: it carries its provenance (dataset and
weights hashes, extractor, count, shape, dtype) and a sha256 of the tensor; that checksum is the
file's own word, so on every load a small fixed subset of the real images and as many chosen afresh
at random (seeded from the OS, which the file cannot choose) are extracted again and compared with
the cached rows. A
file that fails any of these (planted, corrupted, stale) is recomputed and replaced; the user is
told once, and the metrics measured with it say so in their details (``feature_cache``).
``$BENCH_FEATURE_CACHE=off`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Callable

import torch

from harness.cache_switch import cache_on
from harness.data.readers import data_cache_dir
from harness.errors import in_brief

FORMAT = "2"  # files of format 1 carried no provenance; they are rebuilt
CHECK_IMAGES = 16  # real images re-extracted on each load to compare with the cached rows
REBUILT: dict[str, str] = {}  # cache file -> why it was rebuilt in this process (read by metrics.evaluate)


def cache_path(dataset, extractor) -> Path | None:
    """Where this dataset's features in this network live; None when they cannot be keyed safely."""
    weights = getattr(extractor, "weights_sha256", None)
    sha = getattr(dataset, "sha256", None)
    if not cache_on() or not weights or not sha:
        return None
    device = torch.device(getattr(extractor, "device", "cpu")).type
    if device == "cpu":
        from harness.numerics import current_mode

        device = f"cpu{torch.get_num_threads()}t" + ("-portable" if current_mode() == "portable" else "")
    name = f"{dataset.name}-{sha[:16]}-{extractor.name}-{weights[:16]}-{device}.safetensors"
    return data_cache_dir() / "features" / name


def tensor_sha256(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()


def provenance(dataset, extractor, features: torch.Tensor) -> dict[str, str]:
    """What the cached tensor was made from and what it is (safetensors metadata is text)."""
    return {"format": FORMAT, "dataset": dataset.name, "dataset_sha256": dataset.sha256, "extractor": extractor.name,
            "weights_sha256": extractor.weights_sha256, "count": str(len(dataset)),
            "shape": json.dumps(list(features.shape)), "dtype": str(features.dtype),
            "tensor_sha256": tensor_sha256(features)}


def check_indices(count: int) -> torch.Tensor:
    """A fixed spread of image indices (first, last and evenly between), plus as many drawn afresh on
    every load from the operating system's entropy: rows a file cannot know in advance, so a file
    that keeps the fixed rows right and shifts the others (its checksum recomputed) is caught."""
    import secrets

    fixed = torch.linspace(0, count - 1, min(CHECK_IMAGES, count)).round().long()
    fresh = torch.randint(0, count, (min(CHECK_IMAGES, count),),
                          generator=torch.Generator().manual_seed(secrets.randbits(63)))
    return torch.cat([fixed, fresh]).unique()


def mismatch(dataset, extractor, features: torch.Tensor, meta: dict[str, str]) -> str | None:
    """Why a cached tensor cannot be trusted, or None when it proves to be what it claims."""
    expected = provenance(dataset, extractor, features)
    if meta.get("format") != FORMAT:
        return "the file carries no provenance (made by an older bench or by hand)"
    for key in ("dataset_sha256", "extractor", "weights_sha256", "count"):
        if meta.get(key) != expected[key]:
            return f"its {key} is {meta.get(key)!r}, expected {expected[key]!r}"
    if features.ndim != 2 or features.shape[0] != len(dataset) or meta.get("dtype") != expected["dtype"] \
            or meta.get("shape") != expected["shape"]:
        return f"its tensor is {tuple(features.shape)} {features.dtype}, not what its provenance says"
    if meta.get("tensor_sha256") != expected["tensor_sha256"]:
        return "its checksum does not match its content (the file was changed)"
    index = check_indices(len(dataset))
    fresh = extractor(dataset.batch(index)[0]).detach().cpu().to(features.dtype)
    cached = features[index]
    # Loose enough for a different batch size or TF32 on a GPU (~1e-3 relative), far too tight for
    # features of other images or another network.
    scale = float(cached.abs().max()) or 1.0
    if fresh.shape != cached.shape or not torch.allclose(fresh, cached, rtol=1e-2, atol=1e-2 * scale):
        return f"{len(index)} real images extracted again do not match their cached features"
    return None


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def real_features(dataset, extractor, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """The dataset's features in ``extractor``: from the cache file when it proves its content, else
    computed and stored."""
    return load_or_compute(cache_path(dataset, extractor), "features", "feature cache", REBUILT,
                           lambda features, meta: mismatch(dataset, extractor, features, meta), compute,
                           lambda features: provenance(dataset, extractor, features))


def load_or_compute(path: Path | None, key: str, what: str, rebuilt: dict[str, str],
                    check: Callable[[torch.Tensor, dict], str | None], compute: Callable[[], torch.Tensor],
                    provenance_of: Callable[[torch.Tensor], dict[str, str]], device: str = "cpu") -> torch.Tensor:
    """Tensor ``key`` of the self-checking cache file at ``path`` when ``check(tensor, metadata)`` finds
    nothing wrong (it returns why otherwise: the file is then rebuilt, said once, and the reason kept in
    ``rebuilt``), else ``compute()``'s, stored there with ``provenance_of``. ``path`` None: no cache."""
    from safetensors import SafetensorError, safe_open

    if path is not None and path.is_file():
        try:
            with safe_open(str(path), framework="pt", device=device) as f:
                meta, value = f.metadata() or {}, f.get_tensor(key)
            reason = check(value, meta)
        except (SafetensorError, KeyError, OSError, ValueError, RuntimeError) as exc:
            reason = f"it does not load ({exc.__class__.__name__}: {in_brief(exc)})"
        if reason is None:
            return value
        if str(path) not in rebuilt:
            _note(f"{what} {path.name} rebuilt: {reason}")
        rebuilt[str(path)] = reason
    value = compute()
    if path is not None:
        store(path, value.detach().cpu(), provenance_of(value), key=key)
    return value


def store(path: Path, features: torch.Tensor, meta: dict[str, str], key: str = "features") -> None:
    """Write whole, then rename. A full or read-only disk only costs time next run: one note, no error."""
    from safetensors.torch import save_file

    from harness.storage import DISK_ERRNOS, free_bytes, megabytes, os_error_code

    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({key: features.contiguous()}, str(partial), metadata=meta)
        partial.replace(path)
    except Exception as exc:  # OSError, or safetensors' error carrying the OS error code
        if partial.parent.is_dir():
            partial.unlink(missing_ok=True)
        code = os_error_code(exc)
        if code is None and not isinstance(exc, OSError):
            raise
        why = DISK_ERRNOS.get(code, getattr(exc, "strerror", None) or exc.__class__.__name__)
        _note(f"could not write the feature cache {path}: {why} (it needs "
              f"{megabytes(features.numel() * features.element_size())}, {megabytes(free_bytes(path.parent))} free); "
              f"the features are extracted again next time")


def rebuilt_note(dataset, extractor) -> str | None:
    """For a metric's details: why this evaluation's cached features were rebuilt, if they were."""
    path = cache_path(dataset, extractor) if dataset is not None else None
    return REBUILT.get(str(path)) if path is not None else None


def extract_all(extractor, images: torch.Tensor, description: str, fn: Callable | None = None):
    """``fn(images)`` (default: the extractor; or e.g. its ``extract``, returning a dict of tensors)
    with progress: one batch per call, so the network sees exactly the batches one call would give
    it and the outputs are the same bits (and Inception on a CPU, ~8 images/s, reports every batch
    rather than every ~2 minutes)."""
    from harness.progress import phase_progress

    fn = fn or extractor
    batch = getattr(extractor, "batch_size", None)
    if not batch:
        return fn(images)
    chunk, parts = int(batch), []
    with phase_progress(description, images.shape[0]) as advance:
        for start in range(0, images.shape[0], chunk):
            parts.append(fn(images[start:start + chunk]))
            advance(min(chunk, images.shape[0] - start))
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], dict):
        return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
    return torch.cat(parts)


def real_feature_extraction(dataset, extractor) -> Callable[[], torch.Tensor]:
    """What computing ``dataset``'s features costs when they are not cached (with progress)."""
    return lambda: extract_all(extractor, dataset.all_images(),
                               f"{dataset.name}: real features in {extractor.name}")


def dataset_features(dataset, extractor) -> torch.Tensor:
    """All of ``dataset``'s images in ``extractor``, through the cache."""
    return real_features(dataset, extractor, real_feature_extraction(dataset, extractor))
