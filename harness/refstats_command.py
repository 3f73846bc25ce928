"""`bench refstats`: a dataset's FID reference statistics in EDM's ``.npz`` format (``mu``, ``sigma``),
computed once in Inception features and cached by content hash (harness/metrics/dataset_statistics.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import UsageError

MIN_IMAGES = 2  # FID's statistics need a covariance (harness/metrics/frechet.py)


def check_subset(dataset_name: str, spec: str) -> None:
    """--subset before any work, as `bench eval` checks --real-subset: START:STOP (half-open) with at
    least MIN_IMAGES images, or one of the dataset's names; STOP against the dataset's real size is
    checked once it is loaded (``harness.data.subsets.subset``)."""
    from harness.data.subsets import subset_range

    start, colon, stop = spec.partition(":")
    if not colon:
        subset_range(dataset_name, spec, 1 << 40)  # a named part (within the data), else the valid names
    elif not (start.isdigit() and stop.isdigit() and int(start) < int(stop)):
        raise UsageError(f"--subset {spec}: expected START:STOP with 0 <= START < STOP, or a named subset")
    elif int(stop) - int(start) < MIN_IMAGES:
        raise UsageError(f"--subset {spec} is one image (START:STOP is half-open); FID statistics need at least "
                         f"{MIN_IMAGES}")


def check_images(dataset) -> None:
    """The loaded (sub)set holds enough images for a covariance, before its features are computed."""
    if len(dataset) < MIN_IMAGES:
        raise UsageError(f"dataset {dataset.name} has {len(dataset)} image(s); FID statistics need at least {MIN_IMAGES}")


def check_request(dataset_name: str, out: Path, implementation: str, batch_size: int, subset: str | None,
                  force: bool) -> None:
    """Every option that can be checked before the data is loaded (one line, exit 2, nothing written)."""
    from harness.data import DATASETS
    from harness.metrics.fid import fid_mode
    from harness.metrics.reference import sidecar
    from harness.validate import check_number

    DATASETS.get(dataset_name)
    fid_mode(implementation)
    check_number("--batch-size", batch_size, integral=True, minimum=1)  # as `bench eval` checks its own
    if subset is not None:
        check_subset(dataset_name, subset)
    if Path(out).suffix != ".npz":
        raise UsageError(f"--out must name a .npz file, got {out}")
    if (Path(out).exists() or sidecar(Path(out)).exists()) and not force:  # e.g. EDM's own statistics file
        raise UsageError(f"--out {out} exists already; pass --force to replace it (and its .json)")


def refstats_command(dataset_name: str, out: Path, implementation: str = "own", inception_weights: Path | None = None,
                     weights_dir: Path | None = None, data_path: Path | None = None, device: str = "auto",
                     batch_size: int = 128, use_cache: bool = True, subset: str | None = None,
                     force: bool = False) -> tuple[Path, dict[str, Any]]:
    """Compute (or take from the cache) a dataset's FID statistics and write them as EDM's ``.npz``;
    ``subset`` names a fixed part of it (``harness.data.subsets``: e.g. Fashion-MNIST's ``test``)."""
    from harness.data import load_dataset
    from harness.metrics.inception import InceptionExtractor, resolve_inception_weights
    from harness.metrics.reference import save_npz

    check_request(dataset_name, out, implementation, batch_size, subset, force)
    weights = resolve_inception_weights(inception_weights, weights_dir)  # fails fast when missing
    from harness.build import resolve_device

    extractor = InceptionExtractor(weights, resolve_device(device), batch_size=batch_size)
    dataset = load_dataset(dataset_name, Path(data_path) if data_path else None)
    if subset is not None:
        from harness.data.subsets import subset as select

        dataset = select(dataset, subset)
    check_images(dataset)
    from harness.metrics.dataset_statistics import dataset_statistics

    stats = dataset_statistics(dataset, extractor, implementation, use_cache)
    provenance = {"dataset": dataset.name, "dataset_sha256": dataset.sha256, "num_images": len(dataset),
                  "extractor": extractor.name, "extractor_weights_sha256": extractor.weights_sha256,
                  "implementation": implementation, "statistics_key": stats.record["statistics_key"],
                  **({"weights_provenance": extractor.provenance} if extractor.provenance else {})}
    path = save_npz(stats, out, provenance)
    from harness.metrics.features import file_sha256

    return path, {**provenance, "mode": stats.mode, "file": path.name, "sha256": file_sha256(path),
                  "cached": stats.record.get("cached", False)}
