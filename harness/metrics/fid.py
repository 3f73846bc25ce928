"""FID (Heusel et al. 2017) and Inception Score (Salimans et al. 2016) the way the papers compute them:
Inception-v3 ``inception-2015-12-05``, uint8 images, pool3 features and float64 statistics.

``fid`` has four implementations, chosen with ``--fid-impl`` and recorded with every value:

* ``own``: our extractor (torch-fidelity's network) and our float64 Fréchet distance;
* ``torch-fidelity``: torch-fidelity end to end, from the same weights file;
* ``clean-fid-legacy_tensorflow`` / ``clean-fid-clean``: clean-fid's loader, preprocessing mode and
  Fréchet distance, on the same network through its custom-extractor hook.

The first three feed the network identical pixels and agree to float noise; ``clean`` resizes
differently and gives a different number. Each value's details carry its mode
(``legacy_tensorflow`` or ``clean``), so numbers of different pipelines are never put together.

``is``: exp(E_x KL(p(y|x) || p(y))) over the 1008 unbiased logits, averaged over 10 consecutive
splits (the original protocol), implementations ``own`` and ``torch-fidelity``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from harness.errors import BenchError, UsageError
from harness.metrics.base import METRICS, Metric, MetricInputs
from harness.metrics.frechet import feature_statistics, frechet_distance_from_statistics
from harness.metrics.inception import InceptionExtractor
from harness.metrics.reference import CLEAN, LEGACY_TENSORFLOW

FID_IMPLEMENTATIONS = ("own", "torch-fidelity", "clean-fid-legacy_tensorflow", "clean-fid-clean")
IS_IMPLEMENTATIONS = ("own", "torch-fidelity")
IS_SPLITS = 10


def fid_mode(implementation: str) -> str:
    """The image pipeline an FID implementation uses (and its reference statistics must use)."""
    if implementation not in FID_IMPLEMENTATIONS:
        raise UsageError(f"unknown FID implementation '{implementation}'; valid: {', '.join(FID_IMPLEMENTATIONS)}")
    return CLEAN if implementation == "clean-fid-clean" else LEGACY_TENSORFLOW


def _inception(inputs: MetricInputs, metric: str) -> InceptionExtractor:
    if not isinstance(inputs.extractor, InceptionExtractor):
        raise UsageError(f"'{metric}' is measured in Inception-v3 features, not {inputs.extractor.name}; "
                         f"use 'fd' for a Fréchet distance in another network")
    return inputs.extractor


def real_statistics(inputs: MetricInputs) -> tuple[np.ndarray, np.ndarray]:
    """The reference statistics if given, else those of the dataset's features (computed once)."""
    if inputs.reference is not None:
        return inputs.reference.mu, inputs.reference.sigma
    return inputs.cached("real_statistics", lambda: feature_statistics(inputs.real_features()))


def _fid(inputs: MetricInputs) -> tuple[float, dict[str, Any]]:
    extractor = _inception(inputs, "fid")
    impl, mode = inputs.implementation, fid_mode(inputs.implementation)
    ref = inputs.reference
    if ref is not None:
        if ref.mode != mode:
            raise UsageError(f"reference statistics {ref.record.get('id')} were made in {ref.mode} mode; {impl} needs "
                             f"{mode}-mode statistics (`bench refstats --fid-impl {impl}`)")
        if ref.dim != extractor.dim:
            raise BenchError(f"reference statistics {ref.record.get('id')} are {ref.dim}-d, {extractor.name} features are {extractor.dim}-d")
    details: dict[str, Any] = {"mode": mode, "feature_layer": extractor.feature_layer,
                               "weights_file": extractor.weights_path.name if extractor.weights_path else None}
    real = None if ref is not None else inputs.real_images()
    if impl == "own":
        value = frechet_distance_from_statistics(*feature_statistics(inputs.fake_features()), *real_statistics(inputs))
        details.update(input="uint8 images, native resolution", dtype="float64")
        return value, details
    if impl == "torch-fidelity":
        from harness.metrics import torch_fidelity_inception

        value, extra = torch_fidelity_inception.fid(inputs.fake, real, ref, extractor)
        return value, {**details, **extra}
    from harness.metrics import clean_fid_backend

    value, extra = clean_fid_backend.fid(inputs.fake, real, ref, extractor, mode)
    return value, {**details, **extra}


def inception_score(logits: torch.Tensor, splits: int = IS_SPLITS) -> tuple[float, float, list[float]]:
    """IS of [N, C] logits: per split of consecutive rows, exp of the mean KL divergence between each
    p(y|x) and the split's marginal p(y); returns (mean, population std, per-split scores)."""
    if logits.ndim != 2 or logits.shape[0] < splits:
        raise BenchError(f"Inception Score needs [N >= {splits}, C] logits, got {tuple(logits.shape)}")
    log_p = torch.log_softmax(logits.double(), dim=1)
    n = logits.shape[0]
    scores = []
    for i in range(splits):
        part = log_p[i * n // splits:(i + 1) * n // splits]
        log_marginal = torch.logsumexp(part, dim=0) - np.log(part.shape[0])
        kl = (part.exp() * (part - log_marginal)).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores)), scores


def _is(inputs: MetricInputs) -> tuple[float, dict[str, Any]]:
    extractor = _inception(inputs, "is")
    extractor.require_classifier()
    splits = IS_SPLITS
    if inputs.implementation == "torch-fidelity":
        from harness.metrics import torch_fidelity_inception

        mean, std = torch_fidelity_inception.inception_score(inputs.fake, extractor, splits)
        return mean, {"std": std, "splits": splits, "shuffle": False, "logits": "logits_unbiased"}
    mean, std, scores = inception_score(inputs.fake_output("logits"), splits)
    return mean, {"std": std, "splits": splits, "shuffle": False, "logits": "logits_unbiased", "split_scores": scores,
                  "input": "uint8 images, native resolution"}


METRICS.add("fid", Metric(
    name="fid",
    description="Fréchet Inception Distance, Inception-v3 pool3 (Heusel et al. 2017); --fid-impl chooses the implementation",
    implementations=FID_IMPLEMENTATIONS, compute=_fid, needs=("features",), reference="statistics"))
METRICS.add("is", Metric(
    name="is",
    description="Inception Score, 10 splits of the 1008 unbiased Inception logits (Salimans et al. 2016)",
    implementations=IS_IMPLEMENTATIONS, compute=_is, needs=("logits",), reference="none"))
