"""PyTorch's default initialisation of convolutions and linear layers, drawn from a given generator.

The projected discriminator's fixed random layers (Projected GAN's CCM/CSM, Sauer et al. 2021,
arXiv 2111.01007 §3.1; the DeiT readout/reassemble convolutions of Zyriix/GDD
``feature_networks/vit.py``) are plain ``nn.Conv2d`` / ``nn.ConvTranspose2d`` modules in the authors'
code, so they carry PyTorch's default init: ``kaiming_uniform_(a=sqrt(5))`` for the weight, which is
uniform on +-1/sqrt(fan_in), and a bias uniform on +-1/sqrt(fan_in), with fan_in as PyTorch computes it
(for a transposed convolution: the weight's dim 1, out_channels / groups, times the kernel area).
The authors draw them from the global RNG; here they come from ``generator`` in module order, so the
same seed gives the same layers on any machine.
"""

from __future__ import annotations

import math

import torch
from torch import nn

DEFAULT_INIT_TYPES = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def fan_in(weight: torch.Tensor) -> int:
    """PyTorch's fan_in of a weight (``nn.init._calculate_fan_in_and_fan_out``): dim 1 x receptive field."""
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    return int(weight.shape[1]) * receptive


def uniform_(tensor: torch.Tensor, bound: float, generator: torch.Generator) -> None:
    with torch.no_grad():
        draw = torch.rand(tensor.shape, generator=generator, dtype=torch.float32)
        tensor.copy_((draw * 2 - 1) * bound)


def default_init_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-draw every conv / linear layer of ``module`` (in ``modules()`` order) with PyTorch's default init."""
    for layer in module.modules():
        if isinstance(layer, DEFAULT_INIT_TYPES):
            bound = 1 / math.sqrt(fan_in(layer.weight))
            uniform_(layer.weight, bound, generator)
            if layer.bias is not None:
                uniform_(layer.bias, bound, generator)
    return module
