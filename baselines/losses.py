"""Every training loss the methods share, behind plain functions (one module, as EDM's
``training/loss.py`` keeps its losses): the non-saturating GAN losses, the R1 penalty, EDM's loss
weight lambda(sigma) and the pseudo-Huber metric.

GAN losses take a discriminator's output as it comes: one tensor [N] or [N, ...] (a from-scratch
discriminator, DMD2's bottleneck classifier) or a sequence of them, one per feature network of a
projected discriminator, each [N, L] patch logits of all its heads. Each logit gets its own
softplus; per image, the logits of one group are averaged and the groups are summed (Projected GAN,
Sauer et al. 2021; D2O's loss, Zyriix/GDD ``training/loss.py``). The functions return one value per
image; the method chooses the batch reduction (D2O sums over the batch, DMD2 averages).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn.functional import softplus

Logits = torch.Tensor | Sequence[torch.Tensor]


def logit_groups(logits: Logits) -> list[torch.Tensor]:
    """The groups of a discriminator's output, each as [N, L] (L logits per image)."""
    groups = [logits] if isinstance(logits, torch.Tensor) else list(logits)
    return [g.reshape(g.shape[0], -1).to(torch.float32) for g in groups]


def per_image(values: Logits, fn) -> torch.Tensor:
    """sum over groups of mean over a group's logits of fn(logit): [N]."""
    return sum(fn(g).mean(dim=1) for g in logit_groups(values))


def generator_loss(fake_logits: Logits) -> torch.Tensor:
    """Non-saturating generator loss softplus(-D(G(z))) per image [N] (Goodfellow et al. 2014)."""
    return per_image(fake_logits, lambda g: softplus(-g))


def discriminator_loss(real_logits: Logits, fake_logits: Logits) -> torch.Tensor:
    """softplus(D(G(z))) + softplus(-D(x)) per image [N]; real and fake batches have the same size."""
    return per_image(fake_logits, softplus) + per_image(real_logits, lambda g: softplus(-g))


def logit_sum(logits: Logits) -> torch.Tensor:
    """The sum of every logit of every image: what R1 differentiates."""
    return sum(g.sum() for g in logit_groups(logits))


def r1_penalty(D: torch.nn.Module, real: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """||grad_x sum D(x)||^2 per real image [N] (Mescheder et al. 2018, eq. 9, before gamma/2)."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(logit_sum(D(real, labels)), real, create_graph=True)
    return grad.square().sum(dim=[1, 2, 3])


def edm_loss_weight(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """EDM's lambda(sigma) = (sigma^2 + sd^2)/(sigma sd)^2 (Karras et al. 2022, arXiv 2206.00364, Table 1)."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def pseudo_huber(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    """sqrt(||a - b||^2 + c^2) - c per sample (Song & Dhariwal 2023, arXiv 2310.14189, §3.3)."""
    return ((a - b).square().sum(dim=[1, 2, 3]) + c**2).sqrt() - c
