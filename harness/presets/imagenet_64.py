"""Presets for ``imagenet-64``: D2O's ImageNet line of Zyriix/D2O train.sh (ADM backbone, G lr 8e-6,
D lr 4e-5, batch 512, EMA 50 Mimg, 10 Mimg), EDM's 40-step teacher at 64x64;
gan_loss_images 128 = 512 / 4 GPUs, generator in bf16 where the GPU supports it (``--fp16=True``)"""

from __future__ import annotations

from harness.presets.d2o_recipes import d2o_presets

DATASET = "imagenet-64"
PRESETS = d2o_presets(g_lr=8e-6, d_lr=4e-5, batch_size=512, ema_mimg=50, duration_mimg=10, teacher_steps=40)
