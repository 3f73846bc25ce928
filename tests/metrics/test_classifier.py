"""The shipped digits classifier: its card is true, and training is reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.data import ImageDataset, make_dataset
from harness.errors import MissingArtefactError
from harness.metrics import load_extractor
from harness.metrics.classifier import (
    WEIGHTS_DIR, ClassifierConfig, SmallClassifier, accuracy, indices_sha256, load_classifier,
    save_classifier, stratified_split, train_classifier,
)
from harness.metrics.features import file_sha256

WEIGHTS = WEIGHTS_DIR / "digits-classifier.safetensors"


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads(WEIGHTS.with_suffix(".json").read_text())


def test_card_describes_the_shipped_file_and_data(card: dict, digits: ImageDataset) -> None:
    assert card["holdout"]["accuracy"] >= 0.95
    assert card["weights_sha256"] == file_sha256(WEIGHTS)
    assert card["dataset"] == {"name": "digits", "sha256": digits.sha256, "num_images": len(digits), "source": digits.source}
    assert card["feature_dim"] == 128 and card["command"].startswith("python -m harness.metrics.classifier --dataset digits")


def test_held_out_accuracy_reproduces_the_card(card: dict, digits: ImageDataset) -> None:
    model, _ = load_classifier(WEIGHTS)
    _, held = stratified_split(digits.labels, card["holdout"]["fraction"], card["seed"])
    assert len(held) == card["holdout"]["num_images"]
    assert indices_sha256(held) == card["holdout"]["indices_sha256"]
    assert accuracy(model, digits.all_images()[held], digits.labels[held]) == card["holdout"]["accuracy"]


def test_registered_extractor_is_the_penultimate_layer(card: dict, digits: ImageDataset) -> None:
    extractor = load_extractor("digits-classifier")
    assert (extractor.name, extractor.dim, extractor.weights_sha256) == ("digits-classifier", 128, card["weights_sha256"])
    features = extractor(digits.all_images()[:300])
    assert features.shape == (300, 128) and features.dtype == torch.float32
    model, _ = load_classifier(WEIGHTS)
    with torch.no_grad():
        assert torch.allclose(features, model.features(digits.all_images()[:300]), atol=1e-5)


def test_missing_weights_raise_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingArtefactError, match="python -m harness.metrics.classifier"):
        load_extractor("digits-classifier", tmp_path / "absent.safetensors")


def test_stratified_split_is_seeded_and_stratified(digits: ImageDataset) -> None:
    train, held = stratified_split(digits.labels, 0.2, seed=0)
    assert torch.equal(held, stratified_split(digits.labels, 0.2, seed=0)[1])
    assert not torch.equal(held, stratified_split(digits.labels, 0.2, seed=1)[1])
    assert len(set(train.tolist()) | set(held.tolist())) == len(digits) and not set(train.tolist()) & set(held.tolist())
    per_class = torch.bincount(digits.labels[held], minlength=10).float() / torch.bincount(digits.labels, minlength=10)
    assert per_class.min() > 0.18 and per_class.max() < 0.22


def test_same_seed_same_weights_and_saved_card(digits: ImageDataset, tmp_path: Path) -> None:
    small = make_dataset("digits-small", digits.images[:200], digits.labels[:200], 10, "test subset")
    runs = [train_classifier(small, seed=3, epochs=1, width=4, feature_dim=8, log=lambda s: None) for _ in range(2)]
    for (k, a), (_, b) in zip(runs[0].model.state_dict().items(), runs[1].model.state_dict().items()):
        assert torch.equal(a, b), k
    weights, card_path = save_classifier(runs[0], tmp_path / "tiny", "tiny", "test")
    model, card = load_classifier(weights)
    assert card["architecture_kwargs"]["width"] == 4 and card["weights_sha256"] == file_sha256(weights)
    with torch.no_grad():
        assert torch.equal(model.features(small.all_images()), runs[0].model.features(small.all_images()))


def test_architecture_scales_to_32x32() -> None:
    model = SmallClassifier(ClassifierConfig(resolution=32, channels=1, num_classes=10, width=8, feature_dim=64)).eval()
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    assert model.features(x).shape == (3, 64) and model(x).shape == (3, 10)
