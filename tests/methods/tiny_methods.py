"""Tiny in-memory EDM backbones and a step runner shared by the per-method tests (tests/methods/)."""

from __future__ import annotations

from pathlib import Path

import torch

from baselines.base import MethodContext
from harness.backbones import LoadedBackbone, build_network

# A tiny NCSN++-flavoured SongUNet (residual encoder, attention at 4x4): every layer kind the
# freezing rule talks about, small enough for CPU.
TINY = dict(img_resolution=8, img_channels=1, model_type="SongUNet", model_channels=8, channel_mult=[1, 2],
            num_blocks=1, attn_resolutions=[4], dropout=0.0, embedding_type="fourier", channel_mult_noise=2,
            encoder_type="residual", resample_filter=[1, 3, 3, 1])


def tiny_net(label_dim: int = 0, seed: int = 0, jitter: float = 0.05) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build_network("EDMPrecond", dict(TINY, label_dim=label_dim))
    with torch.no_grad():  # EDM zero-inits output layers; jitter so every network has a non-trivial output
        for p in net.parameters():
            p.add_(jitter * torch.randn_like(p))
    return net.eval().requires_grad_(False)


def tiny_backbone(label_dim: int = 0) -> LoadedBackbone:
    return LoadedBackbone(net=tiny_net(label_dim), name="tiny", path=Path("tiny.safetensors"), sha256="0" * 64,
                          card={})


def one_hot(batch: int, label_dim: int) -> torch.Tensor | None:
    if not label_dim:
        return None
    return torch.nn.functional.one_hot(torch.arange(batch) % label_dim, label_dim).float()


BATCH = 4


def context(backbone: LoadedBackbone, budget_batches: int = 2) -> MethodContext:
    return MethodContext(backbone=backbone, num_classes=backbone.label_dim or 10, device=torch.device("cpu"),
                         seed=0, batch_size=BATCH, budget_images=budget_batches * BATCH)


def run_steps(method, label_dim: int, steps: int = 2, first_step: int = 0) -> list[dict]:
    rng = torch.Generator().manual_seed(123)
    data = torch.Generator().manual_seed(321)
    out = []
    for step in range(first_step, first_step + steps):
        real = torch.rand((BATCH, 1, 8, 8), generator=data) * 2 - 1
        out.append(method.train_step(real, one_hot(BATCH, label_dim), step, rng))
    return out
