"""Adam, AdamW and RAdam without the start-up cost of ``torch.optim.Optimizer``.

Building any ``torch.optim.Optimizer`` imports ``torch._dynamo`` (1.0-1.5 s on two CPU cores, once per
process), because its methods are wrapped so that ``torch.compile`` skips them. bench never compiles an
optimiser, and the quick start trains for ~20 s, so that import was 5% of it and ~1 s of every training
process the tests start.

These classes keep torch's parameter groups, per-parameter state and ``state_dict`` layout (checkpoints
written with ``torch.optim`` load here and the other way round) and call torch's own functional updates,
``torch.optim.adam.adam`` and ``torch.optim.radam.radam``: the arithmetic is torch's, so parameters
match ``torch.optim.Adam``/``AdamW``/``RAdam`` bit for bit (tests/harness/test_optimizers.py).
Adam: arXiv 1412.6980 Alg. 1; AdamW: arXiv 1711.05101 Alg. 2; RAdam: arXiv 1908.03265 Alg. 2.
"""
from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any

import torch
from torch.optim.adam import adam
from torch.optim.radam import radam
from torch.utils.hooks import RemovableHandle

StepPreHook = Callable[["Optimizer", tuple, dict], None]


class Optimizer:
    """What bench's methods, checkpoints and the DDP test use of an optimiser, and nothing more."""

    # Hyperparameters in the order torch keeps them in a parameter group (state_dict["param_groups"]).
    DEFAULTS: dict[str, Any] = {}

    def __init__(self, params: Iterable[torch.Tensor], **hyperparameters: Any):
        unknown = sorted(set(hyperparameters) - set(self.DEFAULTS))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected hyperparameters: {', '.join(unknown)}")
        group = {**self.DEFAULTS, **hyperparameters}
        check_hyperparameters(group)
        group["params"] = list(params)
        if not group["params"]:
            raise ValueError("optimizer got an empty parameter list")
        self.defaults = {k: v for k, v in group.items() if k != "params"}
        self.param_groups: list[dict[str, Any]] = [group]
        self.state: defaultdict[torch.Tensor, dict[str, Any]] = defaultdict(dict)
        self._step_pre_hooks: OrderedDict[int, StepPreHook] = OrderedDict()  # RemovableHandle needs a weakref

    def update(self, group: dict[str, Any], params: list[torch.Tensor], state: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def register_step_pre_hook(self, hook: StepPreHook) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` runs before every ``step`` (as in torch.optim)."""
        handle = RemovableHandle(self._step_pre_hooks)
        self._step_pre_hooks[handle.id] = hook
        return handle

    @torch.no_grad()
    def step(self) -> None:
        for hook in list(self._step_pre_hooks.values()):
            hook(self, (), {})
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self.update(group, params, [self._state_of(p, group) for p in params])

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_()
                    p.grad.zero_()

    def _state_of(self, p: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """Lazy state, made as torch makes it: ``step`` stays a float32 CPU scalar unless the update
        runs on the device (fused or capturable)."""
        state = self.state[p]
        if not state:
            on_device = bool(group.get("fused")) or group["capturable"]
            state["step"] = (torch.zeros((), dtype=torch.float32, device=p.device) if on_device
                             else torch.tensor(0.0, dtype=torch.float32))
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group.get("amsgrad"):
                state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's layout: parameters become their index over all groups, in order."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        return {"state": {index[id(p)]: s for p, s in self.state.items()}, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Adopt a saved state (torch.optim's or ours): its hyperparameters and moments, moved to each
        parameter's device and dtype (``step`` stays where the update expects it)."""
        state_dict = deepcopy(state_dict)
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        by_index: dict[int, tuple[torch.Tensor, dict]] = {}
        for group, saved in zip(self.param_groups, saved_groups):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size "
                                 "of optimizer's group")
            by_index.update({i: (p, group) for i, p in zip(saved["params"], group["params"])})
        state: defaultdict[torch.Tensor, dict[str, Any]] = defaultdict(dict)
        for key, entries in state_dict["state"].items():
            if int(key) not in by_index:
                raise ValueError(f"loaded state dict has state for parameter {key}, which no group holds")
            p, group = by_index[int(key)]
            state[p] = {name: _placed(value, name, p, group) for name, value in entries.items()}
        self.state = state
        self.param_groups = [{**saved, "params": group["params"]}
                             for group, saved in zip(self.param_groups, saved_groups)]


def _placed(value: Any, name: str, p: torch.Tensor, group: dict[str, Any]) -> Any:
    if not isinstance(value, torch.Tensor):
        return value
    if name == "step":
        on_device = bool(group.get("fused")) or group.get("capturable", False)
        return value.to(dtype=torch.float32, device=p.device) if on_device else value
    return value.to(dtype=p.dtype, device=p.device) if p.is_floating_point() else value.to(device=p.device)


def check_hyperparameters(group: dict[str, Any]) -> None:
    """The checks torch.optim makes when an optimiser is built."""
    beta1, beta2 = group["betas"]
    for name, value, ok in (("learning rate", group["lr"], group["lr"] >= 0), ("epsilon value", group["eps"],
                            group["eps"] >= 0), ("beta parameter at index 0", beta1, 0 <= beta1 < 1),
                            ("beta parameter at index 1", beta2, 0 <= beta2 < 1),
                            ("weight_decay value", group["weight_decay"], group["weight_decay"] >= 0)):
        if not ok:
            raise ValueError(f"Invalid {name}: {value}")


class Adam(Optimizer):
    DEFAULTS = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False,
                "maximize": False, "foreach": None, "capturable": False, "differentiable": False, "fused": None,
                "decoupled_weight_decay": False}

    def update(self, group, params, state):
        beta1, beta2 = group["betas"]
        adam(params, [p.grad for p in params], [s["exp_avg"] for s in state], [s["exp_avg_sq"] for s in state],
             [s["max_exp_avg_sq"] for s in state] if group["amsgrad"] else [], [s["step"] for s in state],
             foreach=group["foreach"], capturable=group["capturable"], differentiable=group["differentiable"],
             fused=group["fused"], grad_scale=None, found_inf=None, has_complex=any(map(torch.is_complex, params)),
             decoupled_weight_decay=group["decoupled_weight_decay"], amsgrad=group["amsgrad"], beta1=beta1,
             beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"],
             maximize=group["maximize"])


class AdamW(Adam):
    """Adam with decoupled weight decay; torch.optim.AdamW is exactly this (its own defaults)."""

    DEFAULTS = {**Adam.DEFAULTS, "weight_decay": 1e-2, "decoupled_weight_decay": True}


class RAdam(Optimizer):
    DEFAULTS = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "maximize": False,
                "foreach": None, "capturable": False, "decoupled_weight_decay": False, "differentiable": False}

    def update(self, group, params, state):
        beta1, beta2 = group["betas"]
        radam(params, [p.grad for p in params], [s["exp_avg"] for s in state], [s["exp_avg_sq"] for s in state],
              [s["step"] for s in state], decoupled_weight_decay=group["decoupled_weight_decay"],
              foreach=group["foreach"], differentiable=group["differentiable"], capturable=group["capturable"],
              has_complex=any(map(torch.is_complex, params)), maximize=group["maximize"], beta1=beta1,
              beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"])
