"""Deterministic PNGs: the Agg canvas without pyplot (no global figure state), fixed style, no metadata.

Matplotlib writes its version into a PNG's 'Software' chunk; that is removed, and the style is fixed
here rather than read from a user's matplotlibrc, so reruns on the same records are byte-identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

STYLE = {
    "font.family": "DejaVu Sans", "font.size": 8.0, "axes.titlesize": 9.0, "axes.labelsize": 8.0,
    "legend.fontsize": 7.0, "xtick.labelsize": 7.0, "ytick.labelsize": 7.0, "axes.grid": True,
    "grid.alpha": 0.3, "figure.dpi": 100.0, "savefig.dpi": 200.0,  # print resolution (issue #26)
    "path.simplify": False,
    "text.hinting": "default", "text.antialiased": True, "svg.hashsalt": "bench",
    # A fixed title height: matplotlib's automatic one measures every tick label (a third of the time).
    "axes.titley": 1.0, "axes.titlepad": 4.0,
}
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974",
           "#64B5CD")


MARKERS = ("o", "^", "s", "D")


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


class LineStyle(NamedTuple):
    color: str
    marker: str


def family_of(label: str, families: tuple[str, ...]) -> str:
    """The longest of ``families`` that ``label`` is or starts with before a parenthesis ("D2O-F (level 2)
    (2 kimg run)" -> "D2O-F (level 2)"); a label of no family is its own."""
    matches = [f for f in families if label == f or label.startswith(f + " (")]
    return max(matches, key=len) if matches else label


def line_styles(labels: set[str], markers: tuple[str, ...] = MARKERS,
                families: tuple[str, ...] = ()) -> dict[str, LineStyle]:
    """A colour per method, the same in every figure, and a marker per label within it.

    ``families`` (the report's methods, ``names.COLOUR_FAMILIES``) own the palette's colours in their
    order, whichever of them a figure shows; other labels take the colours after them, sorted. Labels of
    one family (the same method's runs of other lengths, schedules or variants) share its colour and
    differ by marker. From the eleventh family on the colours repeat and the marker moves on, so no two
    labels of one figure look alike while markers last.
    """
    family = {label: family_of(label, families) for label in labels}
    others = sorted(set(family.values()) - set(families))
    slot = {name: i for i, name in enumerate([*families, *others])}
    styles, used = {}, set()
    for label in sorted(labels, key=lambda label: (slot[family[label]], label)):
        i = slot[family[label]]
        candidates = [markers[(i // len(PALETTE) + k) % len(markers)] for k in range(len(markers))]
        marker = next((m for m in candidates if (color(i), m) not in used), candidates[0])
        used.add((color(i), marker))
        styles[label] = LineStyle(color(i), marker)
    return styles


def save_png(draw: Callable, size: tuple[float, float], path: Path) -> None:
    """Draw with ``draw(figure)`` and write a PNG with no time or version in it."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=size)  # fixed margins: constrained layout doubles the drawing time
        FigureCanvasAgg(figure)
        draw(figure)
        # zlib level 1: about 2x faster to write than the default, and only slightly larger here.
        figure.savefig(path, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 1})


def save_pdf(draw: Callable, size: tuple[float, float], path: Path) -> None:
    """The same figure as a PDF with no creation date or producer version in it (reruns are byte-identical)."""
    import matplotlib
    from matplotlib.backends.backend_pdf import FigureCanvasPdf
    from matplotlib.figure import Figure

    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=size)
        FigureCanvasPdf(figure)
        draw(figure)
        figure.savefig(path, format="pdf", metadata={"Creator": None, "Producer": None, "CreationDate": None})


CAPTION_LINE = 0.16  # inches per caption line under the legend


def grid_shape(count: int, ncols: int = 3) -> tuple[int, int]:
    ncols = max(1, min(ncols, count))
    return max(1, -(-count // ncols)), ncols


def grid_size(count: int, legend_rows: int = 0, ncols: int = 3, caption_lines: int = 0,
              top: float = 0.45) -> tuple[float, float]:
    """Figure inches for ``count`` panels of 4.2 x 3.2 in, a legend band and caption lines at the bottom."""
    nrows, ncols = grid_shape(count, ncols)
    return (4.2 * ncols, 3.2 * nrows + 0.2 * legend_rows + CAPTION_LINE * caption_lines + 0.2 + (top - 0.45))


def bottom_band(legend_rows: int, caption_lines: int) -> float:
    """Inches below the panels: tick labels and x label, the legend, then the caption."""
    return 0.5 + 0.2 * legend_rows + CAPTION_LINE * caption_lines + (0.05 if caption_lines else 0.0)


def panel_grid(figure, count: int, legend_rows: int = 0, ncols: int = 3, caption_lines: int = 0,
               top: float = 0.45) -> list:
    """``count`` axes in rows of ``ncols`` with fixed margins (in inches, so any size works).

    A last row with fewer panels is stretched to the full width, so no empty cell is left over.
    """
    nrows, ncols = grid_shape(count, ncols)
    last = count - (nrows - 1) * ncols
    width, height = figure.get_size_inches()
    spec = figure.add_gridspec(nrows, ncols * last, left=0.75 / width, right=0.98, top=1 - top / height,
                               bottom=bottom_band(legend_rows, caption_lines) / height, wspace=0.3 * last,
                               hspace=0.5)
    axes = []
    for i in range(count):
        row, col = divmod(i, ncols)
        span = ncols if row == nrows - 1 else last  # columns of the fine grid one panel covers
        axes.append(figure.add_subplot(spec[row, col * span:(col + 1) * span]))
    return axes


def figure_caption(figure, lines: list[str]) -> None:
    """Caption lines at the bottom left, under the legend (what ids and scales mean)."""
    height = figure.get_size_inches()[1]
    for i, line in enumerate(lines):
        figure.text(0.01, (0.08 + CAPTION_LINE * (len(lines) - 1 - i)) / height, line, fontsize=6.5, ha="left",
                    va="bottom", color="#333333")


def log_x_axis(ax) -> None:
    """Log x with plain tick labels ('1M', '1B'): mathtext labels are slow to lay out."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    from harness.report.inputs import fmt_count

    ax.set_xscale("log")
    low, high = ax.dataLim.intervalx  # under two decades of data: 1-2-5 ticks, or a panel shows one tick
    narrow = 0 < low and high / low < 100
    ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0) if narrow else (1.0,),
                                                 numticks=12 if narrow else 8))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: fmt_count(x)))
    few_y_ticks(ax)


def few_y_ticks(ax) -> None:
    """At most ~5 y ticks: tick labels are most of the drawing time, and 5 are enough to read."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))


def figure_legend(figure, axes, ncols: int = 4, caption_lines: int = 0, order: tuple[str, ...] = ()) -> None:
    """One legend for the whole figure above the caption, entries de-duplicated by label in first-seen
    order; with ``order`` (the styled labels, ``line_styles``'s order), an entry takes the place of the
    longest of them its text holds, so a method's runs and variants stand together, and entries holding
    none (published points, reference lines) come first."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if order:
        rank = {label: i for i, label in enumerate(order)}

        def place(text: str) -> int:
            held = [label for label in order if label in text]
            return rank[max(held, key=len)] if held else -1

        seen = dict(sorted(seen.items(), key=lambda entry: place(entry[0])))  # stable: ties keep first-seen order
    if seen:
        y = (CAPTION_LINE * caption_lines + (0.1 if caption_lines else 0.0)) / figure.get_size_inches()[1]
        figure.legend(list(seen.values()), list(seen), loc="lower center", bbox_to_anchor=(0.5, y), ncols=ncols,
                      frameon=False)


def legend_columns(panels: int) -> int:
    """Two legend columns fit under a single 4.2-inch panel; four under a wider grid."""
    return 2 if panels == 1 else 4


def legend_rows(labels: int, ncols: int = 4) -> int:
    return -(-labels // ncols)


def empty_panel(ax, message: str) -> None:
    """A panel that states why it is empty instead of showing blank axes."""
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=ax.transAxes, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def log_y_axis(ax) -> None:
    """Log y with 1-2-5 ticks and plain labels ('20', '500'): mathtext labels are slow and hard to read."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0), numticks=12))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}" if 1e-3 <= y < 1e6 else f"{y:.0e}"))


def log_y_if_wide(ax, values: list[float], ratio: float = 8.0) -> bool:
    """Log y when the values span more than ``ratio`` (a linear axis would flatten all but the largest)."""
    positive = [v for v in values if v > 0]
    if len(positive) < 2 or len(positive) != len(values) or max(positive) / min(positive) < ratio:
        return False
    log_y_axis(ax)
    return True


def panels_drawer(panels: list, labels: set[str], other_legend_entries: int, draw_panel: Callable,
                  caption: list[str] | None = None, markers: tuple[str, ...] = MARKERS,
                  families: tuple[str, ...] = ()):
    """The draw function and figure size of a grid of panels with one legend for all of them and an
    optional caption under it: styles are per label (``line_styles``), so a method looks the same in
    every panel and ``draw_panel(ax, panel, styles)`` draws it so."""
    styles = line_styles(labels, markers, families)
    columns = legend_columns(len(panels))
    rows = legend_rows(len(labels) + other_legend_entries, columns)
    caption = caption or []

    def draw(figure) -> None:
        axes = panel_grid(figure, len(panels), rows, caption_lines=len(caption))
        for ax, panel in zip(axes, panels):
            draw_panel(ax, panel, styles)
        figure_legend(figure, axes, columns, len(caption), tuple(styles))
        figure_caption(figure, caption)

    return draw, grid_size(len(panels), rows, caption_lines=len(caption))


LABEL_OFFSETS = tuple((dx, dy) for dy in (3, -9, 10, -16, 17, -23, 24, -30) for dx in (4, -4, 0))


def overlap(a: tuple, b: tuple) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def place_labels(ax, points: list[tuple[float, float, str]], fontsize: float = 6.0, color: str = "#4f4f4f") -> None:
    """Name points without overlaps or clipping: each label takes the first offset whose box (estimated
    from its length) stays inside the axes and clear of every earlier label and every marker; where
    none is clear, the one that leaves the axes least, then overlaps least.

    Call after everything is plotted: it fixes the axis limits first so the positions hold.
    """
    ax.set_xlim(ax.get_xlim())
    ax.set_ylim(ax.get_ylim())
    to_points = 72.0 / ax.figure.dpi
    frame = ax.get_window_extent()
    bounds = tuple(v * to_points for v in (frame.x0, frame.y0, frame.x1, frame.y1))
    anchors = [tuple(v * to_points for v in ax.transData.transform((x, y))) for x, y, _ in points]
    taken = [(px - 3, py - 3, px + 3, py + 3) for px, py in anchors]  # the markers themselves
    for (x, y, text), (px, py) in sorted(zip(points, anchors), key=lambda item: (item[1][0], item[1][1])):
        width, height = 0.7 * fontsize * len(text) + 2, 1.2 * fontsize  # generous: capitals are wide

        def cost(offset: tuple[int, int]) -> tuple[float, float]:
            box = candidate(offset)
            outside = round(width * height - overlap(box, bounds), 6)  # rounded: 1e-13 is not 'outside'
            return outside, round(sum(overlap(box, other) for other in taken), 6)

        def candidate(offset: tuple[int, int]) -> tuple[float, float, float, float]:
            dx, dy = offset
            left = px + dx if dx > 0 else (px + dx - width if dx < 0 else px - width / 2)
            return left, py + dy, left + width, py + dy + height

        best = min(LABEL_OFFSETS, key=lambda offset: (cost(offset), LABEL_OFFSETS.index(offset)))
        box = candidate(best)
        taken.append(box)
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(box[0] - px, best[1]), fontsize=fontsize,
                    color=color, ha="left", va="bottom")
