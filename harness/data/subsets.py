"""Named, fixed subsets of a dataset (``--subset`` of `bench refstats`): FID reference statistics are
conventionally made from one split (EDM uses the training set), and a fixed, named part of a large
split keeps their cost within what a CPU can do.

A subset is a name the dataset defines (Fashion-MNIST: ``train`` = images 0-59,999, ``test`` =
60,000-69,999 in the harness's train-then-test order, ``train-10k`` = the first 10,000 training
images) or a half-open range ``START:STOP`` of any dataset. The subset is a dataset of its own: its
name says which part it is and its content hash is of those images only, so caches and records keep
the parts apart.
"""

from __future__ import annotations

from harness.data.base import ImageDataset, make_dataset
from harness.errors import UsageError

NAMED_SUBSETS: dict[str, dict[str, tuple[int, int]]] = {
    "fashion-mnist": {"train": (0, 60_000), "test": (60_000, 70_000), "train-10k": (0, 10_000)},
}


def subset_range(dataset_name: str, spec: str, size: int, flag: str = "--subset") -> tuple[int, int]:
    named = NAMED_SUBSETS.get(dataset_name, {})
    if spec in named:
        start, stop = named[spec]
    else:
        try:
            start, stop = (int(part) for part in spec.split(":"))
        except ValueError:
            valid = ", ".join([*named, "START:STOP"])
            raise UsageError(f"{flag} '{spec}' is not a subset of {dataset_name}; valid: {valid}") from None
    if not 0 <= start < stop <= size:
        raise UsageError(f"{flag} {spec} is images {start}:{stop}, outside {dataset_name}'s 0:{size}")
    return start, stop


def subset(dataset: ImageDataset, spec: str, flag: str = "--subset") -> ImageDataset:
    """The images ``spec`` names (module doc), as a dataset named ``<dataset>:<spec>``."""
    start, stop = subset_range(dataset.name, spec, len(dataset), flag)
    return make_dataset(f"{dataset.name}:{spec}", dataset.images[start:stop], dataset.labels[start:stop],
                        dataset.num_classes, f"{dataset.source}, images {start}:{stop}")
