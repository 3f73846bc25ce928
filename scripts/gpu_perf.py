"""Issue #8's GPU checks, run once on a lent H100/H200: `python scripts/gpu_perf.py --out results/perf`.

1. gan_only training throughput on EDM's CIFAR-10 NCSN++ configuration (random weights), batch 256,
   bf16 generator / fp32 discriminator, lazy R1 (every 16th step), eager and torch.compile'd; and
   its share of the card's dense bf16 peak at 143 GFLOP per image per GAN step.
   The projected discriminator alone at 224 pixels (forward+backward, fp32, TF32 off as the authors
   train and on), images/s.
2. FID-50k of a one-step generator from its checkpoint file: load, generate seeds 0..49,999,
   Inception features, Fréchet distance against stored reference statistics.
3. (--benchmarks) the pytest-benchmark suite (tests/benchmarks) at GPU scale -> OUT/benchmarks.json.
Writes OUT/gpu_perf.json after every part (the card from nvidia-smi first), so a run stopped at its
limit keeps what it measured; a second run skips the parts already there, and ``--deadline-min``
starts no part after that many minutes. ``"complete": true`` once every part ran. Needs no network:
weights are random (throughput does not depend on them); the real Inception weights are used when
they are on disk, and the JSON says which. Scratch files (a 225 MB random backbone) go to a
temporary folder, never to OUT.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BENCH_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout

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
            "peak_memory_gib": peak_memory_gib(device)}


def discriminator_rate(device, batch: int, steps: int) -> dict:
    """The projected discriminator alone at 224 pixels (EfficientNet-lite0 features), TF32 on and off."""
    rates = {}
    for tf32 in (False, True):
        run_steps, info = perf.discriminator_steps(device, batch, tf32=tf32)
        run_steps(2)  # warm-up (cuDNN autotuning)
        rates["tf32_on" if tf32 else "tf32_off"] = {
            **info, "images_per_second": perf.images_per_second(lambda: run_steps(steps), steps * batch, repeats=2)}
    rates["batch"], rates["steps_timed"], rates["peak_memory_gib"] = batch, steps, peak_memory_gib(device)
    return rates


def peak_memory_gib(device) -> float | None:
    if device.type != "cuda":
        return None
    peak = torch.cuda.max_memory_allocated(device) / 2**30
    torch.cuda.reset_peak_memory_stats(device)
    return peak


def fid50k(backbone: Path, scratch: Path, device, num_samples: int) -> dict:
    from baselines.d2o import d2o_generator_from
    from harness.backbones import load_backbone
    from harness.backbones.files import load_weights, save_weights

    net = load_backbone(str(backbone)).net
    checkpoint = scratch / "generator.safetensors"
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
        timing["peak_memory_gib"] = peak_memory_gib(device)
        results[precision] = timing
    return {"inception": weights, "generator_precision": results}


def card(device) -> dict:
    """The GPU as nvidia-smi and torch name it (the README's figures are stated with it)."""
    info = {"torch": torch.__version__, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    smi = shutil.which("nvidia-smi")
    if smi:
        query = "name,memory.total,clocks.max.sm,driver_version"
        proc = subprocess.run([smi, f"--query-gpu={query}", "--format=csv,noheader"], capture_output=True, text=True)
        info["nvidia_smi"] = dict(zip(query.split(","), (x.strip() for x in proc.stdout.split(","))))
    return info


def benchmarks(out: Path) -> dict:
    """The pytest-benchmark suite at this device's scale (its own process, so its timings are its own)."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", str(root / "tests" / "benchmarks"), "--benchmark-only",
                           f"--benchmark-json={out / 'benchmarks.json'}", "-p", "no:cacheprovider"], cwd=root,
                          capture_output=True, text=True)
    (out / "benchmarks.log").write_text(proc.stdout + proc.stderr)
    return {"returncode": proc.returncode, "json": "benchmarks.json", "summary": proc.stdout.strip().splitlines()[-1:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/perf"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--benchmarks", action="store_true", help="also run tests/benchmarks (minutes)")
    parser.add_argument("--deadline-min", type=float, default=0.0, help="start no part after this many minutes (0: none)")
    parser.add_argument("--redo", action="store_true", help="measure every part again")
    parser.add_argument("--smoke", action="store_true", help="a tiny run of this script (CPU unless --device cuda)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from harness.backbones import load_backbone

    arch, batch, steps, samples = perf.NCSNPP_CIFAR10, 256, 64, 50_000
    if args.smoke:
        arch = {**perf.NCSNPP_CIFAR10, "model_channels": 16, "num_blocks": 1}
        batch, steps, samples, args.no_compile = 4, 2, 8, True
        args.device = "cpu" if args.device == "cuda" and not torch.cuda.is_available() else args.device
    device = torch.device(args.device)
    path = args.out / "gpu_perf.json"
    report = {} if args.redo or not path.is_file() else json.loads(path.read_text())
    if report.get("smoke", False) != args.smoke or report.get("device_type") != device.type:
        report = {}  # never mix a smoke or CPU run's numbers with a GPU run's
    report.update(smoke=args.smoke, device_type=device.type, complete=False)
    start = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="gpu-perf-"))
    try:
        backbone = perf.write_random_backbone(scratch / "ncsnpp-cifar10-random.safetensors", arch)
        report["backbone_parameters"] = sum(p.numel() for p in load_backbone(str(backbone)).net.parameters())
        parts = {"card": lambda: card(device),
                 "train_eager": lambda: train_rate(backbone, device, False, batch, steps),
                 "train_compiled": None if args.no_compile else lambda: train_rate(backbone, device, True, batch, steps),
                 "discriminator_224": lambda: discriminator_rate(device, batch, max(steps // 4, 2)),
                 "fid50k": lambda: fid50k(backbone, scratch, device, samples),
                 "benchmarks": (lambda: benchmarks(args.out)) if args.benchmarks else None}
        for name, measure in parts.items():
            if measure is None or (name in report and "error" not in report[name]):
                continue
            if args.deadline_min and (time.perf_counter() - start) / 60 >= args.deadline_min:
                report[name] = {"skipped": "deadline", "error": "not measured"}
                continue
            try:
                report[name] = measure()
            except Exception as exc:  # one part failing must not lose the others
                report[name] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
            path.write_text(json.dumps(report, indent=1) + "\n")
            print(json.dumps({name: report[name]}), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    wanted = [n for n, m in parts.items() if m is not None]
    report["complete"] = all(n in report and "error" not in report[n] for n in wanted)
    path.write_text(json.dumps(report, indent=1) + "\n")
    failed = [n for n in wanted if "error" in report.get(n, {}) and report[n].get("skipped") != "deadline"]
    return 1 if failed else 0  # parts left for the deadline are continued by the next run


if __name__ == "__main__":
    sys.exit(main())
