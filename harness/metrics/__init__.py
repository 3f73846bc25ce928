"""Metrics: FD (Heusel et al. 2017) and improved precision/recall (Kynkäänniemi et al. 2019) in the
feature space of a named, hashed feature network; ``evaluate`` is the one entry point.

Metric modules register themselves in ``METRICS`` and extractor modules in ``FEATURE_EXTRACTORS``
by being imported here.
"""

from __future__ import annotations

import torch

from harness.data.base import ImageDataset
from harness.errors import BenchError, UsageError
from harness.metrics.base import METRICS, Metric, MetricInputs, MetricValue
from harness.metrics.features import FEATURE_EXTRACTORS, FeatureExtractor, load_extractor
from harness.metrics.frechet import feature_statistics, frechet_distance_from_statistics
from harness.seeding import make_generator


def reference_record(dataset: ImageDataset, reference_id: str | None = None) -> dict:
    """Which real images a value was measured against: name, content hash and count."""
    return {"id": reference_id or dataset.name, "dataset": dataset.name, "sha256": dataset.sha256, "num_images": len(dataset)}


def evaluate(
    fake: torch.Tensor,
    dataset: ImageDataset,
    metrics: list[str],
    extractor: FeatureExtractor,
    implementation: str = "own",
    reference_id: str | None = None,
) -> list[MetricValue]:
    """Compute ``metrics`` of generated images ``fake`` (float [-1, 1] NCHW) against all of ``dataset``.

    Real features are extracted once and shared by all metrics. A metric that lacks the requested
    ``implementation`` is an error rather than a silent fallback, so records never mislabel a value.
    """
    specs = [METRICS.get(name) for name in metrics]
    for spec in specs:
        if implementation not in spec.implementations:
            raise UsageError(f"metric '{spec.name}' has no implementation '{implementation}'; valid: {', '.join(spec.implementations)}")
    if fake.ndim != 4 or tuple(fake.shape[1:]) != tuple(dataset.images.shape[1:]):
        raise BenchError(f"generated images {tuple(fake.shape)} do not match dataset {dataset.name} images {tuple(dataset.images.shape[1:])}")
    inputs = MetricInputs(fake.detach().float().cpu(), dataset, extractor, implementation)
    reference = reference_record(dataset, reference_id)
    values = []
    for spec in specs:
        value, details = spec.compute(inputs)
        values.append(MetricValue(spec.name, float(value), extractor.name, extractor.weights_sha256, implementation,
                                  int(fake.shape[0]), reference, details))
    return values


def real_data_floor(dataset: ImageDataset, extractor: FeatureExtractor, seed: int, reference_id: str | None = None) -> MetricValue:
    """FD of a bootstrap resample (with replacement, same size) of the real images against all of them.

    The FD a perfect generator would get with this many samples: finite-sample bias puts it above
    zero, so generator FDs should be read relative to it (Chong & Forsyth 2020 on FID's bias).
    """
    features = extractor(dataset.all_images())
    index = torch.randint(0, len(dataset), (len(dataset),), generator=make_generator(seed, "real-data-floor-bootstrap"))
    value = frechet_distance_from_statistics(*feature_statistics(features[index]), *feature_statistics(features))
    return MetricValue("fd-real-floor", value, extractor.name, extractor.weights_sha256, "own", len(dataset),
                       reference_record(dataset, reference_id),
                       {"seed": seed, "resample": "bootstrap with replacement", "unique_images": int(index.unique().numel())})


def _register_all() -> None:
    import sys

    from harness.plugins import import_submodules

    # classifier is skipped so `python -m harness.metrics.classifier` runs it once; the backend is lazy.
    import_submodules(sys.modules[__name__], skip=("base", "features", "classifier", "torch_fidelity_backend"))


_register_all()

__all__ = [
    "FEATURE_EXTRACTORS", "METRICS", "FeatureExtractor", "Metric", "MetricInputs", "MetricValue",
    "evaluate", "load_extractor", "real_data_floor", "reference_record",
]
