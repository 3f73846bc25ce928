"""The shipped Fashion-MNIST classifier (the FD feature network of issue #10): its card is true
and its accuracy on real test images is what the card says."""

from __future__ import annotations

import json

import pytest
import torch

from harness.data import DATASETS, ImageDataset, load_dataset
from harness.data import fashion_mnist
from harness.errors import BenchError
from harness.metrics import load_extractor
from harness.metrics.classifier import WEIGHTS_DIR, accuracy, indices_sha256, load_classifier, tail_split
from harness.metrics.features import file_sha256

needs_fashion_mnist = pytest.mark.fashion_mnist  # tests/conftest.py skips these without the apt package
NAME = "fashion-mnist-classifier"
WEIGHTS = WEIGHTS_DIR / f"{NAME}.safetensors"
TEST_START = 60_000  # the loader puts the 60,000 training images first, then the 10,000 test images


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads(WEIGHTS.with_suffix(".json").read_text())


@pytest.fixture(scope="module")
def fashion() -> ImageDataset:
    if not fashion_mnist.has_all_files(fashion_mnist.DEBIAN_DIR):  # only when BENCH_REQUIRE_FASHION_MNIST is set
        pytest.fail("Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist", pytrace=False)
    return load_dataset("fashion-mnist")


@needs_fashion_mnist
def test_card_describes_the_shipped_file_and_the_official_test_split(card: dict, fashion: ImageDataset) -> None:
    assert card["weights_sha256"] == file_sha256(WEIGHTS) and card["name"] == NAME
    assert card["dataset"]["sha256"] == fashion.sha256 and card["dataset"]["num_images"] == 70_000
    assert card["holdout"]["last"] == 10_000 and card["holdout"]["num_images"] == 10_000
    assert card["holdout"]["indices_sha256"] == indices_sha256(tail_split(70_000, 10_000)[1])
    assert card["holdout"]["accuracy"] >= 0.85
    assert card["feature_dim"] == 128 and card["architecture_kwargs"]["resolution"] == 32
    assert card["command"].startswith("python -m harness.metrics.classifier --dataset fashion-mnist")
    assert "--holdout-last 10000" in card["command"]


@needs_fashion_mnist
def test_accuracy_on_real_test_images_matches_the_card(card: dict, fashion: ImageDataset) -> None:
    """The first 1,000 test images (never trained on): within 3 points of the card's 10,000-image accuracy."""
    model, _ = load_classifier(WEIGHTS)
    index = torch.arange(TEST_START, TEST_START + 1000)
    images, labels = fashion.batch(index)
    got = accuracy(model, images, labels)
    assert abs(got - card["holdout"]["accuracy"]) < 0.03, (got, card["holdout"]["accuracy"])


@needs_fashion_mnist
def test_is_the_datasets_registered_feature_extractor(card: dict, fashion: ImageDataset) -> None:
    assert DATASETS.get("fashion-mnist").feature_extractor == NAME
    extractor = load_extractor(NAME)
    assert (extractor.dim, extractor.weights_sha256) == (128, card["weights_sha256"])
    images = fashion.batch(torch.arange(TEST_START, TEST_START + 64))[0]
    features = extractor(images)
    model, _ = load_classifier(WEIGHTS)
    with torch.no_grad():
        assert features.shape == (64, 128) and torch.allclose(features, model.features(images), atol=1e-5)


def test_tail_split_is_the_last_images() -> None:
    train, held = tail_split(10, 3)
    assert train.tolist() == list(range(7)) and held.tolist() == [7, 8, 9]
    with pytest.raises(BenchError, match="holdout-last"):
        tail_split(10, 10)
