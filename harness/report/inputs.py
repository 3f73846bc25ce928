"""What the tables are built from: validated views of the stored records, and how numbers are keyed.

A metric value is only comparable with another made the same way, so every value is keyed by a
``Measurement`` (metric, feature extractor and its weights, implementation, sample count, reference
set); tables give each measurement its own column. Records that cannot be used are not dropped
silently: each becomes one problem line naming its file.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.analyze import MISMATCH_KIND, SPECTRUM_KIND
from harness.records import evaluated_run
from harness.report.formatting import (Summary, fd_values, fmt, fmt_count, group_by, kid_values, runs_with,  # noqa: F401
                                       seeds_shown, summarize)  # (re-exported: the tables import them from here)
from harness.report.evaluations import join_evaluations
from harness.report.names import (DATASETS, DEFAULT_BACKBONES, METHOD_LABELS, METHOD_ORDER,  # noqa: F401
                                  dataset_key, dataset_order, dataset_title, is_conditional, method_label,
                                  run_command, run_variant)  # (re-exported: the tables import them from here)
from harness.report.published import run_settings

RUN_KIND = "run"
FD_NAMES = ("fd", "fid")
PUBLISHED_PROTOCOL_SAMPLES = 50_000

@dataclass(frozen=True, order=True)
class Measurement:
    """How a number was made; two values share a column only when all of these agree."""

    name: str
    extractor: str
    weights: str
    implementation: str
    num_samples: int
    reference: str
    reference_sha: str

    def __hash__(self) -> int:  # a column key looked up per cell: hash the seven strings once
        return self._hash

    @functools.cached_property
    def _hash(self) -> int:
        return hash(dataclasses.astuple(self))

    @functools.cached_property  # asked for per cell of a 1,000-record table
    def id(self) -> str:
        """A short stable id (hash of the whole key), so LaTeX headers can stay short."""
        return "m" + hashlib.sha256(repr(self).encode()).hexdigest()[:6]

    def label(self) -> str:
        return "FID" if self.name in FD_NAMES and self.extractor.startswith("inception") else self.name.upper()

    def header(self) -> str:
        return (f"{self.label()} · {self.extractor} · {self.implementation} · n={self.num_samples} · "
                f"ref {self.reference} [{self.id}]")

    def short(self) -> str:
        return f"{self.label()} [{self.id}]"

    def legend(self) -> str:
        return (f"{self.id}: {self.name} in {self.extractor} features (weights {self.weights[:12] or '?'}), "
                f"implementation {self.implementation}, {self.num_samples} samples, reference {self.reference} "
                f"(sha256 {self.reference_sha[:12] or '?'})")

    def is_fd(self) -> bool:
        return self.name in FD_NAMES

    def matches_published_protocol(self) -> bool:
        """Published FIDs use Inception-v3 on 50k samples; anything else is not comparable with them."""
        return self.is_fd() and self.extractor.startswith("inception") and self.num_samples >= PUBLISHED_PROTOCOL_SAMPLES

    def csv_fields(self) -> dict[str, Any]:
        return {"measurement": self.id, "metric": self.name, "extractor": self.extractor,
                "extractor_weights_sha256": self.weights, "implementation": self.implementation,
                "num_samples": self.num_samples, "reference": self.reference, "reference_sha256": self.reference_sha}


def measurement_of(metric: dict) -> Measurement:
    ref = metric.get("reference") or {}
    if not isinstance(ref, dict):
        ref = {"id": str(ref)}
    return Measurement(str(metric.get("name", "?")), str(metric.get("extractor", "?")),
                       str(metric.get("extractor_weights_sha256") or ""), str(metric.get("implementation", "?")),
                       int(metric.get("num_samples") or 0), str(ref.get("id", "?")), str(ref.get("sha256") or ""))


def fd_entry(record: dict) -> tuple[Measurement, float] | None:
    """A record's first FD/FID value with its measurement, or None."""
    for metric in record.get("metrics") or []:
        if metric.get("name") in FD_NAMES and isinstance(metric.get("value"), (int, float)):
            return measurement_of(metric), float(metric["value"])
    return None


@dataclass(frozen=True)
class Run:
    """A completed run record, reduced to what the tables read."""

    run_id: str
    name: str  # the record's file, relative to the results directory
    method: str
    dataset: str
    key: str  # report dataset key
    seed: int
    budget_kimg: float
    backbone: str
    nfe: int | None
    images: float  # training images the generator saw
    teacher_passes_per_image: float
    wall_seconds: float | None
    train_seconds: float | None
    hardware: str
    on_gpu: bool
    freeze_level: int | None
    frozen_share: float | None
    values: tuple[tuple[Measurement, float], ...]
    # A run with a training curve: its points, and its best snapshot's value(s) (harness/curves.py).
    curve: tuple[CurvePoint, ...] = ()
    best: tuple[tuple[Measurement, float], ...] = ()
    # Set on the rows read off another run's curve: that run's budget, and whether its schedule depended
    # on it (then the row is a snapshot of a longer schedule, not a run at this budget, and says so).
    schedule_kimg: float | None = None
    snapshot_of_schedule: bool = False
    schedule_depends_on_budget: bool = False  # recorded by the run (baselines: Method.schedule_depends_on_budget)
    settings: tuple[tuple[str, Any], ...] = ()  # the run's recipe (harness/report/published.py run_settings)
    init: str = "pretrained"  # "random": the thesis control (baselines/random_init.py), never a fine-tuned row
    spreads: tuple[tuple[Measurement, float], ...] = ()  # a value's own recorded spread (KID: std over subsets)
    evaluations: tuple[str, ...] = ()  # `bench eval` records of this run whose values were added to ``values``
    pretrain_kimg: float | None = None  # the backbone's pre-training images (its card), None when not known
    variant: str = ""  # a recipe switch that makes a row of its own (harness/report/names.py run_variant)

    @property
    def label(self) -> str:
        base = method_label(self.method, self.freeze_level, self.init, self.variant)
        return f"{base} (snapshot of a {self.schedule_kimg:g} kimg schedule)" if self.snapshot_of_schedule else base


@dataclass(frozen=True)
class CurvePoint:
    """One measured point of a run's training curve."""

    kimg: float
    images: float
    final: bool
    values: tuple[tuple[Measurement, float], ...]
    train_seconds: float | None


@dataclass(frozen=True)
class Analysis:
    """An analysis record (mismatch or spectrum) and the student run it analysed."""

    kind: str
    run_id: str
    name: str
    method: str
    key: str
    seed: int
    budget_kimg: float
    backbone: str
    freeze_level: int | None
    measurement: Measurement | None
    record: dict

    @property
    def label(self) -> str:
        return method_label(self.method, self.freeze_level, (self.record.get("method_info") or {}).get("init"))


@dataclass
class ReportInputs:
    results_dir: Path
    runs: list[Run] = field(default_factory=list)
    analyses: dict[str, list[Analysis]] = field(default_factory=dict)
    all_records: list[dict] = field(default_factory=list)  # every readable record, for the runs summary
    problems: list[str] = field(default_factory=list)  # names relative to the results directory

    @functools.cached_property
    def studies(self) -> tuple[list, list[str]]:
        """The `bench tune` studies in the results folder and what could not be read (harness/tuning/summary.py),
        read once per report for every table that uses them."""
        from harness.tuning.summary import load_studies

        return load_studies(self.results_dir, self.all_records)


def relative_name(record: dict, results_dir: Path) -> str:
    path = Path(record.get("_path", "?"))
    return str(path.relative_to(results_dir)) if path.is_relative_to(results_dir) else path.name


def _hardware(record: dict) -> str:
    hw = ((record.get("environment") or {}).get("hardware") or {})
    return str(hw.get("gpu") or hw.get("device") or "?")


def _on_gpu(record: dict) -> bool:
    hw = ((record.get("environment") or {}).get("hardware") or {})
    return bool(hw.get("gpu")) or str(hw.get("device", "")).startswith("cuda")


def _images(record: dict) -> float:
    seen = (record.get("training") or {}).get("images_seen")
    return float(seen) if seen is not None else float(record.get("budget_kimg") or 0.0) * 1000.0


def _float(value: Any) -> float | None:
    """A stored number, or None (absent, not a number, or not finite: a time of 'Infinity' is not recorded)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


LARGEST_METRIC = 1e15  # beyond any value a metric here takes (an FD of 8-bit images' features is < 1e6)


def metric_value(metric: dict) -> float | None:
    """A stored metric's value; a hand-edited impossible one (infinite, 1e308, a negative FD) makes the
    whole record unusable (ValueError: one problem line), rather than a mean of infinity in a figure."""
    value = metric.get("value")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) <= LARGEST_METRIC:
        raise ValueError(f"metric {metric.get('name')!r} has value {value!r}, which no metric takes")
    if metric.get("name") in FD_NAMES and value < 0:
        raise ValueError(f"metric {metric.get('name')!r} has value {value!r}: a Fréchet distance is never negative")
    return float(value)


def metric_pairs(metrics: list | None) -> tuple[tuple[Measurement, float], ...]:
    return tuple((measurement_of(m), value) for m in metrics or [] if (value := metric_value(m)) is not None)


def metric_spreads(metrics: list | None) -> tuple[tuple[Measurement, float], ...]:
    """The std a value records about itself (``details.std``: KID over subsets, IS over splits)."""
    return tuple((measurement_of(m), float(m["details"]["std"])) for m in metrics or []
                 if _float(m.get("value")) is not None and isinstance(m.get("details"), dict)
                 and _float(m["details"].get("std")) is not None)


def curve_of(record: dict) -> tuple[tuple[CurvePoint, ...], tuple[tuple[Measurement, float], ...]]:
    """The curve points and the best snapshot's FD/FID of a record (empty for a run without a curve)."""
    curve = record.get("curve")
    if not curve:
        return (), ()
    points = tuple(CurvePoint(float(p["kimg"]), float(p["images_seen"]), bool(p["final"]), metric_pairs(p["metrics"]),
                              _float(p.get("train_seconds"))) for p in curve["points"])
    best = record.get("best_snapshot")
    if not best:
        return points, ()
    chosen = [(m, v) for m, v in points[int(best["index"])].values if m.name == best["metric"]]
    return points, tuple(chosen[:1])


def snapshots_of(run: Run) -> list[Run]:
    """Rows read off a run's curve: one per intermediate point, as if a run had ended there."""
    return [dataclasses.replace(run, run_id=f"{run.run_id}@{p.kimg:g}kimg", budget_kimg=p.kimg, images=p.images,
                                values=p.values, train_seconds=p.train_seconds, wall_seconds=None, curve=(), best=(),
                                schedule_kimg=run.budget_kimg, snapshot_of_schedule=run.schedule_depends_on_budget)
            for p in run.curve if not p.final]


def to_run(record: dict, name: str) -> Run:
    """Raises KeyError/TypeError/ValueError on a record that lacks what every run record holds."""
    backbone, timing = str(record["backbone"]["name"]), record.get("timing") or {}
    info, values, (curve, best) = record.get("method_info") or {}, metric_pairs(record.get("metrics")), curve_of(record)
    return Run(str(record["run_id"]), name, str(record["method"]), str(record["dataset"]),
               dataset_key(str(record["dataset"]), backbone), int(record["seed"]),
               float(record.get("budget_kimg") or 0.0), backbone, record.get("nfe"), _images(record),
               float(record.get("teacher_passes_per_image") or 0.0), _float(timing.get("wall_seconds")),
               _float(timing.get("train_seconds")), _hardware(record), _on_gpu(record),
               info.get("freeze_level"), _float(info.get("frozen_share")), values, curve, best,
               schedule_depends_on_budget=bool((record.get("curve") or {}).get("schedule_depends_on_budget")),
               settings=run_settings(record), init=str(info.get("init") or "pretrained"),
               spreads=metric_spreads(record.get("metrics")),
               pretrain_kimg=_float((record.get("backbone") or {}).get("pretrain_kimg")),
               variant=run_variant(str(record["method"]), info))


def check_analysis(record: dict) -> None:
    """Touch every field the analysis tables read: a malformed record fails here (KeyError/TypeError/ValueError)."""
    if record["kind"] == MISMATCH_KIND:
        float(record["results"]["student_vs_data"])
        for row in record["results"]["teacher"]:
            int(row["steps"]), float(row["teacher_vs_student"]), float(row["teacher_vs_data"])
        return
    for source in ("real", "teacher", "before", "after"):
        [float(v) for v in record["spectra"][source]]
    for source in ("teacher", "before", "after"):
        for band in ("low", "mid", "high"):
            float(record["band_errors"][source][band])
    if not isinstance(record["analysis"], dict):
        raise TypeError("'analysis' is not an object")


def to_analysis(record: dict, name: str) -> Analysis:
    check_analysis(record)
    backbone = str(record["backbone"]["name"])
    info = record.get("method_info") or {}
    measurement = record.get("measurement")
    return Analysis(str(record["kind"]), str(record["run_id"]), name, str(record["method"]),
                    dataset_key(str(record["dataset"]), backbone), int(record["seed"]),
                    float(record.get("budget_kimg") or 0.0), backbone, info.get("freeze_level"),
                    measurement_of(measurement) if measurement else None, record)


def sort_records(records: list[dict], results_dir: Path) -> ReportInputs:
    """Split readable records into completed runs and analyses; failed or malformed ones become problems."""
    inputs = ReportInputs(Path(results_dir), all_records=records)
    evaluations: list[tuple[Run, str]] = []
    for record in records:
        name = relative_name(record, Path(results_dir))
        kind = record.get("kind", RUN_KIND)
        if record.get("status") != "completed":
            reason = (record.get("failure") or {}).get("reason") if isinstance(record.get("failure"), dict) else None
            inputs.problems.append(f"{name}: {record.get('status', 'no status')} "
                                   f"{'run' if kind == RUN_KIND else kind} ({reason or 'no reason recorded'}), "
                                   "not used in the tables")
            continue
        try:
            if kind == RUN_KIND and evaluated_run(record):  # joined to the run it measured, below
                evaluations.append((to_run(record, name), evaluated_run(record)))
            elif kind == RUN_KIND:
                run = to_run(record, name)
                inputs.runs.append(run)
                inputs.runs += snapshots_of(run)
            elif kind in (MISMATCH_KIND, SPECTRUM_KIND):
                inputs.analyses.setdefault(kind, []).append(to_analysis(record, name))
            else:
                inputs.problems.append(f"{name}: unknown record kind '{kind}', not used in the tables")
        except (KeyError, TypeError, ValueError) as exc:
            inputs.problems.append(f"{name}: malformed record ({exc.__class__.__name__}: {exc}), not used")
    join_evaluations(inputs.runs, evaluations, {i for view in inputs.studies[0] for i in view.rerun_ids})
    inputs.runs.sort(key=lambda r: (r.key, r.method, r.budget_kimg, r.seed, r.run_id))
    for items in inputs.analyses.values():
        items.sort(key=lambda a: (a.key, a.method, a.budget_kimg, a.seed, a.run_id))
    return inputs
