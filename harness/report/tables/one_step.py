"""Table (a): one-step FID/FD per dataset, reported beside reproduced.

Rows are methods (a reproduced row per method, freeze level, NFE, budget and backbone; a reported-
only row per published number nobody reproduced yet); each way of measuring gets its own three
columns (mean ± std over seeds, seed count, difference from the reported FID). The difference is
only given when the measurement follows the published protocol (Inception-v3, 50k samples) and the
NFE agrees; otherwise it says 'n/c' instead of inviting a comparison that means nothing.
"""

from __future__ import annotations

from harness.report.inputs import (DATASETS, METHOD_LABELS, METHOD_ORDER, Measurement, Run, dataset_order,
                                   dataset_title, fd_values, fmt_count, group_by, kid_values, run_command, runs_with,
                                   seeds_shown, summarize)
from harness.report.formatting import KID_HEADER, KID_NOTE, kid_cell, provenance, seed_values, seeds_note
from harness.report.render import Citations, Document, Section
from harness.report.spec import Context, TableSpec

NOT_COMPARABLE = ("n/c: the measurement differs from the published protocol (Inception-v3 features, 50,000 "
                  "samples) or the NFE differs, so a difference from the published FID would mean nothing.")
CSV_HEADER = ["dataset", "method", "bench_method", "nfe", "budget_kimg", "backbone", "measurement", "metric",
              "extractor", "extractor_weights_sha256", "implementation", "num_samples", "reference",
              "reference_sha256", "reproduced_mean", "reproduced_std", "seeds", "runs", "reported", "reported_low",
              "reported_high", "reported_entry", "also_reported", "difference", "best_snapshot_mean",
              "best_snapshot_std", "best_snapshot_runs", "kid_mean", "kid_subset_std"]
BEST_NOTE = ("best snapshot: per run, the curve point with the lowest FD/FID (the authors report that snapshot); "
             "mean ± std over the runs that measured a curve. The main columns are the final model's values.")


def build(spec: TableSpec, ctx: Context) -> Document:
    cites = Citations(ctx.published)
    by_key = group_by(ctx.inputs.runs, lambda r: r.key)
    sections, csv_rows = [], []
    for key in dataset_order(by_key):
        section, rows = dataset_section(key, by_key.get(key, []), ctx, cites)
        sections.append(section)
        csv_rows += rows
    return Document(spec.name, spec.title, spec.caption, sections, CSV_HEADER, csv_rows, cites.footnotes())


def row_key(run: Run) -> tuple:
    order = METHOD_ORDER.index(run.method) if run.method in METHOD_ORDER else len(METHOD_ORDER)
    return (order, run.method, run.label, run.nfe or 0, run.budget_kimg, run.backbone)


def reported_for(run: Run, entries: list) -> tuple[object | None, list]:
    """The main published entry for a reproduced row and its alternates (README re-evaluations).

    D2O-F is published at freeze level 1 only, so other levels get no reported number; a number whose
    recipe the run does not follow (published.json ``recipe``: e.g. DMD2 without GAN, PD without EMA) is
    not set beside it, and shows as its own reported row instead.
    """
    if run.method == "gan_only_frozen" and run.freeze_level not in (None, 1):
        return None, []
    settings = dict(run.settings)
    matching = [e for e in entries if e.harness_method == run.method and e.backbone in (None, run.backbone)
                and e.recipe_matches(settings)]
    main = next((e for e in matching if not e.is_readme()), None)
    return main, [e for e in matching if e.is_readme()]


def reported_cell(main, alternates: list, cites: Citations) -> str:
    if main is None:
        return "—"
    cell = cites.cell(main)  # cited first, so footnotes follow reading order
    extra = "; ".join(f"README {cites.cell(a)}" for a in alternates)
    return cell + (f" ({extra})" if extra else "")


def difference(mean: float, entry, m: Measurement, nfe: int | None) -> float | None | str:
    """Reproduced minus reported, or 'n/c' where the two were not measured alike."""
    if entry is None or entry.number is None:
        return None
    if not m.matches_published_protocol() or (entry.nfe is not None and nfe is not None and entry.nfe != nfe):
        return "n/c"
    return mean - entry.number


def reported_csv(main, alternates: list) -> dict:
    if main is None:
        return {}
    return {"reported": main.value, "reported_low": main.low, "reported_high": main.high, "reported_entry": main.id,
            "also_reported": ";".join(f"{a.id}={a.shown()}" for a in alternates) or None}


def dataset_section(key: str, runs: list[Run], ctx: Context, cites: Citations) -> tuple[Section, list[dict]]:
    entries = ctx.published.select("fid", key)
    measurements = list(fd_values(runs))
    header = ["method", "bench method", "NFE", "budget (kimg)", "backbone", "reported FID", "reported train images"]
    short = list(header)
    for m in measurements:
        header += [f"{m.header()}: mean ± std", f"seeds [{m.id}]", f"Δ vs reported [{m.id}]"]
        short += [m.short(), "seeds", "Δ"]
    kid_measurements = list(kid_values(runs))  # KID beside FD, where a record holds one (issue #24)
    for m in kid_measurements:
        header += [f"{m.header()}: {KID_HEADER}", f"seeds [{m.id}]"]
        short += [m.short(), "seeds"]
    best_measurements = sorted({m for r in runs for m, _ in r.best})
    for m in best_measurements:  # only where some run measured a curve: tables of final runs stay as they were
        header.append(f"best snapshot {m.header()}: mean ± std")
        short.append(f"best {m.short()}")
    placeholder = not measurements  # keep the reproduced columns visible (empty) when nothing is stored
    if placeholder:
        header += ["reproduced: mean ± std", "seeds", "Δ vs reported"]
        short += ["reproduced", "seeds", "Δ"]
    rows, csv_rows, used, any_nc, sources = [], [], set(), False, []
    for _, group in sorted(group_by(runs, row_key).items(), key=lambda kv: kv[0]):
        first = group[0]
        main, alternates = reported_for(first, entries)
        if any(reported_for(r, entries)[0] is not main for r in group[1:]):  # runs of several recipes share the row
            main, alternates = None, []
        used.update(e.id for e in [main, *alternates] if e is not None)
        row = [first.label, first.method, str(first.nfe or "—"), f"{first.budget_kimg:g}", first.backbone,
               reported_cell(main, alternates, cites), fmt_count(main.train_images) if main else "—"]
        values = fd_values(group)
        if not values:
            csv_rows.append({"dataset": key, "method": first.label, "bench_method": first.method, "nfe": first.nfe,
                             "budget_kimg": first.budget_kimg, "backbone": first.backbone, "runs": len(group),
                             "seeds": len({r.seed for r in group}), **reported_csv(main, alternates)})
        for m in measurements:
            stats = summarize(values.get(m, []))
            if stats is None:
                row += ["—", "0", "—"]
                continue
            delta = difference(stats.mean, main, m, first.nfe)
            any_nc |= delta == "n/c"
            row += [stats.shown(), seeds_shown(runs_with(group, m)),
                    delta if isinstance(delta, str) else ("—" if delta is None else f"{delta:+.3f}")]
            csv_rows.append({"dataset": key, "method": first.label, "bench_method": first.method, "nfe": first.nfe,
                             "budget_kimg": first.budget_kimg, "backbone": first.backbone, **m.csv_fields(),
                             "reproduced_mean": stats.mean, "reproduced_std": stats.std,
                             "seeds": len({r.seed for r in group}), "runs": len(group),
                             **reported_csv(main, alternates),
                             "difference": delta if isinstance(delta, (float, str)) else None})
        kids = kid_values(group)
        for m in kid_measurements:
            pairs = kids.get(m, [])
            row += [kid_cell(pairs) if pairs else "—", seeds_shown(runs_with(group, m)) if pairs else "0"]
            for value, std in pairs:
                csv_rows.append({"dataset": key, "method": first.label, "bench_method": first.method, "nfe": first.nfe,
                                 "budget_kimg": first.budget_kimg, "backbone": first.backbone, **m.csv_fields(),
                                 "kid_mean": value, "kid_subset_std": std, "runs": 1})
        for m in best_measurements:
            best = summarize(seed_values(group, m, "best"))
            row.append(best.shown() if best else "—")
            if best:
                csv_rows.append({"dataset": key, "method": first.label, "bench_method": first.method, "nfe": first.nfe,
                                 "budget_kimg": first.budget_kimg, "backbone": first.backbone, **m.csv_fields(),
                                 "best_snapshot_mean": best.mean, "best_snapshot_std": best.std,
                                 "best_snapshot_runs": best.n})
        rows.append(row + (["—", "0", "—"] if placeholder else []))
        sources.append(provenance(group) + (f"; reported: {main.id}" if main else ""))
    for entry in entries:
        if entry.id in used or entry.is_readme():
            continue
        alternates = [a for a in entries if a.is_readme() and a.method == entry.method]
        rows.append([entry.method, entry.harness_method or "not in bench", str(entry.nfe or "—"), "—", "—",
                     reported_cell(entry, alternates, cites), fmt_count(entry.train_images)]
                    + ["—", "0", "—"] * max(1, len(measurements)) + ["—", "0"] * len(kid_measurements)
                    + ["—"] * len(best_measurements))
        sources.append(f"reported only: baselines/published.json entry {entry.id}")
        csv_rows.append({"dataset": key, "method": entry.method, "bench_method": entry.harness_method,
                         "nfe": entry.nfe, **reported_csv(entry, alternates)})
    notes = (section_notes(key, runs, entries, measurements + kid_measurements, any_nc) + seeds_note(rows)
             + ([KID_NOTE] if kid_measurements else []) + ([BEST_NOTE] if best_measurements else []))
    return Section(dataset_title(key), header, rows, notes, short, sources), csv_rows


def section_notes(key: str, runs: list[Run], entries: list, measurements: list[Measurement], any_nc: bool) -> list[str]:
    """Say what is missing (and how to make it), what n/c means, and what each measurement id is."""
    notes = []
    title = dataset_title(key)
    if not runs:
        notes.append(f"no stored runs for {title} yet: run {run_command('gan_only', key)} "
                     f"and {run_command('gan_only_frozen', key)}")
    elif not measurements:
        notes.append(f"stored runs for {title} carry no FD/FID metric: rerun with `--set metrics=fd`")
    else:
        reproduced = {r.method for r in runs}
        missing = sorted({e.harness_method for e in entries if e.harness_method} - reproduced,
                         key=lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else 99)
        for method in missing:
            notes.append(f"{METHOD_LABELS.get(method, method)} is published but not reproduced yet for {title}: "
                         f"run {run_command(method, key)}")
    if not entries:
        notes.append(f"no published numbers for {title}" + (" (an offline stand-in dataset)" if key in DATASETS else ""))
    if any_nc:
        notes.append(NOT_COMPARABLE)
    notes += [f"measurement {m.legend()}" for m in measurements]
    return notes


SPEC = TableSpec(
    name="one_step",
    title="One-step generation: FID/FD per dataset, reported and reproduced",
    caption=("Reported numbers are FIDs on 50k samples as published (sources below). Reproduced values are "
             "mean ± sample std over seeds of the stored runs, one column group per way of measuring "
             "(metric, feature extractor, implementation, sample count, reference set). "
             "Δ = reproduced mean − reported."),
    build=build,
)
