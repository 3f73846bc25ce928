"""The one dataset interface: all images in memory, NCHW, read as float32 in [-1, 1], int labels."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from harness.errors import BenchError


@dataclass(frozen=True)
class ImageDataset:
    """Images and labels of one dataset split.

    ``images`` is uint8 (0..255, the storage format of image files) or float32 already in
    [-1, 1] (for data that is not 8-bit, like scikit-learn's 0..16 digits); ``batch`` hides which.
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    source: str
    sha256: str

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[2] != self.images.shape[3]:
            raise BenchError(f"dataset {self.name}: images must be [N, C, R, R], got {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise BenchError(f"dataset {self.name}: {self.labels.shape[0]} labels for {self.images.shape[0]} images")
        if self.num_classes and len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= self.num_classes):
            raise BenchError(f"dataset {self.name}: labels outside 0..{self.num_classes - 1}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def resolution(self) -> int:
        return self.images.shape[-1]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return to_float(self.images[index]), self.labels[index]

    def all_images(self) -> torch.Tensor:
        return to_float(self.images)


def to_float(images: torch.Tensor) -> torch.Tensor:
    if images.dtype == torch.uint8:
        return images.to(torch.float32) / 127.5 - 1.0
    return images.to(torch.float32)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats to 0..255 bytes, the way image files and Inception's input are made."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def content_sha256(images: torch.Tensor, labels: torch.Tensor) -> str:
    """A hash of what the models actually see, so records name their data exactly."""
    h = hashlib.sha256()
    h.update(str((tuple(images.shape), str(images.dtype))).encode())
    h.update(images.contiguous().numpy().tobytes())
    h.update(labels.to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()


def make_dataset(name: str, images: torch.Tensor, labels: torch.Tensor, num_classes: int, source: str) -> ImageDataset:
    return ImageDataset(name, images, labels.to(torch.int64), num_classes, source, content_sha256(images, labels))


@dataclass(frozen=True)
class DatasetSpec:
    """What the harness knows about a dataset before loading it.

    ``load(path)`` reads it (``path`` overrides where it is looked for; None means the default
    location or download). ``default_backbone`` and ``feature_extractor`` are the registry names
    that ``bench run`` uses when the user names none.
    """

    name: str
    load: Callable[[Path | None], ImageDataset]
    resolution: int
    channels: int
    num_classes: int
    default_backbone: str | None
    feature_extractor: str
    description: str
    reads_files: bool = True  # False: built in (no --data); a path given for it is an error, not ignored
