"""Throughput benchmarks (pytest-benchmark): training steps per method, one-step sampling, Inception
features and FID end to end, in images per second (``extra_info``).

Skipped in the default test run (``--benchmark-skip`` in pyproject's addopts); run them with
``python -m pytest tests/benchmarks --benchmark-only``. On CPU they use the tiny 8x8 test backbone;
with a GPU, EDM's CIFAR-10 NCSN++ configuration with random weights, batch 256, bf16. Everything
heavy happens inside the test bodies, so a skipped benchmark costs nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines import METHODS
from harness import perf
from helpers import TINY_SONGUNET

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
TRAINING_METHODS = [name for name, cls in METHODS.items() if cls.trains]
# (backbone architecture, training batch, precision, training steps per round, sampling/feature batch, FID samples)
SCALE = ((perf.NCSNPP_CIFAR10, 256, "bf16", 32, 1000, 50_000) if CUDA else
         (TINY_SONGUNET, 32, "fp32", 16, 256, 64))
ARCH, BATCH, PRECISION, STEPS, EVAL_BATCH, FID_SAMPLES = SCALE
CHEAP = {"d_width": 16} if not CUDA else {}  # the scratch discriminator's width on CPU


def backbone(tmp_path: Path) -> Path:
    return perf.write_random_backbone(tmp_path / "backbone.safetensors", ARCH)


def shape() -> tuple[int, int, int]:
    return (ARCH["img_channels"], ARCH["img_resolution"], ARCH["img_resolution"])


@pytest.mark.parametrize("method", TRAINING_METHODS)
def test_training_step(benchmark, method, tmp_path):
    fields = {f.name for f in dataclasses.fields(METHODS.get(method).Config)}
    overrides = {k: v for k, v in CHEAP.items() if k in fields}
    steps, _ = perf.training_steps(method, backbone(tmp_path), DEVICE, BATCH, PRECISION, overrides=overrides)
    steps(2)  # warm-up: allocator, kernels, lazy initialisation
    benchmark.pedantic(steps, args=(STEPS,), rounds=2, iterations=1)
    ips = STEPS * BATCH / benchmark.stats.stats.min
    benchmark.extra_info.update(images_per_second=round(ips, 1), batch=BATCH, precision=PRECISION, device=str(DEVICE),
                                steps_per_round=STEPS)


def test_one_step_sampling(benchmark, tmp_path):
    from baselines.d2o import d2o_generator_from
    from harness.backbones import load_backbone

    generator = d2o_generator_from(load_backbone(str(backbone(tmp_path))).net).to(DEVICE)
    run = perf.sampler(generator, shape(), DEVICE, EVAL_BATCH, PRECISION)
    run()
    benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info.update(images_per_second=round(EVAL_BATCH / benchmark.stats.stats.min, 1), batch=EVAL_BATCH,
                                precision=PRECISION, device=str(DEVICE))


def test_inception_features(benchmark):
    extractor = perf.random_inception(DEVICE, batch_size=EVAL_BATCH)  # speed does not depend on the weights
    n = EVAL_BATCH if CUDA else 16
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)
    extractor(images[:2])
    benchmark.pedantic(extractor, args=(images,), rounds=2, iterations=1)
    benchmark.extra_info.update(images_per_second=round(n / benchmark.stats.stats.min, 1), device=str(DEVICE),
                                weights="random (throughput only)")


def test_fid_end_to_end(benchmark, tmp_path):
    from baselines.d2o import d2o_generator_from
    from harness.backbones import load_backbone

    generator = d2o_generator_from(load_backbone(str(backbone(tmp_path))).net).to(DEVICE).eval()
    extractor = perf.random_inception(DEVICE, batch_size=EVAL_BATCH)
    reference = (np.zeros(2048), np.eye(2048))  # stored reference statistics, as EDM's .npz files are
    result = benchmark.pedantic(perf.fid_end_to_end, args=(generator, shape(), FID_SAMPLES, DEVICE, extractor, reference),
                                kwargs={"batch": EVAL_BATCH, "precision": PRECISION}, rounds=1, iterations=1)
    benchmark.extra_info.update({k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()})
    benchmark.extra_info.update(images_per_second=round(FID_SAMPLES / result["total_seconds"], 1), device=str(DEVICE),
                                inception="random weights (throughput only)")
