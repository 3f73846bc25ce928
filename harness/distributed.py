"""Data-parallel training under ``torchrun`` (one or many nodes, its standard environment variables).

Each rank trains on its slice of the global batch with its own noise stream (derived from the run
seed and the rank). The networks a method's training step updates (``Method.parallel``) are wrapped
in PyTorch's DistributedDataParallel, which averages their gradients over the ranks during the
backward pass, so every replica takes the step the single process would take on the whole batch
(and gradient clipping sees the averaged gradient). The wrapper stands in for the network: the
method keeps calling ``self.D(...)``, freezing it for the generator step and taking R1's double
backward, and checkpoints, EMA and copies see the plain network. Only rank 0 writes records,
samples and checkpoints, and evaluates.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from harness.errors import UsageError
from harness.optimizers import Optimizer


@dataclass(frozen=True)
class Rank:
    """Where this process sits: ``world == 1`` is the ordinary single-process run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    def noise_purpose(self, purpose: str) -> str:
        """Per-rank stream names; rank 0 of a single process keeps the historical name (same draws)."""
        return purpose if self.world == 1 else f"{purpose}/rank{self.rank}"

    def local_batch(self, batch: int) -> int:
        if batch % self.world:
            raise UsageError(f"batch_size {batch} does not split evenly over {self.world} processes")
        return batch // self.world

    def my_slice(self, batch: int) -> slice:
        size = self.local_batch(batch)
        return slice(self.rank * size, (self.rank + 1) * size)


def from_env(env=os.environ) -> Rank:
    """The torchrun variables (RANK, WORLD_SIZE, LOCAL_RANK); absent means a single process."""
    world = int(env.get("WORLD_SIZE", "1"))
    return Rank(int(env.get("RANK", "0")), world, int(env.get("LOCAL_RANK", "0"))) if world > 1 else Rank()


def start(rank: Rank, device: torch.device) -> tuple[torch.device, bool]:
    """Join the process group (nccl on CUDA, gloo on CPU); returns this rank's device and whether we joined."""
    if rank.world == 1:
        return device, False
    if device.type == "cuda":
        device = torch.device("cuda", rank.local_rank)
        torch.cuda.set_device(device)
    if dist.is_initialized():
        return device, False
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank.rank, world_size=rank.world)
    return device, True


def stop(joined: bool) -> None:
    if joined and dist.is_initialized():
        dist.destroy_process_group()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any (so all ranks stop together)."""
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


class Replica(DistributedDataParallel):
    """DDP standing in for the network it wraps: attributes, ``state_dict`` and ``deepcopy`` reach the
    network, so a method's code and the harness's checkpoints read the same with one process or many."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":  # not built yet (inside DDP's constructor)
                raise
            return getattr(self.module, name)

    def state_dict(self, *args, **kwargs):
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, *args, **kwargs):
        return self.module.load_state_dict(*args, **kwargs)

    def __deepcopy__(self, memo):
        return copy.deepcopy(self.module, memo)


def no_buffer_sync_each_forward() -> dict:
    """DDP's switch for not syncing buffers in every forward: ``forward_sync_buffers`` from torch 2.14,
    which warns on every run that ``broadcast_buffers`` is deprecated; ``broadcast_buffers`` before (the
    GPU machines' torch 2.11). The new one also syncs them once at wrapping: the ranks' copies are equal."""
    import inspect

    known = inspect.signature(DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in known else {"broadcast_buffers": False}


def replicate(method, rank: Rank, device: torch.device) -> list[str]:
    """Wrap each network of ``method.parallel`` that has trainable weights in DDP, in place; returns
    the wrapped attribute names (undo with ``unreplicate``). A single process wraps nothing."""
    if rank.world == 1:
        return []
    wrapped = []
    for name in method.parallel:
        module = getattr(method, name, None)
        if module is None or not any(p.requires_grad for p in module.parameters()):
            continue
        setattr(method, name, Replica(module, device_ids=[device.index] if device.type == "cuda" else None,
                                      **no_buffer_sync_each_forward()))
        wrapped.append(name)
    return wrapped


def unreplicate(method, names: list[str]) -> None:
    for name in names:
        setattr(method, name, getattr(method, name).module)


def _params(optimizer: Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def broadcast_modules(modules: dict[str, torch.nn.Module]) -> None:
    """Start every replica from rank 0's weights (they agree already when seeded alike; this makes sure)."""
    for module in modules.values():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def first_step_gradients(method, real: torch.Tensor, labels, step: int, rng: torch.Generator) -> dict[str, list]:
    """Run one ``train_step`` and return, per optimiser, the gradients it stepped with.

    Under DDP (``replicate``) these are the gradients averaged over the ranks: what the test
    compares with one process on the whole batch.
    """
    seen: dict[str, list] = {}

    def capture(name):
        def hook(opt, args, kwargs):
            if name not in seen:
                seen[name] = [None if p.grad is None else p.grad.detach().clone() for p in _params(opt)]
        return hook

    handles = [opt.register_step_pre_hook(capture(name)) for name, opt in method.optimizers().items()]
    try:
        method.train_step(real, labels, step, rng)
    finally:
        for handle in handles:
            handle.remove()
    return seen
