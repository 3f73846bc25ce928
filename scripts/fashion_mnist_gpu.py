"""Fashion-MNIST 32x32 at GPU scale in one GPU window (issue #10): pre-train the backbone, run every
method from it at equal image budgets, store records, sample grids and stage timings in results/,
and rebuild the tables.

    python scripts/fashion_mnist_gpu.py                       # one H100/H200, ~15 minutes

Stages, in the order that keeps a cut-short window useful: pre-train (~1 Mimg, skipped when the
backbone file exists), teacher and one-step backbone, every trained method at the first budget,
then at the last budget, the D2O-F freeze-level ablation at the last budget, DMD at the last
budget (6x the cost per image: 5 fake-score updates per generator update). Finished runs are
skipped by `bench sweep`'s rule (same method, dataset, backbone, budget, seed, overrides), so
running the same command again continues an interrupted window; ``--deadline-min`` stops
starting new stages after that many minutes. Each stage's wall time goes into
``<results>/fashion-mnist-gpu/<UTC time>.json`` with the device.

Every size is a flag, with an ``FM_<FLAG>`` environment default (``FM_BUDGETS=0.1``), so the CPU
smoke test (tests/scripts/test_fashion_mnist_script.py) runs the same code with a tiny network.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable from a checkout without `pip install -e .`

DATASET = "fashion-mnist"
BACKBONE_NAME = "edm-fashion-mnist-32x32-uncond"
DEFAULT_BACKBONE = ROOT / "harness" / "backbones" / "weights" / f"{BACKBONE_NAME}.safetensors"
TRAINED = ("gan_only", "gan_only_frozen", "progressive_distillation", "consistency_distillation", "dmd")
LAST_ONLY_AT_END = ("dmd",)  # the costliest per image: its top-budget run comes last


def env(name: str, default: str) -> str:
    return os.environ.get(f"FM_{name.upper().replace('-', '_')}", default)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=Path(env("results", "results")))
    p.add_argument("--tables", type=Path, default=Path(env("tables", "tables")), help="where `bench report` writes")
    p.add_argument("--backbone", type=Path, default=Path(env("backbone", str(DEFAULT_BACKBONE))),
                   help="backbone file: used when it exists, else pre-trained into it")
    p.add_argument("--pretrain-kimg", type=float, default=float(env("pretrain_kimg", "1000")))
    p.add_argument("--pretrain-set", action="append", default=env("pretrain_set", "").split() or [],
                   help="KEY=VALUE for the pre-training config, e.g. model_channels=8 (repeatable)")
    p.add_argument("--methods", default=env("methods", ",".join(("teacher", "backbone_one_step") + TRAINED)))
    p.add_argument("--budgets", default=env("budgets", "100,350"), help="comma-separated kimg, equal for every method")
    p.add_argument("--freeze-levels", default=env("freeze_levels", "2,3"),
                   help="extra D2O-F levels at the last budget (level 0 is gan_only, level 1 gan_only_frozen)")
    p.add_argument("--seed", type=int, default=int(env("seed", "0")))
    p.add_argument("--num-samples", type=int, default=int(env("num_samples", "0")), help="0: the dataset's preset")
    p.add_argument("--device", default=env("device", "auto"), help="auto | cpu | cuda")
    p.add_argument("--precision", default=env("precision", "auto"), help="auto (bf16 on CUDA) | fp32 | bf16")
    p.add_argument("--data", type=Path, default=Path(env("data", "")) if env("data", "") else None,
                   help="directory of Fashion-MNIST idx files (default: Debian's)")
    p.add_argument("--set", dest="overrides", action="append", default=env("set", "").split() or [],
                   help="KEY=VALUE for every method run, e.g. train.batch_size=16 (repeatable)")
    p.add_argument("--deadline-min", type=float, default=float(env("deadline_min", "0")),
                   help="start no new stage after this many minutes (0: no limit)")
    p.add_argument("--quiet", action="store_true", default=env("quiet", "") not in ("", "0"))
    return p.parse_args(argv)


def stages(args: argparse.Namespace) -> list[tuple[str, float | None, list[str]]]:
    """(method, budget or None, extra overrides), in running order."""
    methods = [m for m in args.methods.split(",") if m]
    budgets = [float(b) for b in args.budgets.split(",") if b]
    out = [(m, None, []) for m in methods if m not in TRAINED]
    for i, budget in enumerate(budgets):
        last = i == len(budgets) - 1
        out += [(m, budget, []) for m in methods if m in TRAINED and not (last and len(budgets) > 1 and m in LAST_ONLY_AT_END)]
    if "gan_only_frozen" in methods:
        out += [("gan_only_frozen", budgets[-1], [f"freeze_level={level}"])
                for level in (int(x) for x in args.freeze_levels.split(",") if x)]
    if len(budgets) > 1:
        out += [(m, budgets[-1], []) for m in methods if m in LAST_ONLY_AT_END]
    return out


class Log:
    """Stage timings, rewritten after every stage so a killed window keeps what it measured."""

    def __init__(self, args: argparse.Namespace, device: str, precision: str):
        import torch

        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        self.path = args.results / "fashion-mnist-gpu" / f"{stamp}.json"
        gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
        self.data = {"script": "scripts/fashion_mnist_gpu.py", "argv": sys.argv[1:], "device": device, "gpu": gpu,
                     "precision": precision, "torch": torch.__version__, "started_utc": stamp, "stages": []}
        self.start = time.perf_counter()

    def minutes(self) -> float:
        return (time.perf_counter() - self.start) / 60

    def add(self, **stage) -> None:
        self.data["stages"].append(stage)
        self.data["total_seconds"] = round(time.perf_counter() - self.start, 1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")
        print(f"[{self.minutes():5.1f} min] {json.dumps(stage)}", flush=True)


def pretrain_stage(args: argparse.Namespace, device: str, precision: str, log: Log) -> None:
    from harness.pretrain_command import pretrain_command

    if args.backbone.is_file():
        log.add(stage="pretrain", status="skipped (backbone exists)", backbone=str(args.backbone))
        return
    overrides = [f"precision={precision}", *args.pretrain_set]
    command = (f"bench pretrain --dataset {DATASET} --out {args.backbone} --kimg {args.pretrain_kimg:g} "
               f"--seed {args.seed} --device {device}" + "".join(f" --set {o}" for o in overrides)
               + (f" --data {args.data}" if args.data else ""))
    start = time.perf_counter()
    facts = pretrain_command(DATASET, args.backbone, args.pretrain_kimg, args.seed, device, args.data, overrides,
                             command, not args.quiet)
    log.add(stage="pretrain", status="done", seconds=round(time.perf_counter() - start, 1), backbone=str(args.backbone),
            train_seconds=facts["train_seconds"], images_per_second=facts["images_per_second"],
            teacher_fd=facts.get("teacher_fd"), one_step_fd=facts.get("one_step_fd"), command=command)


def done_keys(results: Path) -> set:
    from harness.records import load_records
    from harness.sweep import done_key

    # Run records only: analysis records (`bench analyze`) share results/ but have no run config.
    return {done_key(r) for r in load_records(results)[0] if r.get("status") == "completed" and "config" in r}


def method_stage(args, method: str, budget: float | None, extra: list[str], backbone: str, device: str,
                 base: list[str], log: Log) -> bool:
    """One `bench sweep` grid point; False when it failed."""
    from baselines import METHODS
    from harness.build import configure
    from harness.runner import run
    from harness.sweep import point_key

    overrides = base + extra
    trains = METHODS.get(method).trains
    config = configure(method, DATASET, backbone=backbone, budget_kimg=budget if trains else None, seed=args.seed,
                       device=device, data_path=args.data, overrides=overrides,
                       num_samples=args.num_samples or None)
    key = point_key(config, budget if trains else 0.0, overrides)  # as `bench sweep` keys a grid point
    where = dict(stage=method, budget_kimg=budget if trains else 0.0, overrides=extra)
    if key in done_keys(args.results):
        log.add(**where, status="skipped (stored)")
        return True
    if args.deadline_min and log.minutes() >= args.deadline_min:
        log.add(**where, status="skipped (deadline)")
        return True
    config.sweep_overrides = list(overrides)  # so `bench sweep` with the same flags skips it too
    start = time.perf_counter()
    try:
        path = run(config, args.results, show_progress=not args.quiet)
    except Exception as exc:  # a failed stage must not cost the rest of the window
        traceback.print_exc()
        log.add(**where, status="failed", seconds=round(time.perf_counter() - start, 1), error=str(exc)[:300])
        return False
    record = json.loads(Path(path).read_text())
    fd = next((m["value"] for m in record.get("metrics") or [] if m.get("name") == "fd"), None)
    log.add(**where, status=record.get("status", "?"), seconds=round(time.perf_counter() - start, 1),
            record=str(Path(path).relative_to(args.results)), fd=fd)
    return record.get("status") == "completed"


def catalog_name(path: Path) -> str:
    """The registered name of a shipped backbone file (so records name it as `bench run` would), else the path."""
    from harness.backbones.catalog import BACKBONES

    for name in BACKBONES.names():
        shipped = BACKBONES.get(name).shipped_path
        if shipped is not None and shipped.resolve() == path.resolve():
            return name
    return str(path)


def runs_take_precision() -> bool:
    """Whether method runs take ``--set precision=...`` (TrainConfig.precision); else they run in fp32."""
    from harness.config import TrainConfig, field_types

    return "precision" in field_types(TrainConfig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import torch

    from harness.pretrain import resolve_precision
    from harness.build import resolve_device

    device = resolve_device(args.device).type
    precision = resolve_precision(args.precision, torch.device(device))
    log = Log(args, device, precision)
    pretrain_stage(args, device, precision, log)
    backbone = catalog_name(args.backbone)
    base = list(args.overrides) + ([f"precision={precision}"] if precision != "fp32" and runs_take_precision() else [])
    log.data["method_precision"] = precision if any(o.startswith("precision=") for o in base) else "fp32"
    ok = True
    for method, budget, extra in stages(args):
        ok &= method_stage(args, method, budget, extra, backbone, device, base, log)
    from harness.report import build_report

    start = time.perf_counter()
    written, problems = build_report(args.results, args.tables)
    log.add(stage="report", status="done", seconds=round(time.perf_counter() - start, 1), tables=str(args.tables),
            files=len(written), problems=problems[:20])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
