"""The multi-step teacher: EDM's deterministic Heun sampler on the backbone (Karras et al. 2022,
Algorithm 2). Trains nothing; the reference every one-step method is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass

from baselines import METHODS
from baselines.base import FixedGenerator, MethodContext
from harness.samplers import HeunGenerator


@dataclass
class TeacherConfig:
    num_steps: int = 18  # NFE 35, EDM's CIFAR-10 setting


class Teacher(FixedGenerator):
    name = "teacher"
    runs_backbone_wrapper = True  # samples the backbone's own D(x; sigma), any wrapper
    Config = TeacherConfig

    def build_generator(self, ctx: MethodContext, config: TeacherConfig) -> HeunGenerator:
        if config.num_steps < 1:
            from harness.errors import UsageError

            raise UsageError("teacher: num_steps must be at least 1")
        return HeunGenerator(ctx.backbone.net, config.num_steps)

    @property
    def nfe(self) -> int:
        return self._generator.nfe


METHODS.add("teacher", Teacher)
