"""Registers the shipped feature extractors by name.

The classifier module is imported only when an extractor is built, so that
``python -m harness.metrics.classifier`` (which retrains it) never runs that module twice.
"""

from __future__ import annotations

from pathlib import Path

import torch

from harness.metrics.features import FEATURE_EXTRACTORS, FeatureExtractor


def register_classifier_extractor(name: str) -> None:
    """Register ``name`` as the penultimate layer of ``weights/<name>.safetensors``."""

    def factory(weights_path: Path | None, device: str | torch.device = "cpu") -> FeatureExtractor:
        from harness.metrics.classifier import classifier_extractor

        return classifier_extractor(name, weights_path, device)

    factory.provides = ("features",)  # declared, so a metric needing logits is refused before a run
    FEATURE_EXTRACTORS.add(name, factory)


register_classifier_extractor("digits-classifier")
register_classifier_extractor("fashion-mnist-classifier")
