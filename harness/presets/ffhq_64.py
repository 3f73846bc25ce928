"""Presets for ``ffhq-64``: D2O's FFHQ line of Zyriix/D2O train.sh (NCSN++ VE backbone, G lr 2e-5,
D lr 4e-5, batch 256, EMA 0.5 Mimg, 10 Mimg), EDM's 40-step teacher at 64x64;
gan_loss_images 64 = 256 / 4 GPUs, generator in bf16 where the GPU supports it (``--fp16=True``)"""

from __future__ import annotations

from harness.presets.d2o_recipes import d2o_presets

DATASET = "ffhq-64"
PRESETS = d2o_presets(g_lr=2e-5, d_lr=4e-5, batch_size=256, ema_mimg=0.5, duration_mimg=10, teacher_steps=40)
