"""Table (f): what each method costs for its FD: training images, teacher forward passes, hours.

Teacher forward passes = teacher passes per training image x images seen, the cost that instance
distillation pays and GAN-only fine-tuning does not. Rows at the same budget sit together, and
hardware is part of a row's key: hours on different devices are not averaged together.
"""

from __future__ import annotations

from harness.report.inputs import (METHOD_ORDER, Run, dataset_order, dataset_title, fd_values, fmt, fmt_count,
                                   group_by, kid_values, run_command, runs_with, seeds_shown, summarize)
from harness.report.formatting import KID_HEADER, KID_NOTE, kid_cell, provenance, seeds_note
from harness.report.render import Document, Section
from harness.report.spec import Context, TableSpec

CSV_HEADER = ["dataset", "budget_kimg", "method", "bench_method", "nfe", "backbone", "hardware", "on_gpu",
              "training_images", "teacher_passes_per_image", "teacher_forward_passes", "wall_hours", "train_hours",
              "gpu_hours", "seeds", "runs", "measurement", "metric", "extractor", "extractor_weights_sha256",
              "implementation", "num_samples", "reference", "reference_sha256", "fd_mean", "fd_std", "kid_mean",
              "kid_subset_std"]


def mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600.0


def row_key(run: Run) -> tuple:
    order = METHOD_ORDER.index(run.method) if run.method in METHOD_ORDER else len(METHOD_ORDER)
    return (run.budget_kimg, order, run.method, run.label, run.nfe or 0, run.backbone, run.hardware)


def cost_fields(group: list[Run]) -> dict:
    images = mean([r.images for r in group])
    passes = mean([r.teacher_passes_per_image for r in group])
    wall = hours(mean([r.wall_seconds for r in group]))
    return {"training_images": images, "teacher_passes_per_image": passes,
            "teacher_forward_passes": None if images is None or passes is None else images * passes,
            "wall_hours": wall, "train_hours": hours(mean([r.train_seconds for r in group])),
            "gpu_hours": wall if group[0].on_gpu else None, "on_gpu": group[0].on_gpu}


def dataset_section(key: str, runs: list[Run]) -> tuple[Section, list[dict]]:
    measurements = list(fd_values(runs))
    header = ["budget (kimg)", "method", "NFE", "training images", "teacher passes / image",
              "teacher forward passes", "wall h", "train h", "GPU h", "hardware", "seeds"]
    short = list(header)
    for m in measurements:
        header.append(f"{m.header()}: mean ± std")
        short.append(m.short())
    kid_measurements = list(kid_values(runs))  # KID beside FD, where a record holds one (issue #24)
    for m in kid_measurements:
        header.append(f"{m.header()}: {KID_HEADER}")
        short.append(m.short())
    rows, csv_rows, sources = [], [], []
    for key_, group in sorted(group_by(runs, row_key).items()):
        first, cost = group[0], cost_fields(group)
        gpu = fmt(cost["gpu_hours"], 4) if cost["on_gpu"] else "— (CPU)"
        row = [f"{first.budget_kimg:g}", first.label, str(first.nfe or "—"), fmt_count(cost["training_images"]),
               f"{cost['teacher_passes_per_image']:g}", fmt_count(cost["teacher_forward_passes"]),
               fmt(cost["wall_hours"], 4), fmt(cost["train_hours"], 4), gpu, first.hardware, seeds_shown(group)]
        base = {"dataset": key, "budget_kimg": first.budget_kimg, "method": first.label, "bench_method": first.method,
                "nfe": first.nfe, "backbone": first.backbone, "hardware": first.hardware, **cost,
                "seeds": len({r.seed for r in group}), "runs": len(group)}
        values = fd_values(group)
        for m in measurements:
            stats = summarize(values.get(m, []))
            row.append(f"{stats.shown()} (n={seeds_shown(runs_with(group, m))})" if stats else "—")
            if stats:
                csv_rows.append({**base, **m.csv_fields(), "fd_mean": stats.mean, "fd_std": stats.std})
        kids = kid_values(group)
        for m in kid_measurements:
            pairs = kids.get(m, [])
            row.append(f"{kid_cell(pairs)} (n={seeds_shown(runs_with(group, m))})" if pairs else "—")
            csv_rows += [{**base, **m.csv_fields(), "kid_mean": v, "kid_subset_std": sd, "runs": 1} for v, sd in pairs]
        if not values and not kids:
            csv_rows.append(base)
        rows.append(row)
        sources.append(provenance(group))
    notes = [f"measurement {m.legend()}" for m in measurements + kid_measurements] + seeds_note(rows)
    notes += [KID_NOTE] if kid_measurements else []
    return Section(dataset_title(key), header, rows, notes, short, sources), csv_rows


def build(spec: TableSpec, ctx: Context) -> Document:
    by_key = group_by(ctx.inputs.runs, lambda r: r.key)
    sections, csv_rows = [], []
    for key in dataset_order(by_key):
        if key not in by_key:
            continue
        section, rows = dataset_section(key, by_key[key])
        sections.append(section)
        csv_rows += rows
    missing = [k for k in dataset_order(by_key) if k not in by_key]
    if missing:
        sections.append(Section("Datasets without stored runs", [], [], [
            f"no stored runs for {dataset_title(k)} yet: run {run_command('gan_only', k)}" for k in missing]))
    return Document(spec.name, spec.title, spec.caption, sections, CSV_HEADER, csv_rows)


SPEC = TableSpec(
    name="cost",
    title="Cost at equal budgets: FD vs training images, teacher forward passes and hours",
    caption=("Per dataset, rows grouped by training budget. Training images are those the generator saw; teacher "
             "forward passes = teacher passes per training image x training images (0 for GAN-only fine-tuning). "
             "Hours are wall-clock means over seeds; GPU hours are given for runs on a GPU (one device per run)."),
    build=build,
)
