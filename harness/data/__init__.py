"""Datasets: one module each, registered in ``DATASETS``; ``load_dataset`` is the entry point."""

from __future__ import annotations

from pathlib import Path

from harness.registry import Registry
from harness.data.base import DatasetSpec, ImageDataset, make_dataset, to_float, to_uint8

DATASETS: Registry[DatasetSpec] = Registry("dataset")


def load_dataset(name: str, path: Path | None = None) -> ImageDataset:
    return DATASETS.get(name).load(path)


def _register_all() -> None:
    import sys

    from harness.plugins import import_submodules

    import_submodules(sys.modules[__name__], skip=("base",))


_register_all()

__all__ = ["DATASETS", "DatasetSpec", "ImageDataset", "load_dataset", "make_dataset", "to_float", "to_uint8"]
