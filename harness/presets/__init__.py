"""Experiment presets per dataset: the settings that size a run for a dataset's scale, applied over
the papers' defaults and under the CLI's ``--set``. One module per dataset, each with ``DATASET``
(the registry name) and ``PRESETS``:

    {"pretrain": PretrainConfig fields, "train": TrainConfig fields, "train/<method>": TrainConfig
     fields for one method, "eval": EvalConfig fields, "<method>": that method's Config fields}

``presets_for`` checks every section against the registries before a run uses it: a section that
names no registered method and a key that is no field of its config are errors (a misspelt key
used to be silently ignored). ``tests/harness/test_presets.py`` checks every module.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any

from harness.errors import UsageError

SECTIONS = ("pretrain", "train", "eval")


def preset_modules() -> dict[str, Any]:
    """Dataset name -> its preset module (every module of this package with a ``DATASET``)."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "DATASET"):
            found[module.DATASET] = module
    return found


def config_class(section: str) -> type:
    """The config dataclass a preset section sets fields of."""
    from baselines import METHODS
    from harness.config import EvalConfig, TrainConfig

    if section == "pretrain":
        from harness.pretrain import PretrainConfig

        return PretrainConfig
    if section == "eval":
        return EvalConfig
    if section == "train":
        return TrainConfig
    method = section.split("/", 1)[1] if section.startswith("train/") else section
    if method not in METHODS.names():
        raise UsageError(f"preset section '{section}' names no registered method; methods: "
                         f"{', '.join(sorted(METHODS.names()))}")
    return TrainConfig if section.startswith("train/") else METHODS.get(method).Config


def validate(dataset: str, presets: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``presets`` unchanged, or a UsageError naming the dataset, section and key that are wrong."""
    for section, values in presets.items():
        try:
            fields = {f.name for f in dataclasses.fields(config_class(section))}
        except UsageError as exc:
            raise UsageError(f"presets of {dataset}: {exc}") from None
        unknown = sorted(set(values) - fields)
        if unknown:
            raise UsageError(f"presets of {dataset}, section '{section}': unknown key(s) {', '.join(unknown)}; "
                             f"valid: {', '.join(sorted(fields))}")
    return presets


def presets_for(dataset: str) -> dict[str, dict[str, Any]]:
    """The dataset's presets, checked (module docstring); {} for a dataset without any."""
    module = preset_modules().get(dataset)
    return validate(dataset, module.PRESETS) if module is not None else {}
