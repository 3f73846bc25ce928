"""FID and IS computed by torch-fidelity itself, with its own ``inception-v3-compat`` network built
from the same weights file as our extractor (its ``feature_extractor_weights_path`` option).

This is the independent path: torch-fidelity loads the network, batches the images, extracts the
features and computes the statistics and the metric; we only hand it uint8 images (as image files
would be) and, for FID against published statistics, the reference ``mu`` and ``sigma``.
It runs with its file cache off, its roots in a temporary directory, downloads off and no worker
processes, so it touches neither the network nor the disk outside that directory.
"""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from harness.data.base import to_uint8
from harness.errors import BenchError
from harness.metrics.features import file_sha256
from harness.metrics.inception import LOGITS, InceptionExtractor
from harness.metrics.reference import ReferenceStatistics


class RGBUint8Images(Dataset):
    """Float [-1, 1] (or uint8) NCHW images as the uint8 3-channel ``Dataset`` torch-fidelity takes."""

    def __init__(self, images: torch.Tensor):
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise BenchError(f"torch-fidelity takes [N, 1 or 3, H, W] images, got {tuple(images.shape)}")
        self.images = images if images.dtype == torch.uint8 else to_uint8(images.detach().cpu().float())

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.images[index]
        return image.expand(3, -1, -1).contiguous() if image.shape[0] == 1 else image


def _options(extractor: InceptionExtractor, tmp: str) -> dict[str, Any]:
    if extractor.weights_path is None or file_sha256(extractor.weights_path) != extractor.weights_sha256:
        raise BenchError(f"{extractor.weights_path} no longer holds the weights {extractor.name} was loaded from")
    return {
        "feature_extractor": extractor.torch_fidelity_name,
        "feature_extractor_weights_path": str(extractor.weights_path),
        "cuda": extractor.device.type == "cuda",
        "batch_size": extractor.batch_size,
        "cache": False, "cache_root": tmp, "datasets_root": tmp, "datasets_download": False,
        "save_cpu_ram": True,  # no DataLoader worker processes
        "verbose": False,
    }


def _details(extra: dict[str, Any]) -> dict[str, Any]:
    import torch_fidelity

    return {"input": "uint8 images, native resolution (torch-fidelity Dataset input)",
            "torch_fidelity_version": torch_fidelity.__version__, **extra}


def fid(fake: torch.Tensor, real: torch.Tensor | None, reference: ReferenceStatistics | None,
        extractor: InceptionExtractor) -> tuple[float, dict[str, Any]]:
    """torch-fidelity's FID of ``fake`` against ``real`` images, or against ``reference`` statistics."""
    import torch_fidelity
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_featuresdict_to_statistics, fid_statistics_to_metric
    from torch_fidelity.utils import create_feature_extractor, extract_featuresdict_from_input_id

    layer = extractor.feature_layer
    with tempfile.TemporaryDirectory(prefix="bench-torch-fidelity-") as tmp:
        options = _options(extractor, tmp)
        if reference is None:
            if real is None:
                raise BenchError("torch-fidelity FID needs real images or reference statistics")
            result = torch_fidelity.calculate_metrics(input1=RGBUint8Images(fake), input2=RGBUint8Images(real),
                                                      fid=True, feature_layer_fid=layer, **options)
            return float(result[KEY_METRIC_FID]), _details({"statistics": "both sides by torch-fidelity"})
        network = create_feature_extractor(extractor.torch_fidelity_name, [layer], **options)
        features = extract_featuresdict_from_input_id(1, network, input1=RGBUint8Images(fake), **options)
        stats = fid_featuresdict_to_statistics(features, layer)
        # torch-fidelity requires both sides in one dtype; the published statistics are float64.
        ours = {"mu": np.asarray(stats["mu"], np.float64), "sigma": np.asarray(stats["sigma"], np.float64)}
        result = fid_statistics_to_metric(ours, {"mu": reference.mu, "sigma": reference.sigma}, False)
    return float(result[KEY_METRIC_FID]), _details({"statistics": "generated side by torch-fidelity, reference given"})


def features(images: torch.Tensor, extractor: InceptionExtractor) -> torch.Tensor:
    """torch-fidelity's own pool3 (or ``feature_layer``) features of ``images``: its network, its batching."""
    from torch_fidelity.utils import create_feature_extractor, extract_featuresdict_from_input_id

    with tempfile.TemporaryDirectory(prefix="bench-torch-fidelity-") as tmp:
        options = _options(extractor, tmp)
        network = create_feature_extractor(extractor.torch_fidelity_name, [extractor.feature_layer], **options)
        return extract_featuresdict_from_input_id(1, network, input1=RGBUint8Images(images), **options)[extractor.feature_layer]


def inception_score(fake: torch.Tensor, extractor: InceptionExtractor, splits: int) -> tuple[float, float]:
    """torch-fidelity's IS (mean, std over ``splits``), splits taken in order (no shuffling), like ours."""
    import torch_fidelity

    with tempfile.TemporaryDirectory(prefix="bench-torch-fidelity-") as tmp:
        result = torch_fidelity.calculate_metrics(input1=RGBUint8Images(fake), isc=True, feature_layer_isc=LOGITS,
                                                  isc_splits=splits, samples_shuffle=False, **_options(extractor, tmp))
    return float(result[torch_fidelity.KEY_METRIC_ISC_MEAN]), float(result[torch_fidelity.KEY_METRIC_ISC_STD])
