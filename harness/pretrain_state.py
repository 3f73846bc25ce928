"""`bench pretrain`'s training state on disk, so a pre-training can stop (SIGKILL, end of a sitting)
and continue where it stopped, or be extended to more images later.

The state file sits beside the backbone (``NAME.pretrain-state.safetensors`` next to
``NAME.safetensors``) and holds the network, its EMA, Adam's moments, every random-number state and
the data order, written atomically by harness/checkpoint.py (nothing pickled). The learning rate only
ramps up and the EMA's half-life depends on the images seen, so a run continued from N kimg to M kimg
takes the same steps as one run of M kimg: on a CPU, bit for bit (tests/harness/test_pretrain_state.py).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from harness.checkpoint import flatten_optimizer, load_state, module_state, prefixed_state, save_state, unflatten_optimizer
from harness.errors import BenchError, UsageError, in_brief
from harness.optimizers import Optimizer

ACTIVE: list[Path] = []  # the state file of the pre-training in progress (for the CLI's Ctrl-C hint)
# Config fields that may change between sittings: the length, and how the card is measured.
MAY_CHANGE = ("kimg", "fd_samples")


def state_path_for(out: Path) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}.pretrain-state.safetensors")


def comparable(cfg) -> dict[str, Any]:
    """The config as stored in a state, less the fields that may change (JSON round trip: lists, not tuples)."""
    import json

    return {k: v for k, v in json.loads(json.dumps(asdict(cfg))).items() if k not in MAY_CHANGE}


def save_pretrain_state(path: Path, cfg, seed: int, data_sha256: str, net: torch.nn.Module, ema_net: torch.nn.Module,
                        opt: Optimizer, rngs: dict[str, torch.Generator], progress: dict[str, Any]) -> None:
    """``progress``: seen, step, cursor, seconds (numbers), commands (every command that trained it, oldest
    first) and order, losses (tensors)."""
    tensors: dict[str, torch.Tensor] = {"order": progress["order"], "losses": progress["losses"],
                                        "rng/torch": torch.get_rng_state()}
    prefixed_state("net", net, tensors)
    prefixed_state("ema", ema_net, tensors)
    for name, generator in rngs.items():
        tensors[f"rng/{name}"] = generator.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng/cuda"] = torch.cuda.get_rng_state()
    meta = {"kind": "bench-pretrain-state", "config": comparable(cfg), "seed": seed, "data_sha256": data_sha256,
            "optimizer": flatten_optimizer("adam", opt.state_dict(), tensors),
            **{k: progress[k] for k in ("seen", "step", "cursor", "seconds")}, "commands": progress.get("commands", [])}
    save_state(path, tensors, meta)


def load_pretrain_state(path: Path, cfg, seed: int, data_sha256: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state's tensors and metadata, refused (one line) unless it continues exactly this pre-training."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--resume: no pre-training state at {path} (start without --resume)")
    try:
        tensors, meta = load_state(path)
    except BenchError as exc:
        raise UsageError(f"--resume: {exc}") from None
    if meta.get("kind") != "bench-pretrain-state":
        raise UsageError(f"--resume: {path} is not a `bench pretrain` state")
    stored, now = meta.get("config", {}), comparable(cfg)
    differ = sorted(k for k in set(stored) | set(now) if stored.get(k) != now.get(k))
    if differ:
        raise UsageError(f"--resume: {path} was made with other settings ({', '.join(differ)}); "
                         f"only {', '.join(MAY_CHANGE)} may change")
    if meta.get("seed") != seed or meta.get("data_sha256") != data_sha256:
        what = "--seed" if meta.get("seed") != seed else "the data"
        raise UsageError(f"--resume: {path} was made with another {what} (seed {meta.get('seed')})")
    return tensors, meta


def restore_pretrain_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any], net: torch.nn.Module,
                           ema_net: torch.nn.Module, opt: Optimizer, rngs: dict[str, torch.Generator],
                           device: torch.device) -> dict[str, Any]:
    """Load a checked state into freshly built objects; returns the loop's progress."""
    try:
        net.load_state_dict(module_state("net", tensors))
        ema_net.load_state_dict(module_state("ema", tensors))
        opt.load_state_dict(unflatten_optimizer(meta["optimizer"], tensors))
        for name, generator in rngs.items():
            generator.set_state(tensors[f"rng/{name}"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise UsageError(f"--resume: the pre-training state does not fit this network ({in_brief(exc, 200)})") from None
    torch.set_rng_state(tensors["rng/torch"])
    if "rng/cuda" in tensors and device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng/cuda"])
    losses = tensors["losses"].to(device)
    return {"seen": int(meta["seen"]), "step": int(meta["step"]), "cursor": int(meta["cursor"]),
            "seconds": float(meta["seconds"]), "order": tensors["order"], "losses": list(losses.unbind(0))}
