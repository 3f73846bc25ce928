"""The projected discriminator D2O uses (Zheng & Yang, arXiv 2506.09376, §4; Sauer et al., "Projected
GANs Converge Faster", NeurIPS 2021, arXiv 2111.01007; StyleGAN-XL, arXiv 2202.00273; the authors'
code: Zyriix/GDD ``pg_modules/``, autonomousvision/projected-gan ``pg_modules/``): real and generated
images are judged in the feature spaces of frozen pre-trained networks, through fixed random
projections, by small trainable heads.

Per feature network (``harness.features.FEATURE_NETWORKS``):
  1. images in [-1, 1] -> [0, 1]; greyscale repeated to RGB; bilinear resize to the network's input
     size (224 as in the paper, or a smaller ``input_size``, a multiple of 32, for CPU runs on tiny
     data); normalised with the network's mean/std.
  2. the frozen network gives 4 feature maps (EfficientNet-lite0 / DeiT: strides 4-32; VGG16-BN:
     2-16, tapped where the authors tap them, harness/features).
  3. cross-channel mixing (CCM): a fixed random 1x1 convolution with bias per scale, widths expanding
     per scale as in Projected GAN's ``expand=True``: c, 2c, 4c, 8c for ``proj_channels`` = c (paper: 64).
  4. cross-scale mixing (CSM, their ``FeatureFusionBlock`` with ``proj_type=2``): top-down, the
     coarser mixed map is added to the finer CCM map, the sum is upsampled x2 (bilinear,
     align_corners=True) and goes through a fixed random 1x1 convolution with bias that halves the
     width except at the finest scale. So the heads see maps twice the feature maps' sides
     (112/56/28/14 for lite0 at 224 pixels) with c, c, 2c, 4c channels.
  5. one trainable head per scale (baselines/projected_heads.py: depths from the authors' nominal
     sides, their per-size widths ``nfc`` from 32x32 up, the pretrained class embedding).
The output keeps every patch logit: a list with one [N, L] tensor per feature network (its heads'
logit maps flattened and concatenated). The losses (baselines/losses.py) take a softplus per logit.

Frozen parts: the feature networks' weights and the random projections are buffers, not parameters,
so they get no gradient, no optimiser holds them, ``requires_grad_`` cannot unfreeze them, and the
run's checkpoint stores them with the heads (``state_dict``). The projections carry ``nn.Conv2d``'s
default init (uniform +-1/sqrt(fan_in), weight and bias; harness/features/random_init.py) drawn from
a ``torch.Generator`` seeded with ``seed``, in a fixed order (a feature network's own random layers
first, then CCM, then CSM), so the same seed gives the same projections on any machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from baselines.projected_heads import NFC_MIN_RESOLUTION, PatchHead, class_embedding_table, head_plan, head_widths
from harness.errors import UsageError
from harness.features.random_init import default_init_

SCALES = 4


def projection_widths(proj_channels: int, scales: int = SCALES) -> tuple[list[int], list[int]]:
    """(CCM widths, CSM widths) per scale, finest first: c 2^i, then halved except at the finest."""
    ccm = [proj_channels * 2**i for i in range(scales)]
    return ccm, [ccm[0]] + [w // 2 for w in ccm[1:]]


class RandomProjection(nn.Module):
    """CCM + CSM with fixed random weights: 4 feature maps -> 4 mixed maps at twice their sides."""

    def __init__(self, in_channels: Sequence[int], proj_channels: int, generator: torch.Generator):
        from harness.features import freeze_as_buffers

        super().__init__()
        ccm, csm = projection_widths(proj_channels, len(in_channels))
        self.ccm = nn.ModuleList(nn.Conv2d(int(c), w, 1) for c, w in zip(in_channels, ccm))
        self.csm = nn.ModuleList(nn.Conv2d(c, w, 1) for c, w in zip(ccm, csm))
        default_init_(self.ccm, generator)
        default_init_(self.csm, generator)
        freeze_as_buffers(self)
        self.scales, self.out_channels = len(in_channels), csm

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        mixed = [conv(f) for conv, f in zip(self.ccm, features)]
        out: list[torch.Tensor] = [None] * self.scales  # type: ignore[list-item]
        coarser = None
        for i in reversed(range(self.scales)):
            h = mixed[i] if coarser is None else coarser + mixed[i]
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=True)
            out[i] = coarser = self.csm[i](h)
        return out


class FeatureBranch(nn.Module):
    """One frozen feature network with its input mapping, random projection and 4 heads."""

    def __init__(self, network: nn.Module, info: dict[str, Any], input_size: int, channels: int,
                 flat_width: int | None, proj_channels: int, generator: torch.Generator,
                 class_table: torch.Tensor | None = None):
        super().__init__()
        from harness.features import freeze_as_buffers

        if info.get("fixed_input_size") and input_size != info["input_size"]:
            raise UsageError(f"projected discriminator: feature network {info['name']} takes only "
                             f"{info['input_size']}x{info['input_size']} inputs, not {input_size}")
        if hasattr(network, "init_random_layers"):  # e.g. DeiT's readout convolutions: drawn first
            network.init_random_layers(generator)
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
        with torch.no_grad():
            sides = [int(m.shape[-1]) for m in self.projection(list(probe))]
        nominal, end, kernel = head_plan(self.input_size, SCALES)
        self.heads = nn.ModuleList(
            PatchHead(head_widths(n, end, c, flat_width), side, kernel, class_table)
            for n, c, side in zip(nominal, self.projection.out_channels, sides))

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
        if input_size is not None and (input_size < 32 or input_size % 32):
            raise UsageError(f"projected discriminator: input_size must be a multiple of 32 (4 scales down to "
                             f"stride 32, each mixed into the next finer), got {input_size}")
        generator = torch.Generator().manual_seed(int(seed))
        # The authors' per-size widths from 32x32 up; a flat width below (projected_heads.py).
        self.flat_width = int(width) if resolution < NFC_MIN_RESOLUTION else None
        class_table, self.class_embedding = (class_embedding_table(num_classes) if num_classes else (None, None))
        branches = []
        for entry in feature_networks:
            network, info = FEATURE_NETWORKS.get(entry)() if isinstance(entry, str) else entry
            size = int(input_size or info["input_size"])
            branches.append(FeatureBranch(network, info, size, channels, self.flat_width, proj_channels,
                                          generator, class_table))
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
            "head_widths": "flat d_width (below 32x32)" if self.flat_width else "nfc (the authors' per-size widths)",
            "class_embedding": self.class_embedding,
            "trainable_parameters": sum(p.numel() for p in self.parameters()),
        }
