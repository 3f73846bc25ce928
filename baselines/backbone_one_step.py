"""The backbone itself used in one step, before any fine-tuning: D2O's generator at step 0.

It measures the starting point that every one-step method improves on (the paper's 'before'
column), with exactly the preconditioning gan_only starts from.
"""

from __future__ import annotations

from dataclasses import dataclass

from baselines import METHODS
from baselines.base import Method, MethodContext
from baselines.d2o import d2o_generator_from


@dataclass
class BackboneOneStepConfig:
    sigma: float = 80.0
    sigma_data: float = 0.5
    eps: float = 0.002


class BackboneOneStep(Method):
    name = "backbone_one_step"
    Config = BackboneOneStepConfig
    trains = False

    def __init__(self, ctx: MethodContext, config: BackboneOneStepConfig):
        super().__init__(ctx, config)
        self._generator = d2o_generator_from(ctx.backbone.net, config.sigma, config.sigma_data, config.eps)
        self._generator.requires_grad_(False).to(ctx.device)

    @property
    def generator(self):
        return self._generator


METHODS.add("backbone_one_step", BackboneOneStep)
