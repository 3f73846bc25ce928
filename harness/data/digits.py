"""scikit-learn's digits: 1,797 real 8x8 greyscale images of handwritten digits, shipped in the wheel.

The embedded default dataset: small enough that pre-training, fine-tuning and evaluation run on
two CPU cores in minutes, and real, so FD and precision/recall mean something.
"""

from __future__ import annotations

from pathlib import Path

import torch

from harness.data import DATASETS
from harness.errors import BenchError
from harness.data.base import DatasetSpec, ImageDataset, make_dataset


def digits_csv() -> Path:
    """The digits file inside the installed scikit-learn, found without importing scikit-learn
    (its import costs seconds, a tenth of the quick start's time budget)."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise BenchError("the digits dataset comes with scikit-learn: pip install scikit-learn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise BenchError(f"scikit-learn is installed but {path} is missing; reinstall scikit-learn")
    return path


def load_digits_dataset(path: Path | None = None) -> ImageDataset:
    """The same arrays as ``sklearn.datasets.load_digits()`` (a test checks): rows of 64 pixel
    values 0..16 and the class label."""
    import numpy as np

    table = np.loadtxt(digits_csv(), delimiter=",", dtype=np.float64)
    # Pixel values are integers 0..16; x/8 - 1 maps them exactly onto [-1, 1].
    images = torch.from_numpy(table[:, :64].reshape(-1, 8, 8)).to(torch.float32).div(8.0).sub(1.0).unsqueeze(1)
    labels = torch.from_numpy(table[:, 64].astype(np.int64))
    return make_dataset("digits", images, labels, 10, source="sklearn.datasets.load_digits")


DATASETS.add(
    "digits",
    DatasetSpec(
        name="digits",
        load=load_digits_dataset,
        resolution=8,
        channels=1,
        num_classes=10,
        default_backbone="edm-digits-8x8-uncond",
        feature_extractor="digits-classifier",
        description="scikit-learn digits, 1,797 real 8x8 images, 10 classes (embedded)",
        reads_files=False,
    ),
)
