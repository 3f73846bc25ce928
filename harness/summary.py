"""A record's summary: what `bench run` / `bench eval` print at the end, `bench show` prints, and
`bench runs` lists (issue #26: "the result is never printed").

One flat dict per record (``summarize``) feeds the text, the ``--json`` output and the table, so the
three never disagree. Every metric keeps the feature space it was measured in and its sample count:
an FD in a digits classifier's 128-d features and an FID in Inception's 2048-d ones are different
numbers, and a 2,000-sample FD is not a 50,000-sample one (README, "Metrics and how every number is made").
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from harness.errors import UsageError


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(float(value)) else None


def record_kind(record: dict) -> str:
    if "analysis" in record:
        return "analysis"
    return "eval" if "evaluation" in record else "run"


def summarize(record: dict, path: Path | str | None = None) -> dict[str, Any]:
    """The numbers a reader wants first, from a stored record (run, evaluation or analysis)."""
    timing, training = record.get("timing") or {}, record.get("training") or {}
    hardware = (record.get("environment") or {}).get("hardware") or {}
    metrics = [{"name": m.get("name"), "value": _number(m.get("value")), "feature_space": m.get("extractor"),
                "num_samples": m.get("num_samples"), "implementation": m.get("implementation")}
               for m in record.get("metrics") or [] if isinstance(m, dict)]
    kind = record_kind(record)
    eval_seconds = _number(timing.get("eval_seconds"))
    final_seconds = _number(timing.get("final_eval_seconds")) or eval_seconds  # without the curve points
    samples = max((m["num_samples"] or 0 for m in metrics), default=0)
    policy = hardware.get("cpu_threads_policy") or {}
    info = record.get("method_info") if isinstance(record.get("method_info"), dict) else {}
    return {
        "run_id": record.get("run_id"), "kind": kind, "status": record.get("status"),
        "failure": (record.get("failure") or {}).get("reason"),
        "method": record.get("method"), "init": info.get("init"), "dataset": record.get("dataset"), "seed": record.get("seed"),
        "budget_kimg": _number(record.get("budget_kimg")), "nfe": record.get("nfe"),
        "training_images": training.get("images_seen", 0),  # an evaluation: its generator's, from the run
        "evaluation_of": (record.get("evaluation") or {}).get("evaluation_of"),
        "analysis_of": (record.get("source_run") or {}).get("run_id") if kind == "analysis" else None,
        "wall_seconds": _number(timing.get("wall_seconds")),
        "train_seconds": _number(timing.get("train_seconds")), "eval_seconds": eval_seconds,
        "train_images_per_second": _number(timing.get("images_per_second")),
        "final_eval_seconds": final_seconds,
        "eval_samples_per_second": samples / final_seconds if final_seconds and samples else None,
        "device": hardware.get("device"), "cpu_threads": hardware.get("cpu_threads"),
        "cpu_threads_source": policy.get("source"),
        "metrics": metrics, "path": str(path) if path is not None else record.get("_path"),
    }


def method_shown(summary: dict) -> str:
    """The method, and "random init" for the thesis control (baselines/random_init.py): never mistaken for
    a fine-tuned pre-trained backbone."""
    init = summary.get("init")
    return str(summary["method"]) + ("" if init in (None, "pretrained") else f" ({init} init, not pre-trained)")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} s"


def metric_line(metric: dict) -> str:
    value = "-" if metric["value"] is None else f"{metric['value']:.4g}"
    space = f"{metric['feature_space']} features" if metric["feature_space"] else "no feature network"
    samples = f"{metric['num_samples']:,} samples" if metric["num_samples"] else "sample count not stored"
    impl = f", {metric['implementation']}" if metric["implementation"] else ""
    return f"  {metric['name']:<10s} {value:>10s}   {space}, {samples}{impl}"


def summary_text(summary: dict) -> str:
    """A few lines for people; the record's path is the last line alone (scripts read it)."""
    budget = "-" if summary["budget_kimg"] is None else f"{summary['budget_kimg']:g} kimg"
    status = summary["status"] + (f" ({summary['failure']})" if summary["failure"] else "")
    lines = [f"{summary['run_id']}: {summary['kind']}, {status}",
             f"  method {method_shown(summary)}, dataset {summary['dataset']}, seed {summary['seed']}, budget {budget}, "
             f"NFE {summary['nfe'] if summary['nfe'] is not None else '-'}"]
    lines += [metric_line(m) for m in summary["metrics"]] or ["  (no metrics in this record)"]
    speed = summary["train_images_per_second"]
    if summary["kind"] == "analysis":  # its numbers are tables of their own (bench report)
        lines[2:] = [f"  analysis   of run {summary['analysis_of']} in {_seconds(summary['wall_seconds'])}; "
                     f"its results: bench report", str(summary["path"])]
        return "\n".join(lines)
    if summary["kind"] == "eval":  # nothing trained here; say what was measured
        source = f"run {summary['evaluation_of']}" if summary["evaluation_of"] else "a folder of images"
        lines.append(f"  measured   {source}" + (f", trained on {summary['training_images']:,} images"
                                                  if summary["training_images"] else ""))
    else:
        lines.append(f"  training   {summary['training_images']:,} images in {_seconds(summary['train_seconds'])}"
                     + (f" ({speed:,.0f} images/s)" if speed else ""))
    eval_speed = summary["eval_samples_per_second"]
    final = summary["final_eval_seconds"]
    curve = f", final {_seconds(final)}" if final is not None and final != summary["eval_seconds"] else ""
    lines.append(f"  evaluation {_seconds(summary['eval_seconds'])}{curve}"
                 + (f" ({eval_speed:,.0f} samples/s)" if eval_speed else ""))
    threads = summary["cpu_threads"]
    if threads:
        source = f", {summary['cpu_threads_source']}" if summary["cpu_threads_source"] else ""
        lines.append(f"  device     {summary['device']}, {threads} CPU thread{'s' if threads != 1 else ''}{source}")
    lines.append(str(summary["path"]))
    return "\n".join(lines)


RECORD_KEYS = ("run_id", "status", "method", "dataset")  # every run, evaluation and analysis record has them


def read_record(path: Path) -> dict:
    """The record a user points at (`bench show`), of any kind; a file that is none is a usage error
    (exit 2). A run record to rebuild a generator from: ``harness.build.read_run_record``."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable record ({exc.__class__.__name__}: {str(exc)[:80]})") from None
    if not isinstance(record, dict):
        raise UsageError(f"{path}: not a bench record (not a JSON object)")
    lacking = [key for key in RECORD_KEYS if not isinstance(record.get(key), str)]
    if lacking:  # e.g. a generator's card or checkpoint/run.json: JSON with a run_id, but no record
        raise UsageError(f"{path}: not a bench record (its {lacking[0]} is missing or not text)")
    from harness.record_shape import check_shape

    check_shape(record, path)
    return record


def render_summary(record_path: Path, as_json: bool = False) -> str:
    """The summary of the record stored at ``record_path``: text, or one JSON object with ``as_json``."""
    summary = summarize(read_record(record_path), record_path)
    return json.dumps(summary, indent=2, allow_nan=False) if as_json else summary_text(summary)


def print_summary(record_path: Path, as_json: bool) -> None:
    """What `bench run` and `bench eval` end with: the record's numbers, then its path; ``as_json``:
    the same as one JSON object."""
    import typer

    typer.echo(render_summary(record_path, as_json))
