"""Exponential moving average of the generator's weights with EDM's ramped half-life.

Half-life h = min(halflife, rampup * images_seen) images; per step beta = 0.5 ** (batch / h)
(Karras et al. 2022, App. F; arXiv 2506.09376 and Zyriix/D2O train.sh: 0.5 Mimg with warm-up ratio 0.05).

``fixed_beta`` replaces that with one decay per step, as the baselines' references do it: Consistency
Models evaluate an EMA of 0.9999 per step (openai/consistency_models_cifar10 ``configs/cifar10_ve_cd.py``
``model.ema_rate``); progressive distillation (google-research ``diffusion_distillation/config/*_distill.py``
``ema_decay=0``) and DMD2 use none: ``fixed_beta = 0`` keeps the copy equal to the trained generator, so
the raw generator is what gets evaluated.
"""

from __future__ import annotations

import copy

import torch


class EMA:
    def __init__(self, module: torch.nn.Module, halflife_kimg: float, rampup_ratio: float | None,
                 fixed_beta: float | None = None):
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.halflife_images = halflife_kimg * 1000
        self.rampup_ratio = rampup_ratio
        self.fixed_beta = fixed_beta

    def beta(self, batch: int, images_seen: int) -> float:
        if self.fixed_beta is not None:
            return float(self.fixed_beta)
        halflife = self.halflife_images
        if self.rampup_ratio is not None:
            halflife = min(halflife, images_seen * self.rampup_ratio)
        return 0.5 ** (batch / max(halflife, 1e-8))

    @torch.no_grad()
    def update(self, source: torch.nn.Module, batch: int, images_seen: int) -> None:
        beta = self.beta(batch, images_seen)
        for p_ema, p in zip(self.module.parameters(), source.parameters()):
            if beta == 0.0:  # no EMA: an exact copy of the trained weights
                p_ema.copy_(p.detach())
            else:
                p_ema.lerp_(p.detach(), 1 - beta)
        for b_ema, b in zip(self.module.buffers(), source.buffers()):
            b_ema.copy_(b)
