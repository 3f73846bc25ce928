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
from harness.errors import BenchError
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

    ``reference`` (optional) are precomputed real statistics (``harness.metrics.reference``) that
    FID compares against instead of the dataset's images; ``dataset`` may then be None. ``outputs``
    names what the generated images are needed as (``features``, and ``logits`` for IS): an
    extractor with ``extract`` yields them all from one pass over the images.
    """

    fake: torch.Tensor
    dataset: ImageDataset | None
    extractor: FeatureExtractor
    implementation: str
    reference: Any = None  # ReferenceStatistics | None
    outputs: tuple[str, ...] = ("features",)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def real_images(self) -> torch.Tensor:
        if self.dataset is None:
            raise BenchError("this metric needs the real images: pass a dataset (reference statistics are not enough)")
        return self.dataset.all_images()

    def real_features(self) -> torch.Tensor:
        from harness.metrics.feature_cache import real_feature_extraction, real_features

        if self.dataset is None:
            self.real_images()  # the clear error
        return self.cached(f"real_features/{id(self.extractor)}",
                           lambda: real_features(self.dataset, self.extractor,
                                                 real_feature_extraction(self.dataset, self.extractor)))

    def fake_outputs(self) -> dict[str, torch.Tensor]:
        """Everything in ``outputs`` for the generated images, from one pass of the extractor."""
        from harness.metrics.feature_cache import extract_all

        what = f"{self.fake.shape[0]:,} samples: {', '.join(self.outputs)} in {self.extractor.name}"

        def compute() -> dict[str, torch.Tensor]:
            if hasattr(self.extractor, "extract"):
                return extract_all(self.extractor, self.fake, what, lambda x: self.extractor.extract(x, self.outputs))
            if set(self.outputs) - {"features"}:
                raise BenchError(f"feature extractor {self.extractor.name} gives features only, not {', '.join(self.outputs)}")
            return {"features": extract_all(self.extractor, self.fake, what)}

        return self.cached(f"fake_outputs/{id(self.extractor)}", compute)

    def fake_output(self, name: str) -> torch.Tensor:
        if name in self.outputs:
            return self.fake_outputs()[name]
        if name == "features" and not hasattr(self.extractor, "extract"):
            return self.cached(f"fake_features/{id(self.extractor)}", lambda: self.extractor(self.fake))
        return self.cached(f"fake_{name}/{id(self.extractor)}", lambda: self.extractor.extract(self.fake, (name,))[name])

    def fake_features(self) -> torch.Tensor:
        return self.fake_output("features")


@dataclass(frozen=True)
class Metric:
    """``compute(inputs)`` returns (value, details); ``implementations`` lists what
    ``inputs.implementation`` may be (e.g. 'own', 'torch-fidelity').

    ``needs``: what of the generated images it reads (``features``, ``logits``). ``reference``: what
    its value is measured against, for the record: ``dataset`` (the real images), ``statistics``
    (the given reference statistics if any, else the dataset) or ``none`` (IS). ``extractor``:
    a feature network of its own (a registry name) instead of the evaluation's, e.g. FD-DINOv2.
    """

    name: str
    description: str
    implementations: tuple[str, ...]
    compute: Callable[[MetricInputs], tuple[float, dict[str, Any]]]
    needs: tuple[str, ...] = ("features",)
    reference: str = "dataset"
    extractor: str | None = None


METRICS: Registry[Metric] = Registry("metric")
