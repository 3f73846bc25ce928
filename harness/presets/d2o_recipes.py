"""The authors' D2O / D2O-F recipes per dataset (Zheng & Yang, arXiv 2506.09376; the commands in
Zyriix/GDD ``train.sh``), shared by the CIFAR-10 and 64x64 preset modules.

train.sh: ``--lr`` (G), ``--dlr`` (D), ``--batch``, ``--ema`` (half-life in Mimg), ``--duration``
(Mimg); ``--r1-gamma=1e-4`` everywhere (the methods' default). The teacher at 64x64 is EDM's
40-step Heun sampler (NFE 79; Karras et al. 2022, arXiv 2206.00364, Table 2 / App. F), 18 steps
(NFE 35) on CIFAR-10.
"""

from __future__ import annotations


def d2o_presets(g_lr: float, d_lr: float, batch_size: int, ema_mimg: float, duration_mimg: float,
                teacher_steps: int) -> dict:
    """A dataset's presets from its train.sh line: the same settings for D2O and D2O-F (only --freeze differs)."""
    gan = {"g_lr": g_lr, "d_lr": d_lr, "r1_gamma": 1e-4}
    return {
        "train": {"budget_kimg": duration_mimg * 1000, "batch_size": batch_size,
                  "ema_halflife_kimg": ema_mimg * 1000, "ema_rampup_ratio": 0.05, "checkpoint_kimg": 250.0},
        "gan_only": dict(gan),
        "gan_only_frozen": dict(gan),
        "teacher": {"num_steps": teacher_steps},
    }
