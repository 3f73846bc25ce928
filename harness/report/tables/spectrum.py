"""Table and figure (e): frequency analysis, from the records `bench analyze spectrum` writes.

Per analysed configuration: the error per frequency band (low/mid/high thirds of the radial
frequencies, DC excluded) of the teacher and of the one-step generator before and after fine-tuning,
against the real images' spectrum; the figure draws the spectra themselves.
"""

from __future__ import annotations

from pathlib import Path

from harness.analyze import SPECTRUM_KIND
from harness.report.inputs import Analysis, dataset_order, dataset_title, group_by, seeds_shown, summarize
from harness.report.plots import (color, empty_panel, few_y_ticks, figure_legend, grid_size, legend_columns,
                                  legend_rows, panel_grid)
from harness.report.render import Document, Section
from harness.report.spec import Context, TableSpec

SOURCES = ("teacher", "before", "after")
BANDS = ("low", "mid", "high")
PLOT_LABELS = {"real": "real images", "teacher": "teacher (multi-step Heun)", "before": "one step, before fine-tuning",
               "after": "one step, after fine-tuning"}
CSV_HEADER = ["dataset", "method", "bench_method", "budget_kimg", "backbone", "resolution", "num_samples",
              "teacher_steps", "images", "error_low", "error_low_std", "error_mid", "error_mid_std", "error_high",
              "error_high_std", "fd_to_data", "fd_to_data_std", "analyses", "seeds", "log10_power", "measurement",
              "metric", "extractor", "extractor_weights_sha256", "implementation", "num_samples_fd", "reference",
              "reference_sha256"]


def group_key(a: Analysis) -> tuple:
    info = a.record.get("analysis") or {}
    return (a.key, a.label, a.method, a.budget_kimg, a.backbone, int(info.get("resolution", 0)),
            int(info.get("num_samples", 0)), int(info.get("teacher_steps", 0)), a.measurement)


def source_name(source: str, label: str, steps: int) -> str:
    return {"real": "real images", "teacher": f"teacher (Heun, {steps} steps)",
            "before": "one step, before fine-tuning", "after": f"one step, after fine-tuning ({label})"}[source]


def mean_curve(group: list[Analysis], source: str) -> list[float]:
    curves = [a.record["spectra"][source] for a in group]
    length = min(len(c) for c in curves)
    return [sum(c[i] for c in curves) / len(curves) for i in range(length)]


def section_of(key: tuple, group: list[Analysis]) -> tuple[Section, list[dict]]:
    dataset, label, method, budget, backbone, resolution, n, steps, m = key
    base = {"dataset": dataset, "method": label, "bench_method": method, "budget_kimg": budget,
            "backbone": backbone, "resolution": resolution, "num_samples": n, "teacher_steps": steps,
            "analyses": len(group), "seeds": len({a.seed for a in group})}
    if m:
        fields = m.csv_fields()
        fields["num_samples_fd"] = fields.pop("num_samples")
        base.update(fields)
    rows, csv_rows = [], []
    for source in SOURCES:
        errors = {b: summarize([float(a.record["band_errors"][source][b]) for a in group]) for b in BANDS}
        fd = summarize([float(a.record["fd_vs_data"][source]) for a in group if "fd_vs_data" in a.record])
        rows.append([source_name(source, label, steps)] + [errors[b].shown() for b in BANDS]
                    + [fd.shown() if fd else "—", seeds_shown(group)])
        csv_rows.append({**base, "images": source, **{f"error_{b}": errors[b].mean for b in BANDS},
                         **{f"error_{b}_std": errors[b].std for b in BANDS},
                         "fd_to_data": fd.mean if fd else None, "fd_to_data_std": fd.std if fd else None,
                         "log10_power": ";".join(repr(v) for v in mean_curve(group, source))})
    csv_rows.append({**base, "images": "real", "log10_power": ";".join(repr(v) for v in mean_curve(group, "real"))})
    bands = (group[0].record.get("analysis") or {}).get("bands") or {}
    fd_header = f"{m.header()} to the data" if m else "FD to the data"
    header = ["images", "error low", "error mid", "error high", fd_header, "analyses (seeds)"]
    short = ["images", "low", "mid", "high", f"{m.short() if m else 'FD'} to data", "analyses"]
    notes = ["bands (radial frequency bins, cycles per image): "
             + "; ".join(f"{b}: {', '.join(str(i) for i in bands.get(b) or []) or 'none'}" for b in BANDS),
             "error: mean |log10 P - log10 P_real| over the band's bins; 0 means the real images' spectrum"]
    notes += [f"measurement {m.legend()}"] if m else []
    notes.append("records: " + ", ".join(a.name for a in group))
    title = f"{dataset_title(dataset)}: {label}, budget {budget:g} kimg, {n} images per set"
    records = "from the analysis records: " + ", ".join(a.name for a in group)
    return Section(title, header, rows, notes, short, [records] * len(rows)), csv_rows


def drawer(groups: list[tuple[tuple, list[Analysis]]], note: str):
    """One panel per analysed configuration: the four mean spectra; one legend for the figure."""
    count = max(1, len(groups))
    columns = legend_columns(count)
    rows = legend_rows(len(PLOT_LABELS), columns) if groups else 0

    def draw(figure) -> None:
        from matplotlib.ticker import MaxNLocator

        axes = panel_grid(figure, count, rows)
        if not groups:
            empty_panel(axes[0], note)
        for ax, (key, group) in zip(axes, groups):
            for i, source in enumerate(("real", *SOURCES)):
                curve = mean_curve(group, source)
                ax.plot(range(len(curve)), curve, marker="o", ms=3, color=color(i), label=PLOT_LABELS[source])
            ax.set_title(f"{dataset_title(key[0])}: {key[1]}, {key[3]:g} kimg", fontsize=7)
            ax.set_xlabel("radial frequency (cycles per image)")
            ax.set_ylabel("log10 power")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            few_y_ticks(ax)
        figure_legend(figure, axes, columns)

    return draw, grid_size(count, rows)


def missing_note(ctx: Context) -> str:
    candidates = [r for r in ctx.inputs.runs if r.method in ("gan_only", "gan_only_frozen")]
    where = f"<results>/{Path(candidates[0].name).parent}" if candidates else "<results>/<run id of a gan_only run>"
    return f"no stored spectrum analyses yet: run `bench analyze spectrum --run {where}`"


def build(spec: TableSpec, ctx: Context) -> Document:
    analyses = ctx.inputs.analyses.get(SPECTRUM_KIND, [])
    order = {k: i for i, k in enumerate(dataset_order(a.key for a in analyses))}
    groups = group_by(analyses, group_key)
    keys = sorted(groups, key=lambda k: (order[k[0]], k[1:8], k[8] or ()))
    sections, csv_rows = [], []
    for key in keys:
        section, rows = section_of(key, groups[key])
        sections.append(section)
        csv_rows += rows
    note = missing_note(ctx)
    if not sections:
        sections.append(Section("No spectrum analyses stored", [], [], [note]))
    draw, size = drawer([(k, groups[k]) for k in keys], note)
    return Document(spec.name, spec.title, spec.caption, sections, CSV_HEADER, csv_rows, figure=draw,
                    figure_size=size, vector=True)


SPEC = TableSpec(
    name="spectrum",
    title="Frequency analysis: radially averaged power spectra and error per band",
    caption=("From `bench analyze spectrum` records. Spectra: log10 of the mean power per integer radial frequency "
             "over images and channels. Error per band against the real images' spectrum, mean ± std over "
             "analysed runs; FD of each image set to the data for context."),
    build=build,
)
