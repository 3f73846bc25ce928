"""Run under ``torchrun`` by test_ddp.py: first-step gradients of gan_only on a fixed global batch.

Every rank sees its slice of the same real images and the same latents the single-process run
draws for the whole batch; rank 0 writes the averaged gradients as safetensors.
"""

import sys

import torch
import torch.distributed as dist

import baselines.gan_only as gan_only
from harness import distributed
from harness.backbones import load_backbone
from harness.data import load_dataset
from harness.runner import build_method, configure

GLOBAL_BATCH = 32


def fixed_inputs(batch: int):
    real = load_dataset("digits").all_images()[:batch]
    gen = torch.Generator().manual_seed(123)
    latents = [torch.randn((batch, 1, 8, 8), generator=gen) for _ in range(2)]  # G step, D step
    return real, latents


def first_step(backbone_path: str, rank: distributed.Rank) -> dict[str, list]:
    config = configure("gan_only", "digits", backbone=backbone_path, budget_kimg=0.1, device="cpu",
                       overrides=[f"batch_size={GLOBAL_BATCH}", "d_width=16"])
    torch.manual_seed(0)
    method, _ = build_method(config, load_backbone(backbone_path), load_dataset("digits"), torch.device("cpu"))
    real, latents = fixed_inputs(GLOBAL_BATCH)
    mine = rank.my_slice(GLOBAL_BATCH)
    calls = iter(latents)
    original = gan_only.draw_latents
    gan_only.draw_latents = lambda shape, rng, device: next(calls)[mine]  # undone below: tests share the process
    handles = distributed.sync_optimizers(method.optimizers(), rank)
    try:
        return distributed.first_step_gradients(method, real[mine], None, 0, torch.Generator())
    finally:
        gan_only.draw_latents = original
        for handle in handles:
            handle.remove()


def flat(grads: dict[str, list]) -> dict[str, torch.Tensor]:
    return {f"{name}/{i}": g for name, gs in grads.items() for i, g in enumerate(gs) if g is not None}


if __name__ == "__main__":
    backbone, out = sys.argv[1], sys.argv[2]
    rank = distributed.from_env()
    dist.init_process_group("gloo")
    grads = first_step(backbone, rank)
    if rank.is_writer:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in flat(grads).items()}, out)
    dist.destroy_process_group()
