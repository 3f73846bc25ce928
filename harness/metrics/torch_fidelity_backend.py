"""FD computed by torch-fidelity (Obukhov et al., github.com/toshas/torch-fidelity) in our feature
space: an independent implementation of the statistics and the matrix square root that our own
float64 FD is checked against.

Our extractor is registered into torch-fidelity (``torch_fidelity.register_feature_extractor``)
as ``bench-<name>``; torch-fidelity then builds it itself from our registry and the weights file
(its ``feature_extractor_weights_path`` option), after checking that file still hashes to the
caller's extractor's ``weights_sha256``.

Images go through uint8: torch-fidelity's ``Dataset`` inputs yield uint8 CHW tensors (the format
of image files), so both image sets are rounded to 0..255 before features are taken. To compare
with our own FD, feed ours the same rounded images (``harness.data.to_float(to_uint8(x))``).

torch-fidelity is run with its file cache off, its cache and dataset roots in a temporary
directory, downloads off and no worker processes, so it never touches the network or the disk
outside that directory.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from harness.data.base import to_float, to_uint8
from harness.errors import BenchError
from harness.metrics.features import FEATURE_EXTRACTORS, FeatureExtractor, file_sha256

FEATURE_NAME = "features"
NAME_PREFIX = "bench-"


class Uint8Images(Dataset):
    """In-memory uint8 NCHW images as the ``Dataset`` torch-fidelity takes."""

    def __init__(self, images: torch.Tensor):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise BenchError(f"Uint8Images takes uint8 NCHW images, got {images.dtype} {tuple(images.shape)}")
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def _fidelity_base() -> type:
    import torch_fidelity

    return torch_fidelity.FeatureExtractorBase


def _make_wrapper_class() -> type:
    base = _fidelity_base()

    class BenchFeatureExtractor(base):  # type: ignore[misc, valid-type]
        """torch-fidelity's view of one of our extractors: uint8 in, (features,) out."""

        def __init__(self, name: str, features_list: list[str], **kwargs: Any):
            super().__init__(name, features_list)
            weights_path = kwargs.get("feature_extractor_weights_path")
            ours = name[len(NAME_PREFIX):]
            # Built on the CPU; torch-fidelity moves the whole module with .cuda() when asked to.
            self.inner = FEATURE_EXTRACTORS.get(ours)(Path(weights_path) if weights_path else None, "cpu")

        @staticmethod
        def get_provided_features_list() -> tuple[str, ...]:
            return (FEATURE_NAME,)

        @staticmethod
        def get_default_feature_layer_for_metric(metric: str) -> str:
            return FEATURE_NAME

        @staticmethod
        def can_be_compiled() -> bool:
            return False

        @staticmethod
        def get_dummy_input_for_compile() -> torch.Tensor:
            raise NotImplementedError

        def forward(self, images: torch.Tensor) -> tuple[torch.Tensor]:
            if images.dtype != torch.uint8:
                raise BenchError(f"torch-fidelity passed {images.dtype} images; expected uint8")
            return (self.inner(to_float(images)),)

    return BenchFeatureExtractor


def register_with_torch_fidelity(extractor_name: str) -> str:
    """Register our registry entry ``extractor_name`` into torch-fidelity (once); return its name there."""
    from torch_fidelity import register_feature_extractor
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    FEATURE_EXTRACTORS.get(extractor_name)  # an unknown name fails here, with our message
    name = NAME_PREFIX + extractor_name
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(name, _make_wrapper_class())
    return name


def torch_fidelity_fd(fake: torch.Tensor, real: torch.Tensor, extractor: FeatureExtractor) -> tuple[float, dict[str, Any]]:
    """FD between two float [-1, 1] NCHW image sets, computed by ``torch_fidelity.calculate_metrics``
    on their uint8 roundings, in the feature space of ``extractor`` (loaded by torch-fidelity from
    ``extractor.weights_path``). Returns (fd, details)."""
    import torch_fidelity

    if extractor.weights_path is None:
        raise BenchError(f"extractor {extractor.name} has no weights file; torch-fidelity can only load registered extractors from one")
    if file_sha256(extractor.weights_path) != extractor.weights_sha256:
        raise BenchError(f"{extractor.weights_path} no longer has the weights extractor {extractor.name} was loaded from")
    name = register_with_torch_fidelity(extractor.name)
    with tempfile.TemporaryDirectory(prefix="bench-torch-fidelity-") as tmp:
        result = torch_fidelity.calculate_metrics(
            input1=Uint8Images(to_uint8(fake.detach().cpu())),
            input2=Uint8Images(to_uint8(real.detach().cpu())),
            fid=True,
            feature_extractor=name,
            feature_extractor_weights_path=str(extractor.weights_path),
            cuda=extractor.device.type == "cuda",
            batch_size=extractor.batch_size,
            cache=False,
            cache_root=tmp,
            datasets_root=tmp,
            datasets_download=False,
            save_cpu_ram=True,  # no DataLoader worker processes
            verbose=False,
        )
    details = {
        "input": "uint8-rounded images (torch-fidelity Dataset input)",
        "torch_fidelity_version": torch_fidelity.__version__,
        "torch_fidelity_extractor": name,
    }
    return float(result[torch_fidelity.KEY_METRIC_FID]), details
