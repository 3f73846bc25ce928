"""Datasets: one module each, registered in ``DATASETS``; ``load_dataset`` is the entry point."""

from __future__ import annotations

from pathlib import Path

from harness.registry import Registry
from harness.data.base import DatasetSpec, ImageDataset, make_dataset, to_float, to_uint8


class DatasetRegistry(Registry[DatasetSpec]):
    """The registered datasets, plus the user's own named by path: ``zip:PATH``, ``folder:PATH``
    (``harness.data.user_data``), read and checked when first asked for."""

    def get(self, name: str) -> DatasetSpec:
        from harness.data.user_data import user_dataset_spec

        return user_dataset_spec(name) or super().get(name)

    def __contains__(self, name: object) -> bool:
        from harness.data.user_data import split_name

        return split_name(name) is not None or super().__contains__(name)


DATASETS: DatasetRegistry = DatasetRegistry("dataset")


def load_dataset(name: str, path: Path | None = None) -> ImageDataset:
    return DATASETS.get(name).load(path)


def _register_all() -> None:
    import sys

    from harness.plugins import import_submodules

    import_submodules(sys.modules[__name__], skip=("base",))


_register_all()

__all__ = ["DATASETS", "DatasetSpec", "ImageDataset", "load_dataset", "make_dataset", "to_float", "to_uint8"]
