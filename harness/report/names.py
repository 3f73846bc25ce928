"""The report's names: its dataset keys and titles (CIFAR-10 split by conditioning), the paper's method
labels and order, and the `bench run` command that would make a missing row."""

from __future__ import annotations

import re
from typing import Iterable

# Report dataset key -> (title, `bench run --dataset` value, backbone flag needed for the command).
DATASETS: dict[str, tuple[str, str, str | None]] = {
    "cifar10-uncond": ("CIFAR-10 32x32, unconditional", "cifar10", None),
    "cifar10-cond": ("CIFAR-10 32x32, conditional", "cifar10", "edm-cifar10-32x32-cond-ve"),
    "afhqv2-64": ("AFHQv2 64x64", "afhqv2-64", None),
    "ffhq-64": ("FFHQ 64x64", "ffhq-64", None),
    "imagenet-64": ("ImageNet 64x64, conditional", "imagenet-64", None),
    "digits": ("digits 8x8 (offline)", "digits", None),
    "fashion-mnist": ("Fashion-MNIST 32x32 (offline)", "fashion-mnist", None),
}
# The released backbone each published dataset uses (for architecture facts when no run names one).
DEFAULT_BACKBONES = {
    "cifar10-uncond": "edm-cifar10-32x32-uncond-ve", "cifar10-cond": "edm-cifar10-32x32-cond-ve",
    "afhqv2-64": "edm-afhqv2-64x64-uncond-ve", "ffhq-64": "edm-ffhq-64x64-uncond-ve",
    "imagenet-64": "edm-imagenet-64x64-cond-adm",
}
METHOD_LABELS = {
    "gan_only": "D2O", "gan_only_frozen": "D2O-F", "backbone_one_step": "backbone, one step (no fine-tuning)",
    "progressive_distillation": "PD", "consistency_distillation": "CD", "dmd": "DMD2-style",
    "teacher": "EDM teacher",
}
METHOD_ORDER = tuple(METHOD_LABELS)
# One colour per method in every figure (plots.line_styles): these labels own the palette's colours in
# this order; a run of another length or schedule, or a variant ("D2O (2 kimg run)", "CD (L2)"), keeps
# its method's colour with another marker. The teacher and the one-step backbone are reference lines.
COLOUR_FAMILIES = ("D2O", "D2O-F", "D2O-F (level 2)", "D2O-F (level 3)", "PD", "CD", "DMD2-style",
                   "D2O (random init, not pre-trained)")


def dataset_title(key: str) -> str:
    return DATASETS.get(key, (key, key, None))[0]


def run_command(method: str, key: str, extra: str = "") -> str:
    """The command that would produce a missing row, quoted for the 'missing' notes."""
    _, dataset, backbone = DATASETS.get(key, (key, key, None))
    flags = f" --backbone {backbone}" if backbone else ""
    return f"`bench run --method {method} --dataset {dataset}{flags}{extra}`"


def is_conditional(backbone_name: str) -> bool:
    """EDM names say 'cond' or 'uncond'; only a whole 'cond' token marks a conditional model."""
    return re.search(r"(^|[-_.])cond([-_.]|$)", backbone_name) is not None


def dataset_key(dataset: str, backbone_name: str) -> str:
    """CIFAR-10 is published conditional and unconditional: split it by the backbone."""
    if dataset == "cifar10":
        return "cifar10-cond" if is_conditional(backbone_name) else "cifar10-uncond"
    return dataset


def dataset_order(keys: Iterable[str]) -> list[str]:
    """Known datasets in paper order, then any other dataset found in the records (never dropped)."""
    keys = set(keys)
    return [k for k in DATASETS] + sorted(keys - set(DATASETS))


def method_label(method: str, freeze_level: int | None = None, init: str | None = None, variant: str = "") -> str:
    """The method as the paper names it; D2O-F shows its freeze level unless it is the published 1; a
    variant of a method's recipe (DMD2's GAN term, ``run_variant``) is a row of its own; a run from a
    randomly initialised network (the thesis control, baselines/random_init.py) says so in every table."""
    base = METHOD_LABELS.get(method, method)
    if method == "gan_only_frozen" and freeze_level not in (None, 1):
        base = f"{base} (level {freeze_level})"
    if variant:
        base = f"{base} ({variant})"
    return base if init in (None, "pretrained") else f"{base} ({init} init, not pre-trained)"


CD_LOSSES = {"pseudo_huber": "pseudo-Huber", "l2": "L2"}


def run_variant(method: str, method_info: dict) -> str:
    """A switch in a method's recipe that makes another method of it: DMD2-style with its GAN term
    (``--set gan_weight=...``, arXiv 2405.14867 §4.3) is never averaged with DMD2-style without it, nor CD
    with the pseudo-Huber distance (arXiv 2310.14189 §3.3) with CD with the squared L2 one (arXiv 2303.01469)."""
    if method == "dmd" and method_info.get("gan"):
        return f"with its GAN term, weight {float(method_info.get('gan_weight') or 0):g}"
    if method == "consistency_distillation" and method_info.get("loss"):
        return CD_LOSSES.get(str(method_info["loss"]), str(method_info["loss"]))
    return ""
