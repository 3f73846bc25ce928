"""What a metric is, what it is computed from, and the record it produces.

A ``MetricValue`` names everything the number depends on (feature network and its weights hash,
implementation, sample count, reference data hash), so two values are comparable exactly when
those fields agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

from harness.data.base import ImageDataset
from harness.metrics.features import FeatureExtractor
from harness.registry import Registry


@dataclass(frozen=True)
class MetricValue:
    name: str
    value: float
    extractor: str
    extractor_weights_sha256: str
    implementation: str
    num_samples: int
    reference: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MetricInputs:
    """Generated images, the reference dataset and the feature network of one evaluation.

    Features and shared intermediate results are computed on first use and cached here (not
    globally), so the real features are extracted once per evaluation however many metrics use them.
    """

    fake: torch.Tensor
    dataset: ImageDataset
    extractor: FeatureExtractor
    implementation: str
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def real_features(self) -> torch.Tensor:
        return self.cached("real_features", lambda: self.extractor(self.dataset.all_images()))

    def fake_features(self) -> torch.Tensor:
        return self.cached("fake_features", lambda: self.extractor(self.fake))


@dataclass(frozen=True)
class Metric:
    """``compute(inputs)`` returns (value, details); ``implementations`` lists what
    ``inputs.implementation`` may be (e.g. 'own', 'torch-fidelity')."""

    name: str
    description: str
    implementations: tuple[str, ...]
    compute: Callable[[MetricInputs], tuple[float, dict[str, Any]]]


METRICS: Registry[Metric] = Registry("metric")
