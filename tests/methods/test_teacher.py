"""The teacher (baselines/teacher.py): EDM's Heun sampler, NFE 2N - 1 (35 at 18 steps, 79 at 40)."""

from __future__ import annotations

import pytest
import torch

from baselines import METHODS
from harness.errors import UsageError
from harness.samplers import heun_sample
from tiny_methods import context, tiny_backbone


@pytest.mark.parametrize("steps,nfe", [(18, 35), (40, 79), (1, 1)])
def test_teacher_nfe_and_samples(steps, nfe):
    cls = METHODS.get("teacher")
    backbone = tiny_backbone()
    teacher = cls(context(backbone), cls.Config(num_steps=steps))
    assert teacher.nfe == nfe and not teacher.trains and teacher.teacher_passes_per_image == 0.0
    z = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(teacher.generator(z), heun_sample(backbone.net, z, num_steps=steps))


def test_teacher_needs_a_step():
    cls = METHODS.get("teacher")
    with pytest.raises(UsageError):
        cls(context(tiny_backbone()), cls.Config(num_steps=0))
