"""Pre-training a small EDM backbone (Karras et al. 2022): the diffusion model every method starts
from, for datasets with no released checkpoint (digits, Fashion-MNIST).

EDM loss (EDM_SPEC §10.1): ln sigma ~ N(P_mean, P_std^2), weight (sigma^2 + sd^2) / (sigma sd)^2,
per-image sum of weighted squared errors averaged over the batch; Adam with a linear lr ramp-up
and an EMA with ramped half-life, whose weights are what is shipped.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.backbones import build_network
from harness.backbones.files import save_weights
from harness.data import ImageDataset
from harness.ema import EMA
from harness.progress import image_progress
from harness.seeding import make_generator


@dataclass
class PretrainConfig:
    kimg: float = 200_000.0  # EDM CIFAR-10: 200 Mimg
    batch_size: int = 512
    lr: float = 1e-3
    lr_rampup_kimg: float = 10_000.0
    ema_halflife_kimg: float = 500.0
    ema_rampup_ratio: float = 0.05
    p_mean: float = -1.2
    p_std: float = 1.2
    sigma_data: float = 0.5
    network: dict[str, Any] = field(default_factory=dict)  # class_name + init_kwargs


def edm_loss(net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor | None, cfg: PretrainConfig,
             rng: torch.Generator) -> torch.Tensor:
    n = images.shape[0]
    sigma = (torch.randn(n, 1, 1, 1, generator=rng, device=rng.device) * cfg.p_std + cfg.p_mean).exp().to(images.device)
    weight = (sigma**2 + cfg.sigma_data**2) / (sigma * cfg.sigma_data) ** 2
    noise = torch.randn(images.shape, generator=rng, device=rng.device).to(images.device) * sigma
    denoised = net(images + noise, sigma, labels)
    return (weight * (denoised - images) ** 2).sum() / n


def pretrain(dataset: ImageDataset, cfg: PretrainConfig, seed: int, device: torch.device,
             show_progress: bool = True) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train from scratch; returns the EMA network and the facts for its card."""
    torch.manual_seed(seed)
    net = build_network(cfg.network["class_name"], cfg.network["init_kwargs"]).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8)
    ema = EMA(net, cfg.ema_halflife_kimg, cfg.ema_rampup_ratio)
    data_rng, noise_rng = make_generator(seed, "pretrain-data"), make_generator(seed, "pretrain-noise")
    label_dim = int(cfg.network["init_kwargs"].get("label_dim", 0))
    budget, seen, step, losses = int(cfg.kimg * 1000), 0, 0, []
    order, cursor = torch.randperm(len(dataset), generator=data_rng), 0
    start = time.perf_counter()
    with image_progress(f"pretrain {dataset.name}", budget, show_progress) as advance:
        while seen < budget:
            if cursor + cfg.batch_size > len(order):
                order, cursor = torch.randperm(len(dataset), generator=data_rng), 0
            index = order[cursor:cursor + cfg.batch_size]
            cursor += cfg.batch_size
            images, classes = dataset.batch(index)
            labels = torch.nn.functional.one_hot(classes, label_dim).float().to(device) if label_dim else None
            loss = edm_loss(net, images.to(device), labels, cfg, noise_rng)
            for group in opt.param_groups:
                group["lr"] = cfg.lr * min(1.0, seen / max(cfg.lr_rampup_kimg * 1000, 1e-8)) if cfg.lr_rampup_kimg else cfg.lr
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for p in net.parameters():  # EDM: NaN -> 0, +-Inf clipped
                if p.grad is not None:
                    torch.nan_to_num_(p.grad, nan=0.0, posinf=1e5, neginf=-1e5)
            opt.step()
            seen += cfg.batch_size
            step += 1
            ema.update(net, cfg.batch_size, seen)
            losses.append(float(loss.detach()) / images[0].numel())
            advance(cfg.batch_size)
    seconds = time.perf_counter() - start
    tail = losses[-100:]
    facts = {"images_seen": seen, "steps": step, "train_seconds": round(seconds, 1),
             "final_loss_per_pixel": sum(tail) / max(len(tail), 1), "config": asdict(cfg), "seed": seed,
             "data": {"name": dataset.name, "sha256": dataset.sha256, "num_images": len(dataset)}}
    return ema.module.eval().requires_grad_(False), facts


def save_backbone(net: torch.nn.Module, path: Path, cfg: PretrainConfig, facts: dict[str, Any], command: str) -> None:
    card = {"class_name": cfg.network["class_name"], "init_kwargs": cfg.network["init_kwargs"],
            "kind": "edm-backbone", "made_by": command, **facts}
    save_weights(net.state_dict(), path, card)
