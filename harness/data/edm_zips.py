"""AFHQv2, FFHQ and ImageNet at 64x64: EDM's own ``dataset_tool`` zips, which its released 64x64
backbones were trained on and its FID references were computed over.

None of them can be downloaded as-is (the sources need a licence click or a Kaggle account and a
conversion), so a missing zip is an error that spells out the ``dataset_tool`` command and where
to put the result.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from harness.data import DATASETS
from harness.data.base import DatasetSpec, ImageDataset, make_dataset
from harness.data.readers import data_cache_dir, read_edm_checked
from harness.errors import MissingArtefactError

EDM_REPO = "https://github.com/NVlabs/edm"


@dataclass(frozen=True)
class EdmZip:
    """One dataset stored as an EDM zip: its registry name, EDM's file name and how to make it."""

    name: str
    file_name: str
    num_classes: int
    backbone: str
    make_command: str
    description: str
    resolution: int = 64
    channels: int = 3


EDM_ZIPS = (
    EdmZip("afhqv2-64", "afhqv2-64x64.zip", 0, "edm-afhqv2-64x64-uncond-ve",
           "python dataset_tool.py --source=downloads/afhqv2 --dest=datasets/afhqv2-64x64.zip --resolution=64x64",
           "AFHQv2 (cats, dogs, wild animals), 15,803 real 64x64 RGB images, unconditional (EDM zip)"),
    EdmZip("ffhq-64", "ffhq-64x64.zip", 0, "edm-ffhq-64x64-uncond-ve",
           "python dataset_tool.py --source=downloads/ffhq/images1024x1024 --dest=datasets/ffhq-64x64.zip "
           "--resolution=64x64",
           "FFHQ faces, 70,000 real 64x64 RGB images, unconditional (EDM zip)"),
    EdmZip("imagenet-64", "imagenet-64x64.zip", 1000, "edm-imagenet-64x64-cond-adm",
           "python dataset_tool.py --source=downloads/imagenet/ILSVRC/Data/CLS-LOC/train "
           "--dest=datasets/imagenet-64x64.zip --resolution=64x64 --transform=center-crop",
           "ImageNet train, 1,281,167 real 64x64 RGB images (center crop), 1000 classes (EDM zip)"),
)


def missing_hint(spec: EdmZip, cache: Path) -> str:
    """How to make the zip and where to put it: the whole message of the MissingArtefactError."""
    return (f"{spec.name}: {spec.file_name} is not in {cache}. Make it with EDM's dataset_tool ({EDM_REPO}): "
            f"`{spec.make_command}`, then put it at {cache / spec.file_name} (or pass its path)")


def locate(spec: EdmZip, path: Path | None, cache: Path) -> Path:
    """The given path, else the cached zip under EDM's file name; never a silent fallback."""
    candidate = Path(path).expanduser() if path is not None else cache / spec.file_name
    if not candidate.exists():
        if path is not None:
            raise MissingArtefactError(f"{spec.name}: {candidate} does not exist (expected EDM's {spec.file_name}; "
                                       f"make it with `{spec.make_command}`)")
        raise MissingArtefactError(missing_hint(spec, cache))
    return candidate


def load_edm_zip(spec: EdmZip, path: Path | None = None) -> ImageDataset:
    found = locate(spec, path, data_cache_dir())
    images, labels = read_edm_checked(found, spec.resolution, spec.channels, spec.num_classes)
    return make_dataset(spec.name, torch.from_numpy(images), torch.from_numpy(labels), spec.num_classes,
                        source=f"{spec.file_name} ({found})")


def _register(spec: EdmZip) -> None:
    DATASETS.add(
        spec.name,
        DatasetSpec(
            name=spec.name,
            load=functools.partial(load_edm_zip, spec),
            resolution=spec.resolution,
            channels=spec.channels,
            num_classes=spec.num_classes,
            default_backbone=spec.backbone,
            feature_extractor="inception-v3-compat",
            description=spec.description,
        ),
    )


for _spec in EDM_ZIPS:
    _register(_spec)
