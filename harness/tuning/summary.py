"""What `bench report` reads of the studies: study.json summaries and the re-run records, no Optuna.

For each study under ``<results>/tuning/``: its settings and trials (study.json, written by
`bench tune` after every trial), the completed re-runs of its best trial, and, from the main
results folder, the default runs it is compared with: same method, dataset, backbone, budget,
training settings and evaluation, seeds among the re-run seeds, no tags, the same initialisation
(a randomly initialised control, baselines/random_init.py, is never a default run), and the configured
default value of every searched key (every other method setting equal where both records have it).

A re-run's `bench eval --checkpoint` records (e.g. Inception FID of a tuned generator) are its
evaluations. A preset's re-run that made its default run's generator again (same seed, backbone and
data hashes, every final metric and curve value equal to the last bit: the test harness/remake.py
applies before it accepts a re-made generator) has that run's evaluations too, and says so.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import in_brief
from harness.records import evaluated_run, load_records
from harness.tuning.study import SUMMARY_NAME, TUNING_DIR

TRAIN_KEYS = ("batch_size", "ema_halflife_kimg", "ema_rampup_ratio", "ema_beta", "precision")
EVAL_KEYS = ("first_seed", "num_samples", "fd_impl")


@dataclass
class StudyView:
    name: str
    summary: dict[str, Any]
    reruns: list[dict] = field(default_factory=list)  # completed re-runs of the current best trial
    defaults: list[dict] = field(default_factory=list)  # matching default runs from the main results
    stale_reruns: int = 0  # re-runs of a trial that is no longer the best
    evaluations: dict[str, list[dict]] = field(default_factory=dict)  # re-run or default id -> eval records of it
    same_as: dict[str, str] = field(default_factory=dict)  # re-run id -> the default run whose generator it made again
    rerun_ids: set[str] = field(default_factory=set)  # every re-run of the study, stale ones included

    @property
    def settings(self) -> dict[str, Any]:
        return self.summary.get("settings") or {}

    def trial_values(self) -> list[float]:
        return sorted(t["value"] for t in self.summary.get("trials", [])
                      if t.get("state") == "complete" and isinstance(t.get("value"), (int, float)))

    def count(self, state: str, outcome: str | None = None) -> int:
        return sum(1 for t in self.summary.get("trials", [])
                   if t.get("state") == state and (outcome is None or t.get("outcome") == outcome))

    def spread(self) -> tuple[float, float, float] | None:
        values = self.trial_values()
        return (values[0], statistics.median(values), values[-1]) if values else None


def _config(record: dict) -> dict:
    return record.get("config") or {}


def _init(record: dict) -> str:
    return str((record.get("method_info") or {}).get("init") or "pretrained")


def is_default_for(record: dict, rerun: dict, study: StudyView) -> bool:
    """Whether a main-results record is the default-settings counterpart of a re-run record."""
    c, r = _config(record), _config(rerun)
    if record.get("status") != "completed" or c.get("tags") or record.get("kind", "run") != "run":
        return False
    if evaluated_run(record):
        return False
    if _init(record) != _init(rerun):  # older re-runs' method_config lacks the init key the controls set
        return False
    if (record.get("method"), record.get("dataset"), c.get("backbone")) != (rerun.get("method"), rerun.get("dataset"),
                                                                           r.get("backbone")):
        return False
    if float(record.get("budget_kimg") or 0) != float(rerun.get("budget_kimg") or 0):
        return False
    for section, keys in (("train", TRAIN_KEYS), ("eval", EVAL_KEYS)):
        mine, theirs = c.get(section) or {}, r.get(section) or {}
        if any(mine[k] != theirs[k] for k in keys if k in mine and k in theirs):  # older records lack new keys
            return False
    mine, theirs = c.get("method_config") or {}, r.get("method_config") or {}
    defaults = study.summary.get("defaults") or {}
    for key, value in theirs.items():
        expected = defaults.get(key, value) if key in (study.settings.get("space") or {}) else value
        if key in mine and mine[key] != expected:
            return False
    return True


def _metric_values(record: dict) -> list:
    points = (record.get("curve") or {}).get("points") or []
    return [[(m.get("name"), m.get("value")) for m in metrics] for metrics in
            [record.get("metrics") or []] + [p.get("metrics") or [] for p in points]]


def same_generator(rerun: dict, default: dict) -> bool:
    """Whether a re-run made the default run's generator again: same seed, backbone and data hashes, and every
    final metric and curve value equal to the last bit."""
    def hashes(r: dict) -> tuple:
        return int(r.get("seed", -1)), (r.get("backbone") or {}).get("sha256"), (r.get("data") or {}).get("sha256")

    values = _metric_values(rerun)
    return hashes(rerun) == hashes(default) and bool(values[0]) and values == _metric_values(default)


def evaluations_by_run(records: list[dict]) -> dict[str, list[dict]]:
    """Run id -> the completed `bench eval --checkpoint` records that measured it."""
    by_run: dict[str, list[dict]] = {}
    for record in records:
        if record.get("status") == "completed" and (measured := evaluated_run(record)):
            by_run.setdefault(measured, []).append(record)
    return by_run


def attach_evaluations(view: StudyView, by_run: dict[str, list[dict]]) -> None:
    """Each default run's and re-run's own eval records; a re-run without any gets those of the default run
    whose generator it made again."""
    for default in view.defaults:
        if str(default.get("run_id")) in by_run:
            view.evaluations[str(default.get("run_id"))] = by_run[str(default.get("run_id"))]
    for rerun in view.reruns:
        rerun_id = str(rerun.get("run_id"))
        if rerun_id in by_run:
            view.evaluations[rerun_id] = by_run[rerun_id]
            continue
        twin = next((str(d.get("run_id")) for d in view.defaults if same_generator(rerun, d)), None)
        if twin in by_run:
            view.evaluations[rerun_id], view.same_as[rerun_id] = by_run[twin], twin


def load_studies(results_dir: Path, main_records: list[dict]) -> tuple[list[StudyView], list[str]]:
    """Every study under ``results_dir/tuning`` with its re-runs and default runs; problem lines."""
    root = Path(results_dir) / TUNING_DIR
    views, problems = [], []
    by_run = evaluations_by_run(main_records)
    for path in sorted(root.glob(f"*/{SUMMARY_NAME}")) if root.is_dir() else []:
        try:
            summary = json.loads(path.read_text())
            if not isinstance(summary, dict) or not isinstance(summary.get("settings"), dict):
                raise ValueError("not a study summary")
        except (OSError, ValueError) as exc:
            problems.append(f"{path.relative_to(results_dir)}: unreadable study summary ({exc.__class__.__name__}: {in_brief(exc)})")
            continue
        view = StudyView(path.parent.name, summary)
        best = summary.get("best") or {}
        reruns_dir = path.parent / "reruns"
        reruns, rerun_problems = load_records(reruns_dir) if reruns_dir.is_dir() else ([], [])
        problems += [line for line in rerun_problems]
        view.rerun_ids = {str(r.get("run_id")) for r in reruns}
        for record in reruns:
            if record.get("status") != "completed":
                continue
            if (_config(record).get("tags") or {}).get("from_trial") == best.get("number"):
                view.reruns.append(record)
            else:
                view.stale_reruns += 1
        view.reruns.sort(key=lambda r: (int(r.get("seed", 0)), str(r.get("run_id"))))
        seeds = {int(r.get("seed", 0)) for r in view.reruns}
        if view.reruns:
            view.defaults = sorted((r for r in main_records if int(r.get("seed", -1)) in seeds
                                    and is_default_for(r, view.reruns[0], view)),
                                   key=lambda r: (int(r.get("seed", 0)), str(r.get("run_id"))))
        attach_evaluations(view, by_run)
        views.append(view)
    return views, problems
