"""D2O (Zheng & Yang, ICML 2025, arXiv 2506.09376): GAN-only fine-tuning of a pre-trained diffusion
model into a one-step generator, with no distillation loss (PAPER_FACTS.md §2).

Per iteration: one generator step, then one discriminator step.
  G minimises softplus(-D(G(z)))                       (non-saturating loss)
  D minimises softplus(D(G(z))) + softplus(-D(x))      (fakes regenerated without grad)
  every ``r1_interval`` steps D also minimises interval * gamma/2 * ||grad_x sum D(x)||^2 (lazy R1).
Adam with betas (0, 0.99), constant lr; with lazy R1 the D lr and betas take the 16/17 correction.
Conditional backbones see the real batch's labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.functional import softplus

from baselines import METHODS
from baselines.base import Method, MethodContext, draw_latents
from baselines.d2o import d2o_generator_from
from baselines.projected_discriminator import discriminator_for
from baselines.tunable import log_uniform


@dataclass
class GanOnlyConfig:
    g_lr: float = 1e-4
    d_lr: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.99
    r1_gamma: float = 1e-4
    r1_interval: int = 16
    sigma: float = 80.0
    sigma_data: float = 0.5
    eps: float = 0.002
    # auto: the paper's projected discriminator (baselines/projected_discriminator.py) where its feature
    # networks' weights are on disk and the resolution is >= 32, else one trained from scratch.
    discriminator: str = "auto"  # auto | projected | scratch
    d_width: int = 64
    d_features: tuple[str, ...] = ("efficientnet-lite0",)  # paper: + vgg16-bn (CIFAR) or deit-b-distilled
    d_input_size: int = 224  # images are resized to this for the feature networks (paper: 224)
    d_proj_channels: int = 64  # random cross-channel mixing width (paper: 64)
    d_seed: int | None = None  # seed of the fixed random projections; None: the run's seed


# `bench tune`'s search space (baselines/tunable.py): the two learning rates and the R1 weight, the
# settings D2O inherits from StyleGAN2-ADA's recipe, where gamma is tuned over decades per dataset
# (Karras et al. 2020, arXiv 2006.06676, App. D); the discriminator's design stays fixed.
SEARCH_SPACE = {
    "g_lr": log_uniform(1e-5, 2e-3, why="generator Adam lr (Config default 1e-4, D2O arXiv 2506.09376)"),
    "d_lr": log_uniform(1e-5, 2e-3, why="discriminator Adam lr (D2O: equal to the generator's)"),
    "r1_gamma": log_uniform(1e-5, 1.0, why="R1 weight gamma (arXiv 2006.06676 App. D: tuned per dataset)"),
}


class GanOnly(Method):
    name = "gan_only"
    parallel = ("G", "D")
    Config = GanOnlyConfig

    def __init__(self, ctx: MethodContext, config: GanOnlyConfig):
        super().__init__(ctx, config)
        net = ctx.backbone.net
        self.G = d2o_generator_from(net, config.sigma, config.sigma_data, config.eps).to(ctx.device)
        self.prepare_generator()
        D, self.discriminator_info = discriminator_for(config, net, ctx.seed)
        self.D = D.to(ctx.device)
        c = config.r1_interval / (config.r1_interval + 1) if config.r1_interval > 0 else 1.0
        self.opt_g = torch.optim.Adam([p for p in self.G.parameters() if p.requires_grad], lr=config.g_lr,
                                      betas=(config.beta1, config.beta2), eps=1e-8)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.d_lr * c,
                                      betas=(config.beta1**c, config.beta2**c), eps=1e-8)

    def prepare_generator(self) -> None:
        """Hook for variants that change which generator weights train (D2O-F freezes most)."""

    @property
    def generator(self) -> torch.nn.Module:
        return self.G

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.G, "discriminator": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def record_info(self) -> dict[str, Any]:
        return dict(self.discriminator_info)

    def train_step(self, real, labels, step, rng):
        z = draw_latents(tuple(real.shape), rng, real.device)
        # Generator step: D's weights take no gradient here.
        self.D.requires_grad_(False)
        loss_g = softplus(-self.D(self.G(z, labels), labels)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)

        # Discriminator step on freshly generated fakes.
        with torch.no_grad():
            fake = self.G(draw_latents(tuple(real.shape), rng, real.device), labels)
        loss_d = softplus(self.D(fake, labels)).mean() + softplus(-self.D(real, labels)).mean()
        losses = {"loss_g": loss_g.detach(), "loss_d": loss_d.detach()}
        interval = self.config.r1_interval
        if interval > 0 and step % interval == 0 and self.config.r1_gamma > 0:
            r1 = r1_penalty(self.D, real, labels)
            loss_d = loss_d + r1 * (self.config.r1_gamma / 2) * interval
            losses["r1"] = r1.detach()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        return losses


def r1_penalty(D: torch.nn.Module, real: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Mean over the batch of ||grad_x sum(D(x))||^2 on real images (Mescheder et al. 2018)."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(real, labels).sum(), real, create_graph=True)
    return grad.square().sum(dim=[1, 2, 3]).mean()


METHODS.add("gan_only", GanOnly)
