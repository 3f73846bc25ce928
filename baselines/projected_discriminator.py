"""The projected discriminator D2O uses (Zheng & Yang, arXiv 2506.09376, §4; Sauer et al., "Projected
GANs Converge Faster", NeurIPS 2021; StyleGAN-XL, SIGGRAPH 2022; the authors' code: Zyriix/GDD
``pg_modules/``): real and generated images are judged in the feature spaces of frozen pre-trained
networks, through fixed random projections, by small trainable heads.

Per feature network (``harness.features.FEATURE_NETWORKS``):
  1. images in [-1, 1] -> [0, 1]; greyscale repeated to RGB; bilinear resize to the network's input
     size (224 as in the paper, or a smaller ``input_size`` for CPU runs on tiny data); normalised
     with the network's mean/std.
  2. the frozen network gives 4 feature maps (strides 4, 8, 16, 32).
  3. cross-channel mixing (CCM): a fixed random 1x1 convolution per scale, widths expanding per scale
     as in Projected GAN's ``expand=True``: c, 2c, 4c, 8c for ``proj_channels`` = c (paper: 64).
  4. cross-scale mixing (CSM): top-down, the coarser mixed map is bilinearly upsampled and added to
     the finer one, then a fixed random 3x3 convolution that halves the width except at the finest
     scale: 4 mixed maps of c, c, 2c, 4c channels.
  5. one trainable head per scale (Projected GAN's ``SingleDisc``): down-blocks of a spectral-norm
     strided 4x4 convolution, BatchNorm and LeakyReLU(0.2) down to side 8 (7 at 224-pixel inputs),
     then a spectral-norm convolution to a map of patch logits. Conditional runs use the projection
     head only (``SingleDiscCond``): the last convolution gives ``cmap_dim`` channels and the logit
     map is their inner product with an embedding of the class, / sqrt(cmap_dim) (Miyato & Koyama 2018).
The output keeps every patch logit: a list with one [N, L] tensor per feature network (its heads'
logit maps flattened and concatenated). The losses (baselines/losses.py) take a softplus per logit.
Deviation kept for CPU scale: the heads have a flat width ``width`` (Projected GAN widens them per
scale, 128 to 512).

Frozen parts: the feature networks' weights and the random projections are buffers, not parameters,
so they get no gradient, no optimiser holds them, ``requires_grad_`` cannot unfreeze them, and the
run's checkpoint stores them with the heads (``state_dict``). The projections are drawn from a
``torch.Generator`` seeded with ``seed`` (normal, std 1/sqrt(fan_in)), in a fixed order, so the same
seed gives the same projections on any machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from harness.errors import UsageError

SCALES = 4


def _random_conv(generator: torch.Generator, out_channels: int, in_channels: int, kernel: int) -> torch.Tensor:
    fan_in = in_channels * kernel * kernel
    w = torch.randn((out_channels, in_channels, kernel, kernel), generator=generator)
    return w / math.sqrt(fan_in)


def projection_widths(proj_channels: int, scales: int = SCALES) -> tuple[list[int], list[int]]:
    """(CCM widths, CSM widths) per scale, finest first: c 2^i, then halved except at the finest."""
    ccm = [proj_channels * 2**i for i in range(scales)]
    return ccm, [ccm[0]] + [w // 2 for w in ccm[1:]]


class RandomProjection(nn.Module):
    """CCM + CSM with fixed random weights (buffers): 4 feature maps -> 4 mixed maps (widths above)."""

    def __init__(self, in_channels: Sequence[int], proj_channels: int, generator: torch.Generator):
        super().__init__()
        ccm, csm = projection_widths(proj_channels, len(in_channels))
        for i, c in enumerate(in_channels):
            self.register_buffer(f"ccm{i}", _random_conv(generator, ccm[i], int(c), 1))
        for i in range(len(in_channels)):
            self.register_buffer(f"csm{i}", _random_conv(generator, csm[i], ccm[i], 3))
        self.scales, self.out_channels = len(in_channels), csm

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        mixed = [F.conv2d(f, getattr(self, f"ccm{i}")) for i, f in enumerate(features)]
        out: list[torch.Tensor] = [None] * self.scales  # type: ignore[list-item]
        coarser = None
        for i in reversed(range(self.scales)):
            h = mixed[i]
            if coarser is not None:
                h = h + F.interpolate(coarser, size=h.shape[-2:], mode="bilinear", align_corners=False)
            out[i] = F.conv2d(h, getattr(self, f"csm{i}"), padding=1)
            coarser = out[i]
        return out


class PatchHead(nn.Module):
    """Trainable head on one mixed map of side ``size``: patch logits [N, L] (module docstring, step 5)."""

    def __init__(self, in_channels: int, size: int, end: int, width: int, num_classes: int, cmap_dim: int = 64):
        super().__init__()
        layers, c = [], in_channels
        while size > end:
            layers += [spectral_norm(nn.Conv2d(c, width, 4, stride=2, padding=1, bias=False)),
                       nn.BatchNorm2d(width), nn.LeakyReLU(0.2)]
            c, size = width, size // 2
        self.body = nn.Sequential(*layers)
        # Projected GAN: a 4x4 kernel at side 8 (224-pixel inputs give 7), else half the side.
        kernel = 4 if end >= 7 else max(1, end // 2)
        self.patches = (size - kernel + 1) ** 2
        self.cmap_dim = cmap_dim if num_classes else 0
        self.out = spectral_norm(nn.Conv2d(c, self.cmap_dim or 1, kernel, bias=False))
        self.embed = nn.Linear(num_classes, cmap_dim) if num_classes else None

    def forward(self, x: torch.Tensor, class_labels: torch.Tensor | None) -> torch.Tensor:
        h = self.out(self.body(x))
        if self.embed is not None:
            if class_labels is None:
                raise ValueError("conditional projected discriminator called without class labels")
            cmap = F.leaky_relu(self.embed(class_labels.to(h.dtype)), 0.2)[:, :, None, None]
            h = (h * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return h.flatten(1)


class FeatureBranch(nn.Module):
    """One frozen feature network with its input mapping, random projection and 4 heads."""

    def __init__(self, network: nn.Module, info: dict[str, Any], input_size: int, channels: int, num_classes: int,
                 width: int, proj_channels: int, generator: torch.Generator):
        super().__init__()
        from harness.features import freeze_as_buffers

        if info.get("fixed_input_size") and input_size != info["input_size"]:
            raise UsageError(f"projected discriminator: feature network {info['name']} takes only "
                             f"{info['input_size']}x{info['input_size']} inputs, not {input_size}")
        # channels_last: about 30% faster convolutions on CPU (oneDNN), the usual layout on GPUs.
        self.network = freeze_as_buffers(network).to(memory_format=torch.channels_last)
        self.info = dict(info)
        self.input_size, self.grey = int(input_size), channels == 1
        self.register_buffer("mean", torch.tensor(info["mean"], dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(info["std"], dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        with torch.no_grad():
            probe = self.network(torch.zeros(1, 3, self.input_size, self.input_size).contiguous(
                memory_format=torch.channels_last))
        if len(probe) != SCALES:
            raise ValueError(f"feature network {info['name']} gives {len(probe)} maps; the discriminator "
                             f"needs {SCALES}")
        self.projection = RandomProjection([int(p.shape[1]) for p in probe], proj_channels, generator)
        end = min(8, int(probe[-1].shape[-1]))
        self.heads = nn.ModuleList(PatchHead(c, int(p.shape[-1]), end, width, num_classes)
                                   for c, p in zip(self.projection.out_channels, probe))

    def train(self, mode: bool = True) -> FeatureBranch:
        super().train(mode)
        self.network.eval()  # frozen BatchNorm statistics, no dropout: always inference mode
        return self

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images -> the feature network's input: [0, 1], RGB, resized, normalised."""
        x = (images.to(torch.float32) + 1) / 2
        if self.grey:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor, class_labels: torch.Tensor | None) -> torch.Tensor:
        maps = self.projection(self.network(self.prepare(images)))
        return torch.cat([head(m, class_labels) for head, m in zip(self.heads, maps)], dim=1)


class ProjectedDiscriminator(nn.Module):
    """``D(images [-1, 1], one-hot labels or None) -> [logits [N, L] per feature network]``.

    ``feature_networks``: names in ``FEATURE_NETWORKS`` or already built ``(module, info)`` pairs.
    ``input_size``: side the images are resized to; None = each network's own (224).
    """

    def __init__(self, feature_networks: Sequence[str | tuple[nn.Module, dict[str, Any]]], resolution: int,
                 channels: int, num_classes: int = 0, seed: int = 0, width: int = 64, proj_channels: int = 64,
                 input_size: int | None = None):
        super().__init__()
        from harness.features import FEATURE_NETWORKS

        if not feature_networks:
            raise UsageError("projected discriminator: needs at least one feature network")
        if channels not in (1, 3):
            raise UsageError(f"projected discriminator: images must have 1 or 3 channels, got {channels}")
        if input_size is not None and input_size < 32:
            raise UsageError(f"projected discriminator: input_size must be at least 32 (4 scales down to "
                             f"stride 32), got {input_size}")
        generator = torch.Generator().manual_seed(int(seed))
        branches = []
        for entry in feature_networks:
            network, info = FEATURE_NETWORKS.get(entry)() if isinstance(entry, str) else entry
            size = int(input_size or info["input_size"])
            branches.append(FeatureBranch(network, info, size, channels, num_classes, width, proj_channels,
                                          generator))
        self.branches = nn.ModuleList(branches)
        self.resolution, self.channels, self.num_classes = resolution, channels, num_classes
        self.seed, self.proj_channels = int(seed), proj_channels

    def forward(self, images: torch.Tensor, class_labels: torch.Tensor | None = None) -> list[torch.Tensor]:
        return [branch(images, class_labels) for branch in self.branches]

    def logits_per_image(self) -> list[int]:
        """Patch logits per image of each feature network (all heads), from the heads' geometry."""
        return [sum(h.patches for h in b.heads) for b in self.branches]

    def describe(self) -> dict[str, Any]:
        """What a record needs to say which discriminator this was."""
        return {
            "discriminator": "projected",
            "feature_networks": [{k: b.info[k] for k in ("name", "weights_file", "sha256", "mean", "std", "source")
                                  if k in b.info} | {"input_size": b.input_size} for b in self.branches],
            "projection_seed": self.seed, "projection_channels": self.proj_channels,
            "projection_widths": projection_widths(self.proj_channels)[1], "scales": SCALES,
            "logits_per_image": self.logits_per_image(),
            "trainable_parameters": sum(p.numel() for p in self.parameters()),
        }
