"""`bench report --run RUN`: one run's training at a glance (losses, gradient norms, learning rates,
throughput and, where measured, its FD/FID curve) as PNG and PDF.

Reads the run's ``stats.jsonl`` (harness/training_log.py); a run made before that file existed
falls back to the record's ``training.loss_history`` (losses every 50 steps).
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import BenchError, UsageError, in_brief
from harness.records import RECORD_NAME
from harness.training_log import STATS_FILE

# (key prefix, panel title, y label, log y). R1 is a penalty of its own size, not a loss on the losses' axis.
GROUPS = (("loss/", "losses (mean over each logging interval)", "loss", False),
          ("loss/r1", "R1 penalty (unweighted, mean over images)", "R1 penalty (log)", True),
          ("grad_norm/", "gradient norm", "gradient L2 norm (log)", True),
          ("lr/", "learning rate", "learning rate", False),
          ("perf/images_per_second", "training throughput", "training images / s", False))
NOT_LOSSES = ("r1", "round")  # logged under loss/ but not losses: R1 gets its own panel, PD's round marks lines
# How each method's logged loss is scaled (the numbers mean nothing without it). GAN methods record
# ``gan_loss_images``; DMD records its reduction; these two are fixed by their train steps.
LOSS_SCALES = {
    "consistency_distillation": "per image: {distance} over all pixels (arXiv 2303.01469 eq. 7; pseudo-Huber: "
                                "arXiv 2310.14189 §3.3); batch mean",
    "progressive_distillation": "per image: weighted squared error summed over pixels (arXiv 2202.00512 §4 "
                                "weighting); batch mean",
}


def loss_scale(record: dict | None) -> str:
    """One sentence on what the loss numbers are, from the run's own config."""
    record = record or {}
    method = record.get("method", "?")
    config = (record.get("config") or {}).get("method_config") or {}
    info = record.get("method_info") or {}
    if "gan_loss_images" in config:
        return (f"loss scale: loss_d and loss_g are {config['gan_loss_images']:g} x the batch mean of the "
                "softplus GAN losses (D2O's per-GPU sum); R1 is shown unweighted on its own log axis")
    if info.get("loss_reduction"):
        return f"loss scale: {info['loss_reduction']}"
    if method in LOSS_SCALES:
        distance = "squared L2 distance" if info.get("loss") == "l2" else "pseudo-Huber distance"
        return f"loss scale: {LOSS_SCALES[method].format(distance=distance)}"
    return f"loss scale: as the {method} method's training step returns it (not rescaled)"


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
    record = None
    if (run_dir / RECORD_NAME).is_file():
        from harness.record_shape import check_shape

        try:
            record = json.loads((run_dir / RECORD_NAME).read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise BenchError(f"{run_dir / RECORD_NAME}: not a readable record ({exc.__class__.__name__}: "
                             f"{in_brief(exc)})") from None
        check_shape(record, run_dir / RECORD_NAME)  # a hand-edited record of the wrong types is one line
    stats = run_dir / STATS_FILE
    if stats.is_file():
        return stats_lines(stats, warn), record
    history = ((record or {}).get("training") or {}).get("loss_history") or []
    return [{"x": h["kimg"] * 1000, **{f"loss/{k}": v for k, v in h.items() if k != "kimg"}} for h in history], record


def round_starts(record: dict | None) -> list[float]:
    """Where progressive distillation's halving rounds after the first begin (images seen), as the run
    recorded them (``method_info.round_end_kimg``)."""
    ends = ((record or {}).get("method_info") or {}).get("round_end_kimg") or []
    return [float(kimg) * 1000 for kimg in ends[:-1]]


def panels_for(lines: list[dict], record: dict | None) -> list[tuple[str, str, dict[str, list], bool]]:
    """(title, y label, series, log y) per panel with data; each key lands in the most specific group."""
    prefixes = [g[0] for g in GROUPS]
    panels = []
    for prefix, title, ylabel, log_y in GROUPS:
        series: dict[str, list[tuple[float, float]]] = {}
        for line in lines:
            for key, value in line.items():
                owner = max((p for p in prefixes if key.startswith(p)), key=len, default=None)
                if owner != prefix or not isinstance(value, (int, float)) or key[len("loss/"):] in NOT_LOSSES \
                        and prefix == "loss/":
                    continue
                series.setdefault(key[len(prefix):] or key.rsplit("/", 1)[-1], []).append((line["x"], value))
        if series:
            panels.append((title, ylabel if prefix != "loss/" else f"loss ({loss_unit(record)})", series, log_y))
    curve = ((record or {}).get("curve") or {}).get("points") or []
    fd = [(p["images_seen"], m["value"]) for p in curve for m in p["metrics"][:1] if m.get("name") in ("fd", "fid")]
    if fd:
        name = curve[0]["metrics"][0]["name"].upper()
        panels.append((f"{name} of the EMA generator during training", f"{name} (log)", {"EMA": fd}, True))
    return panels


def loss_unit(record: dict | None) -> str:
    config = ((record or {}).get("config") or {}).get("method_config") or {}
    return f"{config['gan_loss_images']:g} x batch mean" if "gan_loss_images" in config else "see caption"


def run_heading(run_dir: Path, record: dict | None) -> str:
    if not record:
        return f"{run_dir.name} (still training: no record yet)"
    return (f"{run_dir.name}\n{record.get('method')} on {record.get('dataset')}, budget "
            f"{float(record.get('budget_kimg') or 0):g} kimg, seed {record.get('seed')}")


def plot_run(run_ref: str, results_dir: Path, out_dir: Path, warn=None) -> list[Path]:
    """Write ``<out>/run-<run id>.png`` and ``.pdf``; returns their paths. ``warn`` hears of skipped lines."""
    from harness.report.plots import color, figure_caption, grid_size, log_y_axis, panel_grid, save_pdf, save_png

    run_dir = find_run(run_ref, results_dir)
    lines, record = read_series(run_dir, warn)
    panels = panels_for(lines, record)
    if not panels:
        raise BenchError(f"run {run_dir.name} has no training statistics to plot (no {STATS_FILE}, no loss history)")
    rounds = round_starts(record)
    caption = [loss_scale(record) + "; x axes: training images seen"]
    if rounds:
        caption.append("dotted lines in the losses panel: the start of each progressive-distillation round")

    def draw(figure) -> None:
        axes = panel_grid(figure, len(panels), caption_lines=len(caption), top=0.75)
        for ax, (title, ylabel, series, log_y) in zip(axes, panels):
            for i, (name, points) in enumerate(sorted(series.items())):
                ax.plot([x for x, _ in points], [y for _, y in points], "o-", color=color(i), lw=1, ms=2, label=name)
            ax.set_title(title)
            ax.set_xlabel("training images")
            ax.set_ylabel(ylabel)
            if log_y and all(y > 0 for points in series.values() for _, y in points):
                log_y_axis(ax)
            if title.startswith("losses"):
                for x in rounds:
                    ax.axvline(x, color="#555555", ls=":", lw=1)
            if len(series) > 1:
                ax.legend(loc="best", frameon=False)
        figure.suptitle(run_heading(run_dir, record), fontsize=8, y=1 - 0.08 / figure.get_size_inches()[1],
                        va="top")
        figure_caption(figure, caption)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size = grid_size(len(panels), caption_lines=len(caption), top=0.75)
    png, pdf = out_dir / f"run-{run_dir.name}.png", out_dir / f"run-{run_dir.name}.pdf"
    save_png(draw, size, png)
    save_pdf(draw, size, pdf)
    return [png, pdf]
