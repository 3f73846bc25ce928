"""Pre-training a small EDM backbone (Karras et al. 2022): the diffusion model every method starts
from, for datasets with no released checkpoint (digits, Fashion-MNIST).

EDM loss (arXiv 2206.00364, Eq. 2 and Table 1): ln sigma ~ N(P_mean, P_std^2), weight (sigma^2 + sd^2) / (sigma sd)^2,
per-image sum of weighted squared errors averaged over the batch; Adam with a linear lr ramp-up
and an EMA with ramped half-life, whose weights are what is shipped.

GPU scale (Fashion-MNIST, issue #10): the images are moved to the device once (no per-step
host-to-device copies), the forward pass runs under bf16 autocast on CUDA (weights, optimiser and
EMA stay fp32, as in the paper's bf16 training), Adam is the fused CUDA kernel, and the loss is
read back to the host only at the end, so the GPU never waits for Python.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.backbones import build_network
from baselines.losses import edm_loss_weight
from harness.backbones.files import save_weights
from harness.data import ImageDataset
from harness.data.base import to_float
from harness.errors import UsageError
from harness.optimizers import Adam
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
    # Per-run changes of the preset network (None: the preset's), e.g. a tiny one for smoke tests.
    model_channels: int | None = None
    channel_mult: tuple[int, ...] | None = None
    num_blocks: int | None = None
    attn_resolutions: tuple[int, ...] | None = None
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 elsewhere) | fp32 | bf16: the forward pass's autocast
    save_dtype: str = "float32"  # float32 | float16: the shipped file's weights (the card's FDs are of them)
    fd_samples: int | None = None  # samples for the card's teacher / one-step FD; None: the dataset's eval preset
    checkpoint_kimg: float = 50.0  # training state written this often (and at the end); 0: only at the end


NETWORK_OVERRIDES = ("model_channels", "channel_mult", "num_blocks", "attn_resolutions")
SAVE_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def resolve_network(cfg: PretrainConfig) -> PretrainConfig:
    """The config with the per-run network changes folded into ``network`` (and cleared), so the
    card's ``network`` is exactly the trained architecture."""
    kwargs = dict(cfg.network["init_kwargs"])
    changes = {}
    for name in NETWORK_OVERRIDES:
        value = getattr(cfg, name)
        if value is not None:
            kwargs[name] = list(value) if isinstance(value, tuple) else value
            changes[name] = None
    from dataclasses import replace

    return replace(cfg, network={**cfg.network, "init_kwargs": kwargs}, **changes)


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision not in ("auto", "fp32", "bf16"):
        raise UsageError(f"precision must be auto, fp32 or bf16, got '{precision}'")
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def round_to_save_dtype(net: torch.nn.Module, save_dtype: str) -> torch.nn.Module:
    """Round the weights through the dtype they will be stored in, so what is measured is what ships."""
    if save_dtype not in SAVE_DTYPES:
        raise UsageError(f"save_dtype must be one of {', '.join(SAVE_DTYPES)}, got '{save_dtype}'")
    with torch.no_grad():
        for t in list(net.parameters()) + list(net.buffers()):
            if t.is_floating_point():
                t.copy_(t.to(SAVE_DTYPES[save_dtype]).to(t.dtype))
    return net


def edm_loss(net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor | None, cfg: PretrainConfig,
             rng: torch.Generator) -> torch.Tensor:
    n = images.shape[0]
    sigma = (torch.randn(n, 1, 1, 1, generator=rng, device=rng.device) * cfg.p_std + cfg.p_mean).exp().to(images.device)
    weight = edm_loss_weight(sigma, cfg.sigma_data)
    noise = torch.randn(images.shape, generator=rng, device=rng.device).to(images.device) * sigma
    denoised = net(images + noise, sigma, labels)
    return (weight * (denoised - images) ** 2).sum() / n


def pretrain(dataset: ImageDataset, cfg: PretrainConfig, seed: int, device: torch.device,
             show_progress: bool = True, state_path: Path | None = None,
             resume: bool = False, command: str = "") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train from scratch, or continue the state at ``state_path`` (``resume``); returns the EMA network
    and the facts for its card. With ``state_path``, the state is written every ``checkpoint_kimg``
    and at the end (harness/pretrain_state.py), so the run can be continued or extended; the state keeps
    every ``command`` that trained it, so a card made over several sittings names them all."""
    from harness.pretrain_state import ACTIVE, load_pretrain_state, restore_pretrain_state, save_pretrain_state

    torch.manual_seed(seed)
    precision = resolve_precision(cfg.precision, device)
    net = build_network(cfg.network["class_name"], cfg.network["init_kwargs"]).to(device).train()
    fused = {"fused": True} if device.type == "cuda" else {}  # CPU keeps the update its shipped backbones were made with
    opt = Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, **fused)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    images_on_device = dataset.images.to(device)  # once: 70k Fashion-MNIST images are 72 MB as uint8
    labels_on_device = dataset.labels.to(device)
    ema = EMA(net, cfg.ema_halflife_kimg, cfg.ema_rampup_ratio)
    # Noise is drawn where it is used (a CUDA generator on the GPU); on the CPU nothing changes.
    data_rng, noise_rng = make_generator(seed, "pretrain-data"), make_generator(seed, "pretrain-noise", device)
    label_dim = int(cfg.network["init_kwargs"].get("label_dim", 0))
    budget, seen, step, losses, before = int(cfg.kimg * 1000), 0, 0, [], 0.0
    order, cursor = torch.randperm(len(dataset), generator=data_rng), 0
    rngs = {"data": data_rng, "noise": noise_rng}
    commands = [command]
    if resume:
        tensors, meta = load_pretrain_state(state_path, cfg, seed, dataset.sha256)
        commands = [str(c) for c in meta.get("commands", [])] + commands  # states before 2026-12-05 kept none
        done = restore_pretrain_state(tensors, meta, net, ema.module, opt, rngs, device)
        seen, step, cursor, before, order, losses = (done[k] for k in ("seen", "step", "cursor", "seconds", "order",
                                                                         "losses"))

    def save_state() -> None:
        save_pretrain_state(state_path, cfg, seed, dataset.sha256, net, ema.module, opt, rngs,
                            {"seen": seen, "step": step, "cursor": cursor, "order": order,
                             "seconds": before + time.perf_counter() - start, "commands": commands,
                             "losses": torch.stack(losses) if losses else torch.zeros(0)})

    every = int(cfg.checkpoint_kimg * 1000) if state_path and cfg.checkpoint_kimg else 0
    ACTIVE[:] = [Path(state_path)] if state_path else []
    start = time.perf_counter()
    with image_progress(f"pretrain {dataset.name}", budget, show_progress) as advance:
        advance(min(seen, budget))
        while seen < budget:
            if cursor + cfg.batch_size > len(order):
                order, cursor = torch.randperm(len(dataset), generator=data_rng), 0
            index = order[cursor:cursor + cfg.batch_size]
            cursor += cfg.batch_size
            index = index.to(device)
            images, classes = to_float(images_on_device[index]), labels_on_device[index]
            labels = torch.nn.functional.one_hot(classes, label_dim).float() if label_dim else None
            with autocast:
                loss = edm_loss(net, images, labels, cfg, noise_rng)
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
            losses = (losses + [loss.detach()])[-100:]  # on the device: no host sync per step
            advance(cfg.batch_size)
            if every and seen // every > (seen - cfg.batch_size) // every and seen < budget:
                save_state()
    if state_path:
        save_state()  # the end too: a later `--resume --kimg M` extends this run
    seconds = before + time.perf_counter() - start
    final = float(torch.stack(losses).float().mean()) / dataset.images[0].numel() if losses else float("nan")
    facts = {"images_seen": seen, "steps": step, "train_seconds": round(seconds, 1),
             "images_per_second": round(seen / max(seconds, 1e-9), 1), "precision": precision,
             "device": device_name(device), "num_params": sum(p.numel() for p in net.parameters()),
             "final_loss_per_pixel": final, "config": asdict(cfg), "seed": seed, "made_by_all": commands,
             "data": {"name": dataset.name, "sha256": dataset.sha256, "num_images": len(dataset)}}
    return round_to_save_dtype(ema.module.eval().requires_grad_(False), cfg.save_dtype), facts


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def save_backbone(net: torch.nn.Module, path: Path, cfg: PretrainConfig, facts: dict[str, Any], command: str) -> None:
    card = {"class_name": cfg.network["class_name"], "init_kwargs": cfg.network["init_kwargs"],
            "kind": "edm-backbone", "made_by": command, **facts}
    dtype = SAVE_DTYPES.get(cfg.save_dtype, torch.float32)
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in net.state_dict().items()}
    save_weights(state, path, card)
