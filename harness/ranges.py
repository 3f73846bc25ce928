"""The ranges numeric settings may take, from what each one means: one table the validator reads
(``harness.validate.check_fields``) for every method's, the runner's and pre-training's settings,
and for a backbone card's network keywords (``harness.backbones.network``).

The generic rules (finite; not negative where the default is positive) cannot see that a zero
width builds an empty network, that Adam's beta must stay below 1, or that a noise range needs
sigma_min < sigma_max; a value outside its range fails before any work with one line naming the
setting, its range and why.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Iterable

from harness.errors import UsageError


@dataclass(frozen=True)
class Range:
    """``minimum <= value``, ``value > above``, ``value < below``, ``value <= maximum`` (each optional)."""

    minimum: float | None = None
    above: float | None = None
    below: float | None = None
    maximum: float | None = None
    why: str = ""

    def describe(self) -> str:
        low = f">= {self.minimum:.12g}" if self.minimum is not None else (f"> {self.above:.12g}" if self.above is not None
                                                                         else "")
        high = f"< {self.below:.12g}" if self.below is not None else (f"<= {self.maximum:.12g}" if self.maximum is not None
                                                                     else "")
        return " and ".join(p for p in (low, high) if p)

    def holds(self, value: float) -> bool:
        return ((self.minimum is None or value >= self.minimum) and (self.above is None or value > self.above)
                and (self.below is None or value < self.below) and (self.maximum is None or value <= self.maximum))


ADAM = "Adam's moment decay (arXiv 1412.6980, Alg. 1) lies in [0, 1)"
WIDTH = "a width of 0 builds a network with no channels"
SIGMA = "a noise level (EDM, arXiv 2206.00364, eq. 5) is positive"
UNIT = "a fraction of the noise schedule, in [0, 1]"

RANGES: dict[str, Range] = {
    # optimisers
    "beta1": Range(minimum=0, below=1, why=ADAM),
    "beta2": Range(minimum=0, below=1, why=ADAM),
    "target_ema": Range(minimum=0, below=1, why="the target network's EMA rate mu (arXiv 2303.01469, eq. 8)"),
    # network widths and depths (the discriminator's and a pre-trained SongUNet's)
    "d_width": Range(minimum=1, why=WIDTH),
    "model_channels": Range(minimum=1, why=WIDTH),
    "channel_mult": Range(minimum=1, why=WIDTH),
    "num_blocks": Range(minimum=1, maximum=64, why="blocks per U-Net level; EDM's networks have 2-4"),
    "img_resolution": Range(minimum=1, maximum=4096, why="an image has at least one pixel a side"),
    "dropout": Range(minimum=0, maximum=1, why="a dropout probability"),
    # noise levels and their schedule
    "sigma": Range(above=0, why=SIGMA),
    "sigma_min": Range(above=0, why=SIGMA),
    "sigma_max": Range(above=0, why=SIGMA),
    "sigma_data": Range(above=0, why="EDM's preconditioning divides by sigma_data (arXiv 2206.00364, Table 1)"),
    "rho": Range(above=0, why="the Karras schedule's exponent (arXiv 2206.00364, eq. 5)"),
    "p_std": Range(above=0, why="the log-normal noise distribution's spread (arXiv 2206.00364, Table 1)"),
    "dm_u_min": Range(minimum=0, maximum=1, why=UNIT),
    "dm_u_max": Range(minimum=0, maximum=1, why=UNIT),
    "fake_u_min": Range(minimum=0, maximum=1, why=UNIT),
    "fake_u_max": Range(minimum=0, maximum=1, why=UNIT),
    # counts
    "gan_loss_images": Range(minimum=1, why="the GAN losses are this many images' sum of the batch mean"),
    "r1_interval": Range(minimum=1, why="R1 is applied every this many steps"),
    "fake_steps_per_generator_step": Range(minimum=1, why="DMD2's two time-scale rule (arXiv 2405.14867, §4.2)"),
    "num_scales": Range(minimum=2, why="consistency distillation needs two adjacent noise levels (arXiv 2303.01469)"),
    "start_steps": Range(minimum=1, why="the first teacher's sampling steps"),
    "round_fractions": Range(above=0, why="each distillation round's share of the budget"),
    # the runner's logging
    "log_every_kimg": Range(minimum=0.001, why="one stats line per this many kimg; less than one image logs nothing"),
}

# Pairs that must be strictly ordered (lower, upper) wherever a config has both.
ORDERED: tuple[tuple[str, str], ...] = (("sigma_min", "sigma_max"), ("dm_u_min", "dm_u_max"),
                                        ("fake_u_min", "fake_u_max"))


def _numbers(value: Any) -> Iterable[float]:
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, numbers.Real) and not isinstance(item, bool):
            yield item


def check_ranges(values: dict[str, Any], label: str = "--set ") -> None:
    """Every value whose name is in ``RANGES`` within its range, and every ``ORDERED`` pair in order.

    ``values``: a config as a dict (or a network card's keywords); ``label`` prefixes the name in the
    error. A list of widths (``channel_mult``) must be non-empty and each item in range.
    """
    for name, value in values.items():
        rule = RANGES.get(name)
        if rule is None or value is None:
            continue
        if isinstance(value, (list, tuple)) and not value and name == "channel_mult":
            raise UsageError(f"{label}{name} is empty; it needs at least one level ({rule.why})")
        for number in _numbers(value):
            if not math.isfinite(float(number)) or not rule.holds(number):
                raise UsageError(f"{label}{name} must be {rule.describe()}, got {number:.12g} ({rule.why})")
    for low, high in ORDERED:
        a, b = values.get(low), values.get(high)
        if isinstance(a, numbers.Real) and isinstance(b, numbers.Real) and not a < b:
            raise UsageError(f"{label}{low}={a:.12g} must be below {high}={b:.12g}")
