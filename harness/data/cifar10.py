"""CIFAR-10: the 50,000 real 32x32 RGB training images with their 10 class labels.

The data EDM's CIFAR-10 backbones were trained on and its FID reference was computed over. Read
from the python batches (directory or the official tar.gz, never extracted) or from EDM's
``cifar10-32x32.zip``; downloaded with torchvision only when a path is not given, nothing is in the
cache and the host answers.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from harness.data import DATASETS
from harness.data.base import DatasetSpec, ImageDataset, make_dataset
from harness.data.readers import (CIFAR10_DIR, data_cache_dir, fetch, read_cifar10_dir, read_cifar10_tar,
                                  read_edm_checked)
from harness.errors import BenchError, MissingArtefactError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # torchvision.datasets.CIFAR10.tgz_md5
CIFAR10_TAR = "cifar-10-python.tar.gz"
CIFAR10_EDM_ZIP = "cifar10-32x32.zip"  # the name EDM's README gives dataset_tool's output


def missing_hint(cache: Path) -> str:
    """What a user without the file reads: the URL, the file name and where to put it."""
    return (f"cifar10: {CIFAR10_TAR} is not in {cache}. Download {CIFAR10_URL} and put it at {cache / CIFAR10_TAR} "
            f"(or pass the path of a {CIFAR10_DIR} directory, the tar.gz or EDM's {CIFAR10_EDM_ZIP})")


def find_cached(cache: Path) -> Path | None:
    """The first CIFAR-10 copy in the cache directory, in any of the three accepted forms."""
    for candidate in (cache / CIFAR10_DIR, cache / CIFAR10_TAR, cache / CIFAR10_EDM_ZIP):
        if candidate.exists():
            return candidate
    return None


def read_cifar10(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Training images and labels from a batches directory, the tar.gz or an EDM zip."""
    if not path.exists():
        raise MissingArtefactError(f"cifar10: {path} does not exist (expected a {CIFAR10_DIR} directory, "
                                   f"{CIFAR10_TAR} from {CIFAR10_URL}, or EDM's {CIFAR10_EDM_ZIP})")
    if path.is_dir():
        if (path / "data_batch_1").is_file():
            return read_cifar10_dir(path)
        if (path / CIFAR10_DIR).is_dir():
            return read_cifar10_dir(path / CIFAR10_DIR)
        if (path / "dataset.json").is_file():
            return read_edm_checked(path, 32, 3, 10)
        raise BenchError(f"cifar10: {path} holds neither {CIFAR10_DIR} batches nor an EDM dataset")
    if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        return read_edm_checked(path, 32, 3, 10)
    return read_cifar10_tar(path)


def load_cifar10(path: Path | None = None) -> ImageDataset:
    if path is None:
        cache = data_cache_dir()
        path = find_cached(cache) or fetch(CIFAR10_URL, cache / CIFAR10_TAR, CIFAR10_MD5, missing_hint(cache))
    path = Path(path).expanduser()
    images, labels = read_cifar10(path)
    return make_dataset("cifar10", torch.from_numpy(images), torch.from_numpy(labels), 10, source=f"cifar10 ({path})")


DATASETS.add(
    "cifar10",
    DatasetSpec(
        name="cifar10",
        load=load_cifar10,
        resolution=32,
        channels=3,
        num_classes=10,
        default_backbone="edm-cifar10-32x32-uncond-ve",
        feature_extractor="inception-v3-compat",
        description="CIFAR-10 training split, 50,000 real 32x32 RGB images, 10 classes (download or path)",
    ),
)
