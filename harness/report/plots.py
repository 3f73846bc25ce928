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
        figure = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(figure)
        draw(figure)
        figure.savefig(path, format="png", metadata={"Software": None})


def empty_panel(ax, message: str) -> None:
    """A panel that states why it is empty instead of showing blank axes."""
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=ax.transAxes, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
