"""Presets for ``digits`` (scikit-learn's 1,797 real 8x8 digits): sized for two CPU cores."""

from __future__ import annotations

DATASET = "digits"

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
    "eval": {"num_samples": 2000, "batch_size": 500, "every_kimg": 5.0},  # a curve point costs ~2 s
    # gan_loss_images 64: no authors' run at this scale; their CIFAR-10 per-GPU batch (train.sh 256 on 4
    # GPUs, harness/presets/d2o_recipes.py), the value r1_gamma 0.01 was chosen with.
    "gan_only": {"g_lr": 5e-4, "d_lr": 5e-4, "r1_gamma": 0.01, "d_width": 32, "gan_loss_images": 64},
    # D2O-F: D2O's digits settings, only the freezing differs.
    "gan_only_frozen": {"g_lr": 5e-4, "d_lr": 5e-4, "r1_gamma": 0.01, "d_width": 32, "gan_loss_images": 64},
    # Distillation baselines at this scale: an 8-step DDIM teacher (3 halvings), and larger lrs
    # than the papers' CIFAR/ImageNet values, like gan_only's.
    "progressive_distillation": {"start_steps": 8, "lr": 2e-4},
    # CD at this scale: Adam without warm-up and the dataset's half-life EMA (labelled deviations: CM's
    # 10M-image warm-up and its 0.9999-per-step EMA, a half-life of ~6,900 steps, are longer than the whole
    # run here; they would leave the lr near 0 and the evaluated weights at the teacher's).
    "consistency_distillation": {"num_scales": 18, "lr": 2e-4, "optimizer": "adam", "lr_warmup_kimg": 0.0},
    "train/consistency_distillation": {"ema_beta": None},
    "dmd": {"g_lr": 1e-4, "fake_lr": 1e-4},
}
