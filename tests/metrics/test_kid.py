"""KID: the unbiased MMD² estimator with the cubic kernel, its subsets, and agreement with torch-fidelity."""

from __future__ import annotations

import itertools

import pytest
import torch

from harness.errors import BenchError
from harness.metrics import evaluate
from harness.metrics.kid import kid, mmd2_unbiased, torch_fidelity_kid


def test_estimator_is_the_unbiased_u_statistic() -> None:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64) + 0.5
    k = lambda a, b: (float(a @ b) / 3 + 1) ** 3  # noqa: E731  (Bińkowski et al. 2018, Eq. 7)
    pairs = list(itertools.permutations(range(5), 2))
    expected = (sum(k(x[i], x[j]) for i, j in pairs) / 20 + sum(k(y[i], y[j]) for i, j in pairs) / 20
                - 2 * sum(k(x[i], y[j]) for i in range(5) for j in range(5)) / 25)
    assert mmd2_unbiased(x, y) == pytest.approx(expected, rel=1e-12)


def test_no_bias_for_equal_distributions() -> None:
    g = torch.Generator().manual_seed(2)
    same = kid(torch.randn(400, 16, generator=g), torch.randn(400, 16, generator=g), subsets=50, subset_size=50)
    shifted = kid(torch.randn(400, 16, generator=g), torch.randn(400, 16, generator=g) + 0.3, subsets=50, subset_size=50)
    # A biased (V-statistic) estimate would sit near 2 (E k(x, x) - E k(x, x')) / m ~ 0.27 here; the unbiased
    # one near 0, within its spread over subsets.
    assert abs(same[0]) < 0.05 < 0.2 < shifted[0]
    assert len(same[2]) == 50 and same[1] > 0


def test_own_and_torch_fidelity_agree_on_the_same_subsets() -> None:
    g = torch.Generator().manual_seed(3)
    fake, real = torch.randn(120, 32, generator=g, dtype=torch.float64), torch.randn(90, 32, generator=g, dtype=torch.float64) * 1.2
    mean, std, _ = kid(fake, real, subsets=5, subset_size=60, seed=7)
    theirs = torch_fidelity_kid(fake, real, subsets=5, subset_size=60, seed=7)
    assert mean == pytest.approx(theirs[0], rel=1e-10) and std == pytest.approx(theirs[1], rel=1e-8)
    assert kid(fake, real, subsets=5, subset_size=60, seed=8)[0] != mean  # the seed chooses the subsets


def test_kid_in_a_registered_feature_space(digits, digits_extractor) -> None:
    real = digits.all_images()
    fake = torch.flip(real[:200], dims=[3])  # mirrored digits: a real difference in classifier features
    own, tf = (evaluate(fake, digits, ["kid"], digits_extractor, implementation=impl)[0] for impl in ("own", "torch-fidelity"))
    assert own.value > 0 and own.value == pytest.approx(tf.value, rel=1e-4)  # torch-fidelity sums in float32
    assert own.details["subset_size"] == 200 and own.details["subsets"] == 100 and own.details["std"] > 0
    assert own.extractor == digits_extractor.name and own.num_samples == 200
    assert tf.implementation == "torch-fidelity" and tf.details["std"] == pytest.approx(own.details["std"], rel=1e-3)
    with pytest.raises(BenchError, match="KID subset size"):
        kid(torch.randn(1, 4), torch.randn(5, 4))
