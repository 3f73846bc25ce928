"""`bench report --run RUN`: one run's training at a glance (losses, gradient norms, learning rates,
throughput and, where measured, its FD/FID curve) as PNG and PDF.

Reads the run's ``stats.jsonl`` (harness/training_log.py); a run made before that file existed
falls back to the record's ``training.loss_history`` (losses every 50 steps).
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import BenchError, UsageError
from harness.records import RECORD_NAME
from harness.training_log import STATS_FILE

GROUPS = (("loss/", "losses (mean over each step group)", False), ("grad_norm/", "gradient norm (L2)", True),
          ("lr/", "learning rate", False), ("perf/images_per_second", "training images / s", False))


def find_run(run_ref: str, results_dir: Path) -> Path:
    run_dir = Path(run_ref) if Path(run_ref).is_dir() else Path(results_dir) / run_ref
    if not (run_dir / RECORD_NAME).is_file() and not (run_dir / STATS_FILE).is_file():
        raise UsageError(f"no run '{run_ref}' in {results_dir} (pass a run id or a run directory with a "
                         f"{RECORD_NAME} or {STATS_FILE})")
    return run_dir


def stats_lines(stats: Path, warn=None) -> list[dict]:
    """The readable lines of ``stats.jsonl``; a line that is not a JSON object with the images seen
    (a run killed mid-write, a hand edit) is skipped, and ``warn`` is told which ones."""
    lines, bad = [], []
    for number, text in enumerate(stats.read_text(errors="replace").splitlines(), 1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
            lines.append({"x": float(line["progress/images_seen"]), **line})
        except (ValueError, TypeError, KeyError):
            bad.append(number)
    if bad and warn is not None:
        warn(f"{stats}: skipped {len(bad)} unreadable line(s) (line {', '.join(map(str, bad[:5]))}"
             f"{', ...' if len(bad) > 5 else ''})")
    return lines


def read_series(run_dir: Path, warn=None) -> tuple[list[dict], dict | None]:
    """Stats lines (x: images seen) and the record (None while the run is still training)."""
    try:
        record = json.loads((run_dir / RECORD_NAME).read_text()) if (run_dir / RECORD_NAME).is_file() else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BenchError(f"{run_dir / RECORD_NAME}: not a readable record ({exc.__class__.__name__})") from None
    stats = run_dir / STATS_FILE
    if stats.is_file():
        return stats_lines(stats, warn), record
    history = ((record or {}).get("training") or {}).get("loss_history") or []
    return [{"x": h["kimg"] * 1000, **{f"loss/{k}": v for k, v in h.items() if k != "kimg"}} for h in history], record


def panels_for(lines: list[dict], record: dict | None) -> list[tuple[str, dict[str, list[tuple[float, float]]], bool]]:
    panels = []
    for prefix, title, log_y in GROUPS:
        series: dict[str, list[tuple[float, float]]] = {}
        for line in lines:
            for key, value in line.items():
                if key.startswith(prefix) and isinstance(value, (int, float)):
                    series.setdefault(key[len(prefix):] or title, []).append((line["x"], value))
        if series:
            panels.append((title, series, log_y))
    curve = ((record or {}).get("curve") or {}).get("points") or []
    fd = [(p["images_seen"], m["value"]) for p in curve for m in p["metrics"][:1] if m.get("name") in ("fd", "fid")]
    if fd:
        panels.append(("curve: " + curve[0]["metrics"][0]["name"].upper() + " of the EMA generator", {"EMA": fd}, True))
    return panels


def plot_run(run_ref: str, results_dir: Path, out_dir: Path, warn=None) -> list[Path]:
    """Write ``<out>/run-<run id>.png`` and ``.pdf``; returns their paths. ``warn`` hears of skipped lines."""
    from harness.report.plots import color, panel_grid, grid_size, save_pdf, save_png

    run_dir = find_run(run_ref, results_dir)
    lines, record = read_series(run_dir, warn)
    panels = panels_for(lines, record)
    if not panels:
        raise BenchError(f"run {run_dir.name} has no training statistics to plot (no {STATS_FILE}, no loss history)")

    def draw(figure) -> None:
        axes = panel_grid(figure, len(panels))
        for ax, (title, series, log_y) in zip(axes, panels):
            for i, (name, points) in enumerate(sorted(series.items())):
                ax.plot([x for x, _ in points], [y for _, y in points], "o-", color=color(i), lw=1, ms=2, label=name)
            ax.set_title(title)
            ax.set_xlabel("training images")
            if log_y and all(y > 0 for points in series.values() for _, y in points):
                ax.set_yscale("log")
            if len(series) > 1:
                ax.legend(loc="best", frameon=False)
        figure.suptitle(run_dir.name, fontsize=8)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size = grid_size(len(panels))
    png, pdf = out_dir / f"run-{run_dir.name}.png", out_dir / f"run-{run_dir.name}.pdf"
    save_png(draw, size, png)
    save_pdf(draw, size, pdf)
    return [png, pdf]
