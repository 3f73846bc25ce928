"""Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017, "GANs trained
by a two time-scale update rule converge to a local Nash equilibrium", eq. for FID).

    FD = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))

Everything is float64: the trace term is a difference of large, nearly equal numbers, and float32
covariances shift FD in the third significant digit for well-matched sets.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.linalg
import torch

from harness.errors import BenchError
from harness.metrics.base import METRICS, Metric, MetricInputs

# sqrtm of a product of two PSD matrices is real in exact arithmetic; rounding leaves an imaginary
# part. Below this (relative to the trace term's scale) it is rounding; above it, the input is broken.
IMAGINARY_TOLERANCE = 1e-3
# From this feature width on (Inception's 2048, DINOv2's 1024) the trace term comes from two symmetric
# eigendecompositions instead of the Schur sqrtm: equal to rounding (1.5e-15 relative at 2048-d) and
# 4-5x faster on a CPU core (28 s vs 126 s at 2048-d), far more on a GPU, where FID-50k would otherwise
# spend most of its time. Narrower features (the digits and Fashion-MNIST classifiers) keep the Schur
# sqrtm their stored records were made with, so re-running them stays bit-identical.
EIGH_MIN_DIM = 1024


def feature_statistics(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (N - 1), as float64 numpy arrays, of [N, D] features."""
    x = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    x = x.astype(np.float64, copy=False)
    if x.ndim != 2 or x.shape[0] < 2:
        raise BenchError(f"feature statistics need [N >= 2, D] features, got shape {x.shape}")
    mu = x.mean(axis=0)
    sigma = np.cov(x, rowvar=False)
    return mu, np.atleast_2d(sigma)


def frechet_distance_from_statistics(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """FD between N(mu1, sigma1) and N(mu2, sigma2) in float64.

    tr((S1 S2)^(1/2)) is computed with scipy's Schur-based sqrtm below ``EIGH_MIN_DIM`` features and
    by ``trace_sqrt_product`` from there on. A singular product (common: fewer samples than
    dimensions, dead feature units) is retried with a small ridge, as in the reference TTUR code. A
    large imaginary part raises instead of being silently dropped.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise BenchError(f"FD statistics disagree in shape: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")

    diff = mu1 - mu2
    trace_term = trace_sqrt_product(sigma1, sigma2) if sigma1.shape[0] >= EIGH_MIN_DIM else _schur_trace_sqrt(sigma1, sigma2)
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_term)
    # Rounding can make an FD of identical sets come out as -1e-12; FD is a squared distance.
    return max(value, 0.0)


def _schur_trace_sqrt(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    covmean = _sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        ridge = np.eye(sigma1.shape[0]) * 1e-6
        covmean = _sqrtm((sigma1 + ridge) @ (sigma2 + ridge))
    if np.iscomplexobj(covmean):
        scale = max(1.0, float(np.abs(np.diagonal(covmean)).max()))
        imaginary = float(np.abs(covmean.imag).max())
        if imaginary > IMAGINARY_TOLERANCE * scale:
            raise BenchError(f"FD: sqrtm(S1 S2) has imaginary part {imaginary:.3g} (scale {scale:.3g}); covariances are not PSD")
        covmean = covmean.real
    return np.trace(covmean)


def frechet_distance(features1: torch.Tensor | np.ndarray, features2: torch.Tensor | np.ndarray) -> float:
    """FD between two [N, D] feature sets."""
    return frechet_distance_from_statistics(*feature_statistics(features1), *feature_statistics(features2))


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S1 S2)^(1/2)) for covariances S1, S2, through symmetric eigendecompositions (float64).

    With R = S1^(1/2), S1 S2 = R (R S2 R) R^-1 is similar to the symmetric PSD R S2 R, so the square
    roots of its eigenvalues sum to the trace. Eigenvalues that rounding pushes below zero count as
    zero. Runs on the GPU when there is one (it is the costly part of FID-50k), else with numpy.
    """
    if not (np.isfinite(sigma1).all() and np.isfinite(sigma2).all()):
        raise BenchError("FD: the feature covariances are not finite (NaN or inf features)")
    if torch.cuda.is_available():
        s1 = torch.from_numpy(sigma1).cuda()
        values, vectors = torch.linalg.eigh(s1)
        root = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
        inner = torch.linalg.eigvalsh(root @ torch.from_numpy(sigma2).cuda() @ root)
        return float(inner.clamp(min=0).sqrt().sum())
    values, vectors = np.linalg.eigh(sigma1)
    root = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    inner = np.linalg.eigvalsh(root @ sigma2 @ root)
    return float(np.sqrt(np.clip(inner, 0.0, None)).sum())


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    # A singular product (fewer samples than feature dimensions) is expected, and handled by the ridge
    # retry and the records' "reduced" label; scipy's LinAlgWarning about it is silenced, as the TTUR
    # reference code silences it (``sqrtm(..., disp=False)``; scipy >= 1.12 returns only the root).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        result = scipy.linalg.sqrtm(matrix)
    return result[0] if isinstance(result, tuple) else result


def _fd_metric(inputs: MetricInputs) -> tuple[float, dict[str, Any]]:
    if inputs.implementation == "torch-fidelity" and hasattr(inputs.extractor, "torch_fidelity_name"):
        # A network torch-fidelity has natively (Inception): let it build its own copy from the weights file.
        from harness.metrics import torch_fidelity_inception

        return torch_fidelity_inception.fid(inputs.fake, inputs.dataset.all_images(), None, inputs.extractor)
    if inputs.implementation == "torch-fidelity":
        from harness.metrics.torch_fidelity_backend import torch_fidelity_fd

        value, details = torch_fidelity_fd(inputs.fake, inputs.dataset.all_images(), inputs.extractor)
        return value, details
    real = inputs.cached("real_statistics", lambda: feature_statistics(inputs.real_features()))
    fake = feature_statistics(inputs.fake_features())
    return frechet_distance_from_statistics(*fake, *real), {"dtype": "float64", "input": "float images as given"}


METRICS.add(
    "fd",
    Metric(
        name="fd",
        description="Fréchet distance between Gaussian fits of real and generated features (Heusel et al. 2017)",
        implementations=("own", "torch-fidelity"),
        compute=_fd_metric,
    ),
)
