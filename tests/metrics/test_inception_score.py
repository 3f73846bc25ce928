"""Inception Score: closed forms, and own and torch-fidelity agreeing on the same network and images."""

from __future__ import annotations

import pytest
import torch

from harness.data import make_dataset, to_float, to_uint8
from harness.metrics import evaluate
from harness.metrics.fid import inception_score
from harness.metrics.inception import InceptionExtractor


def test_uniform_predictions_score_one() -> None:
    mean, std, scores = inception_score(torch.zeros(40, 1008))
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12) and len(scores) == 10


def test_confident_distinct_classes_score_their_count() -> None:
    # Each split of 4 consecutive rows holds 4 different confidently predicted classes: IS = 4.
    logits = torch.full((40, 1008), -50.0)
    logits[torch.arange(40), torch.arange(40) % 4] = 50.0
    mean, std, _ = inception_score(logits)
    assert mean == pytest.approx(4.0, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)
    # Mode collapse (all rows the same class) scores 1, the minimum.
    collapsed = torch.full((40, 1008), -50.0)
    collapsed[:, 7] = 50.0
    assert inception_score(collapsed)[0] == pytest.approx(1.0, rel=1e-9)


def test_splits_are_consecutive_rows() -> None:
    logits = torch.full((20, 5), -50.0)
    logits[:10, 0] = 50.0  # first half one class, second half alternating two classes
    logits[10:, 1] = 50.0
    logits[10::2, 1], logits[10::2, 2] = -50.0, 50.0
    _, _, scores = inception_score(logits, splits=2)
    assert scores == pytest.approx([1.0, 2.0], rel=1e-9)
    with pytest.raises(Exception, match="N >= 10"):
        inception_score(torch.zeros(5, 1008))


def test_own_and_torch_fidelity_agree(inception_pool3: InceptionExtractor, inception_input_size) -> None:
    inception_input_size(75)
    g = torch.Generator().manual_seed(0)
    fake = to_float(to_uint8(torch.rand(20, 3, 8, 8, generator=g) * 2 - 1))
    dataset = make_dataset("unused", to_uint8(fake), torch.zeros(20, dtype=torch.int64), 1, "test")
    own, theirs = (evaluate(fake, dataset, ["is"], inception_pool3, implementation=impl)[0]
                   for impl in ("own", "torch-fidelity"))
    assert own.value > 1.5  # the random classifier is confident and spread over classes
    assert theirs.value == pytest.approx(own.value, rel=1e-4)
    assert theirs.details["std"] == pytest.approx(own.details["std"], rel=1e-3, abs=1e-6)
    assert own.reference == {"id": "none"} and own.num_samples == 20 and theirs.implementation == "torch-fidelity"
    assert own.extractor == "inception-v3-compat" and own.details["splits"] == 10
