"""Distribution matching distillation, DMD2-style (Yin et al., NeurIPS 2024, arXiv 2405.14867;
DMD: Yin et al., CVPR 2024, arXiv 2311.18828; DMD2's code: tianweiy/DMD2 ``main/edm/edm_guidance.py``).

Networks: the one-step generator G (D2O's preconditioning at sigma = 80, initialised from the
backbone: baselines/d2o.py), the frozen real score D_real (the teacher) and a trainable fake score
D_fake (initialised from the teacher), all as EDM denoisers D(x; sigma).

Iterations and image accounting as DMD2 counts them (tianweiy/DMD2 ``main/edm/train_edm.py``
``train_one_step``; the basis of its published 58M/160M images): one ``train_step`` is one iteration on
one new real batch; it updates the generator when ``step % fake_steps_per_generator_step == 0`` (the two
time-scale update rule, §4.2: k = 5) and then the fake score once, on the images the generator made in
this iteration (before its update). So each batch of images is one fake-score update, and one generator
update per k batches; DMD2's regression-free objective, no DMD1 regression loss:

  fake-score update (``fake_score_step``), every iteration:
    x = G(z) (no grad);  sigma = Karras(u), u ~ U(fake_u_min, fake_u_max) = U(0, 1): the same Karras
    schedule the generator update queries the fake score on (DMD2 ``compute_loss_fake`` draws from
    the whole grid that ``compute_distribution_matching_loss`` draws from, between 2% and 98%)
    loss_fake = mean over N, C, H, W of lambda(sigma) (D_fake(x + sigma n; sigma) - x)^2   (DMD2: a mean)
              [+ gan_d_weight * mean (softplus(C(x_t)) + softplus(-C(y_t)))   when the GAN term is on]
  generator update (``generator_step``), every k-th iteration:
    x = G(z);  sigma = Karras(u), u ~ U(dm_u_min, dm_u_max) = U(0.02, 0.98) (DMD §3: t ~ U(0.02 T, 0.98 T));
    x_t = x + sigma n
    grad = w (D_fake(x_t) - D_real(x_t)),  w = 1 / mean_{C,H,W} |x - D_real(x_t)|   (DMD eq. 8;
           s_real - s_fake = (D_real - D_fake)/sigma^2, so DMD's sigma^2 CS/||.||_1 factor gives this)
    loss_G = 0.5 mean_{N,C,H,W} (x - sg(x - grad))^2   (DMD2: F.mse_loss(..., reduction="mean"))
             [+ gan_weight * mean softplus(-C(x_t))   when the GAN term is on]
With DMD2's reductions, the GAN weights 3e-3 / 1e-2 weigh the GAN term as in DMD2 at any image size.
DMD2 draws sigma on a 1,000-point Karras grid; here u is continuous on the same schedule.

Optional GAN term (DMD2 §4.3), on when ``gan_weight > 0``: a small classifier head C on the fake
score's bottleneck features (the output of the inner network's middle block ``dec.<r>x<r>_in1``)
of noisy images; the fake score's weights learn from both its denoising loss and the classifier
loss. Noisy images for the classifier use the generator update's sigma distribution; real images
are the runner's real batch. DMD2 ImageNet-64 weights: 3e-3 (generator), 1e-2 (classifier).
``discriminator`` = projected | scratch | auto replaces that classifier with an image discriminator
(baselines/discriminator_choice.py, as gan_only's) on clean generator outputs and real images,
trained in the fake-score update (same optimiser, loss weight gan_d_weight).

Labels: the real batch's labels for the generator, both scores and the classifier (DMD2 draws
classes uniformly; the data's class marginal is the same in expectation for balanced sets).
All networks run with dropout off (eval mode); at initialisation D_fake = D_real, so grad = 0.
teacher_passes_per_image = 1/k: one real-score pass per image of a generator update, one generator
update per k batches (the fake score is trained, not the teacher). No EMA: DMD2 evaluates the
generator itself (``train_defaults``).

The GAN term is off by default, so the default ``dmd`` is DMD2 without its GAN loss, whose published
ImageNet-64 FID is 2.61 (DMD2's model zoo), not 1.51/1.28; the classifier here is not DMD2's head
(theirs taps the encoder output with 2 x (conv4x4 + GroupNorm + SiLU) + 1x1), so bench sets no
published DMD2 GAN number beside any run (baselines/published.json ``recipe``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from baselines import METHODS
from baselines.base import Method, MethodContext, draw_latents, frozen
from baselines.d2o import d2o_generator_from
from baselines.discriminator_choice import DiscriminatorSettings, discriminator_for
from baselines.losses import discriminator_loss, edm_loss_weight, generator_loss
from baselines.tunable import int_range, log_uniform
from harness.errors import UsageError
from harness.optimizers import AdamW, Optimizer
from harness.samplers import append_dims, karras_sigma, supported_sigma_range


@dataclass
class DMDConfig(DiscriminatorSettings):
    """Defaults: DMD2's ImageNet-64 recipe (arXiv 2405.14867, ImageNet-64: AdamW lr 2e-6 for both
    networks, TTUR 5, GAN weights 3e-3 / 1e-2 when used), DMD's sigma range (arXiv 2311.18828 §3)."""

    # The GAN term's discriminator: DMD2's bottleneck classifier on the fake score (default), or an image
    # discriminator as gan_only's (auto | projected | scratch, with the d_* settings).
    discriminator: str = "bottleneck"
    g_lr: float = 2e-6
    fake_lr: float = 2e-6
    beta1: float = 0.9
    beta2: float = 0.999
    weight_decay: float = 0.01  # AdamW
    max_grad_norm: float = 10.0  # gradient clipping for both networks; 0 = off
    fake_steps_per_generator_step: int = 5  # two time-scale update rule (DMD2 §4.2)
    dm_u_min: float = 0.02  # generator update: sigma = Karras(u), u ~ U(dm_u_min, dm_u_max)
    dm_u_max: float = 0.98
    fake_u_min: float = 0.0  # fake-score update: the same schedule, u ~ U(fake_u_min, fake_u_max)
    fake_u_max: float = 1.0
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    gan_weight: float = 0.0  # generator's GAN weight; 0 = off (DMD2 ImageNet-64: 3e-3)
    gan_d_weight: float = 1e-2  # classifier loss weight in the fake-score update (used when gan_weight > 0)
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
    """0.5 mean (x - sg(x - grad))^2 over every element: its gradient with respect to x is grad / x.numel()."""
    return 0.5 * (x - (x - grad).detach()).square().mean()


def sigmas_on_schedule(batch: int, u_min: float, u_max: float, sigma_min: float, sigma_max: float, rho: float,
                       rng: torch.Generator, device: torch.device) -> torch.Tensor:
    """sigma = Karras(u), u ~ U(u_min, u_max), one per sample [batch]."""
    u = torch.rand((batch,), generator=rng, device=rng.device).to(device)
    return karras_sigma(u_min + (u_max - u_min) * u, sigma_min, sigma_max, rho)


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
    train_defaults = {"ema_beta": 0.0}  # DMD2 uses no EMA: the generator itself is evaluated

    @property
    def teacher_passes_per_image(self) -> float:
        """One real-score pass per image of a generator update, one generator update per k batches."""
        return 1.0 / self.config.fake_steps_per_generator_step

    def __init__(self, ctx: MethodContext, config: DMDConfig):
        super().__init__(ctx, config)
        if config.fake_steps_per_generator_step < 1:
            raise UsageError("dmd: fake_steps_per_generator_step must be at least 1")
        for lo, hi, what in ((config.dm_u_min, config.dm_u_max, "dm_u"), (config.fake_u_min, config.fake_u_max, "fake_u")):
            if not 0.0 <= lo <= hi <= 1.0:
                raise UsageError(f"dmd: need 0 <= {what}_min <= {what}_max <= 1, got {lo}, {hi}")
        if config.gan_weight < 0:
            raise UsageError(f"dmd: gan_weight must be >= 0, got {config.gan_weight}")
        net = ctx.backbone.net
        self.sigma_min, self.sigma_max = supported_sigma_range(net, config.sigma_min, config.sigma_max)
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
            D, self.discriminator_info = discriminator_for(config, net, ctx.seed)
            self.D = D.to(ctx.device)
            fake_params += list(self.D.parameters())
        elif config.gan_weight > 0:
            _, middle = bottleneck_module(self.fake_score.model)
            self.tap = FeatureTap(middle)
            self.classifier = BottleneckClassifier(int(middle.out_channels)).to(ctx.device)
            fake_params += list(self.classifier.parameters())

        self.opt_g = AdamW(self.G.parameters(), lr=config.g_lr, betas=(config.beta1, config.beta2),
                           eps=1e-8, weight_decay=config.weight_decay)
        self.opt_fake = AdamW(fake_params, lr=config.fake_lr, betas=(config.beta1, config.beta2),
                              eps=1e-8, weight_decay=config.weight_decay)

    @property
    def generator(self) -> torch.nn.Module:
        return self.G

    @property
    def gan(self) -> bool:
        return self.classifier is not None or self.D is not None

    def modules(self) -> dict[str, torch.nn.Module]:
        out = {"generator": self.G, "fake_score": self.fake_score}
        if self.classifier is not None:
            out["classifier"] = self.classifier
        if self.D is not None:
            out["discriminator"] = self.D
        return out

    def optimizers(self) -> dict[str, Optimizer]:
        return {"generator": self.opt_g, "fake_score": self.opt_fake}

    def record_info(self) -> dict[str, Any]:
        c = self.config
        schedule = f"sigma in [{self.sigma_min}, {self.sigma_max}], rho {c.rho}"
        return {"fake_steps_per_generator_step": c.fake_steps_per_generator_step,
                "dm_sigma": f"karras(u), u ~ U({c.dm_u_min}, {c.dm_u_max}), {schedule}",
                "fake_score_sigma": f"karras(u), u ~ U({c.fake_u_min}, {c.fake_u_max}), {schedule}",
                "loss_reduction": "mean over N, C, H, W (DMD2)",
                "image_accounting": "DMD2's: one fake-score update per batch, the generator every "
                                    f"{c.fake_steps_per_generator_step}th",
                "gan": self.gan, "gan_weight": c.gan_weight,
                "gan_d_weight": c.gan_d_weight if self.gan else 0.0,
                **(self.discriminator_info if self.D is not None else
                   {"discriminator": "bottleneck" if self.gan else None})}

    # Noise levels: both updates on the same Karras schedule.
    def dm_sigmas(self, batch: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
        c = self.config
        return sigmas_on_schedule(batch, c.dm_u_min, c.dm_u_max, self.sigma_min, self.sigma_max, c.rho, rng, device)

    def fake_score_sigmas(self, batch: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
        c = self.config
        return sigmas_on_schedule(batch, c.fake_u_min, c.fake_u_max, self.sigma_min, self.sigma_max, c.rho, rng,
                                  device)

    def logits(self, x_t: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        self.fake_score(x_t, sigma, labels)
        return self.classifier(self.tap.features)

    def noisy(self, x: torch.Tensor, sigma: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return x + append_dims(sigma, x.ndim) * draw_latents(tuple(x.shape), rng, x.device)

    def _clip(self, params) -> None:
        if self.config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)

    def fake_score_step(self, real, labels, rng, x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One update of the fake score (and the GAN term's classifier or discriminator) on generator
        images ``x`` (this iteration's, from the generator update) or, when None, fresh ones."""
        c, batch = self.config, real.shape[0]
        if x is None:
            with torch.no_grad():
                x = self.G(draw_latents(tuple(real.shape), rng, real.device), labels)
        sigma = self.fake_score_sigmas(batch, rng, real.device)
        weight = append_dims(edm_loss_weight(sigma, c.sigma_data), x.ndim)
        loss = (weight * (self.fake_score(self.noisy(x, sigma, rng), sigma, labels) - x).square()).mean()
        losses = {"loss_fake": loss.detach()}
        if self.D is not None:  # image discriminator on clean images
            loss_cls = discriminator_loss(self.D(real, labels), self.D(x, labels)).mean()
        elif self.classifier is not None:
            sigma_g = self.dm_sigmas(batch, rng, real.device)
            fake_logits = self.logits(self.noisy(x, sigma_g, rng), sigma_g, labels)
            loss_cls = discriminator_loss(self.logits(self.noisy(real, sigma_g, rng), sigma_g, labels),
                                          fake_logits).mean()
        if self.gan:
            loss = loss + c.gan_d_weight * loss_cls
            losses["loss_cls"] = loss_cls.detach()
        self.opt_fake.zero_grad(set_to_none=True)
        loss.backward()
        self._clip([p for group in self.opt_fake.param_groups for p in group["params"]])
        self.opt_fake.step()
        return losses

    def generator_step(self, real, labels, rng) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One generator update: the distribution-matching gradient (+ the optional GAN term); returns the
        losses and the images it made (before the update, detached) for this iteration's fake-score update."""
        c, batch = self.config, real.shape[0]
        x = self.G(draw_latents(tuple(real.shape), rng, real.device), labels)
        sigma = self.dm_sigmas(batch, rng, real.device)
        x_t = self.noisy(x.detach(), sigma, rng)
        grad = distribution_matching_gradient(x.detach(), x_t, sigma, self.real_score, self.fake_score, labels)
        loss = distribution_matching_loss(x, grad)
        losses = {"loss_dm": loss.detach()}
        with frozen(self.D, self.fake_score if self.classifier is not None else None, self.classifier):
            if self.D is not None:
                loss_gan = generator_loss(self.D(x, labels)).mean()
            elif self.classifier is not None:
                sigma_g = self.dm_sigmas(batch, rng, real.device)
                loss_gan = generator_loss(self.logits(self.noisy(x, sigma_g, rng), sigma_g, labels)).mean()
            if self.gan:
                loss = loss + c.gan_weight * loss_gan
                losses["loss_gan"] = loss_gan.detach()
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
        self._clip(list(self.G.parameters()))
        self.opt_g.step()
        return losses, x.detach()

    def train_step(self, real, labels, step, rng):
        """One DMD2 iteration (module docstring): the generator every k-th, then the fake score."""
        losses: dict[str, torch.Tensor] = {}
        x = None
        if step % self.config.fake_steps_per_generator_step == 0:  # two time-scale update rule
            generator_losses, x = self.generator_step(real, labels, rng)
            losses.update(generator_losses)
        losses.update(self.fake_score_step(real, labels, rng, x))
        return losses


METHODS.add("dmd", DMD)
