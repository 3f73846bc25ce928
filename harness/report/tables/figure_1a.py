"""Figure (b), the paper's Figure 1A: FID against training images (log x), reported and reproduced.

The first panel is the paper's: ImageNet 64 with the published points (grey circles, ranges as error
bars) and any reproduced ImageNet 64 runs measured like them (coloured triangles). Every other
(dataset, measurement) with reproduced trained one-step runs gets its own panel, so numbers made
differently never share axes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.report.inputs import (Measurement, Run, Summary, dataset_order, dataset_title, fmt_count, group_by,
                                   method_label, run_command, seeds_shown, summarize)
from harness.report.formatting import provenance, seed_values, seeds_note
from harness.report.names import COLOUR_FAMILIES
from harness.report.plots import LineStyle, empty_panel, log_x_axis, log_y_if_wide, panels_drawer, place_labels
from harness.report.render import Citations, Document, Section
from harness.report.spec import Context, TableSpec

PAPER_KEY = "imagenet-64"
# Horizontal references in the FD-vs-images panels (here and in curves.py): colour and line style.
REFERENCE_METHODS = {"teacher": ("#000000", ":"), "backbone_one_step": ("#7f7f7f", "--")}
MARKS = ("Triangles: reproduced, mean over seeds (bars: ± 1 std); a colour per method in every figure, its variants' "
         "triangles turned; grey circles: published (bars: published ranges).")
# Reproduced points: triangles, never the published points' circles (plots.line_styles).
REPRODUCED_MARKERS = ("^", "v", "<", ">")
CSV_HEADER = ["panel", "kind", "dataset", "method", "bench_method", "budget_kimg", "train_images",
              "train_images_low", "train_images_high", "fd", "fd_low", "fd_high", "fd_std", "seeds", "entry",
              "measurement", "metric", "extractor", "extractor_weights_sha256", "implementation", "num_samples",
              "reference", "reference_sha256"]


@dataclass
class Point:
    """One reproduced point: a method at a budget, mean over seeds."""

    label: str
    method: str
    budget_kimg: float
    images: float
    mean: float
    std: float | None
    runs: list[Run]


@dataclass
class Panel:
    title: str
    key: str
    measurement: Measurement | None
    reported: list = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    empty_note: str = ""
    references: list[tuple[str, str, float, int]] = field(default_factory=list)  # label, method, mean, runs


def trained_one_step(runs: list[Run]) -> list[Run]:
    return [r for r in runs if r.nfe == 1 and r.budget_kimg > 0]


def points_of(runs: list[Run], m: Measurement) -> list[Point]:
    """Mean over seeds per (method, freeze level, budget, backbone)."""
    chosen = [r for r in runs if any(mm == m for mm, _ in r.values)]
    points = []
    for key, group in sorted(group_by(chosen, lambda r: (r.label, r.method, r.budget_kimg, r.backbone)).items()):
        stats = summarize(seed_values(group, m))
        images = sum(r.images for r in group) / len(group)
        points.append(Point(key[0], key[1], key[2], images, stats.mean, stats.std, group))
    return points


def references_of(runs: list[Run], key: str, m: Measurement,
                  backbone: str | None = None) -> list[tuple[str, str, float, int]]:
    """The teacher and the one-step backbone of the panel's dataset, backbone and measurement."""
    out = []
    for method in REFERENCE_METHODS:
        values = [v for r in runs if r.key == key and r.method == method and backbone in (None, r.backbone)
                  for mm, v in r.values if mm == m]
        if values:
            out.append((method_label(method), method, sum(values) / len(values), len(values)))
    return out


def draw_references(ax, references: list[tuple[str, str, float, int]]) -> None:
    for label, method, value, _ in references:
        c, style = REFERENCE_METHODS[method]
        ax.axhline(value, color=c, ls=style, lw=1, label=label)


def panels_of(ctx: Context) -> list[Panel]:
    runs = trained_one_step(ctx.inputs.runs)
    # One panel per dataset, backbone and measurement (curves.py does the same), with that backbone's references.
    by_cell = group_by([((r.key, r.backbone), m, r) for r in runs for m, _ in r.values if m.is_fd()],
                       lambda t: (t[0], t[1]))
    cells = {k: sorted({id(t[2]): t[2] for t in v}.values(), key=lambda r: r.run_id) for k, v in by_cell.items()}
    paper = Panel("ImageNet 64: Figure 1A (reported) and reproduced FID", PAPER_KEY, None,
                  reported=ctx.published.select("figure-1a", PAPER_KEY))
    for ((key, backbone), m), group in cells.items():
        if key == PAPER_KEY and m.matches_published_protocol():
            paper.measurement = m  # several protocol-conforming measurements would share this panel: rare
            paper.points += points_of(group, m)
            paper.references = references_of(ctx.inputs.runs, key, m, backbone)
    if not paper.points:
        paper.empty_note = "no stored ImageNet 64 one-step runs measured like the paper yet"
    panels = [paper]
    order = {k: i for i, k in enumerate(dataset_order(k for (k, _), _ in cells))}
    for (key, backbone), m in sorted(cells, key=lambda km: (order[km[0][0]], km[0][1], km[1])):
        if key == PAPER_KEY and m.matches_published_protocol():
            continue
        panels.append(Panel(f"{dataset_title(key)}: {m.short()} (reproduced only)\nbackbone {backbone}", key, m,
                            points=points_of(cells[((key, backbone), m)], m),
                            references=references_of(ctx.inputs.runs, key, m, backbone)))
    return panels


def reported_xy(entry) -> tuple[float, tuple[float, float], float, tuple[float, float]]:
    """Position and error-bar extents of a published point; ranges are drawn at their geometric mean."""
    if entry.train_images is not None:
        x, xr = float(entry.train_images), (0.0, 0.0)
    else:
        lo, hi = float(entry.train_images_low), float(entry.train_images_high)
        x = math.sqrt(lo * hi)
        xr = (x - lo, hi - x)
    if entry.value is not None:
        y, yr = float(entry.value), (0.0, 0.0)
    else:
        lo, hi = float(entry.low), float(entry.high)
        y = (lo + hi) / 2
        yr = (y - lo, hi - y)
    return x, xr, y, yr


def draw_reported(ax, reported: list) -> list[tuple[float, float, str]]:
    """The paper's Figure 1A points, hollow grey with their ranges; returns where to name each method
    (named by ``place_labels`` once everything is drawn, so labels neither overlap nor clip)."""
    names = []
    for i, entry in enumerate(reported):
        x, xr, y, yr = reported_xy(entry)
        ax.errorbar([x], [y], xerr=[[xr[0]], [xr[1]]], yerr=[[yr[0]], [yr[1]]], fmt="o", color="#7f7f7f",
                    mfc="white", ms=5, capsize=2, label="reported (paper, Figure 1A)" if i == 0 else None)
        names.append((x, y, entry.method))
    return names


def reported_values(reported: list) -> list[float]:
    return [reported_xy(e)[2] for e in reported]


def draw_panel(ax, panel: Panel, styles: dict[str, LineStyle]) -> None:
    ax.set_title(panel.title + (f"\n({panel.empty_note})" if panel.empty_note and panel.reported else ""), fontsize=7)
    if not panel.reported and not panel.points:
        empty_panel(ax, panel.empty_note or "no points")
        return
    names = draw_reported(ax, panel.reported)
    for label in sorted({p.label for p in panel.points}):
        pts = sorted((p for p in panel.points if p.label == label), key=lambda p: p.images)
        xs, ys = [p.images for p in pts], [p.mean for p in pts]
        style = styles[label]
        ax.plot(xs, ys, marker=style.marker, ls="-", color=style.color, ms=6, label=f"reproduced: {label}")
        ax.vlines(xs, [p.mean - (p.std or 0.0) for p in pts], [p.mean + (p.std or 0.0) for p in pts],
                  color=style.color, lw=1)
    draw_references(ax, panel.references)
    log_x_axis(ax)
    # FD falls by decades early in training: a linear axis flattens everything but the first points.
    log_y_if_wide(ax, reported_values(panel.reported) + [p.mean for p in panel.points]
                  + [value for _, _, value, _ in panel.references])
    ax.margins(x=0.12, y=0.08)  # room for the method names beside the outermost points
    ax.set_xlabel("training images")
    ax.set_ylabel(panel.measurement.label() if panel.measurement else "FID")
    place_labels(ax, names)


def caption_lines(panels: list) -> list[str]:
    """What each measurement id in the panel titles means (one line each), after how to read the marks."""
    ids = {panel.measurement.id: panel.measurement for panel in panels if panel.measurement}
    return ([MARKS] if any(panel.points for panel in panels) else []) + \
        [f"[{m.legend().replace(': ', '] ', 1)}" for _, m in sorted(ids.items())]


def drawer(panels: list[Panel]):
    """The draw function and figure size; one legend for all panels (a style per method label)."""
    return panels_drawer(panels, {p.label for panel in panels for p in panel.points}, 1, draw_panel,
                         caption_lines(panels), REPRODUCED_MARKERS, COLOUR_FAMILIES)


def reported_section(panel: Panel, cites: Citations) -> tuple[Section, list[dict]]:
    rows, csv_rows, sources = [], [], []
    for e in panel.reported:
        images = fmt_count(e.train_images) if e.train_images else f"{fmt_count(e.train_images_low)}-{fmt_count(e.train_images_high)}"
        rows.append([e.method, images, f"{e.shown()} {cites.mark(e)}"])
        sources.append(f"reported: baselines/published.json entry {e.id}")
        csv_rows.append({"panel": 1, "kind": "reported", "dataset": e.dataset, "method": e.method,
                         "bench_method": e.harness_method, "train_images": e.train_images,
                         "train_images_low": e.train_images_low, "train_images_high": e.train_images_high,
                         "fd": e.value, "fd_low": e.low, "fd_high": e.high, "entry": e.id})
    return Section("Reported points (paper, Figure 1A, ImageNet 64)", ["method", "training images", "FID"], rows,
                   sources=sources), csv_rows


def reproduced_section(index: int, panel: Panel) -> tuple[Section, list[dict]]:
    rows, csv_rows, sources = [], [], []
    for p in panel.points:
        rows.append([p.label, f"{p.budget_kimg:g}", fmt_count(p.images), Summary(p.mean, p.std, len(p.runs)).shown(),
                     seeds_shown(p.runs)])
        sources.append(provenance(p.runs))
        csv_rows.append({"panel": index, "kind": "reproduced", "dataset": panel.key, "method": p.label,
                         "bench_method": p.method, "budget_kimg": p.budget_kimg, "train_images": p.images,
                         "fd": p.mean, "fd_std": p.std, "seeds": len({r.seed for r in p.runs}),
                         **(panel.measurement.csv_fields() if panel.measurement else {})})
    for label, method, value, n in panel.references:
        rows.append([f"{label} (reference)", "—", "—", f"{value:.3f}", str(n)])
        sources.append(f"mean final {label} value of the {n} {method} runs of this dataset and backbone")
        csv_rows.append({"panel": index, "kind": "reference", "dataset": panel.key, "method": label,
                         "bench_method": method, "fd": value, "seeds": n,
                         **(panel.measurement.csv_fields() if panel.measurement else {})})
    notes = ([f"measurement {panel.measurement.legend()}"] if panel.measurement else []) + seeds_note(rows)
    if panel.empty_note:
        notes.insert(0, f"{panel.empty_note}: run {run_command('gan_only', panel.key)}")
    header = ["method", "budget (kimg)", "training images", (panel.measurement.header() if panel.measurement
                                                             else "FID") + ": mean ± std", "seeds"]
    return Section(f"Panel {index}: {panel.title}", header, rows, notes, sources=sources), csv_rows


def build(spec: TableSpec, ctx: Context) -> Document:
    cites = Citations(ctx.published)
    panels = panels_of(ctx)
    section, csv_rows = reported_section(panels[0], cites)
    sections = [section]
    for i, panel in enumerate(panels, start=1):
        section, rows = reproduced_section(i, panel)
        sections.append(section)
        csv_rows += rows
    if len(panels) == 1 and not panels[0].points:
        sections[-1].notes.append("no stored runs of trained one-step methods on any dataset yet: run "
                                  f"{run_command('gan_only', 'digits')}")
    draw, size = drawer(panels)
    return Document(spec.name, spec.title, spec.caption, sections, CSV_HEADER, csv_rows, cites.footnotes(),
                    figure=draw, figure_size=size, vector=True)


SPEC = TableSpec(
    name="figure_1a",
    title="Figure 1A: FID vs training images (log scale), reported and reproduced",
    caption=("Grey circles: published points (approximate training images as published; ranges drawn as error "
             "bars). Coloured triangles: reproduced runs of trained one-step methods, mean ± std over seeds, "
             "at the images their generator saw. Panels after the first hold other datasets, backbones or "
             "measurements, each with its own backbone's teacher (dotted) and one-step backbone (dashed) as horizontal references."),
    build=build,
)
