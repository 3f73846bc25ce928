"""Presets for ``fashion-mnist`` (70,000 real 28x28 images padded to 32x32): one GPU window."""

from __future__ import annotations

DATASET = "fashion-mnist"

# The GPU-scale backbone of issue #10: EDM's SongUNet (DDPM++ flavour) with 64/128/256 channels at
# 32/16/8, 2 blocks per level, attention at 8x8; 16.4M parameters (the calibration: 15.5M).
FASHION_MNIST_NETWORK = {
    "class_name": "EDMPrecond",
    "init_kwargs": {
        "img_resolution": 32, "img_channels": 1, "label_dim": 0, "model_type": "SongUNet",
        "model_channels": 64, "channel_mult": [1, 2, 4], "num_blocks": 2, "attn_resolutions": [8],
        "embedding_type": "positional", "channel_mult_noise": 1, "encoder_type": "standard",
        "decoder_type": "standard", "resample_filter": [1, 1], "dropout": 0.0,
    },
}

# Sized for one 15-minute GPU window (scripts/fashion_mnist_gpu.py): ~1 Mimg of pre-training (~160 s on
# one H200 at ~7,000 img/s in the calibration), method runs of 100 and 350 kimg.
PRESETS = {
    "pretrain": {"kimg": 1000.0, "batch_size": 512, "lr": 1e-3, "lr_rampup_kimg": 20.0,
                 "ema_halflife_kimg": 50.0, "ema_rampup_ratio": 0.05, "network": FASHION_MNIST_NETWORK,
                 "save_dtype": "float16"},
    # The paper's batch and EMA (Zyriix/GDD train.sh: 256, half-life 0.5 Mimg ramped to 5% of images seen).
    "train": {"budget_kimg": 100.0, "batch_size": 256, "ema_halflife_kimg": 500.0, "ema_rampup_ratio": 0.05,
              "checkpoint_kimg": 100.0},
    "eval": {"num_samples": 10000, "batch_size": 1000, "every_kimg": 25.0},
    # D2O / D2O-F: the calibration (lr 2e-4, from-scratch discriminator); only freezing differs.
    # gan_loss_images 64: the authors' per-GPU batch at this batch (train.sh: 256 on 4 GPUs, d2o_recipes.py).
    "gan_only": {"g_lr": 2e-4, "d_lr": 2e-4, "r1_gamma": 0.01, "discriminator": "scratch", "gan_loss_images": 64},
    "gan_only_frozen": {"g_lr": 2e-4, "d_lr": 2e-4, "r1_gamma": 0.01, "discriminator": "scratch",
                        "gan_loss_images": 64},
    # Distillation baselines: the digits settings (8-step DDIM teacher for PD; untuned at this scale).
    "progressive_distillation": {"start_steps": 8, "lr": 2e-4},
    # CD at this scale: Adam without warm-up and the dataset's half-life EMA (labelled deviations: CM's
    # 10M-image warm-up and its 0.9999-per-step EMA, a half-life of ~6,900 steps, are longer than the whole
    # run here; they would leave the lr near 0 and the evaluated weights at the teacher's).
    "consistency_distillation": {"num_scales": 18, "lr": 1e-4, "optimizer": "adam", "lr_warmup_kimg": 0.0},
    "train/consistency_distillation": {"ema_beta": None},
    "dmd": {"g_lr": 1e-4, "fake_lr": 1e-4},
}
