"""The backbone in one step (baselines/backbone_one_step.py): D2O's generator before any training."""

from __future__ import annotations

import torch

from baselines import METHODS
from baselines.d2o import d2o_generator_from
from tiny_methods import context, tiny_backbone


def test_backbone_one_step_is_d2os_generator_at_initialisation():
    cls = METHODS.get("backbone_one_step")
    backbone = tiny_backbone()
    method = cls(context(backbone), cls.Config())
    assert not method.trains and method.nfe == 1
    assert not any(p.requires_grad for p in method.generator.parameters())
    z = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(method.generator(z), d2o_generator_from(backbone.net)(z))
