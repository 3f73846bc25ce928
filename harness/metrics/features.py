"""Feature networks that FD and precision/recall are measured in.

A metric value means nothing without the exact network it was computed in, so every extractor
carries a ``name`` and the ``weights_sha256`` of the file it was loaded from; records store both.
``FEATURE_EXTRACTORS`` maps names to factories ``(weights_path | None, device) -> FeatureExtractor``
(None means the shipped or default weights).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn

from harness.errors import BenchError
from harness.registry import Registry


class FeatureExtractor(nn.Module):
    """Wraps ``net`` (a module mapping a batch of [-1, 1] NCHW images to [B, dim] features).

    ``weights_path`` is the file it was loaded from (None for in-memory networks); an independent
    implementation (torch-fidelity) needs it to load the same network itself.

    Calling it takes any number of images, runs them in batches of ``batch_size`` on ``device``
    in eval mode without gradients, and returns float32 features on the CPU.
    """

    def __init__(
        self,
        name: str,
        net: nn.Module,
        dim: int,
        weights_sha256: str,
        resolution: int,
        channels: int,
        device: str | torch.device = "cpu",
        batch_size: int = 256,
        weights_path: Path | None = None,
    ):
        super().__init__()
        self.name = name
        self.net = net.to(device).eval().requires_grad_(False)
        self.dim = dim
        self.weights_sha256 = weights_sha256
        self.resolution = resolution
        self.channels = channels
        self.batch_size = batch_size
        self.weights_path = weights_path
        self.eval()

    @property
    def device(self) -> torch.device:
        # Read from the weights, so that moving the module (torch-fidelity calls .cuda()) moves the batches too.
        return next(self.net.parameters(), torch.empty(0)).device

    def train(self, mode: bool = True) -> "FeatureExtractor":
        # A feature network is never trained through this wrapper; stay in eval mode.
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or tuple(images.shape[1:]) != (self.channels, self.resolution, self.resolution):
            raise BenchError(
                f"feature extractor {self.name} takes [N, {self.channels}, {self.resolution}, {self.resolution}] "
                f"images, got {tuple(images.shape)}"
            )
        out = torch.empty((images.shape[0], self.dim), dtype=torch.float32)
        for start in range(0, images.shape[0], self.batch_size):
            batch = images[start : start + self.batch_size].to(self.device, torch.float32)
            out[start : start + batch.shape[0]] = self.net(batch).float().cpu()
        return out


ExtractorFactory = Callable[[Path | None, "str | torch.device"], FeatureExtractor]

FEATURE_EXTRACTORS: Registry[ExtractorFactory] = Registry("feature extractor")


def load_extractor(name: str, weights_path: Path | None = None, device: str | torch.device = "cpu") -> FeatureExtractor:
    return FEATURE_EXTRACTORS.get(name)(weights_path, device)


from harness.files import sha256_file as file_sha256  # noqa: E402,F401  (one hashing helper for all files; re-exported)


def uint8_rgb(batch: torch.Tensor) -> torch.Tensor:
    """Input for ImageNet-trained feature networks: 8-bit like image files, grey repeated to RGB."""
    from harness.data.base import to_uint8

    batch = batch if batch.dtype == torch.uint8 else to_uint8(batch.float())
    return batch.expand(-1, 3, -1, -1) if batch.shape[1] == 1 else batch
