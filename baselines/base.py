"""The one interface every method implements, so the runner treats them alike.

A method is built from a pre-trained backbone and its config. It exposes the generator to sample
from (``generator(z, class_labels) -> images``; the runner keeps an EMA copy of it when it trains),
one training step on a real batch, and its costs: NFE per sample and teacher forward passes per
training image. The runner owns the loop, the image budget, EMA, checkpoints and evaluation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from harness.backbones import LoadedBackbone
from harness.errors import UsageError
from harness.optimizers import Optimizer


@dataclass
class MethodContext:
    """What a method may know about its run besides its own config."""

    backbone: LoadedBackbone
    num_classes: int
    device: torch.device
    seed: int
    batch_size: int
    budget_images: int  # the run's budget: training images the generator will see


class Method(ABC):
    name: ClassVar[str]
    Config: ClassVar[type]
    trains: ClassVar[bool] = True
    # Attributes holding the networks ``train_step`` updates. Under torchrun each is wrapped in DDP
    # (harness/distributed.py) so its gradients are averaged over the processes during backward.
    parallel: ClassVar[tuple[str, ...]] = ()
    # True when the training schedule is set by the budget (PD's halving rounds): a curve point of such a
    # run before its end is a snapshot of the longer schedule, not what a run at that budget would give.
    schedule_depends_on_budget: ClassVar[bool] = False
    # True when the method samples the backbone's own wrapper D(x; sigma) (teacher, PD); False when it re-wraps
    # the wrapper's inner network in the consistency preconditioning of baselines/d2o.py (check_backbone_wrapper).
    runs_backbone_wrapper: ClassVar[bool] = False
    # The runner settings (TrainConfig fields) of the method's own reference, applied over the dataset's
    # ``train`` preset and under its ``train/<method>`` one (harness/build.py), e.g. the evaluated EMA.
    train_defaults: ClassVar[dict[str, Any]] = {}
    # Config fields added after records were stored, with the value that reproduces those records (the
    # code had no such setting then): a stored config without the key is rebuilt with this value.
    introduced: ClassVar[dict[str, Any]] = {}

    def __init__(self, ctx: MethodContext, config: Any):
        self.ctx = ctx
        self.config = config

    @property
    @abstractmethod
    def generator(self) -> torch.nn.Module:
        """Maps latents z ~ N(0, I) [N, C, R, R] and one-hot labels (or None) to images in [-1, 1]."""

    @property
    def nfe(self) -> int:
        """Network evaluations per generated sample."""
        return 1

    # Teacher (frozen backbone) forward passes per training image the generator sees.
    teacher_passes_per_image: ClassVar[float] = 0.0

    def train_step(self, real: torch.Tensor, labels: torch.Tensor | None, step: int,
                   rng: torch.Generator) -> dict[str, torch.Tensor]:
        """One optimisation step on a real batch; returns detached scalar losses (no host sync)."""
        raise NotImplementedError(f"{self.name} does not train")

    def modules(self) -> dict[str, torch.nn.Module]:
        """Everything with state to checkpoint (generator, discriminator, auxiliary networks)."""
        return {"generator": self.generator}

    def optimizers(self) -> dict[str, Optimizer]:
        return {}

    def record_info(self) -> dict[str, Any]:
        """Method facts for the record (e.g. the frozen share of D2O-F)."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        """JSON-able state beyond modules and optimisers (e.g. the current round), for resuming."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore ``extra_state``; called before modules and optimisers are loaded on resume."""


class FixedGenerator(Method):
    """A method that trains nothing: a generator built once from the backbone (teacher, backbone in one step)."""

    trains = False

    def __init__(self, ctx: MethodContext, config: Any):
        super().__init__(ctx, config)
        self._generator = self.build_generator(ctx, config)

    @abstractmethod
    def build_generator(self, ctx: MethodContext, config: Any) -> torch.nn.Module:
        """The generator, from the backbone and the config."""

    @property
    def generator(self) -> torch.nn.Module:
        return self._generator


class StudentDistillation(Method):
    """A distillation method that trains one student (``self.student``, optimiser ``self.opt``) against
    the frozen teacher with two teacher passes per training image (PD: two DDIM steps; CD: one Heun
    step); its one-step generator (``self._generator``) runs the student."""

    parallel = ("student",)
    teacher_passes_per_image = 2.0

    @property
    def generator(self) -> torch.nn.Module:
        return self._generator

    def optimizers(self) -> dict[str, Optimizer]:
        return {"student": self.opt}


# The one wrapper whose output mapping the consistency preconditioning reproduces (baselines/d2o.py).
MAPPED_WRAPPER = "EDMPrecond"


def check_backbone_wrapper(method_cls: type, net: torch.nn.Module, backbone_name: str) -> None:
    """Refuse, in one line, a backbone whose wrapper the method's one-step generator would mis-map.

    The consistency preconditioning (baselines/d2o.py) adopts a VP / VE / iDDPM wrapper's c_in and c_noise
    but not its output mapping (c_skip = 1, c_out = -sigma or sigma; EDM arXiv 2206.00364, Table 1), so
    its generator would start near 0.5 F rather than the backbone's denoiser at sigma_max, and a CD student
    would not equal its teacher at initialisation. EDM's released checkpoints (edm-*-vp, edm-*-ve, edm-*-adm)
    are all EDMPrecond (the suffix names the architecture), so only VP/VE/iDDPM-trained networks are refused.
    """
    kind = type(net).__name__
    if method_cls.runs_backbone_wrapper or kind == MAPPED_WRAPPER:
        return
    raise UsageError(f"{method_cls.name}: backbone {backbone_name} uses {kind} preconditioning; {method_cls.name} "
                     f"fine-tunes its inner network in the consistency preconditioning, which maps {MAPPED_WRAPPER} "
                     f"backbones only (a {kind} output mapping is not implemented); use an {MAPPED_WRAPPER} backbone "
                     f"(all of EDM's released checkpoints are)")


def draw_latents(shape: tuple[int, ...], rng: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randn(shape, generator=rng, device=rng.device).to(device)


@contextmanager
def frozen(*modules: torch.nn.Module | None) -> Iterator[None]:
    """Within the block, ``modules``' parameters take no gradient (inputs still get one: a generator
    learns through a frozen discriminator); afterwards every flag is as it was (D2O-F keeps its
    frozen layers frozen). The one place methods switch ``requires_grad``."""
    params = [p for m in modules if m is not None for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
