"""`bench tune`'s flags, mapped onto TuneOptions (the CLI registers this function as a command)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

DEFAULT_RESULTS = Path("results")


def tune(
    method: str = typer.Option(..., help="a method that trains (bench list methods)"),
    dataset: str = typer.Option("digits", help="a registered dataset"),
    budget_kimg: float = typer.Option(..., help="each trial's training budget, in thousands of images"),
    trials: int = typer.Option(..., help="trials to spend on the study (finished, pruned or diverged)"),
    seed: int = typer.Option(100, help="seed of the sampler and of every trial's run (apart from the re-run seeds)"),
    space: List[str] = typer.Option([], "--space", help="KEY=LOW:HIGH[:log|:linear], KEY=A,B,C or KEY=VALUE; "
                                    "changes the method's declared search space"),
    grid: bool = typer.Option(False, help="a grid search (ranges split into --grid-points values) instead of TPE"),
    grid_points: int = typer.Option(3, help="values per range in a grid search"),
    study: Optional[str] = typer.Option(None, help="study name (default DATASET-METHOD-BUDGETkimg)"),
    backbone: Optional[str] = typer.Option(None, help="registry name or path; default: the dataset's"),
    results: Path = typer.Option(DEFAULT_RESULTS, help="results directory; the study lives in RESULTS/tuning/"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    data: Optional[Path] = typer.Option(None, help="local dataset file or folder"),
    set_: List[str] = typer.Option([], "--set", help="KEY=VALUE overrides applied to every trial and re-run"),
    num_samples: Optional[int] = typer.Option(None, help="evaluation samples (default: the dataset's preset)"),
    holdout_first_seed: int = typer.Option(1_000_000, help="first sample seed of the held-out set scoring trials"),
    startup_trials: int = typer.Option(4, help="TPE's random trials before it models the results"),
    rerun_seeds: str = typer.Option("", help="run seeds to re-run the best trial on, EDM's syntax (e.g. 0,1,2 or 0-2)"),
    rerun_budget_kimg: Optional[float] = typer.Option(None, help="budget of the re-runs (default: --budget-kimg)"),
    heartbeat_s: int = typer.Option(60, help="trial heartbeat; a trial silent for twice this is re-queued"),
    quiet: bool = typer.Option(False, help="no progress bars"),
    threads: Optional[int] = typer.Option(None, help="CPU threads (default: the cores free now; OMP_NUM_THREADS also sets it)"),
) -> None:
    """Tune a method's hyperparameters with Optuna (held-out sample seeds), then re-run the best on fresh seeds."""
    from harness.seed_ranges import parse_seeds
    from harness.tuning.command import TuneOptions, tune_command

    seeds = parse_seeds(rerun_seeds, "--rerun-seeds") if rerun_seeds.strip(", ") else []
    from harness.threads import apply as apply_threads

    tune_command(TuneOptions(method=method, dataset=dataset, budget_kimg=budget_kimg, trials=trials, seed=seed,
                             space=list(space), grid=grid, grid_points=grid_points, study=study, backbone=backbone,
                             results=results, device=device, data_path=data, overrides=list(set_),
                             num_samples=num_samples, holdout_first_seed=holdout_first_seed,
                             startup_trials=startup_trials, rerun_seeds=seeds, rerun_budget_kimg=rerun_budget_kimg,
                             heartbeat_s=heartbeat_s, show_progress=not quiet), echo=typer.echo,
                 checked=lambda: apply_threads(threads, lambda line: typer.echo(line, err=True)))  # harness/threads.py
