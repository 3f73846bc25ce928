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

from harness.errors import BenchError, UsageError, in_brief
from harness.record_shape import FLAG, LIST, NUMBER, fits
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
    check_meta(meta, path)
    return tensors, meta


# A curve point as harness/curves.py writes it: the parts a resumed run reads again (record_shape's kinds).
POINT_PARTS = {"kimg": NUMBER, "images_seen": NUMBER, "step": NUMBER, "final": FLAG, "metrics": LIST,
               "num_samples": NUMBER, "train_seconds": NUMBER, "eval_seconds": NUMBER}


def check_meta(meta: Any, path: Path) -> None:
    """The JSON half of a state has the types ``collect_state`` writes: an edited one is one line before
    any work, not a traceback after minutes of training that has already replaced the state."""
    def refuse(what: str) -> None:
        raise BenchError(f"{path}: its {what}; it does not belong to this run")

    if not isinstance(meta, dict):
        refuse("metadata is not a JSON object")
    history, curve = meta.get("history", []), meta.get("curve", [])
    if not (isinstance(history, list) and all(isinstance(h, dict) for h in history)):
        refuse("loss history is not a list of objects")
    if not (isinstance(curve, list) and all(isinstance(point, dict) and all(fits(point.get(k), kind) for k, kind in
                                                                            POINT_PARTS.items())
                                            and all(isinstance(m, dict) for m in point["metrics"]) for point in curve)):
        refuse("curve is not a list of curve points")
    if not all(fits(meta.get(k, 0.0), NUMBER) for k in ("train_seconds", "eval_seconds")):
        refuse("seconds are not numbers")
    for key in ("config", "extra"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            refuse(f"{key} is not a JSON object")
    optimizers = meta.get("optimizers", {})
    if not (isinstance(optimizers, dict) and all(
            isinstance(o, dict) and isinstance(o.get("param_groups"), list) and isinstance(o.get("state"), dict)
            and all(isinstance(e, dict) and all(isinstance(v, dict) for v in e.values()) for e in o["state"].values())
            for o in optimizers.values())):
        refuse("optimizer states are malformed")


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


def check_fits(method, tensors: dict[str, torch.Tensor], meta: dict | None = None) -> None:
    """Every network of ``method`` (and its EMA, a copy of the generator) and, given the state's
    ``meta``, every optimiser against a checkpoint, before the run writes anything (its log files,
    its TensorBoard events)."""
    for name, module in method.modules().items():
        fitting_state(f"module/{name}", module, tensors)
    fitting_state("ema", method.generator, tensors)
    if meta is not None:
        for name, opt in method.optimizers().items():
            fitting_optimizer(name, opt, (meta.get("optimizers") or {}).get(name), tensors)


def _same_kind(saved: Any, fresh: Any) -> bool:
    """A saved hyper-parameter of the type the freshly built optimiser holds (JSON turns tuples into lists)."""
    if isinstance(fresh, bool) or fresh is None or isinstance(fresh, str):
        return type(saved) is type(fresh)
    if fits(fresh, NUMBER):
        return fits(saved, NUMBER)
    if isinstance(fresh, (list, tuple)):
        return isinstance(saved, (list, tuple)) and len(saved) == len(fresh) and all(map(_same_kind, saved, fresh))
    return True  # a kind no optimiser here uses: load_state_dict judges it


def fitting_optimizer(name: str, opt, saved: dict | None, tensors: dict[str, torch.Tensor]) -> None:
    """An optimiser's saved skeleton against the run's: its groups' hyper-parameters of the right types,
    and each per-parameter tensor of its parameter's shape (a scalar, such as Adam's step, of any)."""
    def refuse(what: str) -> None:
        raise BenchError(f"the checkpoint's {what}; it does not belong to this run")

    if saved is None:
        refuse(f"optimizer '{name}' is missing")
    fresh = opt.state_dict()["param_groups"]
    groups = saved["param_groups"]
    if len(groups) != len(fresh) or not all(
            isinstance(g, dict) and set(g) == set(f) and isinstance(g["params"], list)
            and len(g["params"]) == len(f["params"]) and all(_same_kind(g[k], f[k]) for k in f if k != "params")
            for g, f in zip(groups, fresh)):
        refuse(f"optimizer '{name}' has other parameter groups or hyper-parameters of other types")
    params = [p for group in opt.param_groups for p in group["params"]]
    for index, entries in saved["state"].items():
        if not (index.isdigit() and int(index) < len(params)):
            refuse(f"optimizer '{name}' has state for parameter {index!r}, which the run does not have")
        for key, entry in entries.items():
            if "tensor" not in entry:
                continue
            tensor = tensors.get(entry["tensor"]) if isinstance(entry["tensor"], str) else None
            if tensor is None:
                refuse(f"optimizer '{name}' names tensor {entry['tensor']!r}, which it lacks")
            shape = tuple(params[int(index)].shape)
            if tensor.dim() > 0 and tuple(tensor.shape) != shape:
                refuse(f"tensor '{entry['tensor']}' has shape {list(tensor.shape)}, its parameter {list(shape)}")


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
    started_config = (started or meta).get("config") or {}
    if not isinstance(started_config, dict):
        raise BenchError(f"{run_dir}: checkpoint/run.json's config is not a JSON object; it does not belong to this run")
    began = {k: v for k, v in started_config.items() if k != "device"}
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


def check_relative_paths(config, meta: dict, run_dir: Path) -> None:
    """A run started with a relative --backbone or --data resumes only where those paths lead to the same
    files: from another folder they named nothing (or something else), and the error blamed a flag the
    user had not typed. ``meta['cwd']`` (the folder the run started in) says where to resume from."""
    started_in = meta.get("cwd")
    if not isinstance(started_in, str):
        return  # a state from before the folder was kept
    for flag, value in (("--backbone", config.backbone), ("--data", config.data_path)):
        if not isinstance(value, str) or Path(value).is_absolute():
            continue
        there = Path(started_in) / value
        if there.exists() and there.resolve() != Path(value).resolve():
            raise UsageError(f"run {Path(run_dir).name} started in {started_in} with {flag} {value}, a path relative "
                             f"to that folder: resume it from there (cd {started_in} && bench run --resume "
                             f"{Path(run_dir).resolve()})")
