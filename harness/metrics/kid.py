"""KID, the Kernel Inception Distance (Bińkowski et al. 2018, arXiv 1801.01401, Sec. 3 and App. D), in
the feature space of any registered extractor.

KID is the squared maximum mean discrepancy between generated and real features under the cubic
polynomial kernel k(x, y) = (x·y / d + 1)^3, estimated without bias (Gretton et al. 2012, JMLR,
Lemma 6, the U-statistic within each set):

    MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m-1)) + Σ_{i≠j} k(y_i, y_j) / (m(m-1)) - 2 Σ_{i,j} k(x_i, y_j) / m²

Unlike FID it has no bias from the sample count, which is why it suits the 500-5,000-sample runs a
CPU makes. As torch-fidelity does (toshas/torch-fidelity metric_kid.py), it is averaged over
``subsets`` random subsets of ``subset_size`` images drawn without replacement from each side,
with a ``numpy.random.RandomState(seed)`` drawing the generated side's indices, then the real
side's, per subset, so that both implementations see the same subsets. The record keeps the
standard deviation over subsets (population std, as torch-fidelity reports it).

Implementations: ``own`` (float64, torch) and ``torch-fidelity`` (its ``kid_features_to_metric``
on the same features, which computes in the features' dtype, float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from harness.errors import BenchError
from harness.metrics.base import METRICS, Metric, MetricInputs

KID_SUBSETS = 100  # torch-fidelity's defaults (kid_subsets, kid_subset_size, rng_seed)
KID_SUBSET_SIZE = 1000
KID_SEED = 2020
DEGREE, COEF0 = 3, 1.0  # k(x, y) = (gamma x·y + coef0)^degree with gamma = 1/d (Bińkowski et al. 2018, Eq. 7)
KID_IMPLEMENTATIONS = ("own", "torch-fidelity")


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + COEF0) ** DEGREE


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """The unbiased MMD² estimate (module doc) of two equally sized float64 feature sets."""
    m = x.shape[0]
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def subset_indices(n_fake: int, n_real: int, size: int, subsets: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per subset: indices into the generated, then the real features (module doc)."""
    rng = np.random.RandomState(seed)
    return [(rng.choice(n_fake, size, replace=False), rng.choice(n_real, size, replace=False)) for _ in range(subsets)]


def kid(fake: torch.Tensor, real: torch.Tensor, subsets: int = KID_SUBSETS, subset_size: int | None = None,
        seed: int = KID_SEED) -> tuple[float, float, list[float]]:
    """(mean, std over subsets, per-subset values) of MMD²_u; subset size defaults to
    min(1000, both counts), so small evaluations still give a value (recorded with it)."""
    if fake.ndim != 2 or real.ndim != 2 or fake.shape[1] != real.shape[1]:
        raise BenchError(f"KID needs two [N, D] feature sets of one width, got {tuple(fake.shape)} and {tuple(real.shape)}")
    size = subset_size or min(KID_SUBSET_SIZE, fake.shape[0], real.shape[0])
    if size < 2 or size > min(fake.shape[0], real.shape[0]):
        raise BenchError(f"KID subset size {size} needs 2 to {min(fake.shape[0], real.shape[0])} images per side")
    fake, real = fake.double(), real.double()
    values = [mmd2_unbiased(fake[torch.from_numpy(i)], real[torch.from_numpy(j)])
              for i, j in subset_indices(fake.shape[0], real.shape[0], size, subsets, seed)]
    return float(np.mean(values)), float(np.std(values)), values


def torch_fidelity_kid(fake: torch.Tensor, real: torch.Tensor, subsets: int, subset_size: int, seed: int) -> tuple[float, float]:
    """torch-fidelity's KID of the same features (its defaults: cubic kernel, gamma 1/d, coef0 1)."""
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    out = kid_features_to_metric(fake, real, kid_subsets=subsets, kid_subset_size=subset_size, rng_seed=seed,
                                 kid_kernel="poly", kid_kernel_poly_degree=DEGREE, kid_kernel_poly_gamma=None,
                                 kid_kernel_poly_coef0=COEF0, verbose=False)
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD])


def _kid(inputs: MetricInputs) -> tuple[float, dict[str, Any]]:
    fake, real = inputs.fake_features(), inputs.real_features()
    size = min(KID_SUBSET_SIZE, fake.shape[0], real.shape[0])
    details: dict[str, Any] = {"subsets": KID_SUBSETS, "subset_size": size, "seed": KID_SEED,
                               "kernel": "polynomial (x·y/d + 1)^3", "estimator": "unbiased MMD²"}
    if inputs.implementation == "torch-fidelity":
        mean, std = torch_fidelity_kid(fake, real, KID_SUBSETS, size, KID_SEED)
        return mean, {**details, "std": std, "dtype": str(fake.dtype).removeprefix("torch.")}
    mean, std, _ = kid(fake, real, KID_SUBSETS, size, KID_SEED)
    return mean, {**details, "std": std, "dtype": "float64"}


METRICS.add("kid", Metric(
    name="kid",
    description="Kernel Inception Distance in the run's feature network: unbiased MMD², cubic kernel, "
                "mean ± std over 100 subsets (Bińkowski et al. 2018)",
    implementations=KID_IMPLEMENTATIONS, compute=_kid, needs=("features",), reference="dataset"))
