"""The backbone itself used in one step, before any fine-tuning: D2O's generator at step 0.

It measures the starting point that every one-step method improves on (the paper's 'before'
column), with exactly the preconditioning gan_only starts from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from baselines import METHODS
from baselines.base import FixedGenerator, MethodContext
from baselines.d2o import d2o_generator_from


@dataclass
class BackboneOneStepConfig:
    sigma: float = 80.0
    sigma_data: float = 0.5
    eps: float = 0.002


class BackboneOneStep(FixedGenerator):
    name = "backbone_one_step"
    Config = BackboneOneStepConfig

    def build_generator(self, ctx: MethodContext, config: BackboneOneStepConfig) -> torch.nn.Module:
        generator = d2o_generator_from(ctx.backbone.net, config.sigma, config.sigma_data, config.eps)
        return generator.requires_grad_(False).to(ctx.device)


METHODS.add("backbone_one_step", BackboneOneStep)
