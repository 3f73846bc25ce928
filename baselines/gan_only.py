"""D2O (Zheng & Yang, ICML 2025, arXiv 2506.09376): GAN-only fine-tuning of a pre-trained diffusion
model into a one-step generator, with no distillation loss (paper §3-4; authors' code Zyriix/GDD
``training/training_loop.py`` and ``training/loss.py``).

Per iteration, three stages as in the authors' loop, each its own zero_grad / backward / Adam step:
  G:      minimise 64 mean_images softplus(-D(G(z)))                     (non-saturating loss)
  D main: minimise 64 mean_images [softplus(D(G(z))) + softplus(-D(x))]  (fakes regenerated without grad)
  D R1:   every ``r1_interval``-th iteration but the first (step % 16 == 0, step != 0), a separate
          step on interval * mean_images gamma/2 ||grad_x sum D(x)||^2   (lazy R1, gain 16)
Per image, each logit gets its own softplus and a feature network's patch logits are averaged
(baselines/losses.py). The batch reductions are the authors' (their loss.py, train.sh): the GAN losses
sum over the 64 images on each of their 4 GPUs and DDP averages the GPUs' gradients, i.e. 64 times
the mean over the batch (``gan_loss_images``); R1 is a mean over the images. So ``r1_gamma = 1e-4``
weighs R1 against the GAN loss as there, and one process or many give the same gradients.
Adam with betas (0, 0.99), constant lr; the D lr and betas take the 16/17 correction of lazy
regularisation (StyleGAN2, Karras et al. 2020, App. B), because R1 is a separate step of the same
optimiser. Conditional backbones see the real batch's labels.
Before every optimiser step the gradients are sanitised as the authors' loop does it (Zyriix/GDD
``training/training_loop.py``: ``nan_to_num(grad, nan=0, posinf=1e5, neginf=-1e5)`` on every stage's
network): a NaN gradient entry counts as 0 and an infinite one as +-1e5, finite values untouched. So
one bad entry does not poison the weights; a loss that is not finite still stops the run (the
runner's divergence check, harness/divergence.py) and is recorded as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from baselines import METHODS
from baselines.base import Method, MethodContext, draw_latents, frozen
from baselines.d2o import d2o_generator_from
from baselines.discriminator_choice import DiscriminatorSettings, discriminator_for
from baselines.losses import discriminator_loss, generator_loss, r1_penalty
from baselines.random_init import check_init, generator_source
from baselines.tunable import log_uniform
from harness.optimizers import Adam, Optimizer


GRAD_LIMIT = 1e5  # the authors' replacement for an infinite gradient entry


def sanitize_gradients(module: torch.nn.Module) -> None:
    """NaN -> 0, +-inf -> +-1e5 in every gradient of ``module``, in place (module docstring)."""
    for p in module.parameters():
        if p.grad is not None:
            torch.nan_to_num_(p.grad, nan=0.0, posinf=GRAD_LIMIT, neginf=-GRAD_LIMIT)


@dataclass
class GanOnlyConfig(DiscriminatorSettings):
    """D2O's CIFAR-10 settings (train.sh: lr 1e-4 / 1e-4, r1_gamma 1e-4, R1 every 16 iterations)."""

    g_lr: float = 1e-4
    d_lr: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.99
    r1_gamma: float = 1e-4
    r1_interval: int = 16
    # GAN losses = this x the batch mean: the authors' per-GPU sum (train.sh batch / 4 GPUs): 64 on CIFAR-10;
    # each dataset's preset derives it from its train.sh line (harness/presets/d2o_recipes.py).
    gan_loss_images: int = 64
    sigma: float = 80.0
    sigma_data: float = 0.5
    eps: float = 0.002
    # pretrained: fine-tune the backbone (the paper); random: the same architecture freshly initialised, the
    # thesis control (baselines/random_init.py).
    init: str = "pretrained"

    def __post_init__(self) -> None:
        check_init(self.init)


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
        source = generator_source(net, config.init, ctx.seed)
        self.G = d2o_generator_from(source, config.sigma, config.sigma_data, config.eps).to(ctx.device)
        self.prepare_generator()
        D, self.discriminator_info = discriminator_for(config, net, ctx.seed)
        self.D = D.to(ctx.device)
        c = config.r1_interval / (config.r1_interval + 1) if config.r1_interval > 0 else 1.0
        self.opt_g = Adam([p for p in self.G.parameters() if p.requires_grad], lr=config.g_lr,
                          betas=(config.beta1, config.beta2), eps=1e-8)
        self.opt_d = Adam(self.D.parameters(), lr=config.d_lr * c, betas=(config.beta1**c, config.beta2**c), eps=1e-8)

    def prepare_generator(self) -> None:
        """Hook for variants that change which generator weights train (D2O-F freezes most)."""

    @property
    def generator(self) -> torch.nn.Module:
        return self.G

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.G, "discriminator": self.D}

    def optimizers(self) -> dict[str, Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def record_info(self) -> dict[str, Any]:
        return {**self.discriminator_info, "init": self.config.init}

    def r1_due(self, step: int) -> bool:
        """The authors' schedule: iterations 16, 32, ... (``batch_idx != 0 and batch_idx % 16 == 0``)."""
        c = self.config
        return c.r1_interval > 0 and c.r1_gamma > 0 and step != 0 and step % c.r1_interval == 0

    def train_step(self, real, labels, step, rng):
        z = draw_latents(tuple(real.shape), rng, real.device)
        with frozen(self.D):  # generator stage: D's weights take no gradient
            loss_g = generator_loss(self.D(self.G(z, labels), labels)).mean() * self.config.gan_loss_images
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            sanitize_gradients(self.G)
            self.opt_g.step()

        # Discriminator stage on freshly generated fakes.
        with torch.no_grad():
            fake = self.G(draw_latents(tuple(real.shape), rng, real.device), labels)
        loss_d = discriminator_loss(self.D(real, labels), self.D(fake, labels)).mean() * self.config.gan_loss_images
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        sanitize_gradients(self.D)
        self.opt_d.step()
        losses = {"loss_g": loss_g.detach(), "loss_d": loss_d.detach()}

        if self.r1_due(step):  # lazy R1: its own step of the D optimiser, gain r1_interval
            r1 = r1_penalty(self.D, real, labels)
            loss_r1 = (r1 * (self.config.r1_gamma / 2)).mean() * self.config.r1_interval
            self.opt_d.zero_grad(set_to_none=True)
            loss_r1.backward()
            sanitize_gradients(self.D)
            self.opt_d.step()
            losses["r1"] = r1.mean().detach()
        return losses


METHODS.add("gan_only", GanOnly)
