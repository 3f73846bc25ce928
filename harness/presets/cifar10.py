"""Presets for ``cifar10``: D2O's CIFAR-10 line of Zyriix/D2O train.sh (lr 1e-4 / 1e-4, batch 256,
EMA 0.5 Mimg, 5 Mimg), EDM's 18-step teacher;
gan_loss_images 64 = 256 / 4 GPUs, generator in bf16 where the GPU supports it (``--fp16=True``)"""

from __future__ import annotations

from harness.presets.d2o_recipes import d2o_presets

DATASET = "cifar10"
PRESETS = d2o_presets(g_lr=1e-4, d_lr=1e-4, batch_size=256, ema_mimg=0.5, duration_mimg=5, teacher_steps=18)
