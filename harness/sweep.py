"""`bench sweep`: a grid of runs (methods x budgets x seeds), one after another, never redoing one.

A grid point is done when the results folder holds a completed record with the same method,
dataset, backbone, budget, seed and overrides; such points are skipped, so an interrupted sweep
is continued by running the same command again.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from harness.records import load_records


@dataclass(frozen=True)
class GridPoint:
    method: str
    budget_kimg: float
    seed: int


def grid(methods: list[str], budgets: list[float], seeds: list[int]) -> list[GridPoint]:
    """Budgets outermost, so a cut-short sweep has every method at the first budget."""
    return [GridPoint(m, b, s) for b, m, s in itertools.product(budgets, methods, seeds)]


def done_key(record: dict) -> tuple:
    c = record["config"]
    return (record["method"], record["dataset"], c["backbone"], float(record["budget_kimg"]), int(record["seed"]),
            tuple(sorted(c.get("sweep_overrides", []))))


def run_sweep(methods: list[str], dataset: str, budgets: list[float], seeds: list[int], results: Path,
              overrides: list[str], device: str = "auto", backbone: str | None = None,
              show_progress: bool = True, echo=print) -> list[Path]:
    from baselines import METHODS
    from harness.runner import configure, run

    existing, _ = load_records(results)
    done = {done_key(r) for r in existing if r.get("status") == "completed"}
    written = []
    for point in grid(methods, budgets, seeds):
        trains = METHODS.get(point.method).trains
        config = configure(point.method, dataset, backbone=backbone, budget_kimg=point.budget_kimg if trains else None,
                           seed=point.seed, device=device, overrides=overrides)
        budget = point.budget_kimg if trains else 0.0
        key = (point.method, dataset, config.backbone, float(budget), point.seed, tuple(sorted(overrides)))
        if key in done:
            echo(f"skip (done): {point.method} budget={budget:g} kimg seed={point.seed}")
            continue
        config.sweep_overrides = list(overrides)
        path = run(config, results, show_progress=show_progress)
        done.add(key)
        written.append(path)
        echo(str(path))
    return written
