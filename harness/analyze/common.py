"""What both analyses share: rebuilding a stored run, sampling with fixed seeds, FD, and the record.

An analysis record uses the run-record layout (``<results>/<id>/record.json``, written atomically,
never edited) with a ``kind`` naming the analysis, and repeats the analysed run's identity (method,
dataset, seed, budget, backbone) so the report can group analyses the way it groups runs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness import records
from harness.errors import BenchError, UsageError, in_brief

MAX_STEPS = 256  # EDM's longest sampler (ImageNet-64: 256 stochastic steps); the analyses use 2..10 and 18


@dataclass
class Subject:
    """A stored run rebuilt for analysis: its record, student generator, backbone, data and extractor."""

    run_dir: Path
    record: dict
    student: torch.nn.Module
    backbone: Any  # harness.backbones.LoadedBackbone
    dataset: Any  # harness.data.ImageDataset
    extractor: Any  # harness.metrics.FeatureExtractor
    device: torch.device

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.backbone.channels, self.backbone.resolution, self.backbone.resolution)


def check_run_dir(run_dir: Path) -> None:
    """One answer for both analyses: a folder without record.json (a results folder, an unfinished run)
    is the user's mix-up (exit 2), not an unreadable record."""
    from harness.validate import describe_path

    run_dir = Path(run_dir)
    if not (run_dir / records.RECORD_NAME).is_file():
        raise UsageError(f"--run {run_dir}: {describe_path(run_dir)}, not a run directory (expected "
                         f"<results>/<run id>/ holding {records.RECORD_NAME})")


def check_steps(flag: str, steps: list[int]) -> None:
    """Teacher step counts in 1..MAX_STEPS: 10**5 steps is a typo that samples for hours."""
    from harness.validate import check_number

    for n in steps:
        check_number(flag, n, integral=True, minimum=1, maximum=MAX_STEPS)


def check_request(run_dir: Path, num_samples: int, first_seed: int, results_dir: Path | None, device: str) -> None:
    """Every option before the run is loaded, by `bench eval`'s rules (a teacher samples for minutes on a
    CPU; a typo must not cost them): seeds first..first+n-1 stay below 2^63."""
    from harness.validate import MAX_NUM_SAMPLES, MAX_SEED, check_device, check_number, check_results_dir, check_seed

    check_run_dir(run_dir)
    check_number("--num-samples", num_samples, integral=True, minimum=2, maximum=MAX_NUM_SAMPLES)
    check_seed("--first-seed", first_seed)
    if first_seed + num_samples - 1 > MAX_SEED:
        raise UsageError(f"--first-seed {first_seed} with --num-samples {num_samples} uses seeds beyond 2^63 - 1 "
                         f"({MAX_SEED})")
    check_device(device)
    results_dir = Path(results_dir) if results_dir is not None else Path(run_dir).parent
    check_results_dir(results_dir)
    records.check_writable(results_dir)


def read_run_record(run_dir: Path) -> dict:
    path = Path(run_dir) / records.RECORD_NAME
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: not a readable run record ({exc.__class__.__name__}: {in_brief(exc)})") from None
    from harness.record_shape import check_shape

    check_shape(record, path)  # a hand-edited record of the wrong types is one line (harness/record_shape.py)
    if record.get("kind", "run") != "run":
        raise UsageError(f"{path} is an analysis record ({record.get('kind')}), not a run")
    if record.get("status") != "completed":
        raise BenchError(f"{path}: the run did not complete (status {record.get('status')}); nothing to analyse")
    return record


def load_subject(run_dir: Path, device: str = "auto") -> Subject:
    """The run rebuilt by ``load_run`` (generator, backbone, data as the run used them) plus its extractor."""
    from harness.build import build_extractor, load_run, resolve_device

    run_dir = Path(run_dir)
    check_run_dir(run_dir)
    read_run_record(run_dir)
    dev = resolve_device(device)
    from harness import remake

    loaded = load_run(remake.generator_dir(run_dir)[0], str(dev))
    extractor = build_extractor(loaded.config, dev)
    return Subject(run_dir, loaded.record, loaded.generator, loaded.backbone, loaded.dataset, extractor, dev)


def sample(subject: Subject, generator: torch.nn.Module, seeds: range, description: str,
           batch_size: int = 500) -> torch.Tensor:
    """EDM's per-seed protocol, so teacher and student see the same latents (and classes) per seed;
    with progress when the command shows it (a teacher on a CPU can take minutes)."""
    from harness.evaluate import generate
    from harness.progress import phases_on

    return generate(generator, seeds, subject.shape, subject.backbone.label_dim, subject.device, batch_size,
                    show_progress=phases_on(), description=description)


def fd(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    from harness.metrics.frechet import frechet_distance

    return float(frechet_distance(features_a, features_b))


def measurement(subject: Subject, num_samples: int) -> dict:
    """The measurement key of every FD in the record, in the form run records use for metrics."""
    from harness.metrics import reference_record

    return {"name": "fd", "extractor": subject.extractor.name,
            "extractor_weights_sha256": subject.extractor.weights_sha256, "implementation": "own",
            "num_samples": int(num_samples), "reference": reference_record(subject.dataset)}


def analysis_record(kind: str, subject: Subject, body: dict, started: float) -> dict:
    r = subject.record
    return records.envelope({
        "kind": kind, "status": "completed",
        "method": r["method"], "dataset": r["dataset"], "seed": r["seed"], "budget_kimg": r.get("budget_kimg"),
        "nfe": r.get("nfe"), "backbone": {k: r["backbone"].get(k) for k in ("name", "sha256", "file")},
        "method_info": r.get("method_info") or {},
        "source_run": {"run_id": r["run_id"], "dir": subject.run_dir.name, "method": r["method"], "seed": r["seed"]},
        **body,
        "timing": {"wall_seconds": time.perf_counter() - started},
    }, str(subject.device))


def write_analysis(results_dir: Path | None, kind: str, subject: Subject, body: dict, started: float) -> Path:
    """Store the analysis as a new record; by default beside the analysed run, in its results dir."""
    results_dir = Path(results_dir) if results_dir is not None else subject.run_dir.parent
    records.check_writable(results_dir)
    record = analysis_record(kind, subject, body, started)
    return records.store_new(results_dir, record, f"{kind}-{record['method']}", record["dataset"], int(record["seed"]))


def parse_steps(text: str) -> list[int]:
    """'2..10' (inclusive), '2,4,8' or '5' into sorted distinct step counts in 1..MAX_STEPS; a range's
    ends are checked before it is expanded (2..10**15 must not build a list first)."""
    try:
        if ".." in text:
            lo, hi = (int(p) for p in text.split("..", 1))
            ends = [lo, hi] if lo <= hi else []
        else:
            ends = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise UsageError(f"--steps '{text}': expected A..B, a comma list or one integer") from None
    if not ends:
        raise UsageError(f"--steps '{text}': no step counts (A..B needs A <= B)")
    check_steps("--steps", ends)
    return sorted(set(range(lo, hi + 1) if ".." in text else ends))
