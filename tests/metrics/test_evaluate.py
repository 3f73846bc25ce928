"""The metrics entry point: names checked, records complete, real features extracted once."""

from __future__ import annotations

import pytest
import torch

from harness.data import ImageDataset
from harness.errors import BenchError, UnknownNameError, UsageError
from harness.metrics import FEATURE_EXTRACTORS, METRICS, FeatureExtractor, evaluate, load_extractor, real_data_floor


def test_unknown_names_raise_the_clear_error(digits: ImageDataset, digits_extractor: FeatureExtractor) -> None:
    with pytest.raises(UnknownNameError, match="unknown metric 'swd'; valid metrics: fd, fd-dinov2, fid, is, kid, precision, recall"):
        METRICS.get("swd")
    with pytest.raises(UnknownNameError, match="valid feature extractors: .*digits-classifier"):
        load_extractor("no-such-net")
    with pytest.raises(UnknownNameError):
        evaluate(digits.all_images()[:10], digits, ["fd", "swd"], digits_extractor)
    assert "digits-classifier" in FEATURE_EXTRACTORS


def test_unsupported_implementation_is_an_error(digits: ImageDataset, digits_extractor: FeatureExtractor) -> None:
    with pytest.raises(UsageError, match="no implementation 'torch-fidelity'"):
        evaluate(digits.all_images()[:50], digits, ["fd", "precision"], digits_extractor, implementation="torch-fidelity")


def test_wrong_image_shape_is_an_error(digits: ImageDataset, digits_extractor: FeatureExtractor) -> None:
    with pytest.raises(BenchError, match="do not match"):
        evaluate(torch.zeros(10, 3, 8, 8), digits, ["fd"], digits_extractor)


class CountingExtractor(FeatureExtractor):
    images_seen: int = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.images_seen += images.shape[0]
        return super().forward(images)


def test_records_and_real_features_computed_once(digits: ImageDataset, digits_extractor: FeatureExtractor) -> None:
    counting = CountingExtractor("digits-classifier", digits_extractor.net, 128, digits_extractor.weights_sha256, 8, 1)
    fake = digits.all_images()[:400]
    values = evaluate(fake, digits, ["fd", "precision", "recall"], counting, reference_id="digits-all")
    assert counting.images_seen == len(digits) + len(fake)  # each real image once, each fake once
    assert [v.name for v in values] == ["fd", "precision", "recall"]
    record = values[0].to_dict()
    assert record["extractor"] == "digits-classifier" and record["extractor_weights_sha256"] == digits_extractor.weights_sha256
    assert record["implementation"] == "own" and record["num_samples"] == 400
    assert record["reference"] == {"id": "digits-all", "dataset": "digits", "sha256": digits.sha256, "num_images": len(digits)}
    assert all(0.0 <= v.value <= 1.0 for v in values[1:])


def test_real_data_floor_is_seeded_and_small(digits: ImageDataset, digits_extractor: FeatureExtractor) -> None:
    a, b, c = (real_data_floor(digits, digits_extractor, seed) for seed in (0, 0, 1))
    assert a.value == b.value and a.value != c.value
    assert 0.0 < a.value
    # Far below the FD of a generator that makes only three of the ten digits.
    partial = evaluate(digits.all_images()[digits.labels < 3], digits, ["fd"], digits_extractor)[0]
    assert a.value * 5 < partial.value
