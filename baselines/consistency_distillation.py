"""Consistency distillation (Song, Dhariwal, Chen & Sutskever, ICML 2023, arXiv 2303.01469,
Algorithm 2), with the pseudo-Huber metric of Song & Dhariwal 2023 (arXiv 2310.14189).

Algorithm (EDM's x = y + sigma * n, time steps of Karras et al. 2022 eq. 5 between eps and T):

  sigma_1 = eps = 0.002 < ... < sigma_N = T = 80   (N points, rho = 7; CM paper)
  theta <- teacher's weights;  theta^- <- theta
  repeat:
    y, labels ~ data;  n ~ U{1, ..., N-1};  z ~ N(0, I)
    x_{n+1} = y + sigma_{n+1} z
    x^_n   = one Heun step of the teacher's probability-flow ODE, sigma_{n+1} -> sigma_n
             (EDM Algorithm 2, harness.samplers.heun_step with a sigma per sample; 2 teacher passes)
    loss   = lambda(sigma_n) d(f_theta(x_{n+1}, sigma_{n+1}), sg f_theta^-(x^_n, sigma_n))   (eq. 7)
    theta  <- Adam step;  theta^- <- mu theta^- + (1 - mu) theta                       (eq. 8)

Consistency function (CM paper eq. 5 / App. C; the preconditioning of baselines/d2o.py, with the
backbone wrapper's c_in and c_noise):
  f(x, s) = c_skip(s) x + c_out(s) F(c_in(s) x, c_noise(s)),
  c_skip = sd^2/((s - eps)^2 + sd^2),  c_out = sd (s - eps)/sqrt(sd^2 + s^2),
so f(x, eps) = x exactly (the boundary condition) and f(80 z, 80) is D2O's generator: the
one-step generator here is ``baselines.d2o.D2OGenerator`` on the student's inner network.

Metric d: ``"pseudo_huber"`` (default) sqrt(||a - b||^2 + c^2) - c with c = 0.00054 sqrt(d), d the
image dimension (2310.14189); ``"l2"`` ||a - b||^2 (CM paper); ``"lpips"`` (CM's best CIFAR
setting) needs LPIPS weights that the harness cannot download: choosing it is a clear error.
Weighting lambda: ``"uniform"`` (CM paper, lambda = 1) or ``"inverse_step"``
(1/(sigma_{n+1} - sigma_n), 2310.14189).

Optimiser and EMA as the reference code does them: RAdam (openai/consistency_models ``cm/train_util.py``
and openai/consistency_models_cifar10 ``configs/cifar10_ve_cd.py``), on CIFAR-10 with a linear lr
warm-up over the first 10M images (``optim.warmup = 1e7 / batch_size`` steps) and no gradient clipping;
the evaluated generator is an EMA of the student with decay 0.9999 per step (``model.ema_rate``;
``train_defaults``), separate from the target network theta^-. Per-dataset settings (ImageNet-64: N = 40,
mu = 0.95, lr 8e-6, batch 2048; CM ``scripts/launch.sh``) are the presets of harness/presets.

Labels: the real batch's labels (CD distils along trajectories started from data). Student and
target run with dropout off (eval mode), like every generator in the harness.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from baselines import METHODS
from baselines.base import MethodContext, StudentDistillation, draw_latents
from baselines.d2o import BackboneConditioning, ConsistencyFunction, D2OGenerator
from baselines.losses import pseudo_huber
from baselines.tunable import choice, int_range, log_uniform, uniform
from harness.config import one_of
from harness.errors import MissingArtefactError, UsageError
from harness.optimizers import Adam, RAdam
from harness.samplers import heun_step, karras_sigmas, supported_sigma_range

LOSSES = ("pseudo_huber", "l2", "lpips")
OPTIMIZERS = {"radam": RAdam, "adam": Adam}
WEIGHTINGS = ("uniform", "inverse_step")


@dataclass
class ConsistencyDistillationConfig:
    """Defaults: CM's CIFAR-10 CD (arXiv 2303.01469 Table 3; openai/consistency_models_cifar10
    ``configs/cifar10_ve_cd.py``) — N = 18, Heun, RAdam lr 4e-4 warmed up linearly over 10M images,
    target EMA mu = 0 — except the metric: pseudo-Huber (arXiv 2310.14189) instead of LPIPS, whose
    weights are not available here."""

    num_scales: int = 18  # N
    lr: float = 4e-4
    optimizer: str = one_of("radam", OPTIMIZERS)  # "radam" (CM's code) | "adam"
    lr_warmup_kimg: float = 10_000.0  # linear lr warm-up over this many thousand images; 0 = none
    beta1: float = 0.9
    beta2: float = 0.999
    target_ema: float = 0.0  # mu of eq. 8
    loss: str = one_of("pseudo_huber", LOSSES)
    huber_c: float = 0.00054  # c = huber_c * sqrt(image dimension)
    weighting: str = one_of("uniform", WEIGHTINGS)
    sigma_min: float = 0.002  # eps, the boundary
    sigma_max: float = 80.0  # T
    rho: float = 7.0
    sigma_data: float = 0.5


# `bench tune`'s search space (baselines/tunable.py): what the CM paper ablates for CD (arXiv 2303.01469
# Fig. 3: the metric d, the number of scales N, the target EMA mu) and the learning rate.
SEARCH_SPACE = {
    "lr": log_uniform(1e-5, 2e-3, why="peak lr (arXiv 2303.01469 Table 3: 4e-4 on CIFAR-10)"),
    "num_scales": int_range(6, 60, log=True, why="N, discretisation steps (arXiv 2303.01469 Fig. 3b)"),
    "target_ema": uniform(0.0, 0.99, why="target EMA mu (arXiv 2303.01469 Table 3: 0 CIFAR-10, 0.95 ImageNet)"),
    "loss": choice("pseudo_huber", "l2", why="metric d (arXiv 2303.01469 Fig. 3a; pseudo-Huber: 2310.14189)"),
}


# --- the algorithm's pieces (tested in tests/methods) -------------------------------------------------

def cd_sigmas(num_scales: int, sigma_min: float, sigma_max: float, rho: float,
              device: torch.device | str = "cpu") -> torch.Tensor:
    """sigma_1 = eps < ... < sigma_N = T, increasing (float64)."""
    if num_scales < 2:
        raise UsageError(f"consistency_distillation: num_scales must be at least 2, got {num_scales}")
    return karras_sigmas(num_scales, sigma_min, sigma_max, rho, device=device)[:num_scales].flip(0)


@torch.no_grad()
def consistency_distillation_target(teacher: nn.Module, target_fn: nn.Module, x_next: torch.Tensor,
                                    sigma_next: torch.Tensor, sigma_cur: torch.Tensor,
                                    labels: torch.Tensor | None) -> torch.Tensor:
    """sg f_theta^-(x^_n, sigma_n) with x^_n one teacher Heun step from (x_{n+1}, sigma_{n+1}) (float32)."""
    x_hat = heun_step(teacher, x_next, sigma_next, sigma_cur, labels)
    return target_fn(x_hat.to(torch.float32), sigma_cur, labels)


# --- the method ---------------------------------------------------------------------------------------

class ConsistencyDistillation(StudentDistillation):
    name = "consistency_distillation"
    Config = ConsistencyDistillationConfig
    train_defaults = {"ema_beta": 0.9999}  # CM evaluates an EMA of 0.9999 per step (module docstring)
    introduced = {"optimizer": "adam", "lr_warmup_kimg": 0.0}  # what records made before these settings ran

    def __init__(self, ctx: MethodContext, config: ConsistencyDistillationConfig):
        super().__init__(ctx, config)
        if config.loss not in LOSSES:
            raise UsageError(f"consistency_distillation: loss must be one of {', '.join(LOSSES)}; got {config.loss!r}")
        if config.loss == "lpips":
            raise MissingArtefactError(
                "consistency_distillation: loss=lpips needs LPIPS weights on disk (the VGG16 ImageNet "
                "backbone, torchvision 'vgg16-397923af.pth', and the LPIPS v0.1 linear heads 'vgg.pth' of "
                "Zhang et al. 2018); they cannot be downloaded here and LPIPS is not wired in yet. "
                "Use loss=pseudo_huber (Song & Dhariwal 2023) or loss=l2.")
        if config.weighting not in WEIGHTINGS:
            raise UsageError(f"consistency_distillation: weighting must be one of {', '.join(WEIGHTINGS)}; "
                             f"got {config.weighting!r}")
        if config.optimizer not in OPTIMIZERS:
            raise UsageError(f"consistency_distillation: optimizer must be one of {', '.join(OPTIMIZERS)}; "
                             f"got {config.optimizer!r}")
        if not config.lr_warmup_kimg >= 0:
            raise UsageError(f"consistency_distillation: lr_warmup_kimg must be >= 0, got {config.lr_warmup_kimg}")
        if not 0.0 <= config.target_ema < 1.0:
            raise UsageError(f"consistency_distillation: target_ema must be in [0, 1), got {config.target_ema}")
        net = ctx.backbone.net
        eps, sigma_max = supported_sigma_range(net, config.sigma_min, config.sigma_max)
        conditioning = BackboneConditioning.of(net, config.sigma_data)
        self.sigmas = cd_sigmas(config.num_scales, eps, sigma_max, config.rho, device=ctx.device)
        self.teacher = net  # frozen, eval mode (LoadedBackbone)

        unet = copy.deepcopy(net.model).eval().requires_grad_(True)
        self.student = ConsistencyFunction(unet, config.sigma_data, eps, conditioning).to(ctx.device)
        self.target = copy.deepcopy(self.student).requires_grad_(False)
        self._generator = D2OGenerator(self.student.unet, sigma_max, config.sigma_data, eps, conditioning)
        self.opt = OPTIMIZERS[config.optimizer](self.student.parameters(), lr=config.lr,
                                                betas=(config.beta1, config.beta2), eps=1e-8)
        dim = net.img_channels * net.img_resolution**2
        self.huber_c = config.huber_c * math.sqrt(dim)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"generator": self._generator, "target": self.target}

    def record_info(self) -> dict[str, Any]:
        return {"num_scales": self.config.num_scales, "loss": self.config.loss,
                "huber_c": self.huber_c if self.config.loss == "pseudo_huber" else None,
                "weighting": self.config.weighting, "target_ema": self.config.target_ema,
                "optimizer": self.config.optimizer, "lr_warmup_kimg": self.config.lr_warmup_kimg,
                "teacher_solver": "heun", "sigma_min": float(self.sigmas[0]), "sigma_max": float(self.sigmas[-1])}

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.config.loss == "pseudo_huber":
            return pseudo_huber(a, b, self.huber_c)
        return (a - b).square().sum(dim=[1, 2, 3])

    def train_step(self, real, labels, step, rng):
        batch = real.shape[0]
        n = torch.randint(0, self.config.num_scales - 1, (batch,), generator=rng, device=rng.device).to(real.device)
        sigma_cur, sigma_next = self.sigmas[n], self.sigmas[n + 1]
        z = draw_latents(tuple(real.shape), rng, real.device)
        x_next = real + sigma_next.to(torch.float32).reshape(-1, 1, 1, 1) * z

        target = consistency_distillation_target(self.teacher, self.target, x_next, sigma_next, sigma_cur, labels)
        pred = self.student(x_next, sigma_next, labels)
        weight = 1.0 if self.config.weighting == "uniform" else (1 / (sigma_next - sigma_cur)).to(torch.float32)
        loss = (weight * self.distance(pred, target)).mean()
        if self.config.lr_warmup_kimg > 0:  # linear warm-up by images seen after this step
            ramp = min((step + 1) * self.ctx.batch_size / (self.config.lr_warmup_kimg * 1000), 1.0)
            for group in self.opt.param_groups:
                group["lr"] = self.config.lr * ramp
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

        # theta^- <- mu theta^- + (1 - mu) theta  (eq. 8; mu = 0 copies theta)
        with torch.no_grad():
            for p_target, p in zip(self.target.parameters(), self.student.parameters()):
                p_target.lerp_(p, 1.0 - self.config.target_ema)
        return {"loss": loss.detach()}


METHODS.add("consistency_distillation", ConsistencyDistillation)
