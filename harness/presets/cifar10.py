"""Presets for ``cifar10``: D2O's CIFAR-10 line of Zyriix/D2O train.sh (lr 1e-4 / 1e-4, batch 256,
EMA 0.5 Mimg, 5 Mimg), EDM's 18-step teacher;
gan_loss_images 64 = 256 / 4 GPUs, generator in bf16 where the GPU supports it (``--fp16=True``);
PD and CD as Consistency Models ran them on CIFAR-10 (openai/consistency_models_cifar10), the runs
behind the published PD 8.34 and CD numbers."""

from __future__ import annotations

from harness.presets.d2o_recipes import d2o_presets

DATASET = "cifar10"
PRESETS = d2o_presets(g_lr=1e-4, d_lr=1e-4, batch_size=256, ema_mimg=0.5, duration_mimg=5, teacher_steps=18)
PRESETS.update({
    # PD: configs/cifar10_ve_progressive_distillation.py (a 4096-step teacher, Adam lr 5e-5 annealed per round,
    # clip 1, truncated SNR, no EMA, batch 512, distill_steps_per_iter = 50,000 steps per halving: 12 rounds).
    "progressive_distillation": {"start_steps": 4096, "lr": 5e-5, "max_grad_norm": 1.0,
                                 "loss_weighting": "truncated_snr"},
    "train/progressive_distillation": {"batch_size": 512, "budget_kimg": 12 * 50_000 * 512 / 1000},
    # CD: configs/cifar10_ve_cd.py (N 18, RAdam lr 4e-4, 10M-image warm-up, mu 0, EMA 0.9999, batch 512,
    # n_iters 800,000 steps).
    "consistency_distillation": {"num_scales": 18, "lr": 4e-4, "optimizer": "radam", "lr_warmup_kimg": 10_000.0,
                                 "target_ema": 0.0},
    "train/consistency_distillation": {"batch_size": 512, "budget_kimg": 800_000 * 512 / 1000, "ema_beta": 0.9999},
})
