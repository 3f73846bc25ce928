"""Synthetic records shaped like the runner's and the analyses', for report tests and the benchmark.

Everything is derived from the record index with a seeded ``random.Random``, so the same call makes
the same records; nothing trains.
"""

from __future__ import annotations

import random
from pathlib import Path

from harness.records import RECORD_NAME, write_json_atomic

# (report dataset key, bench dataset, backbone, extractor, evaluation samples)
DATASET_CASES = (
    ("cifar10-uncond", "cifar10", "edm-cifar10-32x32-uncond-ve", "inception-v3-compat", 50000),
    ("cifar10-cond", "cifar10", "edm-cifar10-32x32-cond-ve", "inception-v3-compat", 50000),
    ("afhqv2-64", "afhqv2-64", "edm-afhqv2-64x64-uncond-ve", "inception-v3-compat", 10000),
    ("ffhq-64", "ffhq-64", "edm-ffhq-64x64-uncond-ve", "inception-v3-compat", 50000),
    ("imagenet-64", "imagenet-64", "edm-imagenet-64x64-cond-adm", "inception-v3-compat", 50000),
    ("digits", "digits", "edm-digits-8x8-uncond", "digits-classifier", 2000),
    ("fashion-mnist", "fashion-mnist", "edm-fashion-mnist-32x32-uncond", "fashion-mnist-classifier", 5000),
)
METHODS = {  # method: (nfe, teacher passes per training image, trains)
    "gan_only": (1, 0.0, True), "gan_only_frozen": (1, 0.0, True), "backbone_one_step": (1, 0.0, False),
    "progressive_distillation": (1, 2.0, True), "consistency_distillation": (1, 1.0, True), "dmd": (1, 1.0, True),
    "teacher": (35, 0.0, False),
}


def metric(name: str, value: float, extractor: str, n: int, reference: str, implementation: str = "own") -> dict:
    return {"name": name, "value": value, "extractor": extractor, "extractor_weights_sha256": f"{extractor:0<64}"[:64],
            "implementation": implementation, "num_samples": n,
            "reference": {"id": reference, "dataset": reference, "sha256": "ab" * 32, "num_images": 1000},
            "details": {}, "seeds": [0, n - 1]}


def run_record(i: int, method: str | None = None, case: int | None = None, seed: int | None = None,
               fd: float | None = None, implementation: str = "own", num_samples: int | None = None,
               budget_kimg: float | None = None, freeze_level: int | None = None, gpu: bool | None = None) -> dict:
    """One completed run record; anything not given is drawn from ``random.Random(i)``."""
    rng = random.Random(i)
    method = method or list(METHODS)[i % len(METHODS)]
    key, dataset, backbone, extractor, n = DATASET_CASES[case if case is not None else (i // 7) % len(DATASET_CASES)]
    nfe, passes, trains = METHODS[method]
    budget = (budget_kimg if budget_kimg is not None else rng.choice([50.0, 200.0, 1000.0])) if trains else 0.0
    n = num_samples or n
    seed = seed if seed is not None else rng.randrange(3)
    on_gpu = gpu if gpu is not None else rng.random() < 0.5
    info = {}
    if method == "gan_only_frozen":
        level = freeze_level if freeze_level is not None else rng.choice([1, 2, 3])
        info = {"freeze_level": level, "frozen_share": {1: 0.84, 2: 0.86, 3: 0.9}[level]}
    value = fd if fd is not None else round(rng.uniform(1.0, 20.0), 6)
    return {
        "schema_version": 1, "run_id": f"{dataset}-{method}-s{seed}-{i:05d}", "status": "completed", "failure": None,
        "method": method, "dataset": dataset, "seed": seed, "budget_kimg": budget, "nfe": nfe,
        "teacher_passes_per_image": passes, "method_info": info,
        "backbone": {"name": backbone, "sha256": "cd" * 32, "file": f"{backbone}.safetensors"},
        "metrics": [metric("fd", value, extractor, n, dataset, implementation),
                    metric("precision", round(rng.random(), 6), extractor, n, dataset),
                    metric("recall", round(rng.random(), 6), extractor, n, dataset)],
        "training": {"images_seen": int(budget * 1000), "steps": int(budget * 1000) // 128} if trains else {},
        "timing": {"wall_seconds": rng.uniform(10, 1e5), "train_seconds": rng.uniform(5, 9e4),
                   "eval_seconds": 1.0, "images_per_second": 1000.0},
        "environment": {"hardware": {"device": "cuda" if on_gpu else "cpu", **({"gpu": "NVIDIA H100"} if on_gpu else {})},
                        "versions": {}, "git": {"commit": None, "dirty": None}},
        "created_utc": "2025-01-01T00:00:00Z",
    }


def analysis_base(i: int, kind: str, case: int) -> dict:
    rng = random.Random(10_000 + i)
    key, dataset, backbone, extractor, n = DATASET_CASES[case]
    return {
        "schema_version": 1, "kind": kind, "run_id": f"{dataset}-{kind}-gan_only-s{i % 3}-{i:05d}", "status": "completed",
        "method": "gan_only", "dataset": dataset, "seed": i % 3, "budget_kimg": 50.0, "nfe": 1, "method_info": {},
        "backbone": {"name": backbone, "sha256": "cd" * 32, "file": f"{backbone}.safetensors"},
        "source_run": {"run_id": f"{dataset}-gan_only-s{i % 3}-x", "dir": "x", "method": "gan_only", "seed": i % 3},
        "measurement": {k: v for k, v in metric("fd", 0.0, extractor, 500, dataset).items() if k != "value"},
        "timing": {"wall_seconds": rng.uniform(1, 100)}, "created_utc": "2025-01-01T00:00:00Z",
    }


def mismatch_record(i: int, case: int = 5) -> dict:
    rng = random.Random(20_000 + i)
    record = analysis_base(i, "analysis-mismatch", case)
    record["analysis"] = {"num_samples": 500, "seeds": [0, 499], "teacher": "heun", "teacher_steps": list(range(2, 11))}
    record["results"] = {"student_vs_data": rng.uniform(1, 5), "teacher": [
        {"steps": n, "nfe": 2 * n - 1, "teacher_vs_student": rng.uniform(1, 10), "teacher_vs_data": rng.uniform(1, 10)}
        for n in range(2, 11)]}
    return record


def spectrum_record(i: int, case: int = 5) -> dict:
    rng = random.Random(30_000 + i)
    record = analysis_base(i, "analysis-spectrum", case)
    bins = 5
    record["analysis"] = {"num_samples": 500, "seeds": [0, 499], "teacher_steps": 18, "resolution": 8,
                          "frequencies": list(range(bins)), "bands": {"low": [1, 2], "mid": [3], "high": [4]}}
    record["spectra"] = {s: [rng.uniform(-3, 1) for _ in range(bins)] for s in ("real", "teacher", "before", "after")}
    record["band_errors"] = {s: {b: rng.uniform(0, 1) for b in ("low", "mid", "high")} for s in ("teacher", "before", "after")}
    record["fd_vs_data"] = {s: rng.uniform(0, 50) for s in ("teacher", "before", "after")}
    return record


def synthetic_records(count: int, cases: tuple[int, ...] = tuple(range(len(DATASET_CASES)))) -> list[dict]:
    """``count`` records: 90% runs over the given dataset cases and all methods, 5% mismatch and 5%
    spectrum analyses (on digits and CIFAR-10)."""
    records = []
    for i in range(count):
        if i % 20 == 18:
            records.append(mismatch_record(i, case=5 if i % 40 == 18 else 0))
        elif i % 20 == 19:
            records.append(spectrum_record(i, case=5 if i % 40 == 19 else 0))
        else:
            records.append(run_record(i, case=cases[(i // 7) % len(cases)]))
    return records


def write_records(results_dir: Path, records: list[dict]) -> Path:
    """Store records in the runner's layout: <results>/<run id>/record.json."""
    for record in records:
        run_dir = Path(results_dir) / record["run_id"]
        run_dir.mkdir(parents=True)
        write_json_atomic(run_dir / RECORD_NAME, record)
    return Path(results_dir)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def with_curve(record: dict, fds: list[float], kimgs: list[float], depends: bool = False) -> dict:
    """A run record given a training curve: FD ``fds[i]`` at ``kimgs[i]``; the last point is the final
    one and equals the record's metrics (as the runner stores it)."""
    fd = record["metrics"][0]
    record["metrics"][0] = {**fd, "value": fds[-1]}
    points = [{"kimg": k, "images_seen": int(k * 1000), "step": int(k * 1000) // 128, "final": i == len(fds) - 1,
               "metrics": [{**fd, "value": v}], "num_samples": fd["num_samples"], "reduced_samples": False,
               "train_seconds": 10.0 * (i + 1), "eval_seconds": 1.0 * (i + 1), "wall_seconds": 11.0 * (i + 1)}
              for i, (v, k) in enumerate(zip(fds, kimgs))]
    best = min(range(len(fds)), key=lambda i: (fds[i], i))
    record["curve"] = {"every_kimg": 0.0, "at_kimg": kimgs[:-1], "num_samples": fd["num_samples"],
                       "reduced_samples": False, "schedule_depends_on_budget": depends, "points": points,
                       "intermediate_points_are": "snapshots" if depends else "runs"}
    record["best_snapshot"] = {"index": best, "kimg": kimgs[best], "images_seen": int(kimgs[best] * 1000),
                               "final": best == len(fds) - 1, "metric": "fd", "value": fds[best],
                               "num_samples": fd["num_samples"], "reduced_samples": False}
    record["budget_kimg"] = kimgs[-1]
    record["training"] = {"images_seen": int(kimgs[-1] * 1000), "steps": int(kimgs[-1] * 1000) // 128}
    return record
