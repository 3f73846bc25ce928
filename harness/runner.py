"""The training loop every method shares: data order, image budget, EMA, divergence checks,
evaluation, resume and the run record. A method only supplies its algorithm (baselines/base.py);
what is assembled before the loop (device, configs, method, extractor) is ``harness.build``, and
the checks made before any work are ``harness.validate``. ``configure``, ``config_from_record``,
``load_generator`` and the other builders stay importable from here for scripts.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

import torch

from harness import distributed, records
from harness.backbones import load_backbone
from harness.build import (build_extractor, build_method, check_compatible, config_from_record,  # noqa: F401
                           configure, default_config, generator_settings_sha256, load_generator, resolve_device)
from harness.checkpoint import collect_state, restore_state  # noqa: F401  (the state a run resumes from)
from harness.config import RunConfig
from harness.config_files import write_config_file
from harness.data import ImageDataset, load_dataset
from harness.divergence import Diverged, FiniteWatch
from harness.ema import EMA
from harness.errors import BenchError, UsageError
from harness.evaluate import evaluate_generator, labels_for, save_grid
from harness.sample_grid import grid_title
from harness.progress import image_progress
from harness.seeding import cpu_threads, make_generator

STATE_FILE = "state.safetensors"
START_FILE = "run.json"  # the settings a run started with, written before its first step
ACTIVE_RUN_DIR: list[Path] = []  # the folder of the run this process is training (for the CLI's Ctrl-C hint)


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
    from harness.precision import autocast, prepare_method, resolve_precision

    tc = config.train
    budget = int(round(tc.budget_kimg * 1000))
    batch = tc.batch_size
    mine = rank.my_slice(batch)
    if batch > len(dataset):
        raise UsageError(f"batch_size {batch} is larger than dataset {dataset.name} ({len(dataset)} images)")
    rngs = {"data": make_generator(config.seed, "data-order"),
            "step": make_generator(config.seed, rank.noise_purpose("train-noise"),
                                   device if device.type == "cuda" else "cpu")}
    ema = EMA(method.generator, tc.ema_halflife_kimg, tc.ema_rampup_ratio, tc.ema_beta)
    precision = resolve_precision(tc.precision, device)  # auto: bf16 where the GPU supports it
    prepare_method(method, precision, tc.compile)  # after the EMA copy: it stays a plain fp32 module
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
                with autocast(device, precision):
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
    return {"ema": ema.module, "steps": loop["step"], "images_seen": loop["images_seen"], "precision": precision,
            "train_seconds": seconds, "images_per_second": loop["images_seen"] / seconds if seconds > 0 else math.nan,
            "loss_history": loop["history"], "curve": loop["curve"], "curve_eval_seconds": loop["eval_seconds"]}


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
    import contextlib

    device, joined = distributed.start(rank, resolve_device(config.device))
    try:
        with contextlib.ExitStack() as held:  # the run folder's lock, while training (harness/run_lock.py)
            return _run(config, results_dir, show_progress and rank.is_writer, reference, keep_generator, resume_dir,
                        device, rank, on_curve_point, held)
    finally:
        distributed.stop(joined)


def _run(config: RunConfig, results_dir: Path, show_progress: bool, reference: dict | None, keep_generator: bool,
         resume_dir: Path | None, device: torch.device, rank: distributed.Rank,
         on_curve_point: Callable[[dict], None] | None = None, held=None) -> Path | None:
    from harness.precision import configure_tf32
    from harness.run_lock import run_lock
    from harness.validate import check_loaded, check_run_config

    wall_start = time.perf_counter()
    check_run_config(config)  # the same checks whichever command built the config (run, resume, sweep, verify)
    if device.type == "cuda":  # CPU kernels are deterministic already; the switch costs seconds of imports
        torch.use_deterministic_algorithms(True, warn_only=True)
        configure_tf32(device)
    if rank.world > 1:
        rank.local_batch(config.train.batch_size)  # a clear error before anything loads
    if rank.is_writer:
        records.check_writable(results_dir)
    dataset = load_dataset(config.dataset, Path(config.data_path) if config.data_path else None)
    backbone = load_backbone(config.backbone)
    check_compatible(dataset, backbone)
    check_loaded(config, dataset)
    backbone.net.to(device)
    torch.manual_seed(config.seed)  # anything a library draws without our generators stays seeded too
    method, method_config = build_method(config, backbone, dataset, device)
    extractor = build_extractor(config, device) if rank.is_writer else None

    record: dict[str, Any] = {
        "method": config.method, "dataset": config.dataset, "seed": config.seed,
        "backbone": backbone.record_entry(),
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
    # The whole method config, as the record stores it: a resumed run rebuilds every setting as it started
    # (a key missing from a stored config means a setting added later: harness/build.py config_from_record).
    run_meta = {"config": records.sanitize(record["config"]), "reference": reference,
                "cpu_threads": torch.get_num_threads(), "cwd": str(Path.cwd())}  # cwd: relative paths on resume
    resume_from = None
    if resume_dir is not None:
        from harness.checkpoint import load_state

        run_dir, run_id = Path(resume_dir), Path(resume_dir).name
        if (run_dir / records.RECORD_NAME).exists():
            raise BenchError(f"run {run_id} has finished already (its record exists); nothing to resume")
        if (run_dir / "checkpoint" / STATE_FILE).is_file():
            from harness.checkpoint import check_fits

            resume_from = load_state(run_dir / "checkpoint" / STATE_FILE)
            check_fits(method, *resume_from)  # before the monitor opens its files
    elif rank.is_writer:
        run_id = records.new_run_id(config.method, config.dataset, config.seed)
        run_dir = records.create_run_dir(results_dir, run_id)
        write_config_file(run_dir, replace(config, method_config=asdict(method_config)))  # for bench run --config
        if method.trains:  # what `--resume` needs to start over if killed before its first checkpoint
            records.write_start(run_dir, run_dir / "checkpoint" / START_FILE, {**run_meta, "run_id": run_id})
            if held is not None:
                held.enter_context(run_lock(run_dir))
    else:
        run_id, run_dir = None, None
    run_meta["run_id"] = run_id
    status, failure, stats = "completed", None, {}
    generator = method.generator
    settings = {"settings_sha256": generator_settings_sha256(config)}  # on every card of its weights (build.py)
    ACTIVE_RUN_DIR[:] = [run_dir] if run_dir is not None and method.trains else []
    monitor = None
    if method.trains and rank.is_writer:  # stats.jsonl, TensorBoard and the curve points (harness/monitor.py)
        from harness.monitor import build_monitor

        monitor = build_monitor(config, run_dir, device, lambda gen, n: evaluate_generator(
            gen, dataset, backbone, with_num_samples(config, n).eval, extractor, device, False, show_progress),
            [on_curve_point] if on_curve_point else [], resume_from[1]["images_seen"] if resume_from else None,
            getattr(method, "schedule_depends_on_budget", False), method.generator)
        if monitor.snapshots is not None:  # a kept snapshot is refused for an edited record, as the generator is
            monitor.snapshots.card = settings
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
        samples, metrics = evaluate_generator(generator, dataset, backbone, config.eval, extractor, device, show_progress)
        eval_seconds = time.perf_counter() - eval_start
    curve_seconds = monitor.into_record(record, stats, status == "completed", metrics, samples, eval_seconds, generator,
                                        config.train.budget_kimg) if monitor is not None else 0.0
    hint = f"; the run's final checkpoint is kept: free space, then finish with: bench run --resume {run_dir}" \
        if method.trains else ""
    if samples is not None:
        from harness.storage import disk_errors

        with disk_errors("the sample grid", run_dir / "samples.png", samples[0].numel() * config.eval.grid_size ** 2,
                         hint):
            save_grid(samples, run_dir / "samples.png", config.eval.grid_size, grid_title(
                config.method, config.dataset, config.train.budget_kimg, config.seed, config.eval.first_seed,
                min(len(samples), config.eval.grid_size ** 2)), config.eval.first_seed)
    if keep_generator and method.trains and status == "completed":
        from harness.backbones.files import save_weights
        from harness.storage import DiskError

        try:
            save_weights(generator.state_dict(), run_dir / "generator.safetensors",
                         {"run_id": run_id, "method": config.method, "kind": "generator-ema", **settings})
        except DiskError as exc:
            raise DiskError(f"{exc}{hint}") from None
    record.update({
        "run_id": run_id, "status": status, "failure": failure, "metrics": metrics,
        "training": {k: v for k, v in stats.items()},
        "timing": {"wall_seconds": time.perf_counter() - wall_start, "train_seconds": stats.get("train_seconds", 0.0),
                   "eval_seconds": eval_seconds + curve_seconds, "final_eval_seconds": eval_seconds,
                   "curve_eval_seconds": curve_seconds, "images_per_second": stats.get("images_per_second")},
    })
    try:
        return records.write(run_dir, records.envelope(record, str(device)))
    except BenchError as exc:
        raise BenchError(f"{exc}{hint}") from None


def with_num_samples(config: RunConfig, num_samples: int) -> RunConfig:
    from dataclasses import replace

    return replace(config, eval=replace(config.eval, num_samples=int(num_samples)))


def resume(run_ref: str, results_dir: Path, show_progress: bool = True, device: str | None = None,
           echo=None) -> Path:
    """Continue a run from its last checkpoint: ``run_ref`` is a run directory or a run id in ``results_dir``.

    A run killed before its first checkpoint was complete starts over from the beginning in the
    same folder (from the settings it stored when it started), which ends with the same record.
    ``device`` (the only run flag a resume honours) moves it to another device.
    """
    from harness.run_lock import run_lock

    run_dir = Path(run_ref) if Path(run_ref).is_dir() else Path(results_dir) / run_ref
    if not run_dir.is_dir():
        raise UsageError(f"no run '{run_ref}' in {results_dir} (pass a run id or a run directory)")
    if (run_dir / records.RECORD_NAME).exists():
        raise UsageError(f"run {run_dir.name} has finished already (its record exists); nothing to resume")
    with run_lock(run_dir):  # a second resume of this run (or the run itself, still training) is refused
        return _resume(run_dir, show_progress, device, echo)


def _resume(run_dir: Path, show_progress: bool, device: str | None, echo) -> Path:
    from harness.checkpoint import check_belongs, check_relative_paths, load_state
    from harness.storage import remove_stale_temporaries

    state, start = run_dir / "checkpoint" / STATE_FILE, run_dir / "checkpoint" / START_FILE
    if (run_dir / records.RECORD_NAME).exists():
        raise BenchError(f"run {run_dir.name} has finished already (its record exists); nothing to resume")
    if state.is_file():
        _, meta = load_state(state)
        check_belongs(meta, run_dir, records.read_json(start) if start.is_file() else None)
    elif start.is_file():
        meta = records.read_json(start)
        remove_stale_temporaries(state.parent, state.name)
        if echo is not None:
            echo(f"note: run {run_dir.name} stopped before its first checkpoint was complete; starting it over "
                 f"from the beginning in the same folder")
    else:
        raise BenchError(f"run {run_dir.name} saved no checkpoint and no start settings, so it cannot be resumed; "
                         f"delete {run_dir} and start the run again with bench run")
    config = config_from_record(meta, str(state if state.is_file() else start))
    check_relative_paths(config, meta, run_dir)
    if device is not None:
        config.device = device
    with cpu_threads(meta.get("cpu_threads")):  # the interrupted run's count, for a bit-identical ending
        return run(config, run_dir.parent, show_progress, reference=meta.get("reference"), resume_dir=run_dir)
