"""A scale of the claims table: one dataset with one backbone (the runs that can be compared: same
pre-trained network, same data), and the backbones stopped early in their pre-training, which join their
full backbone's column instead of having one of their own (harness/backbones/catalog.py names them)."""

from __future__ import annotations

import re

from harness.report.inputs import Run, dataset_order, dataset_title
from harness.report.spec import Context


def scales(ctx: Context) -> list[tuple[str, str]]:
    """(dataset key, backbone) of every stored run or analysis, in the report's dataset order; an
    early-stopped backbone is no scale of its own (its runs sit in its full backbone's thesis cell)."""
    found = {(r.key, r.backbone) for r in ctx.inputs.runs} | {
        (a.key, a.backbone) for items in ctx.inputs.analyses.values() for a in items}
    found -= set(early_stopped(ctx.inputs.runs))
    order = {k: i for i, k in enumerate(dataset_order(k for k, _ in found))}
    return sorted(found, key=lambda kb: (order[kb[0]], kb[1]))


KIMG_SUFFIX = re.compile(r"-\d+(\.\d+)?kimg$")


def early_stopped(runs: list[Run]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(key, early backbone) -> [(key, full backbone), ...]: a recipe stopped early is named after the recipe
    plus its kimg (``<recipe>-10kimg``, harness/backbones/catalog.py) and its records say fewer pre-training
    images (``backbone.pretrain_kimg``) than the recipe's other backbones (``<recipe>`` or ``<recipe>-200kimg``);
    a name alone is not enough. It belongs to every fuller backbone of its recipe."""
    kimg = {(r.key, r.backbone): r.pretrain_kimg for r in runs if r.pretrain_kimg is not None}
    out = {}
    for (key, name), early in kimg.items():
        recipe = KIMG_SUFFIX.sub("", name)
        if recipe == name:
            continue  # no kimg in its name: a backbone of its own
        fuller = sorted((k, full) for k, full in kimg if k == key and full != name
                        and KIMG_SUFFIX.sub("", full) == recipe and kimg[(k, full)] > early)
        if fuller:
            out[(key, name)] = fuller
    return out


def scale_title(runs: list[Run], key: str, backbone: str) -> str:
    gpu = " (GPU)" if any(r.on_gpu for r in runs) else ""
    return f"{dataset_title(key)}, {backbone}{gpu}"
