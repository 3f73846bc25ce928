"""How a method declares the hyperparameters `bench tune` may search, next to its Config.

Each method module defines ``SEARCH_SPACE = {config field: Tunable}``: the few settings its
paper's ablations say matter (learning rates on a log scale, loss weights, schedule lengths),
each with the range searched and a note of where that range comes from. The default value stays
the Config's (the paper's) or the dataset preset's; `bench tune` enqueues it as the first trial.
A plain data declaration: nothing here imports Optuna (harness/tuning does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

KINDS = ("float", "int", "choice")


@dataclass(frozen=True)
class Tunable:
    """One searched setting: a float or int range (``log`` = log-uniform) or a set of choices."""

    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    why: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; valid: {', '.join(KINDS)}")
        if self.kind == "choice":
            if not self.choices:
                raise ValueError("a choice needs at least one value")
            return
        if self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"a range needs low < high, got {self.low}..{self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        if self.kind == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError(f"an int range needs whole bounds, got {self.low}..{self.high}")

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        return self.low <= value <= self.high and (self.kind == "float" or value == int(value))

    def describe(self) -> str:
        if self.kind == "choice":
            return "{" + ", ".join(str(c) for c in self.choices) + "}"
        scale = "log" if self.log else "linear"
        return f"[{self.low:g}, {self.high:g}] {self.kind} {scale}"

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"kind": "choice", "choices": list(self.choices)}
        return {"kind": self.kind, "low": self.low, "high": self.high, "log": self.log}


def log_uniform(low: float, high: float, why: str = "") -> Tunable:
    return Tunable("float", float(low), float(high), log=True, why=why)


def uniform(low: float, high: float, why: str = "") -> Tunable:
    return Tunable("float", float(low), float(high), why=why)


def int_range(low: int, high: int, log: bool = False, why: str = "") -> Tunable:
    return Tunable("int", int(low), int(high), log=log, why=why)


def choice(*values: Any, why: str = "") -> Tunable:
    return Tunable("choice", choices=tuple(values), why=why)
