"""Fixtures for the metric tests: the digits data and the shipped classifier, loaded once."""

from __future__ import annotations

import pytest
import torch
from threadpoolctl import threadpool_limits

from harness.data import ImageDataset, load_dataset
from harness.metrics import FeatureExtractor, load_extractor


@pytest.fixture(autouse=True)
def offline_single_thread(monkeypatch: pytest.MonkeyPatch):
    # Offline hubs; one torch and one BLAS thread, because on 2 shared CPU cores their pools spin.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits() -> ImageDataset:
    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits_extractor() -> FeatureExtractor:
    return load_extractor("digits-classifier")


@pytest.fixture(scope="session")
def digits_features(digits: ImageDataset, digits_extractor: FeatureExtractor) -> torch.Tensor:
    return digits_extractor(digits.all_images())
