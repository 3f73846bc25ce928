"""Issue #8's GPU checks, run once on a lent H100/H200: `python scripts/gpu_perf.py OUT_DIR [--no-compile]`.

1. gan_only training throughput on EDM's CIFAR-10 NCSN++ configuration (random weights), batch 256,
   bf16 generator / fp32 discriminator, lazy R1 (every 16th step), eager and torch.compile'd; and
   its share of the card's dense bf16 peak at 143 GFLOP per image per GAN step.
2. FID-50k of a one-step generator from its checkpoint file: load, generate seeds 0..49,999,
   Inception features, Fréchet distance against stored reference statistics.
Writes OUT_DIR/gpu_perf.json. Needs no network: weights are random (throughput does not depend on
them); the real Inception weights are used when they are on disk, and the JSON says which.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("BENCH_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from harness import perf  # noqa: E402


def train_rate(backbone: Path, device, compile_generator: bool, batch: int, steps: int) -> dict:
    run_steps, method = perf.training_steps("gan_only", backbone, device, batch, "bf16", compile_generator)
    start = time.perf_counter()
    run_steps(16)  # warm-up (and compilation), one full R1 period
    warmup = time.perf_counter() - start
    ips = perf.images_per_second(lambda: run_steps(steps), steps * batch, repeats=2)
    return {"images_per_second": ips, "batch": batch, "compile": compile_generator, "warmup_seconds": warmup,
            "steps_timed": steps, "r1_interval": method.config.r1_interval, "discriminator": method.record_info(),
            "flop_fraction_of_989_tflops": perf.flop_fraction(ips),
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None}


def fid50k(backbone: Path, out: Path, device, num_samples: int) -> dict:
    from baselines.d2o import d2o_generator_from
    from harness.backbones import load_backbone
    from harness.backbones.files import load_weights, save_weights

    net = load_backbone(str(backbone)).net
    checkpoint = out / "generator.safetensors"
    save_weights(d2o_generator_from(net).state_dict(), checkpoint, {"kind": "random generator, for timing"})
    extractor, weights = perf.inception_for_timing(device, batch_size=1000)
    reference = (np.zeros(2048), np.eye(2048))
    results = {}
    for precision in ("bf16", "fp32"):
        perf.sync(device)
        start = time.perf_counter()
        generator = d2o_generator_from(net)
        generator.load_state_dict(load_weights(checkpoint)[0])
        generator = generator.to(device).eval().requires_grad_(False)
        timing = perf.fid_end_to_end(generator, (3, 32, 32), num_samples, device, extractor, reference, batch=1000,
                                     precision=precision)
        timing["with_checkpoint_load_seconds"] = time.perf_counter() - start
        results[precision] = timing
    return {"inception": weights, "generator_precision": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="a tiny CPU run of this script, to check it works")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from harness.backbones import load_backbone

    arch, batch, steps, samples = perf.NCSNPP_CIFAR10, 256, 64, 50_000
    device = torch.device("cuda")
    if args.smoke:
        arch = {**perf.NCSNPP_CIFAR10, "model_channels": 16, "num_blocks": 1}
        batch, steps, samples, device, args.no_compile = 4, 2, 8, torch.device("cpu"), True
    backbone = perf.write_random_backbone(args.out / "ncsnpp-cifar10-random.safetensors", arch)
    report = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "torch": torch.__version__,
              "backbone_parameters": sum(p.numel() for p in load_backbone(str(backbone)).net.parameters())}
    report["train_eager"] = train_rate(backbone, device, False, batch, steps)
    print(json.dumps(report, indent=1), flush=True)
    if not args.no_compile:
        report["train_compiled"] = train_rate(backbone, device, True, batch, steps)
    report["fid50k"] = fid50k(backbone, args.out, device, samples)
    backbone.unlink()  # 225 MB of random weights: not worth bringing back
    (args.out / "generator.safetensors").unlink()
    (args.out / "gpu_perf.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
