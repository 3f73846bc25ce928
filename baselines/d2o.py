"""The consistency-style preconditioning D2O's generator and consistency distillation share.

Consistency models (Song et al. 2023, arXiv 2303.01469, eq. 5 / App. C) and D2O's generator
(Zheng & Yang, arXiv 2506.09376; Zyriix/GDD ``GDDPrecond``) wrap a pre-trained EDM inner network F:

    f(x, sigma) = c_skip x + c_out F(c_in x, c_noise),
    c_skip = sd^2 / ((sigma - eps)^2 + sd^2),  c_out = (sigma - eps) sd / sqrt(sigma^2 + sd^2),

so f(x, eps) = x. D2O's one-step generator is G(z) = f(sigma z, sigma) at the fixed sigma = 80.

c_in and c_noise are what the backbone's own wrapper feeds F, so that before any fine-tuning F sees
its inputs as in pre-training: for EDMPrecond 1/sqrt(sigma^2 + sd^2) and ln(sigma)/4 (EDM, arXiv
2206.00364, Table 1), for the VP / VE / iDDPM wrappers their own ``coefficients`` (same table). Only
c_in and c_noise are adopted, not a VP / VE / iDDPM wrapper's output mapping (c_skip = 1, c_out = -sigma
or sigma), so runs refuse those wrappers in one line (baselines/base.py ``check_backbone_wrapper``).
The checkpoints the authors fine-tune (EDM's released ``edm-*-ve`` NCSN++ networks, Zyriix/GDD
train.sh, ``--precond=gdd``) were trained with EDM's own preconditioning: "ve" names the architecture,
so their EDM-style conditioning here is theirs. A wrapper whose conditioning is not known is refused
with a clear error rather than silently mis-conditioned.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from harness.errors import UsageError

# The wrappers whose conditioning is known: EDM's formulas, or the wrapper's own ``coefficients``.
KNOWN_WRAPPERS = ("EDMPrecond", "VPPrecond", "VEPrecond", "iDDPMPrecond")


def consistency_coefficients(sigma, sigma_data: float, eps: float):
    """(c_skip, c_out) above, for a float sigma or a tensor of them."""
    root = math.sqrt if isinstance(sigma, float) else torch.sqrt
    sd = sigma_data
    c_skip = sd**2 / ((sigma - eps) ** 2 + sd**2)
    c_out = (sigma - eps) * sd / root(sigma**2 + sd**2)
    return c_skip, c_out


class BackboneConditioning:
    """c_in(sigma) and c_noise(sigma) of the backbone's wrapper (module docstring)."""

    def __init__(self, sigma_data: float, wrapper: nn.Module | None = None):
        self.sigma_data = sigma_data
        self.wrapper = wrapper  # None: EDM's formulas; else the wrapper whose ``coefficients`` give them
        self.kind = "EDMPrecond" if wrapper is None else type(wrapper).__name__

    @classmethod
    def of(cls, net: nn.Module, sigma_data: float) -> BackboneConditioning:
        """The conditioning of backbone ``net``; an unknown wrapper is a UsageError."""
        kind = type(net).__name__
        if kind not in KNOWN_WRAPPERS or not hasattr(net, "model"):
            raise UsageError(f"backbone wrapper {kind}: its conditioning (c_in, c_noise) is not known, so "
                             f"its inner network cannot be fine-tuned; supported: {', '.join(KNOWN_WRAPPERS)}")
        return cls(sigma_data, None if kind == "EDMPrecond" else net)

    def __call__(self, sigma):
        """(c_in, c_noise); float sigma -> (float, float) for EDM; tensor sigma [B, 1, 1, 1] -> tensors."""
        if self.wrapper is None:
            root, log = (math.sqrt, math.log) if isinstance(sigma, float) else (torch.sqrt, torch.log)
            return 1 / root(sigma**2 + self.sigma_data**2), log(sigma) / 4
        _, _, c_in, c_noise = self.wrapper.coefficients(torch.as_tensor(sigma, dtype=torch.float32).reshape(-1, 1, 1, 1))
        return c_in, c_noise


class D2OGenerator(nn.Module):
    """G(z) = f(sigma z, sigma) at D2O's fixed sigma (float arithmetic for the coefficients)."""

    def __init__(self, unet: nn.Module, sigma: float = 80.0, sigma_data: float = 0.5, eps: float = 0.002,
                 conditioning: BackboneConditioning | None = None):
        super().__init__()
        self.unet = unet
        self.sigma, self.sigma_data, self.eps = sigma, sigma_data, eps
        self.conditioning = conditioning or BackboneConditioning(sigma_data)

    def forward(self, z: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        s = float(self.sigma)
        x = z.to(torch.float32) * s
        c_skip, c_out = consistency_coefficients(s, self.sigma_data, self.eps)
        c_in, c_noise = self.conditioning(s)
        if isinstance(c_noise, float):
            c_noise = torch.full((x.shape[0],), c_noise, device=x.device)
        else:
            c_noise = c_noise.to(x.device, torch.float32).flatten().expand(x.shape[0])
        F = self.unet(c_in * x, c_noise, class_labels)
        return c_skip * x + c_out * F[:, : x.shape[1]].to(torch.float32)  # iDDPM nets add variance channels


class ConsistencyFunction(nn.Module):
    """f_theta(x, sigma) around an inner network, for a sigma per sample."""

    def __init__(self, unet: nn.Module, sigma_data: float = 0.5, eps: float = 0.002,
                 conditioning: BackboneConditioning | None = None):
        super().__init__()
        self.unet = unet
        self.sigma_data, self.eps = sigma_data, eps
        self.conditioning = conditioning or BackboneConditioning(sigma_data)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float,
                class_labels: torch.Tensor | None = None) -> torch.Tensor:
        x = x.to(torch.float32)
        sigma = torch.as_tensor(sigma, device=x.device).to(torch.float32).reshape(-1, 1, 1, 1)
        c_skip, c_out = consistency_coefficients(sigma, self.sigma_data, self.eps)
        c_in, c_noise = self.conditioning(sigma)
        F = self.unet(c_in * x, c_noise.flatten().expand(x.shape[0]), class_labels)
        return c_skip * x + c_out * F[:, : x.shape[1]].to(torch.float32)


def d2o_generator_from(backbone_net: nn.Module, sigma: float = 80.0, sigma_data: float = 0.5,
                       eps: float = 0.002) -> D2OGenerator:
    """A trainable copy of the backbone's inner network (``net.model``) as a D2O generator.

    The copy runs in eval mode (dropout off): the generator is a deterministic map from z.
    """
    conditioning = BackboneConditioning.of(backbone_net, sigma_data)
    unet = copy.deepcopy(backbone_net.model).eval().requires_grad_(True)
    return D2OGenerator(unet, sigma, sigma_data, eps, conditioning)
