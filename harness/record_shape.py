"""The types of the record parts bench's commands read, checked once where a record is read.

A record is JSON anyone can edit. `bench runs`, `show`, `report`, `eval`, `sample` and `verify` read
its sections as objects, its metrics as a list of objects, its counts as numbers; a hand-edited record
whose ``config.train`` is a string, whose ``metrics`` is -1 or whose ``run_id`` is a list made each of
them end in a traceback (or, in `report`, after some tables had been rewritten). With this check such
a record is one line: left out of listings and tables, refused where it is named.

Every part may be absent or null (older records lack some), except the identity in ``REQUIRED`` and
the items of a list.
"""

from __future__ import annotations

from typing import Any

OBJECT, LIST, TEXT, WHOLE, NUMBER, FLAG = "an object", "a list", "text", "a whole number", "a number", "true or false"

REQUIRED = ("run_id", "status")

METRIC = {"name": TEXT, "value": NUMBER, "num_samples": WHOLE, "extractor": TEXT, "implementation": TEXT,
          "details": OBJECT, "seeds": LIST, "extractor_weights_sha256": TEXT}

SHAPE: dict[str, str] = {
    "run_id": TEXT, "status": TEXT, "kind": TEXT, "method": TEXT, "dataset": TEXT, "schema_version": WHOLE,
    "seed": WHOLE, "budget_kimg": NUMBER, "nfe": WHOLE, "teacher_passes_per_image": NUMBER,
    **{section: OBJECT for section in ("config", "environment", "timing", "training", "method_info", "failure",
                                       "backbone", "curve", "evaluation", "reference", "data", "best_snapshot",
                                       "snapshots", "source_run", "measurement", "results", "analysis")},
    **{f"config.{section}": OBJECT for section in ("train", "eval", "method_config", "tags")},
    "config.method": TEXT, "config.dataset": TEXT, "config.backbone": TEXT, "config.seed": WHOLE,
    "config.device": TEXT, "config.sweep_overrides": LIST, "config.data_path": TEXT,
    "config.train.budget_kimg": NUMBER, "config.train.batch_size": WHOLE, "config.eval.metrics": LIST,
    "config.eval.num_samples": WHOLE,
    **{f"environment.{section}": OBJECT for section in ("hardware", "git", "versions", "packages")},
    "environment.hardware.device": TEXT, "environment.hardware.cpu_threads": WHOLE,
    "environment.hardware.cpu_threads_policy": OBJECT,
    **{f"timing.{key}": NUMBER for key in ("wall_seconds", "train_seconds", "eval_seconds", "final_eval_seconds",
                                           "curve_eval_seconds", "images_per_second")},
    "training.images_seen": NUMBER, "training.steps": WHOLE, "training.train_seconds": NUMBER,
    "training.images_per_second": NUMBER, "training.loss_history": LIST, "training.precision": TEXT,
    "method_info.freeze_level": WHOLE, "method_info.frozen_share": NUMBER, "method_info.init": TEXT,
    "backbone.name": TEXT, "backbone.sha256": TEXT, "backbone.pretrain_kimg": NUMBER,
    "failure.reason": TEXT, "failure.step": WHOLE,
    "metrics": LIST, "metrics[]": OBJECT, **{f"metrics[].{key}": kind for key, kind in METRIC.items()},
    "curve.points": LIST, "curve.points[]": OBJECT, "curve.points[].kimg": NUMBER,
    "curve.points[].images_seen": NUMBER, "curve.points[].final": FLAG, "curve.points[].train_seconds": NUMBER,
    "curve.points[].metrics": LIST, "curve.points[].metrics[]": OBJECT,
    **{f"curve.points[].metrics[].{key}": kind for key, kind in METRIC.items()},
    "best_snapshot.index": WHOLE, "best_snapshot.metric": TEXT,
}


def fits(value: Any, kind: str) -> bool:
    if kind == OBJECT:
        return isinstance(value, dict)
    if kind == LIST:
        return isinstance(value, list)
    if kind == TEXT:
        return isinstance(value, str)
    if kind == FLAG:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if kind == WHOLE else isinstance(value, (int, float))


def parts(record: Any, path: str) -> list[tuple[str, Any]]:
    """(where, value) of every part at ``path``; ``name[]`` stands for each item of the list ``name``."""
    found = [("", record)]
    for step in path.split("."):
        each = step.endswith("[]")
        key = step[:-2] if each else step
        nxt = []
        for where, value in found:
            if not isinstance(value, dict) or value.get(key) is None:
                continue
            here = f"{where}.{key}" if where else key
            if each:
                items = value[key]
                nxt += [(f"{here}[{i}]", item) for i, item in enumerate(items)] if isinstance(items, list) else []
            else:
                nxt.append((here, value[key]))
        found = nxt
    return found


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def shape_problem(record: Any) -> str | None:
    """What in ``record`` is of a type no run writes (the first such part), or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    for key in REQUIRED:
        if not isinstance(record.get(key), str):
            return f"its {key} is missing or not text"
    for path, kind in SHAPE.items():
        for where, value in parts(record, path):
            if (value is not None or path.endswith("[]")) and not fits(value, kind):  # a list item is never null
                return f"its {where} is {shown(value)}, not {kind}"
    return None


def check_shape(record: Any, path: Any, more: str | None = None) -> None:
    """A usage error (exit 2) naming ``path`` when ``record`` is malformed (``shape_problem``, else the
    caller's own ``more``): what `bench show`, eval, sample and `--from-record` say of such a file."""
    problem = shape_problem(record) or more
    if problem:
        from harness.errors import UsageError

        raise UsageError(f"{path}: malformed record ({problem})")
