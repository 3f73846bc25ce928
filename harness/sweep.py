"""`bench sweep`: a grid of runs (methods x budgets x seeds), one after another, never redoing one.

By default the budgets are read off training curves (harness/curves.py): one run per method and
seed to the largest budget, measured at every smaller budget on the way, so the equal-budget
tables take their rows from the curve instead of re-training from scratch per budget (for
gan_only a point is what a run at that budget ends in; a test checks this). A method whose
schedule depends on its budget (progressive distillation's halving rounds) records that its
earlier points are snapshots of the longer schedule, and the tables label them so.
``separate_runs=True`` keeps the old grid: one run per budget.

A grid point is done when the results folder holds a completed record with the same method,
dataset, backbone, budget, seed and overrides (and, for a curve, points at its smaller budgets);
such points are skipped, so an interrupted sweep is continued by running the same command again; the
run it was in the middle of is resumed from its checkpoint (``stopped_runs``), not started over.

With a ``submit`` callable (``slurm_submitter`` makes one from submitit) each point still to do is
handed to it instead of run here: on a Slurm cluster every grid point becomes one job.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from harness import records
from harness.errors import BenchError, UsageError
from harness.records import load_records
from harness.run_lock import RunBusy


SWEEPING: list[Path] = []  # the results folder of the sweep running here, for the CLI's line on Ctrl-C


@dataclass(frozen=True)
class GridPoint:
    method: str
    budget_kimg: float
    seed: int
    at_kimg: tuple[float, ...] = ()  # curve points on the way to the budget


def grid(methods: list[str], budgets: list[float], seeds: list[int]) -> list[GridPoint]:
    """Budgets outermost, so a cut-short sweep has every method at the first budget."""
    return [GridPoint(m, b, s) for b, m, s in itertools.product(budgets, methods, seeds)]


def curve_grid(methods: list[str], budgets: list[float], seeds: list[int]) -> list[GridPoint]:
    """One run per method and seed to the largest budget, with curve points at the smaller ones."""
    top = max(budgets)
    at = tuple(sorted({b for b in budgets if b < top}))
    return [GridPoint(m, top, s, at) for m, s in itertools.product(methods, seeds)]


def curve_kimgs(record: dict) -> set[float]:
    """The budgets a record's curve measured before its end."""
    points = (record.get("curve") or {}).get("points") or []
    return {round(float(p["kimg"]), 6) for p in points if not p.get("final")}


def done_key(record: dict) -> tuple:
    c = record["config"]
    return (record["method"], record["dataset"], c["backbone"], float(record["budget_kimg"]), int(record["seed"]),
            tuple(sorted(c.get("sweep_overrides", []))), settings_of(c))


def point_key(config, budget: float, overrides: list[str]) -> tuple:
    """A grid point's key, as done_key reads it from a stored record."""
    return (config.method, config.dataset, config.backbone, float(budget), config.seed, tuple(sorted(overrides)),
            settings_of(asdict(config)))


def settings_of(config: dict) -> str:
    """A run's whole config as a sweep compares it: all but where it ran, its tags and which curve
    points it measured (the method's settings with their defaults filled in). A run with another
    learning rate or sample count is never taken for a grid point's."""
    from baselines import METHODS
    from harness.config import apply_overrides

    c = json.loads(json.dumps(records.sanitize(config)))
    if "method" not in c:
        return "unknown"
    for key in ("device", "tags", "sweep_overrides"):
        c.pop(key, None)
    (c.get("eval") or {}).pop("at_kimg", None)
    try:
        c["method_config"] = records.sanitize(asdict(apply_overrides(METHODS.get(c["method"]).Config(),
                                                                     c.get("method_config") or {})))
    except BenchError:  # a method or setting this version does not know: never a match
        return "unknown"
    return json.dumps(c, sort_keys=True)


def run_sweep(methods: list[str], dataset: str, budgets: list[float], seeds: list[int], results: Path,
              overrides: list[str], device: str = "auto", backbone: str | None = None,
              show_progress: bool = True, echo=print, submit: Callable[[Any, Path], Any] | None = None,
              separate_runs: bool = False, checked: Callable[[], Any] | None = None) -> list:
    """Run (or, with ``submit``, submit) every grid point without a completed record.

    Every name and every grid point's whole config is checked before the first run starts; then
    ``checked`` is called (the CLI chooses the thread count there, so a refused sweep says nothing else).
    Returns the record paths written here, or the submitted jobs.
    """
    from baselines import METHODS
    from harness.build import configure
    from harness.runner import resume, run
    from harness.validate import check_number

    if not budgets or not seeds or not methods:
        raise UsageError("bench sweep needs at least one method, one budget and one seed")
    for name in dict.fromkeys(methods):  # every name first, so a typo in the last one costs no run
        METHODS.get(name)
    for budget in budgets:  # each one, also those a curve grid only measures on the way
        check_number("--budgets", budget, above=0)
    points = grid(methods, budgets, seeds) if separate_runs else curve_grid(methods, budgets, seeds)
    configs = {point: configure(point.method, dataset, backbone=backbone,
                                budget_kimg=point.budget_kimg if METHODS.get(point.method).trains else None,
                                seed=point.seed, device=device, overrides=overrides)
               for point in points}
    done = finished(results)
    written, seen, todo = [], set(), []
    for point, config in configs.items():
        trains = METHODS.get(point.method).trains
        at = point.at_kimg if trains else ()
        budget = point.budget_kimg if trains else 0.0
        key = point_key(config, budget, overrides)
        if key in seen:  # a method that does not train runs once per seed, whatever the budgets
            continue
        seen.add(key)
        curve = f" (curve points at {', '.join(f'{a:g}' for a in at)} kimg)" if at else ""
        if any({round(a, 6) for a in at} <= kimgs for kimgs in done.get(key, [])):
            echo(f"skip (done): {point.method} budget={budget:g} kimg{curve} seed={point.seed}")
            continue
        config.sweep_overrides = list(overrides)
        if at:
            config.eval.at_kimg = tuple(at)
        todo.append((point, config, key, at, budget, curve))
    if checked is not None:
        checked()
    if submit is None and todo:
        say_estimate(todo, load_records(results)[0], device, echo)
    SWEEPING[:] = [Path(results)]
    for point, config, key, at, budget, curve in todo:
        if submit is not None:
            job = submit(config, results)
            echo(f"submitted {getattr(job, 'job_id', job)}: {point.method} budget={budget:g} kimg{curve} seed={point.seed}")
            written.append(job)
            continue
        try:
            with point_lock(results, key):  # a second sweep of the same grid skips what this one runs
                if any({round(a, 6) for a in at} <= kimgs for kimgs in finished(results).get(key, [])):
                    echo(f"skip (done): {point.method} budget={budget:g} kimg{curve} seed={point.seed}")
                    continue
                stopped = [d for d, kimgs in stopped_runs(results).get(key, []) if {round(a, 6) for a in at} <= kimgs]
                if stopped:  # the run an interrupted sweep left: continued, not started over beside it
                    echo(f"resume (stopped before): {point.method} budget={budget:g} kimg{curve} seed={point.seed}: "
                         f"{stopped[0].name}")
                    path = resume(str(stopped[0]), results, show_progress=show_progress, device=config.device, echo=echo)
                else:
                    path = run(config, results, show_progress=show_progress)
        except RunBusy:
            echo(f"skip (running in another process): {point.method} budget={budget:g} kimg{curve} seed={point.seed}")
            continue
        done.setdefault(key, []).append({round(a, 6) for a in at})
        written.append(path)
        echo(str(path))
    SWEEPING.clear()
    return written


def say_estimate(todo: list, existing: list[dict], device: str, echo) -> None:
    """Before CPU work starts: how long the runs still to do should take (harness/estimate.py)."""
    from baselines import METHODS
    from harness.build import resolve_device
    from harness.estimate import estimate_runs

    if resolve_device(device).type != "cpu":
        return
    configs = [item[1] for item in todo]
    estimate = estimate_runs(configs, existing, {c.method: METHODS.get(c.method).trains for c in configs})
    echo(estimate.line(f"{len(configs)} run{'s' if len(configs) != 1 else ''} to do on the CPU"))


LOCKS_DIR = ".locks"


def point_lock(results: Path, key: tuple):
    """The lock of one grid point (its done key), held while it runs here (harness/run_lock.py)."""
    import hashlib

    from harness.run_lock import hold

    name = "sweep-" + hashlib.sha256(json.dumps(list(key)).encode()).hexdigest()[:24] + ".lock"
    folder = Path(results) / LOCKS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return hold(folder, f"grid point {key[0]} budget={key[3]:g} kimg seed={key[4]}", name)


def finished(results: Path) -> dict[tuple, list[set[float]]]:
    """Done keys of the completed run records in ``results`` and the curve budgets each measured."""
    existing, _ = load_records(results)
    done: dict[tuple, list[set[float]]] = {}
    for r in existing:
        if r.get("status") == "completed" and isinstance(r.get("config"), dict):  # analyses have no run config
            done.setdefault(done_key(r), []).append(curve_kimgs(r))
    return done


def stopped_runs(results: Path) -> dict[tuple, list[tuple[Path, set[float]]]]:
    """Runs stopped before their record (Ctrl-C, a killed job), by the done key of the settings they
    started with (``checkpoint/run.json``), each with its curve budgets: running the sweep again
    continues them from their checkpoint instead of leaving them and starting each point over."""
    found: dict[tuple, list[tuple[Path, set[float]]]] = {}
    for start in sorted(Path(results).glob("*/checkpoint/run.json")):
        run_dir = start.parent.parent
        if (run_dir / records.RECORD_NAME).exists() or not start.is_file():  # finished; a FIFO would block
            continue
        try:
            config = records.read_json(start).get("config")
            if isinstance(config, dict):
                train, at = config.get("train") or {}, (config.get("eval") or {}).get("at_kimg") or ()
                found.setdefault(done_key({**config, "config": config, "budget_kimg": train.get("budget_kimg")}),
                                 []).append((run_dir, {round(float(a), 6) for a in at}))
        except (BenchError, KeyError, TypeError, ValueError, AttributeError):  # not ours to continue: left alone
            continue
    return found


def run_point(config, results: Path):
    """What one Slurm job runs: a plain ``bench run`` of one grid point (several tasks: one per rank)."""
    from harness.runner import run

    if int(os.environ.get("SLURM_NTASKS", "1")) > 1:  # torchrun's variables from Slurm's, for harness.distributed
        import submitit

        submitit.helpers.TorchDistributedEnvironment().export()
    return run(config, Path(results), show_progress=False)


def slurm_submitter(partition: str, time_min: int = 240, gpus: int = 1, log_dir: Path = Path("slurm-logs"),
                    executor_factory: Callable[[Path], Any] | None = None) -> Callable[[Any, Path], Any]:
    """A ``submit`` callable that queues each grid point as a submitit job on ``partition``.

    ``executor_factory`` (default ``submitit.AutoExecutor``) is there so tests need no cluster.
    """
    if executor_factory is None:
        try:
            import submitit
        except ImportError:
            raise BenchError("--slurm-partition needs submitit: pip install submitit (or pip install -e '.[slurm]')") from None
        executor_factory = lambda folder: submitit.AutoExecutor(folder=folder)  # noqa: E731
    executor = executor_factory(Path(log_dir))
    executor.update_parameters(slurm_partition=partition, timeout_min=int(time_min), nodes=1,
                               gpus_per_node=int(gpus), tasks_per_node=max(1, int(gpus)),
                               cpus_per_task=8, name="bench")

    def submit(config, results: Path):
        return executor.submit(run_point, config, Path(results))

    return submit
