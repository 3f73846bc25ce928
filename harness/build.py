"""Everything a command assembles before work starts: device, configs, the method, the extractor,
and a stored run rebuilt whole (``load_run``).

The runner (the loop, evaluation, resume), ``bench eval``, ``bench verify``, the sweep and the
analyses all build through here, so a run and its later re-measurements are made the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from baselines import METHODS
from baselines.base import MethodContext
from harness import records
from harness.backbones import LoadedBackbone, load_backbone
from harness.config import EvalConfig, RunConfig, TrainConfig, apply_overrides
from harness.data import DATASETS, ImageDataset, load_dataset
from harness.errors import BenchError, UsageError, in_brief


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
    from baselines.base import check_backbone_wrapper

    method_cls = METHODS.get(config.method)
    method_config = apply_overrides(method_cls.Config(), config.method_config)
    check_backbone_wrapper(method_cls, backbone.net, backbone.name)  # a mis-mapped wrapper: refused, one line
    ctx = MethodContext(backbone=backbone, num_classes=dataset.num_classes, device=device, seed=config.seed,
                        batch_size=config.train.batch_size,
                        budget_images=int(round(config.train.budget_kimg * 1000)))
    return method_cls(ctx, method_config), method_config


def build_extractor(config: RunConfig, device: torch.device):
    from harness.metrics.features import FEATURE_EXTRACTORS

    spec = DATASETS.get(config.dataset)
    return FEATURE_EXTRACTORS.get(config.eval.feature_extractor or spec.feature_extractor)(None, device)


def default_config(method: str, dataset: str, **fields: Any) -> RunConfig:
    """A RunConfig with the dataset's presets (its scale) applied over the paper's defaults: the dataset's
    ``train`` preset, then the method's own runner settings (``Method.train_defaults``, e.g. its reference's
    EMA), then the dataset's ``train/<method>`` preset."""
    from harness.presets import presets_for

    spec = DATASETS.get(dataset)
    METHODS.get(method)  # unknown method: clear error before anything else
    config = RunConfig(method=method, dataset=dataset, backbone=spec.default_backbone or "")
    presets = presets_for(dataset)  # harness/presets/<dataset>.py, checked against the registries
    config.train = apply_overrides(config.train, presets.get("train", {}))
    config.train = apply_overrides(config.train, METHODS.get(method).train_defaults)  # the method's reference
    config.train = apply_overrides(config.train, presets.get(f"train/{method}", {}))
    config.eval = apply_overrides(config.eval, presets.get("eval", {}))
    config.method_config = dict(presets.get(method, {}))
    for key, value in fields.items():
        setattr(config, key, value)
    return config


def configure(method: str, dataset: str, backbone: str | None = None, budget_kimg: float | None = None,
              seed: int = 0, device: str = "auto", data_path: Path | None = None, overrides: list[str] = (),
              base_overrides: list[str] = (),
              num_samples: int | None = None, precision: str | None = None,
              compile_generator: bool | None = None, eval_every_kimg: float | None = None,
              eval_curve_samples: int | None = None) -> RunConfig:
    """Map command-line choices onto a RunConfig: paper defaults, then dataset presets, then
    ``base_overrides`` (a config file's), then flags;
    then check the whole of it (``harness.validate``) before anything is loaded or created."""
    from baselines.random_init import check_init_override
    from harness.config import split_overrides
    from harness.validate import check_run_config

    config = default_config(method, dataset)
    check_init_override(method, [*base_overrides, *overrides])  # init=random where the backbone is the premise
    if backbone:
        config.backbone = backbone
    if not config.backbone:
        raise UsageError(f"dataset {dataset} has no default backbone; pass --backbone NAME_OR_PATH")
    config.seed, config.device = int(seed), device
    config.data_path = str(data_path) if data_path else None
    method_defaults = METHODS.get(method).Config()
    method_now = apply_overrides(method_defaults, config.method_config)
    routed = split_overrides(list(overrides), {"method": method_now, "train": config.train, "eval": config.eval},
                             list(base_overrides))  # a config file's or record's settings, which flags may replace
    flags = {("train", "budget_kimg"): ("--budget-kimg", budget_kimg), ("eval", "num_samples"): ("--num-samples", num_samples),
             ("train", "precision"): ("--precision", precision), ("eval", "every_kimg"): ("--eval-every-kimg", eval_every_kimg),
             ("eval", "curve_num_samples"): ("--eval-curve-samples", eval_curve_samples)}
    for (section, key), (flag, value) in flags.items():  # never let one silently win over the other
        if value is not None and key in routed[section]:
            raise UsageError(f"--set {key}={routed[section][key]} and {flag} {value:g} both set {section}.{key}; "
                             f"pass one of them" if isinstance(value, (int, float)) else
                             f"--set {key}={routed[section][key]} and {flag} {value} both set {section}.{key}; pass one")
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
    check_run_config(config)
    return config


def config_from_record(record: dict, source: str = "record") -> RunConfig:
    """Rebuild the exact RunConfig a record (or a checkpoint's metadata) was made with.

    A missing or foreign ``config`` (a key this version does not know) is a one-line error naming
    the key, never a TypeError: the record may come from another version of bench.
    """
    c = record.get("config") if isinstance(record, dict) else None
    if not isinstance(c, dict):
        raise UsageError(f"{source} holds no run config; it was not written by `bench run`")
    c = dict(c)
    sections = {"train": TrainConfig, "eval": EvalConfig}
    built: dict[str, Any] = {}
    for name, cls in sections.items():
        values = c.pop(name, None)
        if not isinstance(values, dict):
            raise UsageError(f"{source}: config has no '{name}' section")
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise UsageError(f"{source}: unknown config key '{name}.{unknown[0]}' (this bench does not know it; "
                             f"was the record made by another version?)")
        values = dict(values)
        if name == "eval":
            for key in ("metrics", "at_kimg"):
                if key in values:
                    values[key] = tuple(values[key])
        built[name] = cls(**values)
    known = {f.name for f in fields(RunConfig)} - set(sections)
    unknown = sorted(set(c) - known)
    if unknown:
        raise UsageError(f"{source}: unknown config key '{unknown[0]}' (this bench does not know it; "
                         f"was the record made by another version?)")
    missing = sorted(k for k in ("method", "dataset", "backbone") if k not in c)
    if missing:
        raise UsageError(f"{source}: config lacks '{missing[0]}'")
    if isinstance(c.get("method_config"), dict):  # settings added since the record was made: as it ran
        introduced = getattr(METHODS.get(c["method"]), "introduced", {})
        c["method_config"] = {**introduced, **c["method_config"]}
    return RunConfig(**built, **c)


@dataclass
class LoadedRun:
    """A stored run rebuilt: its record and config, the EMA generator, and what it was made from."""

    run_dir: Path
    record: dict
    config: RunConfig
    generator: torch.nn.Module
    backbone: LoadedBackbone
    dataset: ImageDataset
    device: torch.device


def generator_settings_sha256(config: RunConfig) -> str:
    """A hash of what a stored generator is rebuilt from besides its weights: the method, the seed and the
    method's whole config (defaults filled). Its card keeps it, so a record edited afterwards (another
    sigma, another width) is refused instead of measuring a generator its weights were not trained as."""
    import hashlib
    from dataclasses import asdict

    method_config = apply_overrides(METHODS.get(config.method).Config(), config.method_config)
    settings = {"method": config.method, "seed": config.seed, "method_config": records.sanitize(asdict(method_config))}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def check_names(record: dict, path: Path) -> None:
    """A record's method and dataset are its config's (eval, sample and report read the former, a
    rebuild the latter): an edited record that disagrees is one line, not an 'unknown dataset None'."""
    from harness.record_shape import check_shape

    config = record.get("config")
    if not isinstance(config, dict):
        raise UsageError(f"{path}: not a run record (no config in it)")
    check_shape(record, path, None if isinstance(config.get("backbone"), str) else "its config names no backbone")
    for key in ("method", "dataset"):
        if not isinstance(record.get(key), str) or record.get(key) != config.get(key):
            raise UsageError(f"{path}: its {key} {record.get(key)!r} is not its config's {config.get(key)!r} "
                             "(an edited record?)")


def read_run_record(path: Path) -> dict:
    """A run folder's record.json, with the config that rebuilds its generator, or a one-line error
    saying what the path is instead (or what in the record is malformed: ``check_names``). Any kind of
    record (runs, evaluations, analyses), for showing only: ``harness.summary.read_record``."""
    from harness.validate import describe_path

    path = Path(path)
    record_path = path / records.RECORD_NAME if path.is_dir() else path
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: expected a run folder of `bench run` (with {records.RECORD_NAME}), "
                         f"got {describe_path(path)} ({exc.__class__.__name__})") from None
    if not isinstance(record, dict):
        raise UsageError(f"{record_path}: not a run record (no config in it)")
    check_names(record, record_path)
    return record


def load_run(run_dir: Path, device: str = "cpu", weights: Path | None = None) -> LoadedRun:
    """Rebuild a stored run's EMA generator: the method rebuilt from the record, then its weights
    (``weights``: another file of the same generator, e.g. a kept snapshot; default its final one).

    Every method builds its generator module from the backbone, so the record's config plus the
    saved state dict are enough; nothing about the generator class is stored separately.
    """
    from harness.backbones.files import load_weights

    run_dir = Path(run_dir)
    record = read_run_record(run_dir)
    record_dir = run_dir if run_dir.is_dir() else run_dir.parent
    config = config_from_record(record, str(record_dir / records.RECORD_NAME))
    config.device = device
    from harness.validate import check_run_config

    check_run_config(config)  # a hand-edited setting (d_width -1, sigma -1) is one line, as `bench run` says it
    dev = resolve_device(device)
    dataset = load_dataset(config.dataset, Path(config.data_path) if config.data_path else None)
    backbone = load_backbone(config.backbone)
    if backbone.sha256 != record["backbone"]["sha256"]:
        raise BenchError(f"backbone {backbone.name} differs from the one the run used (sha256 mismatch)")
    backbone.net.to(dev)
    method, _ = build_method(config, backbone, dataset, dev)
    generator = method.generator
    if method.trains:
        weights = Path(weights) if weights is not None else record_dir / "generator.safetensors"
        state, card = load_weights(weights)
        remade = record_dir / "remade.json"  # a re-made generator: its re-run's id (harness/remake.py)
        owners = {None, record.get("run_id"), records.read_json(remade).get("rerun_run_id") if remade.is_file()
                  else None}
        if card.get("run_id") not in owners:  # e.g. another run's file copied in
            raise BenchError(f"{weights}: holds run {card['run_id']}'s generator, not run {record.get('run_id')}'s")
        if card.get("settings_sha256") not in (None, generator_settings_sha256(config)):  # older cards lack it
            raise UsageError(f"{record_dir / records.RECORD_NAME}: its method, seed or method settings are not those "
                             f"{weights.name} was trained with (an edited record?)")
        try:
            generator.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise BenchError(f"{weights}: does not fit the {config.method} generator ({in_brief(exc)})") from None
    return LoadedRun(record_dir, record, config, generator.eval().requires_grad_(False), backbone, dataset, dev)


def load_generator(run_dir: Path, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """The stored run's generator and record (``load_run`` keeps the backbone and data too)."""
    loaded = load_run(run_dir, device)
    return loaded.generator, loaded.record
