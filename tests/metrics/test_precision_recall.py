"""Improved precision/recall (Kynkäänniemi et al. 2019) points the right way round."""

from __future__ import annotations

import pytest
import torch

from harness.data import ImageDataset
from harness.metrics import FeatureExtractor, evaluate
from harness.metrics.precision_recall import knn_radii, precision_recall


def _clusters(centres: list[tuple[float, float]], n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.randn(n, 2, generator=g) * 0.3 + torch.tensor(c) for c in centres])


def test_partial_coverage_gives_high_precision_low_recall() -> None:
    real = _clusters([(0.0, 0.0), (10.0, 0.0)], 300, seed=0)
    fake = _clusters([(0.0, 0.0)], 300, seed=1)  # only one of the two modes
    result = precision_recall(real, fake)
    assert result.precision > 0.95
    assert result.recall == pytest.approx(0.5, abs=0.05)


def test_off_manifold_fakes_give_low_precision_high_recall() -> None:
    real = _clusters([(0.0, 0.0)], 300, seed=0)
    fake = _clusters([(0.0, 0.0), (10.0, 10.0)], 300, seed=1)  # covers the data, half the fakes elsewhere
    result = precision_recall(real, fake)
    assert result.precision == pytest.approx(0.5, abs=0.05)
    assert result.recall > 0.95


def test_knn_radius_is_kth_neighbour_excluding_self() -> None:
    points = torch.tensor([[0.0], [1.0], [3.0], [6.0], [10.0]])
    # Squared distance to the 3rd nearest other point.
    assert knn_radii(points, k=3).tolist() == [36.0, 25.0, 9.0, 25.0, 81.0]


def test_deterministic_and_independent_of_block_size() -> None:
    g = torch.Generator().manual_seed(5)
    real, fake = torch.randn(300, 16, generator=g), torch.randn(250, 16, generator=g) * 1.3
    a = precision_recall(real, fake, block=1024)
    b = precision_recall(real, fake, block=7)
    assert a == precision_recall(real, fake, block=1024)
    assert (a.precision, a.recall) == (b.precision, b.recall)


def test_digits_classes_subset_in_classifier_features(digits: ImageDataset, digits_extractor: FeatureExtractor) -> None:
    images = digits.all_images()
    only_low = images[digits.labels < 3]  # real images of three of the ten digits
    values = {v.name: v.value for v in evaluate(only_low, digits, ["precision", "recall"], digits_extractor)}
    assert values["precision"] > 0.9
    assert values["recall"] < 0.5
