"""Which discriminator a GAN-trained method gets, and what its record says about it.

``DiscriminatorSettings`` holds the ``discriminator`` / ``d_*`` fields that gan_only, gan_only_frozen
and DMD's optional GAN term share (their configs inherit it). ``discriminator_for`` turns them into a
network (baselines/discriminators.py or baselines/projected_discriminator.py) and a record entry.

Feature networks: the paper's pair (Zheng & Yang, arXiv 2506.09376, §4 / App.; Zyriix/GDD
``training_loop.py`` ``backbones``): VGG16-BN + EfficientNet-lite0 on CIFAR-10 (resolution < 64),
DeiT-B distilled + EfficientNet-lite0 at 64x64. ``d_features=()`` (the default) takes that pair
where both weights are on disk and EfficientNet-lite0 alone (its weights ship with a dependency)
otherwise; the record says which and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from baselines.discriminators import ScratchDiscriminator
from baselines.projected_discriminator import ProjectedDiscriminator
from harness.errors import UsageError

# "auto" gives the projected discriminator from this resolution up: the smallest the paper (and
# Projected GAN) use it at is CIFAR-10's 32x32. Below it (digits, 8x8) an image is a few pixels blown up
# to the feature network's input, and the frozen network costs far more than a from-scratch D.
MIN_PROJECTED_RESOLUTION = 32
FALLBACK_FEATURE_NETWORKS = ("efficientnet-lite0",)
KINDS = ("auto", "projected", "scratch")


@dataclass
class DiscriminatorSettings:
    """The discriminator fields of a method's config (module docstring)."""

    # auto: the projected discriminator where its feature networks' weights are on disk and the
    # resolution is >= 32, else one trained from scratch.
    discriminator: str = "auto"  # auto | projected | scratch
    # The from-scratch D's base width; the projected heads' flat width below 32x32 (from 32x32 up they
    # have the authors' per-size widths, baselines/projected_heads.py).
    d_width: int = 64
    d_features: tuple[str, ...] = ()  # (): the paper's pair where on disk, else efficientnet-lite0
    d_input_size: int = 224  # images are resized to this (a multiple of 32) for the feature networks (paper: 224)
    d_proj_channels: int = 64  # random cross-channel mixing width at the finest scale (paper: 64)
    d_seed: int | None = None  # seed of the fixed random projections; None: the run's seed


def paper_feature_networks(resolution: int) -> tuple[str, str]:
    """The paper's two feature networks for a resolution (module docstring)."""
    return ("vgg16-bn" if resolution < 64 else "deit-b-distilled", "efficientnet-lite0")


def default_feature_networks(resolution: int) -> tuple[tuple[str, ...], str]:
    """(feature networks, why): the paper's pair when both are on disk, else EfficientNet-lite0 alone."""
    from harness.features import feature_network_available

    pair = paper_feature_networks(resolution)
    missing = [name for name in pair if not feature_network_available(name)]
    if not missing:
        return pair, "the paper's pair, weights on disk"
    return FALLBACK_FEATURE_NETWORKS, f"not the paper's pair: weights not on disk for {', '.join(missing)}"


def resolve_kind(kind: str, resolution: int, feature_networks: Sequence[str]) -> tuple[str, str]:
    """(the discriminator a run gets, why): ``auto`` -> projected where its weights are on disk and the
    resolution is at least MIN_PROJECTED_RESOLUTION, else scratch; other kinds are taken as asked."""
    if kind not in KINDS:
        raise UsageError(f"unknown discriminator '{kind}'; valid: {', '.join(KINDS)}")
    if kind != "auto":
        return kind, "asked for"
    from harness.features import feature_network_available

    if resolution < MIN_PROJECTED_RESOLUTION:
        return "scratch", f"auto: resolution {resolution} < {MIN_PROJECTED_RESOLUTION}"
    missing = [name for name in feature_networks if not feature_network_available(name)]
    if missing:
        return "scratch", f"auto: weights not on disk for {', '.join(missing)}"
    return "projected", f"auto: resolution {resolution} >= {MIN_PROJECTED_RESOLUTION}, weights on disk"


def build_discriminator(kind: str, resolution: int, channels: int, num_classes: int, width: int,
                        seed: int = 0, feature_networks: Sequence[str] = FALLBACK_FEATURE_NETWORKS,
                        **projected: Any) -> nn.Module:
    """``scratch`` or ``projected`` (``projected`` holds its ``input_size`` and ``proj_channels``)."""
    if kind == "projected":
        return ProjectedDiscriminator(tuple(feature_networks), resolution, channels, num_classes, seed=seed,
                                      width=width, **projected)
    if kind == "scratch":
        return ScratchDiscriminator(resolution, channels, num_classes, width=width)
    raise UsageError(f"unknown discriminator '{kind}'; valid: projected, scratch")


def discriminator_info(D: nn.Module, requested: str, reason: str) -> dict[str, Any]:
    """The record's account of a discriminator: kind, feature networks with weight files and sha256, seed."""
    if isinstance(D, ProjectedDiscriminator):
        info = D.describe()
    else:
        info = {"discriminator": "scratch", "feature_networks": [], "projection_seed": None,
                "trainable_parameters": sum(p.numel() for p in D.parameters())}
    return {**info, "discriminator_requested": requested, "discriminator_reason": reason}


def discriminator_for(config: DiscriminatorSettings, net: nn.Module, run_seed: int) -> tuple[nn.Module, dict[str, Any]]:
    """A method's discriminator and its record entry, from its ``DiscriminatorSettings`` fields."""
    resolution, channels = int(net.img_resolution), int(net.img_channels)
    if config.d_features:
        features, features_reason = tuple(config.d_features), "asked for (d_features)"
    else:
        features, features_reason = default_feature_networks(resolution)
    kind, reason = resolve_kind(config.discriminator, resolution, features)
    if config.d_features and kind != "projected":  # asked-for feature networks are never silently dropped
        raise UsageError(f"d_features={','.join(config.d_features)} is for the projected discriminator, but this "
                         f"run's is scratch ({reason}); add --set discriminator=projected, or drop d_features")
    seed = int(run_seed if config.d_seed is None else config.d_seed)
    D = build_discriminator(kind, resolution, channels, int(net.label_dim), config.d_width, seed=seed,
                            feature_networks=features, input_size=config.d_input_size,
                            proj_channels=config.d_proj_channels)
    info = discriminator_info(D, config.discriminator, reason)
    if kind == "projected":
        info["feature_networks_reason"] = features_reason
    return D, info
