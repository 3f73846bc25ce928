"""D2O's one-step generator: the pre-trained EDM network under a consistency-style
preconditioning at a fixed sigma = 80 (PAPER_FACTS.md §2).

    c_skip = sd^2 / ((sigma - eps)^2 + sd^2),  c_out = (sigma - eps) sd / sqrt(sigma^2 + sd^2),
    c_in = 1 / sqrt(sigma^2 + sd^2),            c_noise = ln(sigma) / 4,
    G(z) = c_skip x + c_out F(c_in x, c_noise),  x = sigma z.

c_in and c_noise equal EDM's, so before any fine-tuning G is (up to the eps shift) the backbone
denoising pure noise in one step: the 'before fine-tuning' point of every comparison.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class D2OGenerator(nn.Module):
    def __init__(self, unet: nn.Module, sigma: float = 80.0, sigma_data: float = 0.5, eps: float = 0.002):
        super().__init__()
        self.unet = unet
        self.sigma, self.sigma_data, self.eps = sigma, sigma_data, eps

    def forward(self, z: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        s, sd, eps = self.sigma, self.sigma_data, self.eps
        x = z.to(torch.float32) * s
        c_skip = sd**2 / ((s - eps) ** 2 + sd**2)
        c_out = (s - eps) * sd / math.sqrt(s**2 + sd**2)
        c_in = 1 / math.sqrt(s**2 + sd**2)
        c_noise = torch.full((x.shape[0],), math.log(s) / 4, device=x.device)
        F = self.unet(c_in * x, c_noise, class_labels)
        return c_skip * x + c_out * F.to(torch.float32)


def d2o_generator_from(backbone_net: nn.Module, sigma: float = 80.0, sigma_data: float = 0.5,
                       eps: float = 0.002) -> D2OGenerator:
    """A trainable copy of the backbone's inner network (``net.model``) as a D2O generator.

    The copy runs in eval mode (dropout off): the generator is a deterministic map from z.
    """
    unet = copy.deepcopy(backbone_net.model).eval().requires_grad_(True)
    return D2OGenerator(unet, sigma, sigma_data, eps)
