"""Deterministic PNGs: the Agg canvas without pyplot (no global figure state), fixed style, no metadata.

Matplotlib writes its version into a PNG's 'Software' chunk; that is removed, and the style is fixed
here rather than read from a user's matplotlibrc, so reruns on the same records are byte-identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

STYLE = {
    "font.family": "DejaVu Sans", "font.size": 8.0, "axes.titlesize": 9.0, "axes.labelsize": 8.0,
    "legend.fontsize": 7.0, "xtick.labelsize": 7.0, "ytick.labelsize": 7.0, "axes.grid": True,
    "grid.alpha": 0.3, "figure.dpi": 100.0, "savefig.dpi": 100.0, "path.simplify": False,
    "text.hinting": "default", "text.antialiased": True, "svg.hashsalt": "bench",
    # A fixed title height: matplotlib's automatic one measures every tick label (a third of the time).
    "axes.titley": 1.0, "axes.titlepad": 4.0,
}
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974",
           "#64B5CD")


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


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


def grid_shape(count: int, ncols: int = 3) -> tuple[int, int]:
    ncols = max(1, min(ncols, count))
    return max(1, -(-count // ncols)), ncols


def grid_size(count: int, legend_rows: int = 0, ncols: int = 3) -> tuple[float, float]:
    """Figure inches for ``count`` panels of 4.2 x 3.2 in, plus a legend band at the bottom."""
    nrows, ncols = grid_shape(count, ncols)
    return (4.2 * ncols, 3.2 * nrows + 0.2 * legend_rows + 0.2)


def panel_grid(figure, count: int, legend_rows: int = 0, ncols: int = 3) -> list:
    """``count`` axes in a grid with fixed margins (in inches, so any size works); unused cells hidden."""
    nrows, ncols = grid_shape(count, ncols)
    height = figure.get_size_inches()[1]
    figure.subplots_adjust(left=0.55 / (4.2 * ncols), right=0.98, top=1 - 0.45 / height,
                           bottom=(0.5 + 0.2 * legend_rows) / height, wspace=0.3, hspace=0.5)
    axes = list(figure.subplots(nrows, ncols, squeeze=False).flat)
    for ax in axes[count:]:
        ax.set_axis_off()
    return axes[:count]


def log_x_axis(ax) -> None:
    """Log x with plain tick labels ('1M', '1B'): mathtext labels are slow to lay out."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    from harness.report.inputs import fmt_count

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10.0, numticks=8))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: fmt_count(x)))
    few_y_ticks(ax)


def few_y_ticks(ax) -> None:
    """At most ~5 y ticks: tick labels are most of the drawing time, and 5 are enough to read."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))


def figure_legend(figure, axes, ncols: int = 4) -> None:
    """One legend for the whole figure, entries de-duplicated by label in first-seen order."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if seen:
        figure.legend(list(seen.values()), list(seen), loc="lower center", ncols=ncols, frameon=False)


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


def panels_drawer(panels: list, labels: set[str], other_legend_entries: int, draw_panel: Callable):
    """The draw function and figure size of a grid of panels with one legend for all of them:
    colours are per label, so a method has one colour in every panel."""
    colors = {label: color(i) for i, label in enumerate(sorted(labels))}
    columns = legend_columns(len(panels))
    rows = legend_rows(len(labels) + other_legend_entries, columns)

    def draw(figure) -> None:
        axes = panel_grid(figure, len(panels), rows)
        for ax, panel in zip(axes, panels):
            draw_panel(ax, panel, colors)
        figure_legend(figure, axes, columns)

    return draw, grid_size(len(panels), rows)
