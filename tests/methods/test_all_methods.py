"""Every method takes two training steps, unconditional and conditional, and generates images."""

from __future__ import annotations

import pytest
import torch

from baselines import METHODS
from harness.errors import BenchError, UsageError
from tiny_methods import context, one_hot, run_steps, tiny_backbone

SMALL_CONFIGS = {
    "gan_only_frozen": dict(d_width=8, r1_interval=1),
    "progressive_distillation": dict(start_steps=4, lr=1e-3),
    "consistency_distillation": dict(num_scales=6, lr=1e-3),
    "dmd": dict(fake_steps_per_generator_step=2, g_lr=1e-3, fake_lr=1e-3),
    "dmd+gan": dict(fake_steps_per_generator_step=2, g_lr=1e-3, fake_lr=1e-3, gan_weight=3e-3),
}

CASES = [(key, label_dim) for key in sorted(SMALL_CONFIGS) for label_dim in (0, 3)
         if not (key == "dmd+gan" and label_dim == 0)]  # the GAN head is label-agnostic: one case suffices


@pytest.mark.parametrize("key,label_dim", CASES, ids=[f"{k}-{'cond' if d else 'uncond'}" for k, d in CASES])
def test_method_trains_two_steps_and_generates(key, label_dim):
    cls = METHODS.get(key.split("+")[0])
    backbone = tiny_backbone(label_dim)
    method = cls(context(backbone), cls.Config(**SMALL_CONFIGS[key]))
    assert method.nfe == 1 and method.teacher_passes_per_image >= 0
    before = [p.detach().clone() for p in method.generator.parameters()]
    for losses in run_steps(method, label_dim):
        assert losses and all(isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad
                              for v in losses.values())
        assert all(torch.isfinite(v) for v in losses.values()), losses
    assert any(not torch.equal(a, b) for a, b in zip(before, method.generator.parameters()))
    # The backbone (teacher / real score) is never modified.
    reference = tiny_backbone(label_dim).net
    assert all(torch.equal(a, b) for a, b in zip(backbone.net.parameters(), reference.parameters()))
    with torch.no_grad():
        images = method.generator(torch.randn(3, 1, 8, 8), one_hot(3, label_dim))
    assert images.shape == (3, 1, 8, 8) and torch.isfinite(images).all()
    assert isinstance(method.record_info(), dict)


def test_methods_registered_with_typed_configs():
    from harness.config import apply_overrides

    for name in ("gan_only_frozen", "progressive_distillation", "consistency_distillation", "dmd"):
        cls = METHODS.get(name)
        assert cls.name == name
        apply_overrides(cls.Config(), {})
    cfg = apply_overrides(METHODS.get("progressive_distillation").Config(), {"round_fractions": "1,1,2"})
    assert cfg.round_fractions == (1.0, 1.0, 2.0)
    assert issubclass(UsageError, BenchError)
