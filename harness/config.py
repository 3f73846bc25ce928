"""Typed run configuration. Defaults come from the paper (arXiv 2506.09376 and Zyriix/D2O train.sh, CIFAR-10 row);
presets (harness/presets/<dataset>.py) size them for a dataset, and the CLI's ``--set`` comes last.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from harness.errors import UsageError


@dataclass
class TrainConfig:
    """What the runner owns: the image budget, batch, EMA and checkpoints."""

    budget_kimg: float = 5000.0  # paper: 5 Mimg on CIFAR-10
    batch_size: int = 256
    ema_halflife_kimg: float = 500.0  # paper: 0.5 Mimg ...
    ema_rampup_ratio: float | None = 0.05  # ... ramped to 5% of images seen (EDM)
    # A fixed EMA decay per step instead of the half-life (harness/ema.py); 0 = no EMA, the trained generator
    # itself is evaluated. None: the half-life above. Methods set their reference's (Method.train_defaults).
    ema_beta: float | None = None
    checkpoint_kimg: float = 250.0  # paper: snapshots every 250 kimg
    precision: str = "fp32"  # fp32 | bf16 | auto (bf16 where the GPU supports it; the paper: G and teacher bf16, D fp32)
    compile: bool = False  # torch.compile the networks' forward passes
    log_every_kimg: float = 1.0  # one stats.jsonl line (and TensorBoard scalars) per this many kimg
    tensorboard: bool = True  # also write TensorBoard events (needs the optional 'tensorboard' package)
    keep_snapshots: str = "best"  # generators kept at curve points: final | best | all | N (harness/snapshots.py)


@dataclass
class EvalConfig:
    """How the generator is measured at the end of a run."""

    num_samples: int = 50_000  # EDM protocol: seeds 0..49,999
    first_seed: int = 0
    metrics: tuple[str, ...] = ("fd", "precision", "recall")
    fd_impl: str = "own"  # own float64 Fréchet distance, or torch-fidelity
    batch_size: int = 500
    grid_size: int = 8  # sample grid: grid_size x grid_size images
    # Training curve (harness/curves.py): the EMA generator is also measured every ``every_kimg``
    # (0: never) and at each ``at_kimg`` budget, with ``curve_num_samples`` samples (None: num_samples).
    every_kimg: float = 250.0  # paper: FID at every 250 kimg snapshot, best one reported
    at_kimg: tuple[float, ...] = ()
    curve_num_samples: int | None = None
    feature_extractor: str | None = None  # the feature network of fd/precision/recall; None: the dataset's


def parse_value(text: str, annotation: Any, key: str) -> Any:
    """Parse ``--set key=value`` text into a field's declared type; a wrong type is a usage error."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", ())) and args:
        if text.lower() in ("none", "null"):
            return None
        return parse_value(text, args[0], key)
    if origin is tuple:
        return tuple(parse_value(part, args[0], key) for part in text.split(",") if part)
    try:
        if annotation is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if annotation in (int, float, str):
            return annotation(text)
    except ValueError:
        raise UsageError(f"--set {key}={text}: expected a value of type {annotation.__name__}") from None
    raise UsageError(f"--set {key}: cannot parse values of type {annotation}")


def one_of(default: Any, choices: tuple) -> Any:
    """A config field that takes one of ``choices``: checked with every other setting before any work
    (``harness.validate.check_fields``), so a `bench tune --space` of a bad one never opens a study."""
    return field(default=default, metadata={"choices": tuple(choices)})


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def apply_overrides(config: Any, overrides: dict[str, Any]) -> Any:
    """A copy of a dataclass with fields replaced; values may be text (from the CLI) or typed."""
    types = field_types(type(config))
    changes = {}
    for key, value in overrides.items():
        if key not in types:
            raise UsageError(f"unknown setting '{key}' for {type(config).__name__}; valid: {', '.join(sorted(types))}")
        changes[key] = parse_value(value, types[key], key) if isinstance(value, str) else value
    return dataclasses.replace(config, **changes)


def split_overrides(pairs: list[str], sections: dict[str, Any], base: list[str] = ()) -> dict[str, dict[str, str]]:
    """Route ``KEY=VALUE`` pairs to the config section that has KEY (``section.KEY`` forces one);
    ``base`` (a config file's or record's settings) is routed first, and ``pairs`` may replace it."""
    routed: dict[str, dict[str, str]] = {name: {} for name in sections}
    for section, key, value in (route(pair, sections) for pair in base):
        routed[section][key] = value
    flagged: set[tuple[str, str]] = set()
    for section, key, value in (route(pair, sections) for pair in pairs):
        if (section, key) in flagged:  # never let the later of two flags win silently
            raise UsageError(f"--set {section}.{key} is given twice ({routed[section][key]} and {value}); give it once")
        flagged.add((section, key))
        routed[section][key] = value
    return routed


def route(pair: str, sections: dict[str, Any]) -> tuple[str, str, str]:
    """``KEY=VALUE`` -> (the section that has KEY, KEY, VALUE); unknown and ambiguous keys are errors."""
    if "=" not in pair:
        raise UsageError(f"--set expects KEY=VALUE, got '{pair}'")
    key, value = pair.split("=", 1)
    key = key.strip()
    if "." in key:
        section, key = key.split(".", 1)
        if section not in sections:
            raise UsageError(f"--set {section}.{key}: unknown section '{section}'; valid: {', '.join(sections)}")
        candidates = [section]
    else:
        candidates = [name for name, cfg in sections.items() if key in field_types(type(cfg))]
    if not candidates:
        valid = sorted({f"{k}" for cfg in sections.values() for k in field_types(type(cfg))})
        raise UsageError(f"--set: unknown key '{key}'; valid keys: {', '.join(valid)}")
    if len(candidates) > 1:  # never guess which one was meant
        both = " and ".join(f"{name}.{key}" for name in candidates)
        raise UsageError(f"--set {key} is ambiguous: it is {both}; write one of them")
    return candidates[0], key, value


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


@dataclass
class RunConfig:
    """Everything that defines one run; stored whole in its record so it can be re-run."""

    method: str
    dataset: str
    backbone: str
    seed: int = 0
    device: str = "cpu"
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    method_config: dict[str, Any] = field(default_factory=dict)
    data_path: str | None = None
    sweep_overrides: list[str] = field(default_factory=list)  # the --set flags a sweep ran with
    # Who made the run, when not a plain `bench run`: `bench tune` tags its trials and re-runs with the
    # study, trial and role (harness/tuning), so their records say what they were made for.
    tags: dict[str, Any] = field(default_factory=dict)
