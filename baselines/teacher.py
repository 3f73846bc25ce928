"""The multi-step teacher: EDM's deterministic Heun sampler on the backbone (Karras et al. 2022,
Algorithm 2). Trains nothing; the reference every one-step method is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass

from baselines import METHODS
from baselines.base import Method, MethodContext
from harness.samplers import HeunGenerator


@dataclass
class TeacherConfig:
    num_steps: int = 18  # NFE 35, EDM's CIFAR-10 setting


class Teacher(Method):
    name = "teacher"
    Config = TeacherConfig
    trains = False

    def __init__(self, ctx: MethodContext, config: TeacherConfig):
        super().__init__(ctx, config)
        if config.num_steps < 1:
            from harness.errors import UsageError

            raise UsageError("teacher: num_steps must be at least 1")
        self._generator = HeunGenerator(ctx.backbone.net, config.num_steps)

    @property
    def generator(self):
        return self._generator

    @property
    def nfe(self) -> int:
        return self._generator.nfe


METHODS.add("teacher", Teacher)
