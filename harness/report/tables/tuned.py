"""Table: default vs tuned, per method, after equal tuning effort (`bench tune`).

One row per study (a method tuned at one budget): the trials it spent (pruned and diverged ones
included), the FD of the default settings and of the best trial's settings re-run on fresh seeds
(mean ± std over seeds, both measured on the final evaluation's sample seeds), the values chosen,
and the spread of the held-out FD across the study's trials. Trials are scored on held-out sample
seeds, so the tuned column is not selected on the numbers it shows. Where the runs were measured again
(`bench eval --checkpoint`, e.g. Inception FID with more samples), those values get columns of their own,
each tagged with its measurement (harness/tuning/summary.py says whose evaluations a re-run carries).
"""

from __future__ import annotations

import json

from harness.report.inputs import (METHOD_ORDER, Measurement, dataset_key, dataset_order, dataset_title, fd_entry, fmt,
                                   method_label, summarize)
from harness.report.render import Document, Section
from harness.report.spec import Context, TableSpec
from harness.tuning.summary import StudyView

CSV_HEADER = ["dataset", "method", "bench_method", "study", "sampler", "trials_spent", "trials_pruned",
              "trials_diverged", "trial_budget_kimg", "rerun_budget_kimg", "measurement", "metric", "extractor",
              "implementation", "num_samples", "default_fd_mean", "default_fd_std", "default_seeds", "tuned_fd_mean",
              "tuned_fd_std", "tuned_seeds", "best_trial", "chosen", "defaults", "trial_fd_best", "trial_fd_median",
              "trial_fd_worst", "other_measurements"]
HEADER = ["method", "study", "trials spent (pruned, diverged)", "trial budget (kimg)", "re-run budget (kimg)",
          "default FD (mean ± std, seeds)", "tuned FD (mean ± std, seeds)", "chosen values (default)",
          "held-out FD over trials: best / median / worst", "default, measured again (mean ± std, seeds)",
          "tuned, measured again (mean ± std, seeds)"]
SHORT = ["method", "study", "trials", "trial kimg", "re-run kimg", "default FD", "tuned FD", "chosen (default)",
         "trial FD spread", "default, again", "tuned, again"]


def shown_value(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def chosen_text(view: StudyView) -> str:
    best, defaults = (view.summary.get("best") or {}).get("params") or {}, view.summary.get("defaults") or {}
    return "; ".join(f"{k}={shown_value(v)} ({shown_value(defaults[k]) if k in defaults else '?'})"
                     for k, v in sorted(best.items())) or "—"


def evaluated_values(view: StudyView, records: list[dict]) -> dict[Measurement, list[float]]:
    """The FD/FID values of the records' `bench eval` records, by measurement."""
    out: dict[Measurement, list[float]] = {}
    for record in records:
        for evaluation in view.evaluations.get(str(record.get("run_id")), []):
            if entry := fd_entry(evaluation):
                out.setdefault(entry[0], []).append(entry[1])
    return out


def evaluated_cells(view: StudyView) -> tuple[str, str, list[dict], list[Measurement]]:
    """The default and tuned cells of the measurements made again, their CSV entries and measurements."""
    default, tuned = evaluated_values(view, view.defaults), evaluated_values(view, view.reruns)
    texts, entries = ([], []), []
    for m in sorted(set(default) | set(tuned), key=lambda m: (-m.num_samples, m.id)):
        d, t = summarize(default.get(m, [])), summarize(tuned.get(m, []))
        for text, stats, n in zip(texts, (d, t), (len(default.get(m, [])), len(tuned.get(m, [])))):
            text.append(f"{m.label()} n={m.num_samples:,} {stats.shown(1)} ({n}) [{m.id}]" if stats else
                        f"{m.label()} [{m.id}] —")
        entries.append({"measurement": m.id, "metric": m.name, "extractor": m.extractor, "num_samples": m.num_samples,
                        "default_mean": d.mean if d else None, "default_std": d.std if d else None,
                        "default_seeds": len(default.get(m, [])), "tuned_mean": t.mean if t else None,
                        "tuned_std": t.std if t else None, "tuned_seeds": len(tuned.get(m, []))})
    shown = ["; ".join(text) or "—" for text in texts]
    return shown[0], shown[1], entries, sorted(set(default) | set(tuned), key=lambda m: m.id)


def study_row(view: StudyView) -> tuple[list[str], dict, list[Measurement]]:
    s = view.settings
    tuned = [e for e in (fd_entry(r) for r in view.reruns) if e]
    m = tuned[0][0] if tuned else None
    tuned_values = [v for mm, v in tuned if mm == m]
    default_values = [v for mm, v in (e for e in (fd_entry(r) for r in view.defaults) if e) if mm == m]
    tuned_stats, default_stats = summarize(tuned_values), summarize(default_values)
    spread = view.spread()
    pruned, diverged = view.count("pruned"), view.count("fail", "diverged")
    rerun_budget = float(view.reruns[0].get("budget_kimg")) if view.reruns else None
    best = view.summary.get("best") or {}

    def cell(stats, n):
        return f"{stats.shown(1)} ({n})" if stats else "—"

    row = [method_label(s.get("method", "?")), view.name, f"{view.summary.get('spent', 0)} ({pruned}, {diverged})",
           f"{float(s.get('budget_kimg', 0)):g}", "—" if rerun_budget is None else f"{rerun_budget:g}",
           cell(default_stats, len(default_values)), cell(tuned_stats, len(tuned_values)), chosen_text(view),
           " / ".join(fmt(v, 1) for v in spread) if spread else "—"]
    default_again, tuned_again, again, measured_again = evaluated_cells(view)
    row += [default_again, tuned_again]
    csv = {"dataset": dataset_key(str(s.get("dataset")), str(s.get("backbone", ""))),
           "method": method_label(s.get("method", "?")), "bench_method": s.get("method"), "study": view.name,
           "sampler": s.get("sampler"), "trials_spent": view.summary.get("spent", 0), "trials_pruned": pruned,
           "trials_diverged": diverged, "trial_budget_kimg": s.get("budget_kimg"), "rerun_budget_kimg": rerun_budget,
           "default_fd_mean": default_stats.mean if default_stats else None,
           "default_fd_std": default_stats.std if default_stats else None, "default_seeds": len(default_values),
           "tuned_fd_mean": tuned_stats.mean if tuned_stats else None,
           "tuned_fd_std": tuned_stats.std if tuned_stats else None, "tuned_seeds": len(tuned_values),
           "best_trial": best.get("number"), "chosen": json.dumps(best.get("params") or {}, sort_keys=True),
           "defaults": json.dumps(view.summary.get("defaults") or {}, sort_keys=True),
           "trial_fd_best": spread[0] if spread else None, "trial_fd_median": spread[1] if spread else None,
           "trial_fd_worst": spread[2] if spread else None, "other_measurements": json.dumps(again, sort_keys=True)}
    if m is not None:
        csv.update({"measurement": m.id, "metric": m.name, "extractor": m.extractor,
                    "implementation": m.implementation, "num_samples": m.num_samples})
    return row, csv, [mm for mm in [m, *measured_again] if mm is not None]


def run_ids(records: list[dict]) -> str:
    return ", ".join(sorted(str(r.get("run_id")) for r in records)) or "none"


def order_key(view: StudyView) -> tuple:
    method = view.settings.get("method", "")
    rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    return (float(view.settings.get("budget_kimg", 0)), rank, method, view.name)


def build(spec: TableSpec, ctx: Context) -> Document:
    views, problems = ctx.inputs.studies
    by_key: dict[str, list[StudyView]] = {}
    for view in views:
        s = view.settings
        by_key.setdefault(dataset_key(str(s.get("dataset")), str(s.get("backbone", ""))), []).append(view)
    sections, csv_rows = [], []
    for key in dataset_order(by_key):
        if key not in by_key:
            continue
        rows, notes, measurements, sources = [], [], [], []
        for view in sorted(by_key[key], key=order_key):
            row, csv, used = study_row(view)
            rows.append(row)
            sources.append(f"study {view.name}; re-runs: {run_ids(view.reruns)}; default runs: {run_ids(view.defaults)}"
                           + "".join(f"; {rerun}: the generator of {twin}, whose evaluations it carries"
                                     for rerun, twin in sorted(view.same_as.items())))
            csv_rows.append({"dataset": key, **{k: v for k, v in csv.items() if k != "dataset"}})
            measurements += [m for m in used if m not in measurements]
            if view.same_as:
                notes.append(f"{view.name}: {len(view.same_as)} re-run(s) made their default run's generator again "
                             "(same seed, backbone and data hashes, every final and curve value equal to the last "
                             "bit), so they carry its `bench eval` measurements")
            if not view.reruns:
                notes.append(f"{view.name}: best trial not re-run yet: `bench tune` with the study's flags and "
                             "`--rerun-seeds 0,1,2`")
            elif not view.defaults:
                notes.append(f"{view.name}: no default-settings runs match the re-runs (same budget, seeds and "
                             "settings) in the results folder")
            if view.stale_reruns:
                notes.append(f"{view.name}: {view.stale_reruns} re-run(s) of an earlier best trial are not shown")
            notes.append(f"{view.name}: pruning {view.summary.get('pruning') or '?'}; objective "
                         f"{view.summary.get('objective') or '?'}")
        notes += [f"measurement {m.legend()}" for m in measurements]
        sections.append(Section(dataset_title(key), HEADER, rows, notes, SHORT, sources))
    if not sections:
        sections.append(Section("No studies yet", [], [], [
            "no `bench tune` studies in the results folder yet: run `scripts/tune_digits.sh` (every trained method, "
            "equal trials and budget) or `bench tune --method M --dataset D --budget-kimg B --trials N "
            "--rerun-seeds 0,1,2`"]))
    if problems:
        sections[-1].notes.extend(f"not used: {line}" for line in problems)
    return Document(spec.name, spec.title, spec.caption, sections, CSV_HEADER, csv_rows)


SPEC = TableSpec(
    name="tuned",
    title="Equal tuning effort: default vs tuned settings per method",
    caption=("Each method tuned by `bench tune` with the same number of trials at the same budget (Optuna, seeded "
             "TPE or a grid), trials scored on held-out sample seeds; the best trial's settings re-run on fresh "
             "seeds and measured on the final evaluation's seeds, next to the default settings' runs at the same "
             "budget and seeds. Chosen values show the default in parentheses."),
    build=build,
)
