"""The authors' D2O / D2O-F recipes per dataset (Zheng & Yang, arXiv 2506.09376; the commands in
Zyriix/D2O ``train.sh``), shared by the CIFAR-10 and 64x64 preset modules.

train.sh: ``--lr`` (G), ``--dlr`` (D), ``--batch``, ``--ema`` (half-life in Mimg), ``--duration``
(Mimg); ``--r1-gamma=1e-4`` everywhere (the methods' default); every line runs
``torchrun --nproc_per_node=4``. The teacher at 64x64 is EDM's 40-step Heun sampler (NFE 79; Karras
et al. 2022, arXiv 2206.00364, Table 2 / App. F), 18 steps (NFE 35) on CIFAR-10.

``gan_loss_images``: the authors' GAN losses sum over the images on one GPU (their ``training/loss.py``
adds one mean per image) and DDP averages the 4 GPUs' gradients, so the loss is the per-GPU batch,
``--batch`` / 4, times the batch mean: 64 for CIFAR-10, AFHQv2 and FFHQ (256 / 4), 128 for ImageNet
(512 / 4). As D's main and R1 steps share Adam's moments, this sets R1's effective weight.

``precision``: ``--fp16=True`` runs the generator's UNet in bfloat16 on CUDA (their ``networks.py``),
the discriminator in fp32, TF32 off (harness/precision.py); ``auto`` does that where the GPU
supports bf16 and runs fp32 elsewhere (the record's ``training.precision`` says which).
"""

from __future__ import annotations

GPUS = 4  # train.sh: torchrun --nproc_per_node=4 on every line


def d2o_presets(g_lr: float, d_lr: float, batch_size: int, ema_mimg: float, duration_mimg: float,
                teacher_steps: int) -> dict:
    """A dataset's presets from its train.sh line: the same settings for D2O and D2O-F (only --freeze differs)."""
    gan = {"g_lr": g_lr, "d_lr": d_lr, "r1_gamma": 1e-4, "gan_loss_images": batch_size // GPUS}
    return {
        "train": {"budget_kimg": duration_mimg * 1000, "batch_size": batch_size,
                  "ema_halflife_kimg": ema_mimg * 1000, "ema_rampup_ratio": 0.05, "checkpoint_kimg": 250.0},
        "train/gan_only": {"precision": "auto"},
        "train/gan_only_frozen": {"precision": "auto"},
        "gan_only": dict(gan),
        "gan_only_frozen": dict(gan),
        "teacher": {"num_steps": teacher_steps},
    }
