"""Divergence checks: a NaN or Inf in a loss or in the generator's weights stops a run, which is
then recorded as failed (reason, first bad step), never as a result."""

from __future__ import annotations

import torch

from harness import distributed


class Diverged(Exception):
    """A NaN or Inf in a loss or the weights; the run is recorded as failed, never as a result."""

    def __init__(self, reason: str, step: int, images_seen: int):
        super().__init__(reason)
        self.reason, self.step, self.images_seen = reason, step, images_seen


class FiniteWatch:
    """Divergence checks without a host sync per step.

    ``note`` remembers, on the device, the first step at which each loss was not finite; ``check``
    (called on the history/checkpoint schedule and at the end) reads that back once and raises
    ``Diverged`` naming the first bad step, then checks the generator's weights.
    """

    def __init__(self):
        self.first: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # loss -> (first bad step, its value)

    def note(self, losses: dict[str, torch.Tensor], step: int) -> None:
        for name, value in losses.items():
            value = value.detach().float().sum()
            bad_step, bad_value = self.first.get(name) or (torch.full((), -1, device=value.device), value.new_zeros(()))
            take = ~torch.isfinite(value) & (bad_step < 0)
            self.first[name] = (torch.where(take, step, bad_step), torch.where(take, value, bad_value))

    def check(self, module: torch.nn.Module, step: int, images_seen: int, batch: int, world: int = 1) -> None:
        bad = [(int(s), name, float(v)) for name, (s, v) in self.first.items() if int(s) >= 0]
        if world > 1 and distributed.any_rank(bool(bad), next(module.parameters()).device) and not bad:
            raise Diverged("a loss of another process is not finite", step, images_seen)  # all ranks stop together
        if bad:
            bad_step, name, value = min(bad, key=lambda item: item[0])
            raise Diverged(f"{name} is {value}", bad_step, images_seen - (step - bad_step) * batch)
        for name, p in module.named_parameters():
            if not torch.isfinite(p).all():
                raise Diverged(f"generator weight {name} is not finite", step, images_seen)
