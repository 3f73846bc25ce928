"""Figure (c): training curves, FD/FID against training images (log x), one line per method.

The paper's Figure 1A (Zheng & Yang, arXiv 2506.09376) plots FID against training images; runs with
a curve (`bench run --eval-every-kimg N`, or `bench sweep`) give that line from one run per seed.
Each panel is one dataset measured one way; a line is the mean over seeds at each point, its band
the min–max over seeds. The teacher and the backbone used in one step before fine-tuning (same
dataset, same measurement) are horizontal references, and the ImageNet 64 panel carries the
published Figure 1A points as figure (b) does. Where a method's schedule depends on its budget
(progressive distillation's halving rounds) the line is dashed: its points before the end are
snapshots of the longer schedule, not runs at that budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.report.inputs import (Measurement, Run, dataset_order, dataset_title, fmt_count, group_by,
                                   run_command)
from harness.report.formatting import provenance
from harness.report.names import COLOUR_FAMILIES
from harness.report.plots import LineStyle, empty_panel, log_x_axis, log_y_if_wide, panels_drawer, place_labels
from harness.report.render import Citations, Document, Section
from harness.report.spec import Context, TableSpec
from harness.report.tables.figure_1a import (PAPER_KEY, draw_references, draw_reported,
                                             references_of, reported_values)

BAND = "min–max over seeds"
CSV_HEADER = ["panel", "kind", "dataset", "method", "bench_method", "run_budget_kimg", "kimg", "train_images",
              "train_images_low", "train_images_high", "fd", "fd_min", "fd_max", "fd_low", "fd_high", "seeds",
              "snapshot_of_schedule", "entry", "measurement", "metric",
              "extractor", "extractor_weights_sha256", "implementation", "num_samples", "reference",
              "reference_sha256"]


@dataclass
class LinePoint:
    kimg: float
    images: float
    values: list[float]

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)


@dataclass
class Line:
    label: str
    method: str
    run_budget_kimg: float
    snapshots: bool  # points before the end are snapshots of a longer schedule
    points: list[LinePoint]
    seeds: int
    runs: list[Run] = field(default_factory=list)


@dataclass
class Panel:
    title: str
    key: str
    measurement: Measurement | None
    lines: list[Line] = field(default_factory=list)
    references: list[tuple[str, str, float, int]] = field(default_factory=list)  # label, method, mean, runs
    reported: list = field(default_factory=list)
    note: str = ""


def curve_runs(runs: list[Run]) -> list[Run]:
    """Runs that carry a curve (rows read off curves are not runs of their own)."""
    return [r for r in runs if r.curve and r.schedule_kimg is None]


def lines_of(runs: list[Run], m: Measurement) -> list[Line]:
    groups = group_by(runs, lambda r: (r.label, r.method, r.budget_kimg))
    lines = []
    for (label, method, budget), group in sorted(groups.items()):
        at: dict[int, LinePoint] = {}
        for run in group:
            for p in run.curve:
                for mm, v in p.values:
                    if mm == m:
                        at.setdefault(int(p.images), LinePoint(p.kimg, p.images, [])).values.append(v)
        if at:
            snapshots = any(r.schedule_depends_on_budget for r in group)
            points = [at[k] for k in sorted(at)]
            lines.append(Line(label, method, budget, snapshots, points, len({r.seed for r in group}), group))
    budgets = group_by(lines, lambda line: line.label)
    for line in lines:  # a method with curves at several budgets: name each line's run budget
        if len(budgets[line.label]) > 1:
            line.label = f"{line.label} ({line.run_budget_kimg:g} kimg run)"
    return lines


def panels_of(ctx: Context) -> list[Panel]:
    runs = ctx.inputs.runs
    with_curves = curve_runs(runs)
    # One panel per dataset, backbone and measurement: curves from two backbones (a CPU-scale and a GPU-scale
    # Fashion-MNIST one) never share a line, and each panel's references are its own backbone's.
    cells = group_by([((r.key, r.backbone), m, r) for r in with_curves for p in r.curve for m, _ in p.values
                      if m.is_fd()], lambda t: (t[0], t[1]))
    cells = {k: list({id(t[2]): t[2] for t in v}.values()) for k, v in cells.items()}
    paper = Panel("ImageNet 64: Figure 1A (reported) and reproduced curves", PAPER_KEY, None,
                  reported=ctx.published.select("figure-1a", PAPER_KEY))
    panels = [paper]
    order = {k: i for i, k in enumerate(dataset_order(k for (k, _), _ in cells))}
    for (key, backbone), m in sorted(cells, key=lambda km: (order[km[0][0]], km[0][1], km[1])):
        group = cells[((key, backbone), m)]
        if key == PAPER_KEY and m.matches_published_protocol() and paper.measurement is None:
            paper.measurement, paper.lines = m, lines_of(group, m)
            paper.references = references_of(runs, key, m, backbone)
            continue
        panels.append(Panel(f"{dataset_title(key)}: {m.short()}\nbackbone {backbone}", key, m, lines_of(group, m),
                            references_of(runs, key, m, backbone)))
    if not paper.lines:
        paper.note = "no stored ImageNet 64 curves measured like the paper yet"
    return panels


def draw_panel(ax, panel: Panel, styles: dict[str, LineStyle]) -> None:
    ax.set_title(panel.title + (f"\n({panel.note})" if panel.note and panel.reported else ""), fontsize=7)
    if not panel.lines and not panel.reported:
        empty_panel(ax, panel.note or "no curves")
        return
    names = draw_reported(ax, panel.reported)
    for line in panel.lines:
        xs = [p.images for p in line.points]
        style = styles[line.label]
        ax.plot(xs, [p.mean for p in line.points], marker=style.marker, ls="-" if not line.snapshots else "--",
                color=style.color, ms=3.5,
                label=line.label + (" (points before the end: snapshots of its schedule)" if line.snapshots else ""))
        ax.fill_between(xs, [min(p.values) for p in line.points], [max(p.values) for p in line.points], color=style.color,
                        alpha=0.2, lw=0)
    draw_references(ax, panel.references)
    log_axes(ax, log_y=not panel.reported)
    if panel.reported:  # the published points: log y only where a linear axis would flatten them
        log_y_if_wide(ax, reported_values(panel.reported) + [p.mean for line in panel.lines for p in line.points])
    ax.set_xlabel("training images")
    ax.set_ylabel(panel.measurement.label() if panel.measurement else "FID")
    place_labels(ax, names)


def log_axes(ax, log_y: bool) -> None:
    """Log x (and log y: FD falls by decades early in training) with 1-2-5 ticks and plain labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    log_x_axis(ax)
    ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0), numticks=12))
    if log_y:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0), numticks=12))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))


def drawer(panels: list[Panel]):
    """One panel per dataset and measurement; the legend adds the teacher, the backbone and the band."""
    ids = {panel.measurement.id: panel.measurement for panel in panels if panel.measurement}
    caption = [f"Lines: mean over seeds; bands: {BAND}."] * bool(ids) + \
        [f"[{m.legend().replace(': ', '] ', 1)}" for _, m in sorted(ids.items())]
    return panels_drawer(panels, {line.label for panel in panels for line in panel.lines}, 3, draw_panel, caption,
                         families=COLOUR_FAMILIES)


def panel_section(index: int, panel: Panel, cites: Citations) -> tuple[Section, list[dict]]:
    rows, csv_rows, sources = [], [], []
    mfields = panel.measurement.csv_fields() if panel.measurement else {}
    for e in panel.reported:
        images = fmt_count(e.train_images) if e.train_images else f"{fmt_count(e.train_images_low)}-{fmt_count(e.train_images_high)}"
        rows.append([f"{e.method} (reported)", "—", "—", images, f"{e.shown()} {cites.mark(e)}", "—", "—"])
        csv_rows.append({"panel": index, "kind": "reported", "dataset": e.dataset, "method": e.method,
                         "bench_method": e.harness_method, "train_images": e.train_images,
                         "train_images_low": e.train_images_low, "train_images_high": e.train_images_high,
                         "fd": e.value, "fd_low": e.low, "fd_high": e.high, "entry": e.id})
        sources.append(f"reported: baselines/published.json entry {e.id}")
    for line in panel.lines:
        for p in line.points:
            last = p is line.points[-1]
            rows.append([line.label, f"{line.run_budget_kimg:g}", f"{p.kimg:g}" + ("" if last or not line.snapshots
                                                                                    else " (snapshot)"),
                         fmt_count(p.images), f"{p.mean:.3f}", f"{min(p.values):.3f}–{max(p.values):.3f}",
                         str(len(p.values))])
            sources.append(f"curve point at {p.kimg:g} kimg of each run; " + provenance(line.runs))
            csv_rows.append({"panel": index, "kind": "curve", "dataset": panel.key, "method": line.label,
                             "bench_method": line.method, "run_budget_kimg": line.run_budget_kimg, "kimg": p.kimg,
                             "train_images": p.images, "fd": p.mean, "fd_min": min(p.values),
                             "fd_max": max(p.values), "seeds": len(p.values),
                             "snapshot_of_schedule": line.snapshots and not last, **mfields})
    for label, method, value, n in panel.references:
        rows.append([f"{label} (reference)", "—", "—", "—", f"{value:.3f}", "—", str(n)])
        sources.append(f"mean final {label} value of the {n} {method} runs of this dataset (see runs.md)")
        csv_rows.append({"panel": index, "kind": "reference", "dataset": panel.key, "method": label,
                         "bench_method": method, "fd": value, "seeds": n, **mfields})
    notes = [f"band: {BAND}; line: mean over seeds"]
    if panel.measurement:
        notes.append(f"measurement {panel.measurement.legend()}")
    if panel.note:
        notes.insert(0, f"{panel.note}: run {run_command('gan_only', panel.key, ' --eval-every-kimg 250')}")
    header = ["method", "run budget (kimg)", "point (kimg)", "training images", "mean", BAND, "seeds"]
    return Section(f"Panel {index}: {panel.title}", header, rows, notes, sources=sources), csv_rows


def build(spec: TableSpec, ctx: Context) -> Document:
    cites = Citations(ctx.published)
    panels = panels_of(ctx)
    sections, csv_rows = [], []
    for i, panel in enumerate(panels, start=1):
        section, rows = panel_section(i, panel, cites)
        sections.append(section)
        csv_rows += rows
    if len(panels) == 1 and not panels[0].lines:
        sections[-1].notes.append("no stored runs with a training curve yet: run "
                                  f"{run_command('gan_only', 'digits', ' --eval-every-kimg 5')}")
    draw, size = drawer(panels)
    return Document(spec.name, spec.title, spec.caption, sections, CSV_HEADER, csv_rows, cites.footnotes(),
                    figure=draw, figure_size=size, vector=True)


SPEC = TableSpec(
    name="curves",
    title="Training curves: FD/FID vs training images (log scale)",
    caption=(f"Lines: mean over seeds of runs measured during training (`--eval-every-kimg`); bands: {BAND}. "
             "Horizontal lines: the teacher and the backbone in one step before fine-tuning, measured the same way. "
             "Dashed lines: methods whose schedule depends on the budget (progressive distillation's halving "
             "rounds); their points before the end are snapshots of that schedule, not runs at that budget. "
             "Grey circles on the ImageNet 64 panel: the paper's Figure 1A points."),
    build=build,
)
