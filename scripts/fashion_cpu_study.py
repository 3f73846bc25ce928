"""Issue #27's Fashion-MNIST 32x32 study on a CPU, in one command: every method x seeds 0-2 to 20 kimg
from one of the shipped CPU-scale backbones (``--backbone``: the 200-kimg one by default, or the 50-kimg
one), with the thesis controls, then Inception FID/KID of the final generators and the tables.

    python scripts/fashion_cpu_study.py                 # ~2 h 40 min on 2 cores (README, "Fashion-MNIST to 20 kimg")
    python scripts/fashion_cpu_study.py --dry-run       # what is stored and what would run
    python scripts/fashion_cpu_study.py --tune          # then equal tuning (item 3; 1 h 47 min more, measured 2026-12-06)

The grid (``grid()``): D2O (``gan_only``), D2O-F at freeze levels 1-3, PD, CD, DMD2-style with and
without its GAN term, and the thesis controls: D2O from a randomly initialised network
(``init=random``) and from the backbone's recipe stopped at 10 kimg of pre-training. Every run is
``bench run`` with the flags of ``COMMON`` (batch 32, FD in the Fashion-MNIST classifier's features from
1,000 samples at 1, 2, 5, 10, 15 and 20 kimg), one thread each, ``--lanes`` side by side (two on a
2-core machine: more ran 7x slower). A run whose completed record is stored (same method, backbone,
seed, budget, settings) is skipped, so the same command continues an interrupted study. Then
``scripts/fashion_inception_evals.sh`` measures each stored final generator's Inception FID and KID
(2,000 samples against the test set; ~4.5 min each, plus re-making a generator a clone lacks) unless
``--no-inception``, and ``bench report`` rebuilds the tables. With ``--tune`` the lanes then run one
``bench tune`` study per trained method (``TUNED``: the same 8 trials at 5 kimg for each, the best re-run
on seeds 0-2 to 20 kimg and measured as the grid; studies live in ``results/tuning/`` and continue where
they stopped), so no method loses for want of tuning.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable from a checkout without `pip install -e .`
# The two CPU backbones of one recipe (harness/backbones/catalog.py): 50 kimg, and 200 kimg (issue #27 item 1).
BACKBONES = ("edm-fashion-mnist-32x32-uncond-small", "edm-fashion-mnist-32x32-uncond-small-200kimg")
BACKBONE = BACKBONES[1]
EARLY_STOPPED = "edm-fashion-mnist-32x32-uncond-small-10kimg"  # that recipe stopped at 10 kimg: both's control
BUDGET_KIMG = 20.0
SEEDS = (0, 1, 2)
# Batch 32; FD in the classifier's features from 1,000 samples at 1, 2, 5, 10, 15 and 20 kimg.
MEASURE = ["--set", "eval.every_kimg=5", "--set", "eval.at_kimg=1,2,5,10", "--set", "train.batch_size=32",
           "--set", "eval.metrics=fd", "--set", "eval.num_samples=1000"]
COMMON = ["--dataset", "fashion-mnist", "--budget-kimg", f"{BUDGET_KIMG:g}", "--threads", "1", *MEASURE, "--quiet"]
GAN = {"d_width": 16}  # the CPU-size discriminator trained from scratch (the projected one is too slow here)

# Item 3, equal tuning: every trained method gets the same `bench tune` study (seeded TPE, trials at TUNE_KIMG
# scored on held-out sample seeds 1,000,000..), its best settings re-run on SEEDS to BUDGET_KIMG, measured as above.
TUNED = ("gan_only", "gan_only_frozen", "progressive_distillation", "consistency_distillation", "dmd")
TUNE_KIMG, TUNE_TRIALS, TUNE_SEED = 5.0, 8, 100


def settings_flags(settings: dict) -> list[str]:
    return [x for k, v in settings.items() for x in ("--set", f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}")]


def tune_command(method: str, backbone: str = BACKBONE) -> list[str]:
    return ["bench", "tune", "--method", method, "--dataset", "fashion-mnist", "--backbone", backbone,
            "--budget-kimg", f"{TUNE_KIMG:g}", "--trials", str(TUNE_TRIALS), "--seed", str(TUNE_SEED),
            "--rerun-seeds", ",".join(map(str, SEEDS)), "--rerun-budget-kimg", f"{BUDGET_KIMG:g}", "--threads", "1",
            "--device", "cpu", "--quiet", *MEASURE, *settings_flags(GAN if method.startswith("gan_only") else {})]


@dataclass(frozen=True)
class Point:
    method: str
    seed: int
    backbone: str
    settings: dict = field(default_factory=dict, hash=False)

    def command(self) -> list[str]:
        return ["bench", "run", "--method", self.method, "--backbone", self.backbone, "--seed", str(self.seed),
                *COMMON, *settings_flags(self.settings)]

    def name(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.settings.items() if k != "d_width")
        return f"{self.method}{f' ({extra})' if extra else ''} from {self.backbone} seed {self.seed}"


def grid(backbone: str = BACKBONE) -> list[tuple[str, str, dict]]:
    """(method, backbone, settings) of the study from ``backbone``: the methods first, the controls last."""
    return [("gan_only", backbone, GAN)] + \
        [("gan_only_frozen", backbone, {**GAN, "freeze_level": level}) for level in (1, 2, 3)] + \
        [("progressive_distillation", backbone, {}), ("consistency_distillation", backbone, {}), ("dmd", backbone, {}),
         ("dmd", backbone, {"gan_weight": 3e-3}),  # DMD2's GAN term at its ImageNet-64 weight (arXiv 2405.14867)
         ("gan_only", backbone, {**GAN, "init": "random"}), ("gan_only", EARLY_STOPPED, GAN)]


def points(backbone: str = BACKBONE) -> list[Point]:
    return [Point(method, seed, b, settings) for method, b, settings in grid(backbone) for seed in SEEDS]


def matches(record: dict, point: Point) -> bool:
    """A completed run record of this point: method, backbone, seed, budget, the study's batch and samples,
    and every setting (a method setting the point leaves unset must be at its default, as the grid's is)."""
    config = record.get("config")
    if record.get("status") != "completed" or not isinstance(config, dict) or record.get("kind", "run") != "run":
        return False
    if (record.get("method"), config.get("backbone"), record.get("seed")) != (point.method, point.backbone, point.seed):
        return False
    if float(record.get("budget_kimg") or 0) != BUDGET_KIMG or (config.get("train") or {}).get("batch_size") != 32:
        return False
    if (config.get("eval") or {}).get("num_samples") != 1000:
        return False
    method_config = config.get("method_config") or {}
    defaults = {"init": "pretrained", "gan_weight": 0.0, "freeze_level": 1}
    wanted = {k: v for k, v in defaults.items() if k in method_config} | point.settings
    return all(method_config.get(k) == v for k, v in wanted.items())


def plan(results: Path, backbone: str = BACKBONE) -> tuple[list[Point], list[tuple[Point, str]]]:
    """(points to run, (point, run id) of those stored)."""
    from harness.records import load_records  # unreadable records are left out (reported by `bench runs`)

    records = load_records(results)[0]
    todo, done = [], []
    for point in points(backbone):
        found = [r for r in records if matches(r, point)]
        if found:
            done.append((point, str(found[0].get("run_id"))))
        else:
            todo.append(point)
    return todo, done


def run_command(name: str, command: list[str], results: Path) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    start = time.perf_counter()
    print(f"{time.strftime('%H:%M:%S')} start {name}", flush=True)
    code = subprocess.run([*command, "--results", str(results)], env=env, cwd=ROOT).returncode
    print(f"{time.strftime('%H:%M:%S')} end {name}: exit {code}, {(time.perf_counter() - start) / 60:.1f} min",
          flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=ROOT / "results")
    p.add_argument("--tables", type=Path, default=ROOT / "tables")
    p.add_argument("--backbone", choices=BACKBONES, default=BACKBONE,
                   help=f"the backbone every method starts from (default {BACKBONE})")
    p.add_argument("--lanes", type=int, default=2, help="runs side by side, one thread each (default 2)")
    p.add_argument("--dry-run", action="store_true", help="list stored and missing runs, run nothing")
    p.add_argument("--no-inception", action="store_true", help="skip the Inception FID/KID evaluations")
    p.add_argument("--tune", action="store_true", help=f"then equal tuning: `bench tune` for each of {', '.join(TUNED)}, "
                   f"{TUNE_TRIALS} trials at {TUNE_KIMG:g} kimg, the best re-run on seeds 0-2 at {BUDGET_KIMG:g} kimg "
                   f"(a study continues where it stopped)")
    args = p.parse_args(argv)
    if args.lanes < 1:
        p.error("--lanes must be at least 1")
    if not args.results.is_dir():
        print(f"{args.results}: no such folder yet, so nothing is stored there (a run creates it)")
    todo, done = plan(args.results, args.backbone)
    for point, run_id in done:
        print(f"stored: {point.name()}: {run_id}")
    for point in todo:
        print(f"to run: {point.name()}: {' '.join(point.command())}")
    print(f"{len(done)} of {len(done) + len(todo)} runs stored, {len(todo)} to run")
    jobs = [(point.name(), point.command()) for point in todo]
    if args.tune:
        tunes = [(f"tuning {method} from {args.backbone}", tune_command(method, args.backbone)) for method in TUNED]
        for name, command in tunes:
            print(f"then: {name}: {' '.join(command)}")
        jobs += tunes
    if args.dry_run:
        return 0
    start = time.perf_counter()
    with ThreadPoolExecutor(args.lanes) as pool:
        codes = list(pool.map(lambda job: run_command(*job, args.results), jobs))
    failed = [name for (name, _), code in zip(jobs, codes) if code != 0]
    if not args.no_inception:
        subprocess.run(["bash", str(ROOT / "scripts" / "fashion_inception_evals.sh"), str(args.results)], cwd=ROOT,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    subprocess.run(["bench", "report", "--results", str(args.results), "--out", str(args.tables)], cwd=ROOT)
    print(f"study: {(time.perf_counter() - start) / 60:.1f} min; {len(failed)} job(s) failed"
          + "".join(f"\n  failed: {name}" for name in failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
