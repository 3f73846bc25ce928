"""Consistency distillation (baselines/consistency_distillation.py): the target is the EMA network at
the point one teacher Heun step (harness.samplers.heun_step, a sigma per sample) reaches."""

from __future__ import annotations

import pytest
import torch

from baselines import METHODS
from baselines.consistency_distillation import cd_sigmas, consistency_distillation_target
from baselines.d2o import ConsistencyFunction, D2OGenerator
from harness.errors import MissingArtefactError, UsageError
from harness.optimizers import Adam, RAdam
from harness.samplers import heun_step
from tiny_methods import context, one_hot, tiny_backbone, tiny_net


# --- consistency distillation ------------------------------------------------------------------------------

def test_heun_step_with_a_sigma_per_sample_matches_one_sigma_per_call():
    teacher = tiny_net(label_dim=3, seed=3)
    sigmas = cd_sigmas(18, 0.002, 80.0, 7.0)
    n = torch.tensor([0, 5, 11, 16])
    torch.manual_seed(4)
    x = sigmas[n + 1].reshape(-1, 1, 1, 1).float() * torch.randn(4, 1, 8, 8)
    labels = one_hot(4, 3)
    batched = heun_step(teacher, x, sigmas[n + 1], sigmas[n], labels)
    for b in range(4):
        single = heun_step(teacher, x[b:b + 1], sigmas[n[b] + 1], sigmas[n[b]], labels[b:b + 1])
        torch.testing.assert_close(batched[b:b + 1], single, rtol=1e-5, atol=1e-5)
    # A batch where some samples step to sigma = 0 takes the Euler step there and Heun elsewhere.
    mixed = heun_step(teacher, x[:2], sigmas[n[:2] + 1], torch.tensor([0.0, float(sigmas[n[1]])], dtype=torch.float64),
                      labels[:2])
    torch.testing.assert_close(mixed[:1], heun_step(teacher, x[:1], sigmas[n[0] + 1], 0.0, labels[:1]))
    torch.testing.assert_close(mixed[1:], batched[1:2])


def test_cd_target_is_ema_network_at_heun_point():
    teacher = tiny_net(label_dim=0, seed=5)
    ema = ConsistencyFunction(tiny_net(label_dim=0, seed=6).model).requires_grad_(False)
    sigmas = cd_sigmas(18, 0.002, 80.0, 7.0)
    n = torch.tensor([0, 3, 9, 16])
    torch.manual_seed(7)
    x_next = torch.rand(4, 1, 8, 8) * 2 - 1 + sigmas[n + 1].reshape(-1, 1, 1, 1).float() * torch.randn(4, 1, 8, 8)
    target = consistency_distillation_target(teacher, ema, x_next, sigmas[n + 1], sigmas[n], None)
    for b in range(4):
        x_hat = heun_step(teacher, x_next[b:b + 1], sigmas[n[b] + 1], sigmas[n[b]], None)
        expected = ema(x_hat.float(), sigmas[n[b]], None)
        torch.testing.assert_close(target[b:b + 1], expected, rtol=1e-4, atol=1e-5)


def test_consistency_function_boundary_and_generator():
    unet = tiny_net(label_dim=0, seed=8).model
    f = ConsistencyFunction(unet, 0.5, 0.002)
    torch.manual_seed(9)
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(f(x, 0.002), x)  # boundary condition f(x, eps) = x
    z = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(f(80 * z, 80.0), D2OGenerator(unet, 80.0, 0.5, 0.002)(z), rtol=1e-5, atol=1e-5)


def test_cd_lpips_is_a_clear_error():
    cls = METHODS.get("consistency_distillation")
    with pytest.raises(MissingArtefactError, match="LPIPS"):
        cls(context(tiny_backbone()), cls.Config(loss="lpips"))
    with pytest.raises(UsageError):
        cls(context(tiny_backbone()), cls.Config(loss="l1"))


# --- the reference's optimiser and per-dataset recipes (issue #23 item 11) ---------------------------------

def test_cd_uses_radam_with_cms_linear_warm_up():
    """openai/consistency_models_cifar10 configs/cifar10_ve_cd.py: RAdam, lr 4e-4 warmed up over 10M images."""
    cls = METHODS.get("consistency_distillation")
    assert (cls.Config().optimizer, cls.Config().lr_warmup_kimg) == ("radam", 10_000.0)
    method = cls(context(tiny_backbone()), cls.Config(lr_warmup_kimg=0.016))  # 16 images: 4 steps of 4
    assert isinstance(method.opt, RAdam)
    rng, real = torch.Generator().manual_seed(0), torch.rand((4, 1, 8, 8)) * 2 - 1
    lrs = []
    for step in range(5):
        method.train_step(real, None, step, rng)
        lrs.append(method.opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([1e-4, 2e-4, 3e-4, 4e-4, 4e-4])
    adam = cls(context(tiny_backbone()), cls.Config(optimizer="adam"))
    assert type(adam.opt) is Adam
    with pytest.raises(UsageError, match="optimizer"):
        cls(context(tiny_backbone()), cls.Config(optimizer="sgd"))


def test_cd_presets_follow_cm_per_dataset():
    """ImageNet-64: CM scripts/launch.sh (N 40, mu 0.95, lr 8e-6, batch 2048, no warm-up); CIFAR-10: the
    CIFAR config (N 18, mu 0, lr 4e-4, batch 512); both evaluate an EMA of 0.9999 per step."""
    from harness.build import default_config

    imagenet = default_config("consistency_distillation", "imagenet-64")
    assert {k: imagenet.method_config[k] for k in ("num_scales", "target_ema", "lr", "lr_warmup_kimg")} == \
        {"num_scales": 40, "target_ema": 0.95, "lr": 8e-6, "lr_warmup_kimg": 0.0}
    assert imagenet.train.batch_size == 2048 and imagenet.train.ema_beta == 0.9999
    cifar = default_config("consistency_distillation", "cifar10")
    assert (cifar.method_config["num_scales"], cifar.method_config["target_ema"], cifar.method_config["lr"]) == \
        (18, 0.0, 4e-4)
    assert cifar.train.batch_size == 512 and cifar.train.ema_beta == 0.9999
