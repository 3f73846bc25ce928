"""Run under ``torchrun`` by test_ddp.py.

``grads``: first-step gradients of gan_only on a fixed global batch. Every rank sees its slice of
the same real images and the same latents the single-process run draws for the whole batch; rank
0 writes the averaged gradients as safetensors.
``replicas METHOD...``: a few training steps of each method, every rank on different images and
noise; rank 0 writes which networks were wrapped and how far the ranks' weights drifted apart.
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
                       overrides=[f"train.batch_size={GLOBAL_BATCH}", "d_width=16"])
    torch.manual_seed(0)
    method, _ = build_method(config, load_backbone(backbone_path), load_dataset("digits"), torch.device("cpu"))
    real, latents = fixed_inputs(GLOBAL_BATCH)
    mine = rank.my_slice(GLOBAL_BATCH)
    calls = iter(latents)
    original = gan_only.draw_latents
    gan_only.draw_latents = lambda shape, rng, device: next(calls)[mine]  # undone below: tests share the process
    replicas = distributed.replicate(method, rank, torch.device("cpu"))
    assert replicas == ([] if rank.world == 1 else ["G", "D"])
    try:
        return distributed.first_step_gradients(method, real[mine], None, 0, torch.Generator())
    finally:
        gan_only.draw_latents = original
        distributed.unreplicate(method, replicas)


def flat(grads: dict[str, list]) -> dict[str, torch.Tensor]:
    return {f"{name}/{i}": g for name, gs in grads.items() for i, g in enumerate(gs) if g is not None}


def replicas_stay_equal(method_name: str, backbone_path: str, rank: distributed.Rank, steps: int = 6) -> dict:
    """Train ``steps`` steps on rank-specific batches; the ranks' trained weights must still agree."""
    config = configure(method_name, "digits", backbone=backbone_path, budget_kimg=0.064, device="cpu",
                       overrides=["train.batch_size=16"])
    torch.manual_seed(0)
    method, _ = build_method(config, load_backbone(backbone_path), load_dataset("digits"), torch.device("cpu"))
    wrapped = distributed.replicate(method, rank, torch.device("cpu"))
    real = load_dataset("digits").all_images()[:16 * steps]
    rng = torch.Generator().manual_seed(1000 + rank.rank)  # each rank its own noise, as in a real run
    for step in range(steps):
        method.train_step(real[16 * step:16 * (step + 1)][rank.my_slice(16)], None, step, rng)
    distributed.unreplicate(method, wrapped)
    trained = torch.cat([p.detach().reshape(-1) for opt in method.optimizers().values()
                         for group in opt.param_groups for p in group["params"]])
    gathered = [torch.empty_like(trained) for _ in range(rank.world)]
    dist.all_gather(gathered, trained)
    return {"wrapped": wrapped, "spread": float((gathered[0] - gathered[1]).abs().max()),
            "extra_state": method.extra_state()}


if __name__ == "__main__":
    # ddp_grads_worker.py BACKBONE OUT_DIR METHOD...: the first step's gradients (OUT_DIR/grads.safetensors)
    # and, for each METHOD, whether its replicas stay equal (OUT_DIR/replicas.json), in one launch.
    backbone, out, *methods = sys.argv[1:]
    rank = distributed.from_env()
    dist.init_process_group("gloo")
    grads = first_step(backbone, rank)
    report = {name: replicas_stay_equal(name, backbone, rank) for name in methods}
    if rank.is_writer:
        import json
        from pathlib import Path

        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in flat(grads).items()}, str(Path(out) / "grads.safetensors"))
        (Path(out) / "replicas.json").write_text(json.dumps(report))
    dist.destroy_process_group()
