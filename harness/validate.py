"""One validation pass before any work: every name, number, path and combination a command was
given is checked when it starts, by the same code for `run`, `--resume`, `sweep`, `eval`,
`pretrain` and `verify`. A failure is one line (``UsageError``, exit 2) and nothing is created on
disk, so no hour of training is lost to a typo found at evaluation time.

What is checked: numbers are finite, in range and integral where they must be (budgets, batch
sizes, learning rates, seeds within 63 bits, evaluation sizes); names are registered (method,
dataset, metric, implementation, device, precision); paths exist and are what they are meant to
be (``describe_path`` says what a file is when it is not); a dataset that reads no files refuses
``--data``. The loaded data's size is checked by ``check_loaded`` before the run folder exists.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from pathlib import Path
from typing import Any

from harness.errors import UsageError

MAX_SEED = (1 << 63) - 1  # torch generators take 64-bit seeds; derived seeds are 63-bit (harness.seeding)
MAX_GRID = 64
MAX_NUM_SAMPLES = 1_000_000  # 20x the EDM protocol's 50,000: more is a typo, not a measurement
MAX_FID_REPEATS = 100  # EDM reports the best of 3 sets; 10^12 sets only builds ranges until killed


def check_number(name: str, value: Any, *, integral: bool = False, minimum: float | None = None,
                 above: float | None = None, maximum: float | None = None) -> None:
    """``value`` is a real number (an integer if ``integral``), finite, and within the bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UsageError(f"{name} must be a number, got {value!r}")
    whole = isinstance(value, numbers.Integral)  # exact at any size: a 400-digit one has no float
    if not whole and not math.isfinite(float(value)):
        raise UsageError(f"{name} must be a finite number, got {value}")
    if integral and not whole and float(value) != int(value):
        raise UsageError(f"{name} must be a whole number, got {value}")
    got = shown(value)
    if minimum is not None and value < minimum:
        raise UsageError(f"{name} must be at least {shown(minimum)}, got {got}")
    if above is not None and value <= above:
        raise UsageError(f"{name} must be positive, got {got}" if above == 0 else
                         f"{name} must be greater than {shown(above)}, got {got}")
    if maximum is not None and value > maximum:
        raise UsageError(f"{name} must be at most {shown(maximum)}, got {got}")


def shown(value: float) -> str:
    """A bound or a number as a message gives it: 1000000 (not 1e+06), and a huge integer shortened."""
    if isinstance(value, numbers.Integral):  # as typed (1e+23 is not the number a user gave)
        return str(value) if len(str(value)) <= 24 else f"{str(value)[:6]}...({len(str(value))} digits)"
    return f"{value:.12g}"


def check_seed(name: str, value: Any) -> None:
    check_number(name, value, integral=True, minimum=0)
    if int(value) > MAX_SEED:
        raise UsageError(f"{name} must be below 2^63 ({MAX_SEED}), got {shown(value)}")


def check_fields(section: str, config: Any) -> None:
    """Generic rules for a method's or pre-training's dataclass: every number finite; numbers whose
    default is positive may not go negative; learning rates, step and batch counts must be positive;
    ``*seed`` fields are seeds; then each field's range from its meaning (``harness.ranges``)."""
    from harness.ranges import check_ranges

    defaults = type(config)()
    for f in dataclasses.fields(config):
        value, default, key = getattr(config, f.name), getattr(defaults, f.name), f"--set {section}{f.name}"
        choices = f.metadata.get("choices")
        if choices is not None and (value not in choices or isinstance(value, bool)):
            raise UsageError(f"{key} must be one of {', '.join(map(str, choices))}, got {value!r}")
        if value is None or isinstance(value, (bool, str, dict)):
            continue
        if f.name.endswith("seed"):
            check_seed(key, value)
        elif isinstance(value, (tuple, list)):
            for item in value:
                if isinstance(item, numbers.Real) and not isinstance(item, bool):
                    check_number(key, item)
        elif isinstance(value, numbers.Real):
            positive = f.name in ("lr", "batch_size", "kimg", "num_steps") or f.name.endswith("_lr")
            floor = 0 if isinstance(default, numbers.Real) and not isinstance(default, bool) and default > 0 else None
            check_number(key, value, integral=isinstance(default, int) and not isinstance(default, bool),
                         minimum=None if positive else floor, above=0 if positive else None)
    check_ranges({f.name: getattr(config, f.name) for f in dataclasses.fields(config)}, f"--set {section}")


def check_run_config(config) -> None:
    """Everything about a RunConfig that can be known without loading data or networks."""
    from baselines import METHODS
    from harness.data import DATASETS
    from harness.precision import check_precision

    method_cls = METHODS.get(config.method)
    spec = DATASETS.get(config.dataset)
    check_device(config.device)
    check_seed("--seed", config.seed)
    train, ev = config.train, config.eval
    if method_cls.trains:
        check_number("--budget-kimg", train.budget_kimg, above=0)
        if round(train.budget_kimg * 1000) < 1:
            raise UsageError(f"--budget-kimg {train.budget_kimg:g} is less than one training image (0.001 kimg)")
    else:
        check_number("--budget-kimg", train.budget_kimg)
    check_number("--set batch_size", train.batch_size, integral=True, minimum=1)
    check_number("--set ema_halflife_kimg", train.ema_halflife_kimg, minimum=0)
    if train.ema_rampup_ratio is not None:
        check_number("--set ema_rampup_ratio", train.ema_rampup_ratio, minimum=0)
    if train.ema_beta is not None:
        check_number("--set ema_beta", train.ema_beta, minimum=0)
        if train.ema_beta >= 1:
            raise UsageError(f"--set ema_beta={train.ema_beta:g}: a per-step EMA decay must be below 1 (0 = no EMA)")
    check_number("--set checkpoint_kimg", train.checkpoint_kimg, minimum=0)
    check_fields("", train)
    check_precision(train.precision)
    from harness.snapshots import parse_keep

    parse_keep(train.keep_snapshots)  # --keep: final | best | all | N
    check_eval(ev, spec)
    from harness.config import apply_overrides

    check_fields("", apply_overrides(method_cls.Config(), config.method_config))
    check_data_path(spec, config.data_path)
    check_backbone(config.backbone)
    check_registered_pair(spec, config.backbone)


def check_eval(ev, spec=None) -> None:
    """The end-of-run evaluation: sizes, seeds, metric names, the FD implementation, and that the
    dataset's feature network gives what each metric reads (IS needs logits)."""
    from harness.metrics import FEATURE_EXTRACTORS, METRICS
    from harness.metrics.precision_recall import DEFAULT_K

    check_number("--num-samples", ev.num_samples, integral=True, minimum=2, maximum=MAX_NUM_SAMPLES)
    check_seed("--set eval.first_seed", ev.first_seed)
    if int(ev.first_seed) + int(ev.num_samples) - 1 > MAX_SEED:
        raise UsageError(f"seeds {ev.first_seed}..{ev.first_seed + ev.num_samples - 1} go beyond 2^63")
    check_number("--set eval.batch_size", ev.batch_size, integral=True, minimum=1)
    check_number("--set eval.grid_size", ev.grid_size, integral=True, minimum=1, maximum=MAX_GRID)
    if isinstance(ev.metrics, str) or not isinstance(ev.metrics, (list, tuple)):  # "fd" read letter by letter
        raise UsageError(f"eval.metrics must be a list of metric names, got {ev.metrics!r}")
    if not ev.metrics:
        raise UsageError("--set eval.metrics: name at least one metric")
    twice = [n for i, n in enumerate(ev.metrics) if n in ev.metrics[:i]]
    if twice:  # it was measured and stored twice (bench eval's --metric drops a repeat)
        raise UsageError(f"--set eval.metrics: {twice[0]!r} is named twice; each metric is measured once")
    fd_kinds = [METRICS.get(n) for n in ev.metrics if n in ("fd", "fid")] or [METRICS.get("fd")]
    for metric in fd_kinds:  # the choice is checked even when no Fréchet distance is measured
        if ev.fd_impl not in metric.implementations:
            raise UsageError(f"--set eval.fd_impl: metric '{metric.name}' has no implementation '{ev.fd_impl}'; "
                             f"valid: {', '.join(metric.implementations)}")
    space = getattr(ev, "feature_extractor", None) or (spec.feature_extractor if spec is not None else None)
    extractor = FEATURE_EXTRACTORS.get(space) if space is not None else None
    for name in ev.metrics:
        metric = METRICS.get(name)  # an unknown name lists the valid ones
        extra = set(metric.needs) - {"features"}
        provides = getattr(extractor, "provides", None)  # what a registered extractor declares it gives
        if extra and not metric.extractor and provides is not None and not extra <= set(provides):
            raise UsageError(f"--set eval.metrics: '{name}' needs {', '.join(sorted(extra))}, which the dataset's "
                             f"feature network {space} does not give")
    if {"precision", "recall"} & set(ev.metrics) and ev.num_samples <= DEFAULT_K:
        raise UsageError(f"precision/recall need more than k = {DEFAULT_K} samples, got --num-samples {ev.num_samples}")
    check_curve(ev)


def check_curve(ev) -> None:
    """Curve points (harness/curves.py): a non-negative interval (0: none), positive extra budgets,
    and a curve sample count no larger than the final evaluation's."""
    check_number("--eval-every-kimg", ev.every_kimg, minimum=0)
    if ev.every_kimg > 0 and round(ev.every_kimg * 1000) < 1:  # it would round to no curve at all
        raise UsageError(f"--eval-every-kimg {ev.every_kimg:g} is less than one training image (0.001 kimg); "
                         f"pass 0 for no curve")
    for kimg in ev.at_kimg:
        check_number("--set eval.at_kimg", kimg, above=0)
    if ev.curve_num_samples is not None:
        check_number("--eval-curve-samples", ev.curve_num_samples, integral=True, minimum=2, maximum=ev.num_samples)


def check_device(name: str) -> None:
    """The device's name; whether it is there is checked where the work runs (a Slurm submitter has no GPU)."""
    import re

    if not isinstance(name, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", name):
        raise UsageError(f"unknown device '{name}'; valid: auto, cpu, cuda, cuda:N")


def check_data_path(spec, data_path) -> None:
    if not data_path:
        return
    path = Path(data_path)
    if not getattr(spec, "reads_files", True):
        raise UsageError(f"--data {path}: dataset {spec.name} is built in and reads no files; drop --data")
    if not path.exists():
        raise UsageError(f"--data {path}: no such file or folder")


def check_backbone(name_or_path: str) -> None:
    """A registered name, or a path to a file that is a diffusion backbone (not a run's generator,
    a feature network, a checkpoint or a folder)."""
    from harness.backbones import BACKBONES
    from harness.backbones.files import identify_weights

    if name_or_path in BACKBONES:
        return
    path = Path(name_or_path)
    if not path.exists():  # exit 2 like a missing --data, before any folder is created
        if path.suffix in (".pkl", ".safetensors", ".pt") or "/" in str(name_or_path):
            raise UsageError(f"--backbone {path}: no such file")
        raise UsageError(f"unknown backbone '{name_or_path}'; valid backbones: {', '.join(BACKBONES.names())} "
                         f"(or a path to a .pkl / .safetensors file)")
    if not path.is_file() or path.suffix not in (".pkl", ".safetensors"):  # a folder, /etc/passwd, a pipe
        raise UsageError(f"--backbone {path}: {describe_path(path)}; expected a backbone file "
                         f"(.pkl or .safetensors with an EDM network card) or a name from `bench list backbones`")
    if path.suffix == ".safetensors":
        kind = identify_weights(path)
        if kind != "backbone":
            raise UsageError(f"--backbone {path}: {kind}; expected a diffusion backbone "
                             f"(.pkl or .safetensors with an EDM network card)")


def check_registered_pair(spec, backbone: str) -> None:
    """A registered backbone's geometry against the dataset's, before anything is downloaded or
    loaded (a backbone given as a file is compared once loaded, by ``build.check_compatible``)."""
    from harness.backbones import BACKBONES

    if backbone not in BACKBONES:
        return
    b = BACKBONES.get(backbone)
    if (b.resolution, b.channels) != (spec.resolution, spec.channels):
        raise UsageError(f"dataset {spec.name} is {spec.channels}x{spec.resolution}x{spec.resolution} but backbone "
                         f"{b.name} is {b.channels}x{b.resolution}x{b.resolution}; pass a backbone made for "
                         f"{spec.name}")
    if b.label_dim and b.label_dim != spec.num_classes:
        raise UsageError(f"backbone {b.name} is conditional on {b.label_dim} classes, dataset {spec.name} has "
                         f"{spec.num_classes}")


def describe_path(path: Path) -> str:
    """What a path is, in words, for errors that say what was given and what was expected."""
    from harness.backbones.files import identify_weights

    path = Path(path)
    if not path.exists():
        return "nothing (no such file or folder)"
    if path.is_dir():
        if (path / "record.json").is_file():
            return "a run folder of `bench run`"
        if (path / "checkpoint").is_dir():
            return "a run folder without a record (an unfinished run)"
        return "a folder"
    if not path.is_file():
        return "a pipe, socket or device, not a regular file"
    if path.suffix == ".safetensors":
        return identify_weights(path)
    if path.suffix == ".json":
        return "a JSON file"
    return f"a {path.suffix or 'plain'} file"


def check_loaded(config, dataset) -> None:
    """What needs the loaded data: a training batch may not exceed the dataset."""
    from baselines import METHODS

    if METHODS.get(config.method).trains and config.train.batch_size > len(dataset):
        raise UsageError(f"--set batch_size={config.train.batch_size} is larger than dataset {dataset.name} "
                         f"({len(dataset)} images)")


def check_pretrain(cfg, out: Path, force: bool) -> None:
    from harness.pretrain import SAVE_DTYPES

    check_number("--kimg", cfg.kimg, above=0)
    if round(cfg.kimg * 1000) < 1:
        raise UsageError(f"--kimg {cfg.kimg:g} is less than one training image (0.001 kimg)")
    check_fields("", cfg)
    from harness.ranges import check_ranges

    check_ranges(dict(cfg.network.get("init_kwargs") or {}))  # the network as it will be built
    if cfg.fd_samples is not None:
        check_number("--set fd_samples", cfg.fd_samples, integral=True, minimum=2)
    if cfg.save_dtype not in SAVE_DTYPES:
        raise UsageError(f"--set save_dtype: unknown '{cfg.save_dtype}'; valid: {', '.join(SAVE_DTYPES)}")
    if cfg.precision not in ("auto", "fp32", "bf16"):
        raise UsageError(f"--set precision: unknown '{cfg.precision}'; valid: auto, fp32, bf16")
    out = Path(out)
    if out.suffix != ".safetensors":
        raise UsageError(f"--out {out}: expected a .safetensors file name (the card is written beside it)")
    if out.is_dir():
        raise UsageError(f"--out {out}: is a folder; expected a .safetensors file name")
    if (out.exists() or out.with_suffix(".json").exists()) and not force:
        raise UsageError(f"--out {out}: exists already ({describe_path(out)}); pass --force to overwrite it")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    if (out.parent / "record.json").exists() or (out.parent / "checkpoint").is_dir():  # even with --force
        raise UsageError(f"--out {out}: {out.parent} is a stored run's folder (its generator and card would be "
                         f"replaced); write the backbone elsewhere")
    check_writable_folder(out.parent, f"--out {out}")


def check_writable_folder(folder: Path, flag: str) -> None:
    """Probe by writing (root passes os.access even on a read-only file system): hours of training
    must not end in an unwritable folder."""
    import os
    import secrets

    probe = Path(folder) / f".write-probe-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{flag}: folder {folder} is not writable ({exc.strerror or exc})") from None


def check_eval_options(options) -> None:
    """`bench eval`'s numbers (the names are checked by the command itself, first)."""
    if options.num_samples is not None:
        check_number("--num-samples", options.num_samples, integral=True, minimum=2, maximum=MAX_NUM_SAMPLES)
    check_number("--fid-repeats", options.fid_repeats, integral=True, minimum=1, maximum=MAX_FID_REPEATS)
    check_seed("--first-seed", options.first_seed)
    check_number("--batch-size", options.batch_size, integral=True, minimum=1)
    n = options.num_samples or 50_000
    if options.first_seed + n * options.fid_repeats - 1 > MAX_SEED:
        raise UsageError("--first-seed plus the samples go beyond 2^63")
    check_device(options.device)
    if options.data_path is not None and not Path(options.data_path).exists():
        raise UsageError(f"--data {options.data_path}: no such file or folder")
    if options.reference is not None and not Path(options.reference).is_file():
        raise UsageError(f"--ref {options.reference}: expected an .npz file of reference statistics, got "
                         f"{describe_path(Path(options.reference))}")
    real_subset = getattr(options, "real_subset", None)
    if real_subset is not None and ":" in real_subset:
        start, _, stop = real_subset.partition(":")
        if not (start.isdigit() and stop.isdigit() and int(start) < int(stop)):
            raise UsageError(f"--real-subset {real_subset}: expected START:STOP with 0 <= START < STOP, or a named subset")


def check_results_dir(results: Path, must_exist: bool = False) -> None:
    """--results must be a folder (or, unless ``must_exist``, not exist yet), not a file."""
    results = Path(results)
    if results.exists() and not results.is_dir():
        raise UsageError(f"--results {results}: {describe_path(results)}; expected a results folder")
    if must_exist and not results.is_dir():
        raise UsageError(f"--results {results}: no such folder; nothing written (pass the folder the runs are in)")
