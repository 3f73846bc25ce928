"""D2O-F (Zheng & Yang, ICML 2025, arXiv 2506.09376; earlier GDD-I, arXiv 2405.20750): D2O's GAN-only
fine-tuning with most of the pre-trained UNet frozen (arXiv 2506.09376, the D2O-F freezing rule; Zyriix/GDD train.sh --freeze).

The paper's claim 3: diffusion training acts as generative pre-training, so fine-tuning only the
normalisation, embedding, input/output and (by level) attention/skip layers is enough.

Freezing rule, applied to the generator's parameter names:
  a parameter is frozen when one module in its name is a UNet block — `<res>x<res>_block<i>`,
  `<res>x<res>_up`, `<res>x<res>_down` or `<res>x<res>_in<i>` (e.g. `enc.16x16_block2`,
  `dec.8x8_up`, `dec.4x4_in0`) — and the layer right below that block is one of
    level 0: nothing (plain D2O)
    level 1: the 3x3 convolutions `conv0`, `conv1` and the attention output projection `proj`
    level 2: level 1 + the attention input projection `qkv`
    level 3: level 2 + the 1x1 shortcut convolution `skip`
  Never frozen: `map_*` (noise/label mapping MLP), `enc.*_conv` (input conv), `aux_*` (NCSN++
  encoder/decoder auxiliaries and the output head), every GroupNorm `norm*` and AdaGN `affine`.
Frozen shares this rule gives (paper's table): CIFAR-10 NCSN++ 84.4 / 86.5 / 90.5 %,
64x64 NCSN++ 83.8 / 85.7 / 89.7 %, ImageNet ADM 78.8 / 87.0 / 90.2 % (levels 1 / 2 / 3).

Everything else (loss, optimiser, lazy R1, labels from the real batch) is D2O's, see gan_only.py.
Frozen parameters keep ``requires_grad=False`` and are not given to the generator's optimiser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from baselines import METHODS
from baselines.gan_only import GanOnly, GanOnlyConfig
from baselines.gan_only import SEARCH_SPACE as GAN_ONLY_SEARCH_SPACE
from harness.config import one_of
from harness.errors import UsageError

# A UNet block's module name inside `enc`/`dec`: resolution prefix, then block/up/down/in<i>.
# Anchored, so `16x16_aux_down` (an auxiliary layer) and `32x32_conv` do not count as blocks.
BLOCK_NAME = re.compile(r"^\d+x\d+_(block\d+|up|down|in\d+)$")

# Layers frozen inside a block, cumulative by level (arXiv 2506.09376).
FROZEN_LAYERS_BY_LEVEL: dict[int, frozenset[str]] = {
    0: frozenset(),
    1: frozenset({"conv0", "conv1", "proj"}),
    2: frozenset({"conv0", "conv1", "proj", "qkv"}),
    3: frozenset({"conv0", "conv1", "proj", "qkv", "skip"}),
}


def check_freeze_level(level: int) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or level not in FROZEN_LAYERS_BY_LEVEL:
        raise UsageError(f"gan_only_frozen: freeze_level must be one of 0, 1, 2, 3; got {level!r}")
    return level


def is_frozen(name: str, level: int) -> bool:
    """Whether the parameter called ``name`` is frozen at ``level`` (the rule in the module docstring)."""
    layers = FROZEN_LAYERS_BY_LEVEL[check_freeze_level(level)]
    parts = name.split(".")
    return any(BLOCK_NAME.match(parts[i]) and parts[i + 1] in layers for i in range(len(parts) - 1))


def frozen_parameter_names(named_parameters: Iterable[tuple[str, torch.nn.Parameter]], level: int) -> set[str]:
    """Names of the parameters D2O-F freezes at ``level``; any name prefix (``unet.``, ``model.``) works."""
    check_freeze_level(level)
    return {name for name, _ in named_parameters if is_frozen(name, level)}


@dataclass
class GanOnlyFrozenConfig(GanOnlyConfig):
    """D2O's settings (gan_only.py) plus the freeze level; the paper's D2O-F freezes level 1 (§2)."""

    freeze_level: int = one_of(1, tuple(FROZEN_LAYERS_BY_LEVEL))


# `bench tune`: D2O's space; the freeze level is what makes the method D2O-F, so it is not searched.
SEARCH_SPACE = dict(GAN_ONLY_SEARCH_SPACE)


class GanOnlyFrozen(GanOnly):
    name = "gan_only_frozen"
    Config = GanOnlyFrozenConfig

    def prepare_generator(self) -> None:
        level = check_freeze_level(self.config.freeze_level)
        named = list(self.G.named_parameters())
        frozen = frozen_parameter_names(named, level)
        for name, p in named:
            p.requires_grad_(name not in frozen)
        self._frozen_count = sum(p.numel() for name, p in named if name in frozen)
        self._total_count = sum(p.numel() for _, p in named)
        self._frozen_tensors = len(frozen)

    def record_info(self) -> dict[str, Any]:
        return {
            **super().record_info(),
            "freeze_level": self.config.freeze_level,
            "frozen_share": self._frozen_count / self._total_count if self._total_count else 0.0,
            "frozen_parameters": self._frozen_count,
            "total_parameters": self._total_count,
            "frozen_tensors": self._frozen_tensors,
        }


METHODS.add("gan_only_frozen", GanOnlyFrozen)
