"""Clean-room re-implementation of NVIDIA EDM's networks (EDM_SPEC §2-6).

Built only from `shared/specs/edm/EDM_SPEC.md`; state-dict keys and constructor keywords
match EDM's so that released `edm-*.pkl` weights load strictly by name.
"""

from torch import nn

from .dhariwal_unet import DhariwalUNet
from .layers import (
    Conv2d,
    FourierEmbedding,
    GroupNorm,
    Linear,
    PositionalEmbedding,
    UNetBlock,
    weight_init,
)
from .precond import EDMPrecond, VEPrecond, VPPrecond, iDDPMPrecond
from .song_unet import SongUNet

NETWORK_CLASSES: dict[str, type[nn.Module]] = {
    "SongUNet": SongUNet,
    "DhariwalUNet": DhariwalUNet,
    "VPPrecond": VPPrecond,
    "VEPrecond": VEPrecond,
    "iDDPMPrecond": iDDPMPrecond,
    "EDMPrecond": EDMPrecond,
}

__all__ = [
    "NETWORK_CLASSES",
    "Conv2d",
    "DhariwalUNet",
    "EDMPrecond",
    "FourierEmbedding",
    "GroupNorm",
    "Linear",
    "PositionalEmbedding",
    "SongUNet",
    "UNetBlock",
    "VEPrecond",
    "VPPrecond",
    "iDDPMPrecond",
    "weight_init",
]
