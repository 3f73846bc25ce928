"""`bench tune`: run a study to N spent trials, then (optionally) re-run its best on fresh seeds."""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.errors import UsageError

WAIT_POLL_S = 2  # how often a process whose share is done looks at the other processes' trials
HOLDOUT_FIRST_SEED = 1_000_000  # trials measure on seeds 1,000,000.. ; final evaluations use 0.. (EDM protocol)


@dataclass
class TuneOptions:
    method: str
    dataset: str
    budget_kimg: float
    trials: int
    seed: int = 100  # the sampler's seed and every trial's run seed; apart from the re-run seeds 0, 1, 2
    space: list[str] = field(default_factory=list)
    grid: bool = False
    grid_points: int = 3
    study: str | None = None
    backbone: str | None = None
    results: Path = Path("results")
    device: str = "auto"
    data_path: Path | None = None
    overrides: list[str] = field(default_factory=list)
    num_samples: int | None = None
    holdout_first_seed: int = HOLDOUT_FIRST_SEED
    startup_trials: int = 4  # TPE's random trials before it models the results
    rerun_seeds: list[int] = field(default_factory=list)
    rerun_budget_kimg: float | None = None
    heartbeat_s: int = 60
    show_progress: bool = True


def default_study_name(o: TuneOptions) -> str:
    return f"{o.dataset}-{o.method}-{o.budget_kimg:g}kimg"


def study_name(o: TuneOptions) -> str:
    """``--study``, or the default when none was given (an empty name is checked, not replaced)."""
    return default_study_name(o) if o.study is None else o.study


def check_options(o: TuneOptions) -> None:
    if o.trials < 1:
        raise UsageError(f"--trials must be at least 1, got {o.trials}")
    if o.grid_points < 1:
        raise UsageError(f"--grid-points must be at least 1, got {o.grid_points}")
    if o.heartbeat_s < 1:
        raise UsageError(f"--heartbeat-s must be at least 1, got {o.heartbeat_s}")
    if o.startup_trials < 0:
        raise UsageError(f"--startup-trials must be at least 0, got {o.startup_trials}")
    from harness.tuning.study import check_study_name
    from harness.validate import check_number, check_results_dir, check_seed

    check_results_dir(Path(o.results))

    for seed in o.rerun_seeds:  # the re-runs' flags now, not after hours of trials
        check_seed("--rerun-seeds", seed)
    if o.rerun_budget_kimg is not None:
        check_number("--rerun-budget-kimg", o.rerun_budget_kimg, above=0)
        if round(o.rerun_budget_kimg * 1000) < 1:
            raise UsageError(f"--rerun-budget-kimg {o.rerun_budget_kimg:g} is less than one training image (0.001 kimg)")
    if o.seed in o.rerun_seeds:
        raise UsageError(f"--rerun-seeds {','.join(map(str, o.rerun_seeds))} includes the trials' run seed {o.seed}; "
                         "re-runs train on fresh seeds (pass another --seed)")
    check_study_name(study_name(o), Path(o.results))


def base_config(o: TuneOptions):
    from harness.runner import configure

    config = configure(o.method, o.dataset, backbone=o.backbone, budget_kimg=o.budget_kimg, seed=o.seed,
                       device=o.device, data_path=o.data_path, overrides=list(o.overrides),
                       num_samples=o.num_samples)
    ev = config.eval
    final = range(ev.first_seed, ev.first_seed + ev.num_samples)
    held = range(o.holdout_first_seed, o.holdout_first_seed + ev.num_samples)
    if o.holdout_first_seed < 0 or (held.start < final.stop and final.start < held.stop):
        raise UsageError(f"--holdout-first-seed {o.holdout_first_seed}: the held-out seeds "
                         f"{held.start}..{held.stop - 1} "
                         f"overlap the final evaluation's seeds {final.start}..{final.stop - 1}")
    return config


def configured_defaults(config, space: dict) -> dict[str, Any]:
    """The values the configured run uses for each searched key (paper default or dataset preset)."""
    from baselines import METHODS
    from harness.config import apply_overrides

    values = asdict(apply_overrides(METHODS.get(config.method).Config(), config.method_config))
    return {k: values[k] for k in space}


def settings_of(o: TuneOptions, config, space: dict) -> dict[str, Any]:
    from harness.tuning.space import space_settings

    settings = {"method": o.method, "dataset": o.dataset, "backbone": config.backbone, "budget_kimg": o.budget_kimg,
                "seed": o.seed, "sampler": "grid" if o.grid else "tpe", "space": space_settings(space),
                "set": sorted(o.overrides), "num_samples": config.eval.num_samples,
                "holdout_first_seed": o.holdout_first_seed, "data_path": str(o.data_path) if o.data_path else None}
    settings.update({"grid_points": o.grid_points} if o.grid else {"startup_trials": o.startup_trials})
    return settings


def tune_command(o: TuneOptions, echo=print, checked: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Run (or join, or continue) the study until ``trials`` are spent; re-run the best if asked.

    ``checked`` is called once every option has passed its checks, before the study is opened
    (the CLI chooses the thread count there).

    Returns the summary written to ``<results>/tuning/<study>/study.json``.
    """
    try:
        import optuna
    except ImportError:
        raise UsageError('bench tune needs Optuna: pip install -e ".[tune]"') from None
    from harness.curves import CurveSchedule
    from harness.tuning.objective import make_objective
    from harness.tuning.space import check_produced, resolve_space
    from harness.tuning.study import claim, open_study, study_dir, write_summary

    check_options(o)
    space = resolve_space(o.method, o.space)
    if o.grid:
        from harness.tuning.space import grid_values

        size = math.prod(len(grid_values(t, o.grid_points)) for t in space.values())
        if o.trials > size:
            raise UsageError(f"--trials {o.trials} is more than the grid's {size} points")
    config = base_config(o)
    check_produced(config, space, o.space, o.grid_points if o.grid else None)
    name = study_name(o)
    settings = settings_of(o, config, space)
    pruning = CurveSchedule.from_config(config.eval, config.train.budget_kimg).active  # points before the end
    pruner = optuna.pruners.MedianPruner(n_startup_trials=o.startup_trials) if pruning else optuna.pruners.NopPruner()
    note = ("median pruner on the runs' curve points (FD/FID per point)" if pruning else
            "off: no per-run curve points before a trial's end (--set eval.every_kimg=N adds them)")
    from harness import records

    records.check_writable(Path(o.results))
    if checked is not None:
        checked()
    study = open_study(Path(o.results), name, settings, space, configured_defaults(config, space),
                       o.heartbeat_s, pruner, note)
    folder = study_dir(Path(o.results), name)
    echo(f"study {name}: pruning {note}")
    objective = make_objective(config, space, name, folder, o.holdout_first_seed, o.show_progress, pruning, echo,
                               claim=lambda number: claim(study, Path(o.results), name, number, o.trials))
    try:
        run_trials(study, objective, o, name)
    except KeyboardInterrupt:  # the CLI's hint would name `bench run --resume`; the study resumes itself
        from harness import runner

        runner.ACTIVE_RUN_DIR.clear()
        echo(f"interrupted; continue study {name} (and its unfinished trial) with the same bench tune command")
        raise
    summary = json.loads(write_summary(study, Path(o.results), name).read_text())
    best = summary["best"]
    echo(f"study {name}: {summary['spent']} trials spent; best trial "
         + (f"{best['number']} (FD {best['value']:.4f}): {best['params']}" if best else "none (every trial failed)"))
    if o.rerun_seeds:
        if best is None:
            raise UsageError(f"study {name} has no completed trial to re-run")
        for path in rerun_best(o, config, name, best, folder / "reruns"):
            echo(str(path))
    return summary


def rerun_best(o: TuneOptions, config, name: str, best: dict, folder: Path) -> list[Path]:
    """The best trial's settings on each re-run seed, evaluated on the final seeds; stored ones are
    skipped and a killed one continues from its checkpoint."""
    from harness.records import load_records
    from harness.tuning.objective import run_or_resume

    budget = float(o.rerun_budget_kimg or o.budget_kimg)
    existing, _ = load_records(folder) if folder.is_dir() else ([], [])

    def same(tags: dict, seed: int, budget_: float) -> bool:
        return (tags.get("role") == "rerun" and tags.get("study") == name and tags.get("params") == best["params"]
                and tags.get("seed") == seed and tags.get("budget_kimg") == budget_)

    paths = []
    for seed in o.rerun_seeds:
        done = [r for r in existing if r.get("status") == "completed"
                and same((r.get("config") or {}).get("tags") or {}, seed, budget)]
        if done:
            paths.append(Path(done[0]["_path"]))
            continue
        run_config = copy.deepcopy(config)
        run_config.seed, run_config.train.budget_kimg = int(seed), budget
        run_config.method_config = {**run_config.method_config, **best["params"]}
        run_config.tags = {"study": name, "role": "rerun", "from_trial": best["number"], "params": best["params"],
                           "seed": int(seed), "budget_kimg": budget}
        paths.append(run_or_resume(run_config, folder, lambda tags, s=int(seed): same(tags, s, budget),
                                   o.show_progress))
    return paths


def run_trials(study, objective, o: TuneOptions, name: str) -> None:
    """Run trials here until the study has ``o.trials`` spent, waiting for other processes' last ones."""
    import optuna

    from harness.tuning.study import Surplus, counts, write_summary

    while True:
        optuna.storages.fail_stale_trials(study)
        c = counts(study)
        if c["spent"] >= o.trials:
            break
        if c["spent"] + c["running"] >= o.trials:  # the rest is running in other processes: wait for them
            time.sleep(min(o.heartbeat_s, WAIT_POLL_S))  # (or for their heartbeats to go stale)
            continue
        study.optimize(objective, n_trials=1, catch=(Surplus,))
        write_summary(study, Path(o.results), name)
