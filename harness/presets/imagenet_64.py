"""Presets for ``imagenet-64``: D2O's ImageNet line of Zyriix/GDD train.sh (ADM backbone, G lr 8e-6,
D lr 4e-5, batch 512, EMA 50 Mimg, 10 Mimg), EDM's 40-step teacher at 64x64."""

from __future__ import annotations

from harness.presets.d2o_recipes import d2o_presets

DATASET = "imagenet-64"
PRESETS = d2o_presets(g_lr=8e-6, d_lr=4e-5, batch_size=512, ema_mimg=50, duration_mimg=10, teacher_steps=40)
