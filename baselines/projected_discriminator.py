"""The projected discriminator D2O uses (PAPER_FACTS.md §2; Sauer et al., "Projected GANs Converge
Faster", NeurIPS 2021; StyleGAN-XL, SIGGRAPH 2022): real and generated images are judged in the
feature spaces of frozen pre-trained networks, through fixed random projections, by small trainable heads.

Per feature network (``harness.features.FEATURE_NETWORKS``):
  1. images in [-1, 1] -> [0, 1]; greyscale repeated to RGB; bilinear resize to the network's input
     size (224 as in the paper, or a smaller ``input_size`` for CPU runs on tiny data); normalised
     with the network's mean/std.
  2. the frozen network gives 4 feature maps (strides 4, 8, 16, 32).
  3. cross-channel mixing (CCM): a fixed random 1x1 convolution per scale to ``proj_channels``.
  4. cross-scale mixing (CSM): top-down, the coarser mixed map is bilinearly upsampled and added to
     the finer one, then a fixed random 3x3 convolution; 4 mixed maps come out.
  5. one trainable head per scale: spectral-norm strided 4x4 convolutions with LeakyReLU(0.2) down to
     at most 4x4, a spectral-norm 3x3 convolution, spatial mean -> phi, logit = <w, phi> + b, plus for
     conditional runs the class projection <embed(y), phi> (Miyato & Koyama 2018).
The logits of all heads (4 per feature network) are summed: D(images, labels) -> [N].

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


class RandomProjection(nn.Module):
    """CCM + CSM with fixed random weights (buffers): 4 feature maps -> 4 maps of ``proj_channels``."""

    def __init__(self, in_channels: Sequence[int], proj_channels: int, generator: torch.Generator):
        super().__init__()
        for i, c in enumerate(in_channels):
            self.register_buffer(f"ccm{i}", _random_conv(generator, proj_channels, int(c), 1))
        for i in range(len(in_channels)):
            self.register_buffer(f"csm{i}", _random_conv(generator, proj_channels, proj_channels, 3))
        self.scales = len(in_channels)

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


class ScaleHead(nn.Module):
    """Trainable spectral-norm head on one mixed map of side ``size``: logit [N] (+ class projection)."""

    def __init__(self, in_channels: int, size: int, width: int, num_classes: int):
        super().__init__()
        layers, c = [], in_channels
        while size > 4:
            layers += [spectral_norm(nn.Conv2d(c, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c, size = width, (size + 2 - 4) // 2 + 1
        layers += [spectral_norm(nn.Conv2d(c, width, 3, padding=1)), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.out = spectral_norm(nn.Linear(width, 1))
        self.embed = nn.Linear(num_classes, width, bias=False) if num_classes else None

    def forward(self, x: torch.Tensor, class_labels: torch.Tensor | None) -> torch.Tensor:
        phi = self.body(x).mean(dim=[2, 3])
        logits = self.out(phi).squeeze(1)
        if self.embed is not None and class_labels is not None:
            logits = logits + (self.embed(class_labels.to(phi.dtype)) * phi).sum(1) / math.sqrt(phi.shape[1])
        return logits


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
        self.heads = nn.ModuleList(ScaleHead(proj_channels, int(p.shape[-1]), width, num_classes)
                                   for p in probe)

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
        return sum(head(m, class_labels) for head, m in zip(self.heads, maps))


class ProjectedDiscriminator(nn.Module):
    """``D(images [-1, 1], one-hot labels or None) -> logits [N]``: summed over all heads of all branches.

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

    def forward(self, images: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        return sum(branch(images, class_labels) for branch in self.branches)

    def describe(self) -> dict[str, Any]:
        """What a record needs to say which discriminator this was."""
        return {
            "discriminator": "projected",
            "feature_networks": [{k: b.info[k] for k in ("name", "weights_file", "sha256", "mean", "std", "source")
                                  if k in b.info} | {"input_size": b.input_size} for b in self.branches],
            "projection_seed": self.seed, "projection_channels": self.proj_channels, "scales": SCALES,
            "trainable_parameters": sum(p.numel() for p in self.parameters()),
        }


# --- which discriminator a run gets, and what its record says -------------------------------------------------

# "auto" gives the projected discriminator from this resolution up: the smallest the paper (and
# Projected GAN) use it at is CIFAR-10's 32x32. Below it (digits, 8x8) an image is a few pixels blown up
# to the feature network's input, and the frozen network costs far more than a from-scratch D.
MIN_PROJECTED_RESOLUTION = 32
DEFAULT_FEATURE_NETWORKS = ("efficientnet-lite0",)


def resolve_kind(kind: str, resolution: int, feature_networks: Sequence[str]) -> tuple[str, str]:
    """(the discriminator a run gets, why): ``auto`` -> projected where its weights are on disk and the
    resolution is at least MIN_PROJECTED_RESOLUTION, else scratch; other kinds are taken as asked."""
    if kind != "auto":
        return kind, "asked for"
    from harness.features import feature_network_available

    if resolution < MIN_PROJECTED_RESOLUTION:
        return "scratch", f"auto: resolution {resolution} < {MIN_PROJECTED_RESOLUTION}"
    missing = [name for name in feature_networks if not feature_network_available(name)]
    if missing:
        return "scratch", f"auto: weights not on disk for {', '.join(missing)}"
    return "projected", f"auto: resolution {resolution} >= {MIN_PROJECTED_RESOLUTION}, weights on disk"


def discriminator_info(D: nn.Module, requested: str, reason: str) -> dict[str, Any]:
    """The record's account of a discriminator: kind, feature networks with weight files and sha256, seed."""
    if isinstance(D, ProjectedDiscriminator):
        info = D.describe()
    else:
        info = {"discriminator": "scratch", "feature_networks": [], "projection_seed": None,
                "trainable_parameters": sum(p.numel() for p in D.parameters())}
    return {**info, "discriminator_requested": requested, "discriminator_reason": reason}


def discriminator_for(config: Any, net: nn.Module, run_seed: int) -> tuple[nn.Module, dict[str, Any]]:
    """A method's discriminator and its record entry, from the config fields ``discriminator``,
    ``d_width``, ``d_features``, ``d_input_size``, ``d_proj_channels`` and ``d_seed`` (None: the run's seed)."""
    from baselines.discriminators import build_discriminator

    resolution, channels = int(net.img_resolution), int(net.img_channels)
    features = tuple(config.d_features) or DEFAULT_FEATURE_NETWORKS
    kind, reason = resolve_kind(config.discriminator, resolution, features)
    seed = int(run_seed if config.d_seed is None else config.d_seed)
    D = build_discriminator(kind, resolution, channels, int(net.label_dim), config.d_width, seed=seed,
                            feature_networks=features, input_size=config.d_input_size,
                            proj_channels=config.d_proj_channels)
    return D, discriminator_info(D, config.discriminator, reason)
