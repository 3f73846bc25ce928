"""Clean-room re-implementation of NVIDIA EDM's networks (arXiv 2206.00364, Table 1).

Written from the EDM paper and the released checkpoints' state-dict layout (tests/data/edm), never
from EDM's source code (non-commercial licence); state-dict keys and constructor keywords
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
