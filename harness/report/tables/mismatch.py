"""Table (d): teacher–student mismatch, from the records `bench analyze mismatch` writes.

One section per analysed configuration (dataset, method, budget, backbone, measurement); rows are
the one-step student and the N-step teachers; values are mean ± std over the analysed runs (seeds).
A student far from every teacher yet close to the data is the paper's claim 1.
"""

from __future__ import annotations

from pathlib import Path

from harness.analyze import MISMATCH_KIND
from harness.report.inputs import Analysis, dataset_order, dataset_title, group_by, seeds_shown, summarize
from harness.report.render import Document, Section
from harness.report.spec import Context, TableSpec

CSV_HEADER = ["dataset", "method", "bench_method", "budget_kimg", "backbone", "sampler", "steps", "nfe",
              "fd_to_student_mean", "fd_to_student_std", "fd_to_data_mean", "fd_to_data_std", "analyses", "seeds",
              "measurement", "metric", "extractor", "extractor_weights_sha256", "implementation", "num_samples",
              "reference", "reference_sha256"]


def group_key(a: Analysis) -> tuple:
    return (a.key, a.label, a.method, a.budget_kimg, a.backbone, a.measurement)


def shown(values: list[float]) -> tuple[str, float | None, float | None]:
    stats = summarize(values)
    return (stats.shown(), stats.mean, stats.std) if stats else ("—", None, None)


def teacher_rows(group: list[Analysis]) -> dict[int, list[dict]]:
    rows: dict[int, list[dict]] = {}
    for a in group:
        for row in a.record["results"]["teacher"]:
            rows.setdefault(int(row["steps"]), []).append(row)
    return dict(sorted(rows.items()))


def section_of(key: tuple, group: list[Analysis]) -> tuple[Section, list[dict]]:
    dataset, label, method, budget, backbone, m = key
    base = {"dataset": dataset, "method": label, "bench_method": method, "budget_kimg": budget, "backbone": backbone,
            **(m.csv_fields() if m else {})}
    text, mean, std = shown([float(a.record["results"]["student_vs_data"]) for a in group])
    rows = [["one-step student", "1", "—", text, seeds_shown(group)]]
    csv_rows = [{**base, "sampler": "student", "steps": 1, "nfe": 1, "fd_to_data_mean": mean, "fd_to_data_std": std,
                 "analyses": len(group), "seeds": len({a.seed for a in group})}]
    for steps, items in teacher_rows(group).items():
        to_student = shown([float(r["teacher_vs_student"]) for r in items])
        to_data = shown([float(r["teacher_vs_data"]) for r in items])
        nfe = items[0].get("nfe")
        rows.append([f"teacher, Heun {steps} steps", str(nfe), to_student[0], to_data[0], str(len(items))])
        csv_rows.append({**base, "sampler": "teacher", "steps": steps, "nfe": nfe, "fd_to_student_mean": to_student[1],
                         "fd_to_student_std": to_student[2], "fd_to_data_mean": to_data[1],
                         "fd_to_data_std": to_data[2], "analyses": len(items)})
    label_m = m.header() if m else "FD"
    header = ["sampler", "NFE", f"{label_m} to the student", f"{label_m} to the data", "analyses (seeds)"]
    short = ["sampler", "NFE", f"{m.short() if m else 'FD'} to student", "to data", "analyses"]
    notes = [f"measurement {m.legend()}"] if m else []
    notes.append("records: " + ", ".join(a.name for a in group))
    title = f"{dataset_title(dataset)}: {label}, budget {budget:g} kimg, backbone {backbone}"
    records = "from the analysis records: " + ", ".join(a.name for a in group)
    return Section(title, header, rows, notes, short, [records] * len(rows)), csv_rows


def missing_section(ctx: Context) -> Section:
    candidates = [r for r in ctx.inputs.runs if r.method in ("gan_only", "gan_only_frozen")]
    where = f"<results>/{Path(candidates[0].name).parent}" if candidates else "<results>/<run id of a gan_only run>"
    return Section("No mismatch analyses stored", [], [], [
        f"no stored teacher–student mismatch analyses yet: run `bench analyze mismatch --run {where}`"])


def build(spec: TableSpec, ctx: Context) -> Document:
    analyses = ctx.inputs.analyses.get(MISMATCH_KIND, [])
    order = {k: i for i, k in enumerate(dataset_order(a.key for a in analyses))}
    groups = group_by(analyses, group_key)
    sections, csv_rows = [], []
    for key in sorted(groups, key=lambda k: (order[k[0]], k[1:5], k[5] or ())):
        section, rows = section_of(key, groups[key])
        sections.append(section)
        csv_rows += rows
    if not sections:
        sections.append(missing_section(ctx))
    return Document(spec.name, spec.title, spec.caption, sections, CSV_HEADER, csv_rows)


SPEC = TableSpec(
    name="mismatch",
    title="Teacher–student mismatch: FD between the N-step teacher and the one-step student",
    caption=("From `bench analyze mismatch` records. Teacher: EDM's Heun sampler with N steps on the run's own "
             "backbone, sampled with the same seeds as the student. 'to the student': FD between teacher and "
             "student samples; 'to the data': FD against the run's dataset. Mean ± std over analysed runs."),
    build=build,
)
