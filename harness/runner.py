"""The training loop every method shares: data order, image budget, EMA, divergence checks,
evaluation and the run record. A method only supplies its algorithm (baselines/base.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import torch

from baselines import METHODS
from baselines.base import MethodContext
from harness import records
from harness.backbones import LoadedBackbone, load_backbone
from harness import distributed
from harness.config import RunConfig, apply_overrides
from harness.data import DATASETS, ImageDataset, load_dataset
from harness.ema import EMA
from harness.errors import BenchError, UsageError
from harness.evaluate import generate, labels_for, save_grid
from harness.progress import image_progress
from harness.seeding import cpu_threads, make_generator

STATE_FILE = "state.safetensors"
ACTIVE_RUN_DIR: list[Path] = []  # the folder of the run this process is training (for the CLI's Ctrl-C hint)


class Diverged(Exception):
    """A NaN or Inf in a loss or the weights; the run is recorded as failed, never as a result."""

    def __init__(self, reason: str, step: int, images_seen: int):
        super().__init__(reason)
        self.reason, self.step, self.images_seen = reason, step, images_seen


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but no CUDA device is available")
    if name != "cpu" and not name.startswith("cuda"):
        raise UsageError(f"unknown device '{name}'; valid: auto, cpu, cuda")
    return torch.device(name)


def check_compatible(dataset: ImageDataset, backbone: LoadedBackbone) -> None:
    """Resolution, channels and labels must agree before any training starts."""
    if (dataset.resolution, dataset.channels) != (backbone.resolution, backbone.channels):
        raise BenchError(f"dataset {dataset.name} is {dataset.channels}x{dataset.resolution}x{dataset.resolution} "
                         f"but backbone {backbone.name} is {backbone.channels}x{backbone.resolution}x{backbone.resolution}")
    if backbone.label_dim and backbone.label_dim != dataset.num_classes:
        raise BenchError(f"backbone {backbone.name} is conditional on {backbone.label_dim} classes, "
                         f"dataset {dataset.name} has {dataset.num_classes}")


def build_method(config: RunConfig, backbone: LoadedBackbone, dataset: ImageDataset, device: torch.device):
    method_cls = METHODS.get(config.method)
    method_config = apply_overrides(method_cls.Config(), config.method_config)
    ctx = MethodContext(backbone=backbone, num_classes=dataset.num_classes, device=device, seed=config.seed,
                        batch_size=config.train.batch_size,
                        budget_images=int(round(config.train.budget_kimg * 1000)))
    return method_cls(ctx, method_config), method_config


class FiniteWatch:
    """Divergence checks without a host sync per step.

    ``note`` remembers, on the device, the first step at which each loss was not finite; ``check``
    (called on the history/checkpoint schedule and at the end) reads that back once and raises
    ``Diverged`` naming the first bad step, then checks the generator's weights.
    """

    def __init__(self):
        self.first: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # loss -> (first bad step, its value)

    def note(self, losses: dict[str, torch.Tensor], step: int) -> None:
        for name, value in losses.items():
            value = value.detach().float().sum()
            bad_step, bad_value = self.first.get(name) or (torch.full((), -1, device=value.device), value.new_zeros(()))
            take = ~torch.isfinite(value) & (bad_step < 0)
            self.first[name] = (torch.where(take, step, bad_step), torch.where(take, value, bad_value))

    def check(self, module: torch.nn.Module, step: int, images_seen: int, batch: int, world: int = 1) -> None:
        bad = [(int(s), name, float(v)) for name, (s, v) in self.first.items() if int(s) >= 0]
        if world > 1 and distributed.any_rank(bool(bad), next(module.parameters()).device) and not bad:
            raise Diverged("a loss of another process is not finite", step, images_seen)  # all ranks stop together
        if bad:
            bad_step, name, value = min(bad, key=lambda item: item[0])
            raise Diverged(f"{name} is {value}", bad_step, images_seen - (step - bad_step) * batch)
        for name, p in module.named_parameters():
            if not torch.isfinite(p).all():
                raise Diverged(f"generator weight {name} is not finite", step, images_seen)


def collect_state(method, ema: EMA, loop: dict[str, Any], rngs: dict[str, torch.Generator]) -> tuple[dict, dict]:
    """Everything needed to continue a run bit for bit: tensors and JSON-able facts."""
    from harness.checkpoint import flatten_optimizer, prefixed_state

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


def restore_state(method, ema: EMA, tensors: dict, meta: dict, rngs: dict[str, torch.Generator]) -> dict[str, Any]:
    from harness.checkpoint import module_state, unflatten_optimizer

    method.load_extra_state(meta["extra"])
    for name, module in method.modules().items():
        module.load_state_dict(module_state(f"module/{name}", tensors), strict=True)
    ema.module.load_state_dict(module_state("ema", tensors), strict=True)
    for name, opt in method.optimizers().items():
        opt.load_state_dict(unflatten_optimizer(meta["optimizers"][name], tensors))
    for name, rng in rngs.items():
        rng.set_state(tensors[f"rng/{name}"])
    torch.set_rng_state(tensors["rng/torch"])
    return {"order": tensors["loop/order"], **{k: meta[k] for k in ("cursor", "step", "images_seen", "history",
                                                                      "train_seconds")},
            "curve": meta.get("curve", []), "eval_seconds": meta.get("eval_seconds", 0.0)}


def train(method, dataset: ImageDataset, config: RunConfig, device: torch.device, show_progress: bool,
          checkpoint_path: Path | None = None, resume_from: tuple[dict, dict] | None = None,
          run_meta: dict | None = None, rank: distributed.Rank = distributed.Rank(), monitor=None) -> dict[str, Any]:
    """Run steps until the generator has seen ``budget_kimg`` thousand images; return the EMA and stats.

    Every ``checkpoint_kimg`` (and at the end) the full training state is saved to
    ``checkpoint_path``; ``resume_from`` continues from such a state exactly. Under several
    processes (``rank``) the budget and ``batch_size`` count over all of them: each rank trains on
    its slice of the global batch, and only the writer rank is given a ``checkpoint_path``.
    ``monitor`` (harness/monitor.py, writer rank only) logs step groups and measures curve points;
    the seconds it spends evaluating are not training seconds.
    """
    from dataclasses import replace

    from harness.checkpoint import save_state
    from harness.curves import CurveSchedule
    from harness.precision import autocast, prepare_method

    tc = config.train
    budget = int(round(tc.budget_kimg * 1000))
    batch = tc.batch_size
    mine = rank.my_slice(batch)
    if batch > len(dataset):
        raise UsageError(f"batch_size {batch} is larger than dataset {dataset.name} ({len(dataset)} images)")
    rngs = {"data": make_generator(config.seed, "data-order"),
            "step": make_generator(config.seed, rank.noise_purpose("train-noise"),
                                   device if device.type == "cuda" else "cpu")}
    ema = EMA(method.generator, tc.ema_halflife_kimg, tc.ema_rampup_ratio)
    prepare_method(method, tc.precision, tc.compile)  # after the EMA copy: it stays a plain fp32 module
    if device.type != "cpu":  # the images live on the device; each step only indexes them there
        dataset = replace(dataset, images=dataset.images.to(device), labels=dataset.labels.to(device))
    label_dim = method.ctx.backbone.label_dim
    loop: dict[str, Any] = {"order": torch.randperm(len(dataset), generator=rngs["data"]), "cursor": 0, "step": 0,
                            "images_seen": 0, "history": [], "train_seconds": 0.0, "curve": [], "eval_seconds": 0.0}
    if resume_from is not None:
        loop = restore_state(method, ema, *resume_from, rngs)
    if monitor is not None:
        monitor.attach(loop)
    every = max(1, int(round(tc.checkpoint_kimg * 1000))) if tc.checkpoint_kimg > 0 else None
    next_checkpoint = ((loop["images_seen"] // every) + 1) * every if every else None
    watch = FiniteWatch()
    curve_schedule = CurveSchedule.from_config(config.eval, tc.budget_kimg)
    order = loop["order"].to(dataset.images.device)
    if rank.world > 1:
        distributed.broadcast_modules(method.modules())
    replicas = distributed.replicate(method, rank, device)

    def checkpoint() -> None:
        if checkpoint_path is not None:
            tensors, meta = collect_state(method, ema, loop, rngs)
            save_state(checkpoint_path, tensors, {**meta, **(run_meta or {})})

    start = time.perf_counter() - loop["train_seconds"]
    try:
        with image_progress(f"{config.method} on {config.dataset}", budget, show_progress) as advance:
            advance(loop["images_seen"])
            while loop["images_seen"] < budget:
                if loop["cursor"] + batch > len(loop["order"]):
                    loop["order"], loop["cursor"] = torch.randperm(len(dataset), generator=rngs["data"]), 0
                    order = loop["order"].to(dataset.images.device)
                index = order[loop["cursor"]:loop["cursor"] + batch][mine]
                loop["cursor"] += batch
                real, _ = dataset.batch(index)
                labels = labels_for(dataset, index, label_dim)
                real = real.to(device)
                labels = labels.to(device) if labels is not None else None
                images_before = loop["images_seen"]
                with autocast(device, tc.precision):
                    losses = method.train_step(real, labels, loop["step"], rngs["step"])
                loop["images_seen"] += batch
                loop["step"] += 1
                watch.note(losses, loop["step"])
                ema.update(method.generator, batch, loop["images_seen"])
                due = next_checkpoint is not None and budget > loop["images_seen"] >= next_checkpoint
                points = curve_schedule.due(images_before, loop["images_seen"])  # the same on every rank
                if loop["step"] % 50 == 0 or loop["images_seen"] >= budget or due or points:  # the only host syncs
                    watch.check(method.generator, loop["step"], loop["images_seen"], batch, rank.world)
                if loop["step"] % 50 == 0 or loop["images_seen"] >= budget:
                    loop["history"].append({"kimg": loop["images_seen"] / 1000,
                                            **{k: float(v) for k, v in losses.items()}})
                if monitor is not None:  # evaluation time is moved out of the training clock
                    start += monitor.after_step(method, ema.module, loop, losses, points, time.perf_counter() - start,
                                                loop["images_seen"] >= budget)
                advance(batch)
                if due:
                    loop["train_seconds"] = time.perf_counter() - start
                    checkpoint()
                    next_checkpoint += every
    finally:
        distributed.unreplicate(method, replicas)
    loop["train_seconds"] = time.perf_counter() - start
    checkpoint()
    seconds = loop["train_seconds"]
    return {"ema": ema.module, "steps": loop["step"], "images_seen": loop["images_seen"], "train_seconds": seconds,
            "images_per_second": loop["images_seen"] / seconds if seconds > 0 else math.nan,
            "loss_history": loop["history"], "curve": loop["curve"], "curve_eval_seconds": loop["eval_seconds"]}


def default_config(method: str, dataset: str, **fields: Any) -> RunConfig:
    """A RunConfig with the dataset's presets (its scale) applied over the paper's defaults."""
    from harness.presets import presets_for

    spec = DATASETS.get(dataset)
    METHODS.get(method)  # unknown method: clear error before anything else
    config = RunConfig(method=method, dataset=dataset, backbone=spec.default_backbone or "")
    presets = presets_for(dataset)  # harness/presets/<dataset>.py, checked against the registries
    config.train = apply_overrides(config.train, presets.get("train", {}))
    config.train = apply_overrides(config.train, presets.get(f"train/{method}", {}))
    config.eval = apply_overrides(config.eval, presets.get("eval", {}))
    config.method_config = dict(presets.get(method, {}))
    for key, value in fields.items():
        setattr(config, key, value)
    return config


def run(config: RunConfig, results_dir: Path, show_progress: bool = True, reference: dict | None = None,
        keep_generator: bool = True, resume_dir: Path | None = None,
        on_curve_point: Callable[[dict], None] | None = None) -> Path | None:
    """Train (if the method trains), evaluate, and store the record; returns the record's path.

    With ``resume_dir`` (a run directory holding ``checkpoint/state.safetensors``) the run continues
    from its last saved state under the same run id, and ends with the record it would have had.
    Under ``torchrun`` every process trains its share; only rank 0 evaluates and writes (the others
    return None).
    ``on_curve_point(point)`` is called with every curve point as it is measured (harness/curves.py),
    the final one too; raising from it stops the run (its checkpoint stays, for `--resume`).
    """
    rank = distributed.from_env()
    if rank.world > 1 and resume_dir is not None:
        raise UsageError("resuming a multi-process run is not supported (the checkpoint holds rank 0's noise stream only)")
    device, joined = distributed.start(rank, resolve_device(config.device))
    try:
        return _run(config, results_dir, show_progress and rank.is_writer, reference, keep_generator, resume_dir,
                    device, rank, on_curve_point)
    finally:
        distributed.stop(joined)


def _run(config: RunConfig, results_dir: Path, show_progress: bool, reference: dict | None, keep_generator: bool,
         resume_dir: Path | None, device: torch.device, rank: distributed.Rank,
         on_curve_point: Callable[[dict], None] | None = None) -> Path | None:
    from harness.precision import check_precision, enable_tf32

    wall_start = time.perf_counter()
    check_precision(config.train.precision)
    if device.type == "cuda":  # CPU kernels are deterministic already; the switch costs seconds of imports
        torch.use_deterministic_algorithms(True, warn_only=True)
        enable_tf32(device)
    if config.train.budget_kimg <= 0 and METHODS.get(config.method).trains:
        raise UsageError(f"the budget must be positive, got {config.train.budget_kimg} kimg")
    if rank.world > 1:
        rank.local_batch(config.train.batch_size)  # a clear error before anything loads
    if rank.is_writer:
        records.check_writable(results_dir)
    dataset = load_dataset(config.dataset, Path(config.data_path) if config.data_path else None)
    backbone = load_backbone(config.backbone)
    check_compatible(dataset, backbone)
    backbone.net.to(device)
    torch.manual_seed(config.seed)  # anything a library draws without our generators stays seeded too
    method, method_config = build_method(config, backbone, dataset, device)
    extractor = build_extractor(config, device) if rank.is_writer else None

    record: dict[str, Any] = {
        "schema_version": records.SCHEMA_VERSION,
        "method": config.method, "dataset": config.dataset, "seed": config.seed,
        "backbone": {"name": backbone.name, "sha256": backbone.sha256, "file": backbone.path.name},
        "data": {"name": dataset.name, "sha256": dataset.sha256, "num_images": len(dataset), "source": dataset.source},
        "budget_kimg": config.train.budget_kimg if method.trains else 0.0,
        "config": {**asdict(config), "method_config": asdict(method_config)},
        "nfe": method.nfe, "teacher_passes_per_image": method.teacher_passes_per_image,
        "method_info": method.record_info(),
        "reference": reference,
    }
    if rank.world > 1:
        record["distributed"] = {"world_size": rank.world, "backend": "nccl" if device.type == "cuda" else "gloo",
                                 "batch_per_rank": rank.local_batch(config.train.batch_size)}
    resume_from = None
    if resume_dir is not None:
        from harness.checkpoint import load_state

        run_dir, run_id = Path(resume_dir), Path(resume_dir).name
        resume_from = load_state(run_dir / "checkpoint" / STATE_FILE)
        if (run_dir / records.RECORD_NAME).exists():
            raise BenchError(f"run {run_id} has finished already (its record exists); nothing to resume")
    elif rank.is_writer:
        run_id = records.new_run_id(config.method, config.dataset, config.seed)
        run_dir = records.create_run_dir(results_dir, run_id)
    else:
        run_id, run_dir = None, None
    run_meta = {"run_id": run_id, "config": sanitize(asdict(config)), "reference": reference,
                "cpu_threads": torch.get_num_threads()}
    status, failure, stats = "completed", None, {}
    generator = method.generator
    ACTIVE_RUN_DIR[:] = [run_dir] if run_dir is not None and method.trains else []
    monitor = None
    if method.trains and rank.is_writer:  # stats.jsonl, TensorBoard and the curve points (harness/monitor.py)
        from harness.monitor import build_monitor

        monitor = build_monitor(config, run_dir, device, lambda gen, n: evaluate(
            gen, dataset, backbone, with_num_samples(config, n), extractor, device, False),
            [on_curve_point] if on_curve_point else [], resume_from[1]["images_seen"] if resume_from else None,
            getattr(method, "schedule_depends_on_budget", False))
    if method.trains:
        try:
            stats = train(method, dataset, config, device, show_progress,
                          run_dir / "checkpoint" / STATE_FILE if rank.is_writer else None, resume_from, run_meta, rank,
                          monitor)
            generator = stats.pop("ema")
        except Diverged as exc:
            status = "failed"
            failure = {"reason": exc.reason, "step": exc.step, "images_seen": exc.images_seen}
    if not rank.is_writer:
        return None
    metrics: list[dict] = []
    eval_seconds = 0.0
    samples = None
    if status == "completed":
        eval_start = time.perf_counter()
        samples, metrics = evaluate(generator, dataset, backbone, config, extractor, device, show_progress)
        eval_seconds = time.perf_counter() - eval_start
    curve_seconds = monitor.into_record(record, stats, status == "completed", metrics, samples, eval_seconds, generator,
                                        config.train.budget_kimg) if monitor is not None else 0.0
    if samples is not None:
        save_grid(samples, run_dir / "samples.png", config.eval.grid_size)
    if keep_generator and method.trains and status == "completed":
        from harness.backbones.files import save_weights

        save_weights(generator.state_dict(), run_dir / "generator.safetensors",
                     {"run_id": run_id, "method": config.method, "kind": "generator-ema"})
    record.update({
        "run_id": run_id, "status": status, "failure": failure, "metrics": metrics,
        "training": {k: v for k, v in stats.items()},
        "timing": {"wall_seconds": time.perf_counter() - wall_start, "train_seconds": stats.get("train_seconds", 0.0),
                   "eval_seconds": eval_seconds + curve_seconds, "final_eval_seconds": eval_seconds,
                   "curve_eval_seconds": curve_seconds, "images_per_second": stats.get("images_per_second")},
        "environment": records.environment(str(device)),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    path = run_dir / records.RECORD_NAME
    records.write_json_atomic(path, sanitize(record))
    return path


def with_num_samples(config: RunConfig, num_samples: int) -> RunConfig:
    from dataclasses import replace

    return replace(config, eval=replace(config.eval, num_samples=int(num_samples)))


def build_extractor(config: RunConfig, device: torch.device):
    from harness.metrics.features import FEATURE_EXTRACTORS

    spec = DATASETS.get(config.dataset)
    return FEATURE_EXTRACTORS.get(spec.feature_extractor)(None, device)


def evaluate(generator, dataset, backbone, config: RunConfig, extractor, device, show_progress: bool):
    from harness.metrics import evaluate as measure

    ec = config.eval
    seeds = range(ec.first_seed, ec.first_seed + ec.num_samples)
    shape = (backbone.channels, backbone.resolution, backbone.resolution)
    samples = generate(generator, seeds, shape, backbone.label_dim, device, ec.batch_size, show_progress)
    # The implementation choice applies to the Fréchet distances; the other metrics have their own.
    values = measure(samples, dataset, list(ec.metrics), extractor, implementation={"fd": ec.fd_impl, "fid": ec.fd_impl})
    metrics = []
    for value in values:
        entry = value.to_dict()
        entry["seeds"] = [seeds.start, seeds.stop - 1]
        metrics.append(entry)
    return samples, metrics


def sanitize(value: Any) -> Any:
    """JSON-safe: tensors to numbers, paths to text, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    if isinstance(value, torch.Tensor):
        return sanitize(value.tolist())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def configure(method: str, dataset: str, backbone: str | None = None, budget_kimg: float | None = None,
              seed: int = 0, device: str = "auto", data_path: Path | None = None, overrides: list[str] = (),
              num_samples: int | None = None, precision: str | None = None,
              compile_generator: bool | None = None, eval_every_kimg: float | None = None,
              eval_curve_samples: int | None = None) -> RunConfig:
    """Map command-line choices onto a RunConfig: paper defaults, then dataset presets, then flags."""
    from harness.config import split_overrides

    config = default_config(method, dataset)
    if backbone:
        config.backbone = backbone
    if not config.backbone:
        raise UsageError(f"dataset {dataset} has no default backbone; pass --backbone NAME_OR_PATH")
    config.seed, config.device = int(seed), device
    config.data_path = str(data_path) if data_path else None
    method_defaults = METHODS.get(method).Config()
    method_now = apply_overrides(method_defaults, config.method_config)
    routed = split_overrides(list(overrides), {"method": method_now, "train": config.train, "eval": config.eval})
    config.method_config = {**config.method_config, **routed["method"]}
    apply_overrides(method_defaults, config.method_config)  # type-check now, before any loading
    config.train = apply_overrides(config.train, routed["train"])
    config.eval = apply_overrides(config.eval, routed["eval"])
    if budget_kimg is not None:
        config.train.budget_kimg = float(budget_kimg)
    if num_samples is not None:
        config.eval.num_samples = int(num_samples)
    if precision is not None:
        config.train.precision = precision
    if compile_generator is not None:
        config.train.compile = bool(compile_generator)
    if eval_every_kimg is not None:
        config.eval.every_kimg = float(eval_every_kimg)
    if eval_curve_samples is not None:
        config.eval.curve_num_samples = int(eval_curve_samples)
    from harness.precision import check_precision

    check_precision(config.train.precision)
    if config.train.budget_kimg <= 0 and METHODS.get(method).trains:
        raise UsageError(f"--budget-kimg must be positive, got {config.train.budget_kimg:g}")
    if config.eval.num_samples <= 0:
        raise UsageError("--num-samples must be positive")
    if config.eval.every_kimg < 0 or any(k <= 0 for k in config.eval.at_kimg):
        raise UsageError("--eval-every-kimg and eval.at_kimg must be positive (--eval-every-kimg 0: no curve)")
    curve_samples = config.eval.curve_num_samples
    if curve_samples is not None and not 0 < curve_samples <= config.eval.num_samples:
        raise UsageError(f"--eval-curve-samples must be between 1 and the evaluation's {config.eval.num_samples} "
                         f"samples, got {curve_samples}")
    return config


def resume(run_ref: str, results_dir: Path, show_progress: bool = True) -> Path:
    """Continue a run from its last checkpoint: ``run_ref`` is a run directory or a run id in ``results_dir``."""
    from harness.checkpoint import load_state

    run_dir = Path(run_ref) if Path(run_ref).is_dir() else Path(results_dir) / run_ref
    if not run_dir.is_dir():
        raise BenchError(f"no run '{run_ref}' in {results_dir} (pass a run id or a run directory)")
    _, meta = load_state(run_dir / "checkpoint" / STATE_FILE)
    config = config_from_record(meta)
    with cpu_threads(meta.get("cpu_threads")):  # the interrupted run's count, for a bit-identical ending
        return run(config, run_dir.parent, show_progress, reference=meta.get("reference"), resume_dir=run_dir)


def config_from_record(record: dict) -> RunConfig:
    """Rebuild the exact RunConfig a record (or a checkpoint's metadata) was made with."""
    from harness.config import EvalConfig, TrainConfig

    c = dict(record["config"])
    train = TrainConfig(**c.pop("train"))
    ev = c.pop("eval")
    ev["metrics"] = tuple(ev["metrics"])
    if "at_kimg" in ev:
        ev["at_kimg"] = tuple(ev["at_kimg"])
    return RunConfig(train=train, eval=EvalConfig(**ev), **c)


def load_generator(run_dir: Path, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild a stored run's EMA generator: the method rebuilt from the record, then its weights.

    Every method builds its generator module from the backbone, so the record's config plus the
    saved state dict are enough; nothing about the generator class is stored separately.
    """
    import json

    from harness.backbones.files import load_weights

    run_dir = Path(run_dir)
    record_path = run_dir / records.RECORD_NAME if run_dir.is_dir() else run_dir
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"{record_path}: not a readable run record ({exc.__class__.__name__})") from None
    config = config_from_record(record)
    config.device = device
    dev = resolve_device(device)
    dataset = load_dataset(config.dataset, Path(config.data_path) if config.data_path else None)
    backbone = load_backbone(config.backbone)
    if backbone.sha256 != record["backbone"]["sha256"]:
        raise BenchError(f"backbone {backbone.name} differs from the one the run used (sha256 mismatch)")
    backbone.net.to(dev)
    method, _ = build_method(config, backbone, dataset, dev)
    generator = method.generator
    if method.trains:
        weights = record_path.parent / "generator.safetensors"
        state, _ = load_weights(weights)
        try:
            generator.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise BenchError(f"{weights}: does not fit the {config.method} generator ({str(exc).splitlines()[0]})") from None
    return generator.eval().requires_grad_(False), record
