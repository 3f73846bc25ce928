"""Fréchet distance: zero on identical sets, the closed form on Gaussians, honest about bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.errors import BenchError
from harness.metrics.frechet import feature_statistics, frechet_distance, frechet_distance_from_statistics


def test_fd_of_a_set_with_itself_is_zero(digits_features: torch.Tensor) -> None:
    assert frechet_distance(digits_features, digits_features) == pytest.approx(0.0, abs=1e-6)
    x = torch.randn(500, 32, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_statistics_are_float64_mean_and_unbiased_covariance() -> None:
    x = torch.randn(200, 5, generator=torch.Generator().manual_seed(1))
    mu, sigma = feature_statistics(x)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    xd = x.double()
    np.testing.assert_allclose(mu, xd.mean(0).numpy(), rtol=1e-12)
    np.testing.assert_allclose(sigma, ((xd - xd.mean(0)).T @ (xd - xd.mean(0)) / 199).numpy(), rtol=1e-10)


def test_closed_form_diagonal_gaussians() -> None:
    # FD = |mu1 - mu2|^2 + sum_i (s1_i + s2_i - 2 sqrt(s1_i s2_i)) for diagonal covariances.
    mu1, mu2 = np.array([0.0, 1.0, -2.0, 3.0]), np.array([1.0, 1.0, 0.0, -1.0])
    s1, s2 = np.array([1.0, 4.0, 0.25, 9.0]), np.array([4.0, 1.0, 1.0, 9.0])
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    got = frechet_distance_from_statistics(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(expected, rel=1e-12)
    # A common rotation keeps the closed form: the covariances still commute.
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 4)))
    got_rotated = frechet_distance_from_statistics(q @ mu1, q @ np.diag(s1) @ q.T, q @ mu2, q @ np.diag(s2) @ q.T)
    assert got_rotated == pytest.approx(expected, rel=1e-9)


def test_general_covariances_match_the_symmetric_form() -> None:
    # tr (S1 S2)^(1/2) = tr (S1^(1/2) S2 S1^(1/2))^(1/2), computed here with symmetric eigendecompositions.
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((6, 6)), rng.standard_normal((6, 6))
    s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    w, v = np.linalg.eigh(s1)
    root1 = v @ np.diag(np.sqrt(w)) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(inner.clip(min=0)).sum()
    assert frechet_distance_from_statistics(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_samples_from_known_gaussians_approach_the_closed_form() -> None:
    g = torch.Generator().manual_seed(2)
    n, mu2 = 200_000, torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64)
    std1, std2 = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64), torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)
    x1 = torch.randn(n, 3, generator=g, dtype=torch.float64) * std1
    x2 = torch.randn(n, 3, generator=g, dtype=torch.float64) * std2 + mu2
    expected = float((mu2**2).sum() + ((std1 - std2) ** 2).sum())  # = 2 + 2 = 4
    assert frechet_distance(x1, x2) == pytest.approx(expected, rel=0.02)


def test_non_psd_covariance_raises_instead_of_dropping_imaginary_part() -> None:
    mu = np.zeros(2)
    with pytest.raises(BenchError, match="imaginary"):
        frechet_distance_from_statistics(mu, np.diag([1.0, -1.0]), mu, np.eye(2))


def test_shape_mismatch_raises() -> None:
    with pytest.raises(BenchError):
        frechet_distance_from_statistics(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def _random_covariances(dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((dim, 2 * dim)), rng.standard_normal((dim, 2 * dim))
    return a @ a.T / (2 * dim), (b + 0.3 * a) @ (b + 0.3 * a).T / (2 * dim)


def test_eigh_trace_equals_schur_trace() -> None:
    from harness.metrics.frechet import _schur_trace_sqrt, trace_sqrt_product

    s1, s2 = _random_covariances(96, 3)
    assert trace_sqrt_product(s1, s2) == pytest.approx(_schur_trace_sqrt(s1, s2), rel=1e-10)
    # Rank-deficient S1 (fewer samples than dimensions): eigenvalues clipped at zero, still equal.
    low = np.random.default_rng(4).standard_normal((96, 40))
    s1 = low @ low.T / 40
    assert trace_sqrt_product(s1, s2) == pytest.approx(_schur_trace_sqrt(s1, s2), rel=1e-6)


def test_wide_features_use_the_eigh_trace(monkeypatch) -> None:
    import harness.metrics.frechet as frechet

    s1, s2 = _random_covariances(64, 5)
    mu1, mu2 = np.zeros(64), np.full(64, 0.1)
    narrow = frechet_distance_from_statistics(mu1, s1, mu2, s2)
    calls = []
    monkeypatch.setattr(frechet, "EIGH_MIN_DIM", 64)
    monkeypatch.setattr(frechet, "_schur_trace_sqrt", lambda *a: calls.append(a) or 0.0)
    assert frechet_distance_from_statistics(mu1, s1, mu2, s2) == pytest.approx(narrow, rel=1e-10) and not calls
    with pytest.raises(BenchError, match="not finite"):
        frechet_distance_from_statistics(mu1, np.full((64, 64), np.nan), mu2, s2)


@pytest.mark.filterwarnings("error")
def test_dead_feature_units_give_a_finite_fd_without_scipy_warnings() -> None:
    """Features whose units are dead (constant) in few samples: a singular covariance product, which FD
    handles, so scipy's LinAlgWarning about it is not shown on the user's console (TTUR silences it too)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 64)), rng.normal(size=(5, 64))
    a[:, 10:], b[:, 10:] = 0.0, 1.0
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value > 0
