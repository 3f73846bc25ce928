"""One trial = one ordinary `bench run`, measured on held-out sample seeds.

The trial's run is the study's base configuration with the trial's values in its method config,
evaluated on the sample seeds ``holdout_first_seed ..`` instead of the final evaluation's seeds
(``eval.first_seed``, 0 by default), so picking the best trial does not tune on the numbers that
are reported afterwards. Its record lands in ``<results>/tuning/<study>/`` with
``config.tags = {study, trial, trial_root, role: "trial"}``.

Pruning hook: the runner's ``run`` calls ``on_curve_point(point)`` at each per-run curve point
(`harness.curves`); when the trial's run has points before its end, the trial reports each
intermediate point's FD/FID to Optuna and stops a run that Optuna's median pruner marks
as hopeless (the run then has a checkpoint and no record). A trial without points before its end
trains to the end; the study's ``pruning`` user attr says which applied.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

from harness.errors import BenchError
from harness.tuning.space import suggest
from harness.tuning.study import DIVERGED, Surplus

FD_NAMES = ("fd", "fid")


def fd_of(metrics: list[dict]) -> float | None:
    """The first Fréchet distance among a record's (or a curve point's) metric entries."""
    for entry in metrics or []:
        if entry.get("name") in FD_NAMES and isinstance(entry.get("value"), (int, float)):
            return float(entry["value"])
    return None


def point_reporter(trial) -> Callable[[float, list[dict]], None]:
    import optuna

    def on_point(kimg: float, metrics: list[dict]) -> None:
        value = fd_of(metrics)
        if value is None:
            return
        trial.report(value, step=int(round(kimg * 1000)))
        if trial.should_prune():
            raise optuna.TrialPruned(f"FD {value:.4g} at {kimg:g} kimg")

    return on_point


def unfinished_run(folder: Path, match: Callable[[dict], bool]) -> Path | None:
    """The newest run folder with a checkpoint but no record whose tags ``match`` (read from the
    checkpoint's header only: no tensors are loaded)."""
    from safetensors import safe_open

    found = []
    for state in Path(folder).glob("*/checkpoint/state.safetensors"):
        run_dir = state.parent.parent
        if (run_dir / "record.json").exists():
            continue
        try:
            with safe_open(str(state), framework="pt") as f:
                meta = json.loads((f.metadata() or {})["meta"])
        except Exception:  # noqa: BLE001 - a half-written or foreign file is simply not resumable
            continue
        if match((meta.get("config") or {}).get("tags") or {}):
            found.append((state.stat().st_mtime, run_dir))
    return max(found)[1] if found else None


def run_or_resume(config, folder: Path, match: Callable[[dict], bool], show_progress: bool,
                  on_point: Callable | None = None) -> Path:
    """Continue this trial's (or re-run's) killed run from its checkpoint, else start it."""
    from harness import runner

    previous = unfinished_run(folder, match)
    if previous is not None:
        return runner.resume(str(previous), folder, show_progress=show_progress)
    kwargs = {}
    if on_point is not None:  # the final point is the trial's result, judged by the study, not pruned
        kwargs["on_curve_point"] = lambda point: None if point.get("final") else on_point(point["kimg"],
                                                                                            point["metrics"])
    path = runner.run(config, folder, show_progress=show_progress, **kwargs)
    if path is None:
        raise BenchError("the run wrote no record (only rank 0 of a multi-process run writes; run bench tune "
                         "in one process)")
    return path


def make_objective(base_config, space: dict, study_name: str, folder: Path, holdout_first_seed: int,
                   show_progress: bool, pruning: bool, echo=print,
                   claim: Callable[[int], None] | None = None) -> Callable[[Any], float]:
    def objective(trial) -> float:
        if claim is not None:
            try:
                claim(trial.number)
            except Surplus:  # recorded as failed with outcome 'surplus': not spent, nothing ran
                trial.set_user_attr("outcome", "surplus")
                raise
        root = trial.user_attrs.get("trial_root", trial.number)
        trial.set_user_attr("trial_root", root)
        trial.set_user_attr("interrupted", False)
        params = {key: suggest(trial, key, tunable) for key, tunable in space.items()}
        config = copy.deepcopy(base_config)
        config.method_config = {**config.method_config, **params}
        config.eval.first_seed = holdout_first_seed
        config.tags = {"study": study_name, "trial": trial.number, "trial_root": root, "role": "trial",
                       "params": params}
        echo(f"trial {trial.number}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                   for k, v in params.items()))
        try:
            path = run_or_resume(config, folder, lambda tags: tags.get("role") == "trial"
                                 and tags.get("trial_root") == root, show_progress,
                                 point_reporter(trial) if pruning else None)
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            raise
        record = json.loads(Path(path).read_text())
        trial.set_user_attr("run_id", record["run_id"])
        if record.get("status") != "completed":
            trial.set_user_attr("outcome", DIVERGED)
            reason = (record.get("failure") or {}).get("reason", "?")
            echo(f"trial {trial.number}: diverged ({reason}); counted as spent, no value")
            return float("nan")  # Optuna records the trial as failed
        value = fd_of(record.get("metrics"))
        if value is None:
            raise BenchError(f"{path}: the trial's record has no FD or FID; keep fd or fid in eval.metrics")
        trial.set_user_attr("outcome", "completed")
        echo(f"trial {trial.number}: FD {value:.4f} on held-out seeds ({path})")
        return value

    return objective
