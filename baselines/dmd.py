"""Distribution matching distillation, DMD2-style (Yin et al., NeurIPS 2024, arXiv 2405.14867;
DMD: Yin et al., CVPR 2024, arXiv 2311.18828).

Networks: the one-step generator G (D2O's preconditioning at sigma = 80, initialised from the
backbone: baselines/d2o.py), the frozen real score D_real (the teacher EDMPrecond) and a trainable
fake score D_fake (initialised from the teacher), all as EDM denoisers D(x; sigma).

Per iteration (DMD2's two time-scale update rule, §4.2: ``fake_steps_per_generator_step`` fake-score
updates, then one generator update; DMD2's regression-free objective, no DMD1 regression loss):

  fake-score update, k times:
    x = G(z) (no grad);  sigma ~ EDM's training distribution ln sigma ~ N(P_mean, P_std^2);
    loss_fake = lambda(sigma) ||D_fake(x + sigma n; sigma) - x||^2          (EDM_SPEC §10.1)
              [+ gan_d_weight * (softplus(C(x_t)) + softplus(-C(y_t)))   when the GAN term is on]
  generator update:
    x = G(z);  sigma = Karras(u), u ~ U(0.02, 0.98) (DMD §3: t ~ U(0.02 T, 0.98 T), here along
    EDM's rho = 7 time steps from sigma_max to sigma_min, as DMD2 does on EDM backbones);
    x_t = x + sigma n
    grad = w (D_fake(x_t) - D_real(x_t)),  w = 1 / mean_{C,H,W} |x - D_real(x_t)|   (DMD eq. 8;
           s_real - s_fake = (D_real - D_fake)/sigma^2, so DMD's sigma^2 CS/||.||_1 factor gives this)
    loss_G = 0.5 ||x - sg(x - grad)||^2 (so d loss_G / dx = grad), summed over pixels, mean over batch
             [+ gan_weight * softplus(-C(x_t))   when the GAN term is on]

Optional GAN term (DMD2 §4.3), on when ``gan_weight > 0``: a small classifier head C on the fake
score's bottleneck features (the output of the inner network's middle block ``dec.<r>x<r>_in1``)
of noisy images; the fake score's weights learn from both its denoising loss and the classifier
loss. Noisy images for the classifier use the generator update's sigma distribution; real images
are the runner's real batch. DMD2 ImageNet-64 weights: 3e-3 (generator), 1e-2 (classifier).
``discriminator`` = projected | scratch | auto replaces that classifier with an image discriminator
(baselines/projected_discriminator.py, as gan_only's) on clean generator outputs and real images,
trained in the fake-score update (same optimiser, loss weight gan_d_weight).

Labels: the real batch's labels for the generator, both scores and the classifier (DMD2 draws
classes uniformly; the data's class marginal is the same in expectation for balanced sets).
All networks run with dropout off (eval mode); at initialisation D_fake = D_real, so grad = 0.
teacher_passes_per_image = 1: one real-score pass per generator image (the fake score is trained).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.functional import softplus

from baselines import METHODS
from baselines.base import Method, MethodContext, draw_latents
from baselines.d2o import d2o_generator_from
from baselines.tunable import int_range, log_uniform
from harness.errors import UsageError


@dataclass
class DMDConfig:
    """Defaults: DMD2's ImageNet-64 recipe (arXiv 2405.14867, ImageNet-64: AdamW lr 2e-6 for both
    networks, TTUR 5, GAN weights 3e-3 / 1e-2 when used), DMD's sigma range (arXiv 2311.18828 §3),
    EDM's loss for the fake score (P_mean -1.2, P_std 1.2)."""

    g_lr: float = 2e-6
    fake_lr: float = 2e-6
    beta1: float = 0.9
    beta2: float = 0.999
    weight_decay: float = 0.01  # AdamW
    max_grad_norm: float = 10.0  # gradient clipping for both networks; 0 = off
    fake_steps_per_generator_step: int = 5  # two time-scale update rule (DMD2 §4.2)
    dm_u_min: float = 0.02  # sigma = Karras(u), u ~ U(dm_u_min, dm_u_max)
    dm_u_max: float = 0.98
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    P_mean: float = -1.2  # fake-score loss: EDM's ln sigma ~ N(P_mean, P_std^2)
    P_std: float = 1.2
    gan_weight: float = 0.0  # generator's GAN weight; 0 = off (DMD2 ImageNet-64: 3e-3)
    gan_d_weight: float = 1e-2  # classifier loss weight in the fake-score update (used when gan_weight > 0)
    # The GAN term's discriminator: DMD2's bottleneck classifier on the fake score (default), or an image
    # discriminator as gan_only's (auto | projected | scratch, with the d_* settings below).
    discriminator: str = "bottleneck"
    d_width: int = 64
    d_features: tuple[str, ...] = ("efficientnet-lite0",)
    d_input_size: int = 224
    d_proj_channels: int = 64
    d_seed: int | None = None
    sigma: float = 80.0  # generator's fixed sigma (D2O preconditioning)
    sigma_data: float = 0.5
    eps: float = 0.002


# `bench tune`'s search space (baselines/tunable.py): both learning rates and the two time-scale
# update ratio, the setting DMD2 shows matters most for stability without the regression loss
# (arXiv 2405.14867 §4.2 and its ablations); the optional GAN term stays as configured.
SEARCH_SPACE = {
    "g_lr": log_uniform(1e-6, 1e-3, why="generator AdamW lr (arXiv 2405.14867: 2e-6 on ImageNet-64)"),
    "fake_lr": log_uniform(1e-6, 1e-3, why="fake-score AdamW lr (arXiv 2405.14867: equal to the generator's)"),
    "fake_steps_per_generator_step": int_range(1, 10, why="TTUR fake-score updates per generator update "
                                                         "(arXiv 2405.14867 §4.2: 5)"),
}


# --- the algorithm's pieces (tested in tests/methods) -------------------------------------------------

def karras_sigma_at(u: torch.Tensor, sigma_min: float, sigma_max: float, rho: float) -> torch.Tensor:
    """EDM eq. 5 as a function of u in [0, 1]: sigma_max at u = 0, sigma_min at u = 1."""
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return (a + u * (b - a)) ** rho


@torch.no_grad()
def distribution_matching_gradient(x: torch.Tensor, x_t: torch.Tensor, sigma: torch.Tensor,
                                   real_score: nn.Module, fake_score: nn.Module,
                                   labels: torch.Tensor | None) -> torch.Tensor:
    """grad = w (D_fake(x_t) - D_real(x_t)), w = 1/mean|x - D_real(x_t)| per sample (DMD eq. 7-8)."""
    d_real = real_score(x_t, sigma, labels)
    d_fake = fake_score(x_t, sigma, labels)
    w = 1 / (x - d_real).abs().mean(dim=[1, 2, 3], keepdim=True)
    return torch.nan_to_num(w * (d_fake - d_real))


def distribution_matching_loss(x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """0.5 ||x - sg(x - grad)||^2 summed over everything: its gradient with respect to x is ``grad``."""
    return 0.5 * (x - (x - grad).detach()).square().sum()


def edm_loss_weight(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """EDM's lambda(sigma) = (sigma^2 + sd^2)/(sigma sd)^2 (EDM_SPEC §10.1)."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


class BottleneckClassifier(nn.Module):
    """DMD2's GAN head: logits from the fake score's bottleneck features (captured by a forward hook)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.out = nn.Linear(channels, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        h = self.conv(nn.functional.silu(features.to(torch.float32)))
        return self.out(nn.functional.silu(h).mean(dim=[2, 3])).squeeze(1)


class FeatureTap:
    """Keeps the output of one module of the fake score from its latest forward pass."""

    def __init__(self, module: nn.Module):
        self.features: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._store)

    def _store(self, module, inputs, output) -> None:
        self.features = output


def bottleneck_module(inner: nn.Module) -> tuple[str, nn.Module]:
    """The middle block of an EDM UNet: the decoder's ``<r>x<r>_in1`` (SongUNet and DhariwalUNet)."""
    for name, module in inner.dec.items():
        if name.endswith("_in1"):
            return name, module
    raise UsageError("dmd: gan_weight > 0 needs a UNet with a middle block 'dec.*_in1'")


# --- the method ---------------------------------------------------------------------------------------

class DMD(Method):
    name = "dmd"
    parallel = ("G", "fake_score", "classifier", "D")
    Config = DMDConfig

    def __init__(self, ctx: MethodContext, config: DMDConfig):
        super().__init__(ctx, config)
        if config.fake_steps_per_generator_step < 1:
            raise UsageError("dmd: fake_steps_per_generator_step must be at least 1")
        if not 0.0 <= config.dm_u_min <= config.dm_u_max <= 1.0:
            raise UsageError(f"dmd: need 0 <= dm_u_min <= dm_u_max <= 1, got {config.dm_u_min}, {config.dm_u_max}")
        if config.gan_weight < 0:
            raise UsageError(f"dmd: gan_weight must be >= 0, got {config.gan_weight}")
        net = ctx.backbone.net
        self.sigma_min = max(config.sigma_min, float(getattr(net, "sigma_min", 0.0)))
        self.sigma_max = min(config.sigma_max, float(getattr(net, "sigma_max", math.inf)))
        self.real_score = net  # frozen teacher
        self.G = d2o_generator_from(net, config.sigma, config.sigma_data, config.eps).to(ctx.device)
        self.fake_score = copy.deepcopy(net).eval().requires_grad_(True).to(ctx.device)
        fake_params = list(self.fake_score.parameters())

        self.classifier: BottleneckClassifier | None = None
        self.tap: FeatureTap | None = None
        self.D: nn.Module | None = None
        self.discriminator_info: dict[str, Any] = {}
        if config.discriminator not in ("bottleneck", "auto", "projected", "scratch"):
            raise UsageError(f"dmd: unknown discriminator '{config.discriminator}'; "
                             "valid: bottleneck, auto, projected, scratch")
        if config.gan_weight > 0 and config.discriminator != "bottleneck":
            from baselines.projected_discriminator import discriminator_for

            D, self.discriminator_info = discriminator_for(config, net, ctx.seed)
            self.D = D.to(ctx.device)
            fake_params += list(self.D.parameters())
        elif config.gan_weight > 0:
            _, middle = bottleneck_module(self.fake_score.model)
            self.tap = FeatureTap(middle)
            self.classifier = BottleneckClassifier(int(middle.out_channels)).to(ctx.device)
            fake_params += list(self.classifier.parameters())

        self.opt_g = torch.optim.AdamW(self.G.parameters(), lr=config.g_lr, betas=(config.beta1, config.beta2),
                                       eps=1e-8, weight_decay=config.weight_decay)
        self.opt_fake = torch.optim.AdamW(fake_params, lr=config.fake_lr, betas=(config.beta1, config.beta2),
                                          eps=1e-8, weight_decay=config.weight_decay)

    @property
    def generator(self) -> torch.nn.Module:
        return self.G

    @property
    def teacher_passes_per_image(self) -> float:
        return 1.0

    def modules(self) -> dict[str, torch.nn.Module]:
        out = {"generator": self.G, "fake_score": self.fake_score}
        if self.classifier is not None:
            out["classifier"] = self.classifier
        if self.D is not None:
            out["discriminator"] = self.D
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "fake_score": self.opt_fake}

    def record_info(self) -> dict[str, Any]:
        c = self.config
        return {"fake_steps_per_generator_step": c.fake_steps_per_generator_step,
                "dm_sigma": f"karras(u), u ~ U({c.dm_u_min}, {c.dm_u_max}), sigma in "
                            f"[{self.sigma_min}, {self.sigma_max}], rho {c.rho}",
                "fake_score_sigma": f"lognormal({c.P_mean}, {c.P_std})",
                "gan": c.gan_weight > 0, "gan_weight": c.gan_weight,
                "gan_d_weight": c.gan_d_weight if c.gan_weight > 0 else 0.0,
                **(self.discriminator_info if self.D is not None else
                   {"discriminator": "bottleneck" if c.gan_weight > 0 else None})}

    # Noise levels.
    def dm_sigmas(self, batch: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
        c = self.config
        u = torch.rand((batch,), generator=rng, device=rng.device).to(device)
        u = c.dm_u_min + (c.dm_u_max - c.dm_u_min) * u
        return karras_sigma_at(u, self.sigma_min, self.sigma_max, c.rho)

    def edm_sigmas(self, batch: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
        normal = torch.randn((batch,), generator=rng, device=rng.device).to(device)
        return (normal * self.config.P_std + self.config.P_mean).exp()

    def logits(self, x_t: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        self.fake_score(x_t, sigma, labels)
        return self.classifier(self.tap.features)

    def _clip(self, params) -> None:
        if self.config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)

    def train_step(self, real, labels, step, rng):
        c = self.config
        batch, shape, device = real.shape[0], tuple(real.shape), real.device
        gan = self.classifier is not None or self.D is not None
        losses: dict[str, torch.Tensor] = {}

        # 1. Fake-score updates on fresh generator samples (two time-scale update rule).
        fake_params = [p for group in self.opt_fake.param_groups for p in group["params"]]
        for _ in range(c.fake_steps_per_generator_step):
            with torch.no_grad():
                x = self.G(draw_latents(shape, rng, device), labels)
            sigma = self.edm_sigmas(batch, rng, device)
            s = sigma.reshape(-1, 1, 1, 1)
            x_t = x + s * draw_latents(shape, rng, device)
            loss_fake = (edm_loss_weight(s, c.sigma_data) * (self.fake_score(x_t, sigma, labels) - x).square())
            loss_fake = loss_fake.sum(dim=[1, 2, 3]).mean()
            losses["loss_fake"] = loss_fake.detach()
            if gan and self.D is not None:  # image discriminator on clean images
                loss_cls = softplus(self.D(x, labels)).mean() + softplus(-self.D(real, labels)).mean()
            elif gan:
                sigma_g = self.dm_sigmas(batch, rng, device).reshape(-1, 1, 1, 1)
                fake_t = x + sigma_g * draw_latents(shape, rng, device)
                real_t = real + sigma_g * draw_latents(shape, rng, device)
                loss_cls = (softplus(self.logits(fake_t, sigma_g, labels)).mean()
                            + softplus(-self.logits(real_t, sigma_g, labels)).mean())
            if gan:
                loss_fake = loss_fake + c.gan_d_weight * loss_cls
                losses["loss_cls"] = loss_cls.detach()
            self.opt_fake.zero_grad(set_to_none=True)
            loss_fake.backward()
            self._clip(fake_params)
            self.opt_fake.step()

        # 2. Generator update: distribution-matching gradient (+ optional GAN term).
        x = self.G(draw_latents(shape, rng, device), labels)
        sigma = self.dm_sigmas(batch, rng, device)
        x_t = x.detach() + sigma.reshape(-1, 1, 1, 1) * draw_latents(shape, rng, device)
        grad = distribution_matching_gradient(x.detach(), x_t, sigma, self.real_score, self.fake_score, labels)
        loss_g = distribution_matching_loss(x, grad) / batch
        losses["loss_dm"] = loss_g.detach()
        if gan and self.D is not None:
            self.D.requires_grad_(False)
            loss_gan = softplus(-self.D(x, labels)).mean()
        elif gan:
            self.fake_score.requires_grad_(False)
            self.classifier.requires_grad_(False)
            sigma_g = self.dm_sigmas(batch, rng, device).reshape(-1, 1, 1, 1)
            loss_gan = softplus(-self.logits(x + sigma_g * draw_latents(shape, rng, device), sigma_g, labels)).mean()
        if gan:
            loss_g = loss_g + c.gan_weight * loss_gan
            losses["loss_gan"] = loss_gan.detach()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self._clip(list(self.G.parameters()))
        self.opt_g.step()
        if self.D is not None:
            self.D.requires_grad_(True)
        elif gan:
            self.fake_score.requires_grad_(True)
            self.classifier.requires_grad_(True)
        return losses


METHODS.add("dmd", DMD)
