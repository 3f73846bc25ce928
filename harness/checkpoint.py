"""Training state on disk, for resuming a pre-empted run exactly where it stopped.

One safetensors file holds every tensor (networks, EMA, optimiser moments, RNG states, data
order); its metadata holds the rest as JSON (config, step, images seen, optimiser hyper-parameters,
method extras). One file replaced atomically means a crash leaves either the old state or the new
one, never a mix. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from harness.errors import BenchError, in_brief
from harness.threads import MAX_THREADS

STATE_FILE = "state.safetensors"


def flatten_optimizer(name: str, state: dict, tensors: dict[str, torch.Tensor]) -> dict:
    """Optimiser state_dict -> tensors under ``optim/name/...`` plus a JSON-able skeleton."""
    skeleton: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for index, entries in state["state"].items():
        skeleton["state"][str(index)] = {}
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{name}/{index}/{key}"] = value
                skeleton["state"][str(index)][key] = {"tensor": f"optim/{name}/{index}/{key}"}
            else:
                skeleton["state"][str(index)][key] = {"value": value}
    return skeleton


def unflatten_optimizer(skeleton: dict, tensors: dict[str, torch.Tensor]) -> dict:
    state = {}
    for index, entries in skeleton["state"].items():
        state[int(index)] = {k: tensors[v["tensor"]] if "tensor" in v else v["value"] for k, v in entries.items()}
    return {"state": state, "param_groups": skeleton["param_groups"]}


def save_state(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write the state to a temporary file, then replace the old one: a failed or killed write keeps
    the last good state. A full disk is a one-line error that names the space needed."""
    from harness.storage import disk_errors, remove_stale_temporaries

    path = Path(path)
    run_dir = path.parent.parent
    hint = (f"; the last good checkpoint is kept: free space, then continue with: bench run --resume {run_dir}"
            if path.is_file() else f"; free space, then start over with: bench run --resume {run_dir}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # safetensors refuses tensors that share memory; a checkpoint needs independent copies anyway.
    cpu = {k: v.detach().to("cpu").clone().contiguous() for k, v in tensors.items()}
    text = json.dumps(meta, sort_keys=True)
    needed = sum(v.numel() * v.element_size() for v in cpu.values()) + len(text)
    with disk_errors("the checkpoint", path, needed, hint, temporary=tmp):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent, path.name)  # left by a process killed mid-write
        save_file(cpu, str(tmp), metadata={"meta": text})
        os.replace(tmp, path)


def load_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"no training state at {path}: the run saved no checkpoint yet, so it cannot be resumed")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["meta"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except KeyError as exc:  # e.g. a generator.safetensors put in the checkpoint's place
        raise BenchError(f"{path}: not a training state of `bench run` (its metadata lacks {exc})") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise BenchError(f"{path}: unreadable training state ({exc.__class__.__name__}: {in_brief(exc)})") from None
    return tensors, meta


def prefixed_state(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    for key, value in module.state_dict().items():
        tensors[f"{prefix}/{key}"] = value


def module_state(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    start = f"{prefix}/"
    return {k[len(start):]: v for k, v in tensors.items() if k.startswith(start)}


def fitting_state(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors for ``module``, checked first: a missing, extra or wrong-shaped tensor
    is one line naming it and the shapes (``load_state_dict`` would raise a many-line RuntimeError)."""
    state, expected = module_state(prefix, tensors), module.state_dict()
    for key, value in expected.items():
        if key not in state:
            raise BenchError(f"the checkpoint lacks tensor '{prefix}/{key}' (shape {list(value.shape)}); "
                             f"it does not belong to this run")
        if tuple(state[key].shape) != tuple(value.shape):
            raise BenchError(f"the checkpoint's tensor '{prefix}/{key}' has shape {list(state[key].shape)}, the "
                             f"run's network needs {list(value.shape)}; it does not belong to this run")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise BenchError(f"the checkpoint holds tensor '{prefix}/{extra[0]}' that the run's network does not have; "
                         f"it does not belong to this run")
    return state


def check_fits(method, tensors: dict[str, torch.Tensor]) -> None:
    """Every network of ``method`` (and its EMA, a copy of the generator) against a checkpoint's
    tensors, before the run writes anything (its log files, its TensorBoard events)."""
    for name, module in method.modules().items():
        fitting_state(f"module/{name}", module, tensors)
    fitting_state("ema", method.generator, tensors)


def collect_state(method, ema, loop: dict[str, Any], rngs: dict[str, torch.Generator]) -> tuple[dict, dict]:
    """Everything needed to continue a run bit for bit: tensors and JSON-able facts."""
    tensors: dict[str, torch.Tensor] = {"loop/order": loop["order"], "rng/torch": torch.get_rng_state()}
    for name, rng in rngs.items():
        tensors[f"rng/{name}"] = rng.get_state()
    for name, module in method.modules().items():
        prefixed_state(f"module/{name}", module, tensors)
    prefixed_state("ema", ema.module, tensors)
    optimizers = {name: flatten_optimizer(name, opt.state_dict(), tensors) for name, opt in method.optimizers().items()}
    meta = {k: loop[k] for k in ("cursor", "step", "images_seen", "history", "train_seconds")}
    meta.update(curve=loop.get("curve", []), eval_seconds=loop.get("eval_seconds", 0.0))
    meta.update(optimizers=optimizers, extra=method.extra_state())
    return tensors, meta


def check_belongs(meta: dict, run_dir: Path, started: dict | None) -> None:
    """A training state resumes only the run that wrote it: the folder's run id, the settings the run
    started with (``started``: checkpoint/run.json; only the device may change) and counters a loop
    can reach. A state copied in from another run, or edited, never trains on under this run's name."""
    name, owner = Path(run_dir).name, meta.get("run_id")
    if owner is not None and owner != name:
        raise BenchError(f"{run_dir}: its training state belongs to run {owner}; it cannot resume run {name}")
    if not isinstance(meta.get("config"), dict):
        return  # nothing to rebuild the run from: config_from_record says so, naming the file
    began = {k: v for k, v in ((started or meta).get("config") or {}).items() if k != "device"}
    if not _agrees(began, meta.get("config") or {}):
        raise BenchError(f"{run_dir}: its training state holds other settings than the run started with "
                         f"(checkpoint/run.json); it does not belong to this run")
    train = (meta.get("config") or {}).get("train") or {}
    budget, batch, threads = train.get("budget_kimg"), train.get("batch_size"), meta.get("cpu_threads")
    cursor, step, seen = (meta.get(k) for k in ("cursor", "step", "images_seen"))
    reachable = all(_count(c) for c in (cursor, step, seen, batch)) and isinstance(budget, (int, float)) \
        and seen <= budget * 1000 + batch
    if not reachable or not (threads is None or (_count(threads) and 1 <= threads <= MAX_THREADS)):
        raise BenchError(f"{run_dir}: its training state's counters are out of range; it does not belong to this run")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _agrees(began: Any, now: Any) -> bool:
    """Every setting the run began with holds now (a later version may have added settings)."""
    if isinstance(began, dict):
        return isinstance(now, dict) and all(k in now and _agrees(v, now[k]) for k, v in began.items())
    return began == now


def restore_state(method, ema, tensors: dict, meta: dict, rngs: dict[str, torch.Generator]) -> dict[str, Any]:
    try:  # a tensor or entry that does not fit is one line, never load_state_dict's traceback
        method.load_extra_state(meta["extra"])
        for name, module in method.modules().items():
            module.load_state_dict(fitting_state(f"module/{name}", module, tensors), strict=True)
        ema.module.load_state_dict(fitting_state("ema", ema.module, tensors), strict=True)
        for name, opt in method.optimizers().items():
            opt.load_state_dict(unflatten_optimizer(meta["optimizers"][name], tensors))
        for name, rng in rngs.items():
            rng.set_state(tensors[f"rng/{name}"])
        torch.set_rng_state(tensors["rng/torch"])
        missing = [k for k in ("cursor", "step", "images_seen", "history", "train_seconds") if k not in meta]
        if missing or "loop/order" not in tensors:
            raise KeyError(missing[0] if missing else "loop/order")
        if not 0 <= meta["cursor"] <= len(tensors["loop/order"]):
            raise ValueError(f"data cursor {meta['cursor']} outside its order of {len(tensors['loop/order'])}")
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        detail = f"lacks '{exc.args[0]}'" if isinstance(exc, KeyError) else f"does not fit ({in_brief(exc)})"
        raise BenchError(f"the checkpoint {detail}; it does not belong to this run") from None
    return {"order": tensors["loop/order"], **{k: meta[k] for k in ("cursor", "step", "images_seen", "history",
                                                                      "train_seconds")},
            "curve": meta.get("curve", []), "eval_seconds": meta.get("eval_seconds", 0.0)}
