"""Fashion-MNIST: 70,000 real 28x28 greyscale clothing images (train then test), padded to 32x32.

The mid-size real dataset: big enough that FD and precision/recall are meaningful, small enough
to train and evaluate on a CPU, and packaged by Debian (``apt-get install dataset-fashion-mnist``
puts the four gzipped idx files in /usr/share/datasets/fashion-mnist), so CI needs no network.
Padding is 2 pixels of the background value 0 on every side (-1 in [-1, 1]) so the images fit
the power-of-two U-Nets EDM uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from harness.data import DATASETS
from harness.data.base import DatasetSpec, ImageDataset, make_dataset
from harness.data.readers import data_cache_dir, fetch, read_idx_pair
from harness.errors import MissingArtefactError

APT_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CACHE_SUBDIR = "fashion-mnist"
# (images, labels) per split, in the order the dataset concatenates them; files may end in .gz.
SPLITS = (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
# torchvision.datasets.FashionMNIST's mirror and md5 sums of the gzipped files.
MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
MD5 = {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
       "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
       "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
       "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}
PAD = 2


def idx_file(directory: Path, stem: str) -> Path | None:
    """``stem`` or ``stem.gz`` in ``directory`` (Debian ships .gz, hand-extracted copies are raw)."""
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def has_all_files(directory: Path) -> bool:
    return all(idx_file(directory, stem) for split in SPLITS for stem in split)


def missing_hint(cache: Path) -> str:
    files = ", ".join(MD5)
    return (f"fashion-mnist: the idx files are not installed. Run `apt-get install {APT_PACKAGE}` "
            f"(puts them in {DEBIAN_DIR}), or download {files} from {MIRROR} into {cache / CACHE_SUBDIR} "
            f"(or pass the directory holding them)")


def locate(path: Path | None, system_dir: Path, cache: Path, download: bool = True) -> Path:
    """Directory holding the four idx files: the given path, Debian's, the cache, else a download."""
    if path is not None:
        path = Path(path).expanduser()
        if not has_all_files(path):
            raise MissingArtefactError(f"fashion-mnist: {path} lacks some of {', '.join(MD5)} (gzipped or raw)")
        return path
    for directory in (system_dir, cache / CACHE_SUBDIR):
        if has_all_files(directory):
            return directory
    hint = missing_hint(cache)
    if not download:
        raise MissingArtefactError(hint)
    for name, md5 in MD5.items():
        fetch(MIRROR + name, cache / CACHE_SUBDIR / name, md5, hint)
    return cache / CACHE_SUBDIR


def read_fashion_mnist(directory: Path, pad: int = PAD) -> tuple[np.ndarray, np.ndarray]:
    """Train then test, padded: uint8 [70000, 1, 28 + 2 pad, 28 + 2 pad] and int64 [70000].

    The splits are copied straight into one zero-filled array (the zeros are the padding), so
    the 55 MB of pixels are copied once rather than by a concatenate and then a pad.
    """
    parts = [read_idx_pair(idx_file(directory, images), idx_file(directory, labels), 10, size=(28, 28))
             for images, labels in SPLITS]
    count = sum(len(p[1]) for p in parts)
    out = np.zeros((count, 1, 28 + 2 * pad, 28 + 2 * pad), dtype=np.uint8)
    start = 0
    for images, labels in parts:
        out[start:start + len(labels), :, pad:pad + 28, pad:pad + 28] = images
        start += len(labels)
    return out, np.concatenate([p[1] for p in parts])


def load_fashion_mnist(path: Path | None = None, system_dir: Path = DEBIAN_DIR) -> ImageDataset:
    directory = locate(path, system_dir, data_cache_dir())
    images, labels = read_fashion_mnist(directory)
    return make_dataset("fashion-mnist", torch.from_numpy(images), torch.from_numpy(labels), 10,
                        source=f"fashion-mnist idx ({directory})")


DATASETS.add(
    "fashion-mnist",
    DatasetSpec(
        name="fashion-mnist",
        load=load_fashion_mnist,
        resolution=32,
        channels=1,
        num_classes=10,
        default_backbone="edm-fashion-mnist-32x32-uncond",
        feature_extractor="fashion-mnist-classifier",
        description="Fashion-MNIST train+test, 70,000 real 28x28 greyscale images padded to 32x32, 10 classes "
                    f"(apt-get install {APT_PACKAGE})",
    ),
)
