"""Datasets the user brings, named by where they are: ``zip:PATH`` (an EDM ``dataset_tool.py`` zip,
labels from its ``dataset.json``) and ``folder:PATH`` (an image folder; images in first-level
sub-folders only are classes, one per sub-folder in sorted order; a ``dataset.json`` makes it
EDM's unpacked layout instead).

The name resolves to a ``DatasetSpec`` when it is first asked for (``DATASETS.get``), which reads
and checks every image then, before any network is loaded or folder created: a missing path, a zip
or folder without images, an unreadable image or one whose size or mode differs from the first is
a one-line usage error naming the file. Resolution and channels are the images'; the backbone is
checked against them as for every dataset. The record's data hash is of the decoded pixels and
labels (``base.content_sha256``), so two runs on "the same" folder can be told apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from harness.data.base import DatasetSpec, ImageDataset, make_dataset
from harness.errors import BenchError, UsageError

PREFIXES = ("zip", "folder")
FEATURE_EXTRACTOR = "inception-v3-compat"  # FID's space; eval.feature_extractor chooses another
_SPECS: dict[tuple, DatasetSpec] = {}


def split_name(name: object) -> tuple[str, Path] | None:
    """(``zip`` | ``folder``, path) for a user dataset name, else None (a registered name)."""
    if not isinstance(name, str) or ":" not in name:
        return None
    kind, path = name.split(":", 1)
    return (kind, Path(path).expanduser()) if kind in PREFIXES and path else None


def _image_folder(folder: Path) -> tuple[np.ndarray, np.ndarray | None, int]:
    from harness.data.readers import _IMAGE_EXTENSIONS, _stack_images, read_edm_folder

    if (folder / "dataset.json").is_file():
        images, labels = read_edm_folder(folder)
        return images, labels, int(labels.max()) + 1 if labels is not None and len(labels) else 0
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in _IMAGE_EXTENSIONS)
    if not names:
        raise UsageError(f"folder:{folder}: no images ({', '.join(_IMAGE_EXTENSIONS)}) in it or below it")
    images = _stack_images(names, lambda name: (folder / name).read_bytes(), str(folder))
    classes = sorted({n.split("/")[0] for n in names}) if all(n.count("/") == 1 for n in names) else []
    if len(classes) < 2:
        return images, None, 0
    index = {c: i for i, c in enumerate(classes)}
    return images, np.asarray([index[n.split("/")[0]] for n in names], dtype=np.int64), len(classes)


def read_user_dataset(kind: str, path: Path) -> ImageDataset:
    """Every image of ``zip:PATH`` or ``folder:PATH``, checked; user errors are UsageErrors (exit 2)."""
    from harness.data.readers import read_edm_zip

    name = f"{kind}:{path}"
    if not path.exists():
        raise UsageError(f"--dataset {name}: no such {'file' if kind == 'zip' else 'folder'}")
    if kind == "zip" and not path.is_file() or kind == "folder" and not path.is_dir():
        raise UsageError(f"--dataset {name}: is a {'folder' if path.is_dir() else 'file'}; "
                         f"{'zip:' if path.is_file() else 'folder:'}{path} reads it")
    try:
        if kind == "zip":
            images, labels = read_edm_zip(path)
            num_classes = int(labels.max()) + 1 if labels is not None and len(labels) else 0
        else:
            images, labels, num_classes = _image_folder(path)
    except UsageError:
        raise
    except BenchError as exc:
        raise UsageError(str(exc)) from None
    if images.shape[1] not in (1, 3):
        raise UsageError(f"--dataset {name}: images have {images.shape[1]} channels, expected 1 or 3")
    if labels is None:
        labels = np.zeros(len(images), dtype=np.int64)
    elif (labels < 0).any():
        raise UsageError(f"--dataset {name}: dataset.json has a negative label")
    return make_dataset(name, torch.from_numpy(images), torch.from_numpy(labels), num_classes, source=f"{name}")


def _state(path: Path) -> tuple:
    """What the cached read depends on: the file's (or every file's in a folder) size and time."""
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    except OSError:
        return ()


def user_dataset_spec(name: object) -> DatasetSpec | None:
    """The spec of a ``zip:``/``folder:`` name (read and checked once per file state), or None."""
    parsed = split_name(name)
    if parsed is None:
        return None
    kind, path = parsed
    key = (kind, str(path.resolve()), _state(path))
    if key not in _SPECS:
        dataset = read_user_dataset(kind, path)

        def load(data_path: Path | None, dataset: ImageDataset = dataset) -> ImageDataset:
            return dataset

        _SPECS[key] = DatasetSpec(
            name=str(name), load=load, resolution=dataset.resolution, channels=dataset.channels,
            num_classes=dataset.num_classes, default_backbone=None, feature_extractor=FEATURE_EXTRACTOR,
            description=f"{len(dataset):,} images {dataset.resolution}x{dataset.resolution}x{dataset.channels} "
                        f"from {name}, {dataset.num_classes or 'no'} classes", reads_files=False)
    return _SPECS[key]
