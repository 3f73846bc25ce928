"""Discriminators trained from scratch, sized for the resolution.

The paper's D2O uses a projected discriminator on frozen pre-trained features (arXiv 2506.09376;
baselines/projected_discriminator.py); this is the from-scratch alternative the harness also
offers: strided 3x3 convolutions down to
4x4, LeakyReLU(0.2), a linear head, and for conditional runs a class-projection term
(Miyato & Koyama 2018: logit += <embed(y), phi(x)>).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class DownBlock(nn.Module):
    """conv3x3 -> LeakyReLU -> strided conv3x3 -> LeakyReLU: halves the resolution."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.leaky_relu(self.conv0(x), 0.2)
        return nn.functional.leaky_relu(self.conv1(x), 0.2)


class ScratchDiscriminator(nn.Module):
    def __init__(self, resolution: int, channels: int, num_classes: int = 0, width: int = 64,
                 max_width: int = 256, feature_dim: int = 256):
        super().__init__()
        if resolution < 4 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        blocks, c = [], width
        for _ in range(int(math.log2(resolution // 4))):
            blocks.append(DownBlock(c, min(2 * c, max_width)))
            c = min(2 * c, max_width)
        self.blocks = nn.Sequential(*blocks)
        self.features = nn.Linear(c * 16, feature_dim)
        self.out = nn.Linear(feature_dim, 1)
        self.embed = nn.Linear(num_classes, feature_dim, bias=False) if num_classes else None

    def forward(self, images: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [N]; ``class_labels`` one-hot [N, num_classes] for the projection term."""
        h = nn.functional.leaky_relu(self.stem(images), 0.2)
        h = self.blocks(h).flatten(1)
        phi = nn.functional.leaky_relu(self.features(h), 0.2)
        logits = self.out(phi).squeeze(1)
        if self.embed is not None and class_labels is not None:
            logits = logits + (self.embed(class_labels) * phi).sum(1)
        return logits
