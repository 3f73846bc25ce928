"""Exponential moving average of the generator's weights with EDM's ramped half-life.

Half-life h = min(halflife, rampup * images_seen) images; per step beta = 0.5 ** (batch / h)
(Karras et al. 2022, App. F; arXiv 2506.09376 and Zyriix/D2O train.sh: 0.5 Mimg with warm-up ratio 0.05).
"""

from __future__ import annotations

import copy

import torch


class EMA:
    def __init__(self, module: torch.nn.Module, halflife_kimg: float, rampup_ratio: float | None):
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.halflife_images = halflife_kimg * 1000
        self.rampup_ratio = rampup_ratio

    def beta(self, batch: int, images_seen: int) -> float:
        halflife = self.halflife_images
        if self.rampup_ratio is not None:
            halflife = min(halflife, images_seen * self.rampup_ratio)
        return 0.5 ** (batch / max(halflife, 1e-8))

    @torch.no_grad()
    def update(self, source: torch.nn.Module, batch: int, images_seen: int) -> None:
        beta = self.beta(batch, images_seen)
        for p_ema, p in zip(self.module.parameters(), source.parameters()):
            p_ema.lerp_(p.detach(), 1 - beta)
        for b_ema, b in zip(self.module.buffers(), source.buffers()):
            b_ema.copy_(b)
