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


# Sized so that pre-training takes minutes and a default gan_only run (20 kimg) under two minutes on 2 CPU
# cores. The network is EDM's SongUNet (DDPM++ flavour) shrunk: 16 channels at 8x8, 32 at 4x4.
DIGITS_NETWORK = {
    "class_name": "EDMPrecond",
    "init_kwargs": {
        "img_resolution": 8, "img_channels": 1, "label_dim": 0, "model_type": "SongUNet",
        "model_channels": 16, "channel_mult": [1, 2], "num_blocks": 2, "attn_resolutions": [4],
        "embedding_type": "positional", "channel_mult_noise": 1, "encoder_type": "standard",
        "decoder_type": "standard", "resample_filter": [1, 1], "dropout": 0.0,
    },
}

PRESETS = {
    "pretrain": {"kimg": 150.0, "batch_size": 128, "lr": 2e-3, "lr_rampup_kimg": 10.0,
                 "ema_halflife_kimg": 10.0, "ema_rampup_ratio": 0.05, "network": DIGITS_NETWORK},
    "train": {"budget_kimg": 20.0, "batch_size": 128, "ema_halflife_kimg": 5.0, "ema_rampup_ratio": 0.05,
              "checkpoint_kimg": 10.0},
    # DMD's two time-scale rule (5 fake-score updates per generator update) makes each training image
    # ~6x as costly as gan_only's; its default run here is the method grid's lower budget so that it
    # stays within 5 minutes on 2 cores. Equal-budget comparisons pass --budget-kimg explicitly.
    "train/dmd": {"budget_kimg": 5.0},
    "eval": {"num_samples": 2000, "batch_size": 500},
    "gan_only": {"g_lr": 5e-4, "d_lr": 5e-4, "r1_gamma": 0.01, "d_width": 32},
    # D2O-F: D2O's digits settings, only the freezing differs.
    "gan_only_frozen": {"g_lr": 5e-4, "d_lr": 5e-4, "r1_gamma": 0.01, "d_width": 32},
    # Distillation baselines at this scale: an 8-step DDIM teacher (3 halvings), and larger lrs
    # than the papers' CIFAR/ImageNet values, like gan_only's.
    "progressive_distillation": {"start_steps": 8, "lr": 2e-4},
    "consistency_distillation": {"num_scales": 18, "lr": 2e-4},
    "dmd": {"g_lr": 1e-4, "fake_lr": 1e-4},
}

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
        presets=PRESETS,
        reads_files=False,
    ),
)
