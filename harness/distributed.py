"""Data-parallel training under ``torchrun`` (one or many nodes, its standard environment variables).

Each rank trains on its slice of the global batch with its own noise stream (derived from the run
seed and the rank), and before every optimiser step the gradients are averaged over the ranks with
one all-reduce, so every replica takes the same step the single process would take on the whole
batch. Averaging at the optimiser (torch.distributed's all-reduce, the collective DDP itself uses)
rather than wrapping modules in DistributedDataParallel keeps the method interface untouched:
methods call their networks by attribute, freeze the discriminator for the generator step and take
R1's double backward, none of which DDP's per-forward bookkeeping accepts without special modes.
Only rank 0 writes records, samples and checkpoints, and evaluates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from harness.errors import UsageError


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


def average_gradients(params: list[torch.Tensor], world: int) -> None:
    """Replace each gradient by its mean over the ranks: one flat all-reduce, no host sync."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(world)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def _params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def sync_optimizers(optimizers: dict[str, torch.optim.Optimizer], rank: Rank) -> list:
    """Average gradients over the ranks before every step of every optimiser; returns removable handles."""
    if rank.world == 1:
        return []
    return [opt.register_step_pre_hook(lambda o, args, kwargs: average_gradients(_params(o), rank.world))
            for opt in optimizers.values()]


def broadcast_modules(modules: dict[str, torch.nn.Module]) -> None:
    """Start every replica from rank 0's weights (they agree already when seeded alike; this makes sure)."""
    for module in modules.values():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def first_step_gradients(method, real: torch.Tensor, labels, step: int, rng: torch.Generator) -> dict[str, list]:
    """Run one ``train_step`` and return, per optimiser, the gradients it stepped with (after averaging).

    Hooks registered after ``sync_optimizers`` run after it, so under several processes these are
    the averaged gradients: what the test compares with one process on the whole batch.
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
