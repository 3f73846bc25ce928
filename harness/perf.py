"""Throughput measurements shared by the benchmarks (tests/benchmarks) and scripts/gpu_perf.py.

Speed does not depend on the weights, so everything here runs on randomly initialised networks of
the right architecture: no downloads, no data sets. Every timing ends with a device sync, so it
measures work done, not work queued.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import torch

# EDM's CIFAR-10 NCSN++ (edm-cifar10-32x32-uncond-ve: EDMPrecond + SongUNet, 56,397,827 parameters).
NCSNPP_CIFAR10 = {
    "img_resolution": 32, "img_channels": 3, "label_dim": 0, "model_type": "SongUNet",
    "model_channels": 128, "channel_mult": [2, 2, 2], "num_blocks": 4, "attn_resolutions": [16],
    "dropout": 0.13, "embedding_type": "fourier", "channel_mult_noise": 2, "encoder_type": "residual",
    "decoder_type": "standard", "resample_filter": [1, 3, 3, 1],
}
GAN_STEP_GFLOP_PER_IMAGE = 143.0  # issue #8's estimate for one D2O step on CIFAR-10 NCSN++ (G fwd+bwd, D steps)
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0}  # dense bf16 tensor-core peak (SXM)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def write_random_backbone(path: Path, init_kwargs: dict, seed: int = 0) -> Path:
    """An EDMPrecond network with random weights, saved the way the harness saves backbones."""
    from harness.backbones import build_network
    from harness.backbones.files import save_weights

    torch.manual_seed(seed)
    net = build_network("EDMPrecond", dict(init_kwargs))
    save_weights(net.state_dict(), path, {"class_name": "EDMPrecond", "init_kwargs": dict(init_kwargs),
                                          "kind": "random weights, for throughput only"})
    return Path(path)


def training_steps(method_name: str, backbone_path: Path, device: torch.device, batch: int, precision: str = "fp32",
                   compile_generator: bool = False, overrides: dict | None = None,
                   seed: int = 0) -> tuple[Callable[[int], None], object]:
    """A function running ``n`` training steps of a method on one random batch (synced), and the method.

    Steps count from 0, so R1 and other lazy terms follow their schedules as in a run.
    """
    from baselines import METHODS
    from baselines.base import MethodContext
    from harness.backbones import load_backbone
    from harness.config import apply_overrides
    from harness.precision import autocast, configure_tf32, prepare_method
    from harness.seeding import make_generator

    configure_tf32(device)  # as runs do: TF32 off
    backbone = load_backbone(str(backbone_path))
    backbone.net.to(device)
    cls = METHODS.get(method_name)
    torch.manual_seed(seed)
    ctx = MethodContext(backbone=backbone, num_classes=backbone.label_dim, device=device, seed=seed, batch_size=batch,
                        budget_images=10**9)
    method = cls(ctx, apply_overrides(cls.Config(), overrides or {}))
    prepare_method(method, precision, compile_generator)
    rng = make_generator(seed, "benchmark-noise", device if device.type == "cuda" else "cpu")
    shape = (batch, backbone.channels, backbone.resolution, backbone.resolution)
    real = torch.rand(shape, generator=make_generator(seed, "benchmark-real"), dtype=torch.float32).to(device) * 2 - 1
    labels = None
    if backbone.label_dim:
        labels = torch.nn.functional.one_hot(torch.arange(batch) % backbone.label_dim, backbone.label_dim).float().to(device)
    state = {"step": 0}

    def steps(n: int) -> None:
        for _ in range(n):
            with autocast(device, precision):
                method.train_step(real, labels, state["step"], rng)
            state["step"] += 1
        sync(device)

    return steps, method


def discriminator_steps(device: torch.device, batch: int, resolution: int = 32, input_size: int = 224,
                        tf32: bool = True, seed: int = 0) -> tuple[Callable[[int], None], dict]:
    """``n`` synced forward+backward passes of the projected discriminator alone (fp32, as D2O keeps it),
    on random ``resolution``-pixel images resized to ``input_size``; and the discriminator's description.

    The feature network is EfficientNet-lite0 (its weights ship with a dependency); ``tf32`` switches
    TF32 matmuls/convolutions on CUDA, which the authors' training loop leaves off.
    """
    from baselines.discriminator_choice import build_discriminator

    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(seed)
    D = build_discriminator("projected", resolution, 3, 0, 64, seed=seed, input_size=input_size).to(device)
    images = (torch.rand(batch, 3, resolution, resolution, device=device) * 2 - 1).requires_grad_(True)

    def steps(n: int) -> None:
        for _ in range(n):
            logits = D(images)
            sum(l.float().mean() for l in logits).backward()
        sync(device)

    return steps, {"input_size": input_size, "tf32": tf32, "trainable_parameters":
                   sum(p.numel() for p in D.parameters() if p.requires_grad)}


def images_per_second(fn: Callable[[], None], images: int, repeats: int = 1) -> float:
    """Best of ``repeats`` timings of ``fn`` (which must sync), as images per second."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return images / best


def sampler(generator: torch.nn.Module, shape: tuple[int, ...], device: torch.device, batch: int,
            precision: str = "fp32") -> Callable[[], None]:
    """One synced batch of one-step samples from fresh latents."""
    from harness.precision import autocast

    z = torch.randn((batch, *shape), device=device)

    @torch.no_grad()
    def run() -> None:
        with autocast(device, precision):
            generator(z, None)
        sync(device)

    return run


def random_inception(device: torch.device, batch_size: int = 250):
    """The FID Inception-v3 architecture (torch-fidelity's) with random weights, behind the harness's
    extractor interface: for throughput only, never for a metric value."""
    from torch_fidelity import feature_extractor_inceptionv3 as tfi

    from harness.metrics.features import FeatureExtractor
    from harness.metrics.inception import TORCH_FIDELITY_NAME, InceptionExtractor, fast_inference_network

    class RandomInceptionV3(tfi.FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):
            return None  # keep the random initialisation

    download = tfi.load_state_dict_from_url
    tfi.load_state_dict_from_url = lambda *args, **kwargs: {}  # nothing is fetched; restored below
    try:
        net = RandomInceptionV3(TORCH_FIDELITY_NAME, ["2048"])
    finally:
        tfi.load_state_dict_from_url = download
    extractor = InceptionExtractor.__new__(InceptionExtractor)
    net = fast_inference_network(net, device)  # as InceptionExtractor prepares the real network
    FeatureExtractor.__init__(extractor, "inception-v3-compat-random-weights", net, 2048, "random", resolution=0,
                              channels=3, device=device, batch_size=batch_size)
    extractor.feature_layer, extractor.weights_source = "2048", "random weights (throughput only)"
    extractor.torch_fidelity_name = TORCH_FIDELITY_NAME
    return extractor


def inception_for_timing(device: torch.device, batch_size: int = 250):
    """The real FID Inception when its weights are on disk, else the random-weight one; and which."""
    from harness.errors import BenchError, in_brief
    from harness.metrics.inception import load_inception

    try:
        return load_inception(device=device, batch_size=batch_size), "torch-fidelity weights"
    except BenchError as exc:
        return random_inception(device, batch_size), f"random weights ({in_brief(exc, 120)})"


def fid_end_to_end(generator: torch.nn.Module, shape: tuple[int, ...], num_samples: int, device: torch.device,
                   extractor, reference: tuple, batch: int = 1000, precision: str = "fp32") -> dict:
    """FID of a one-step generator as `bench eval` computes it: seeds 0..N-1, Inception, Fréchet (timed parts)."""
    from harness.evaluate import generate
    from harness.metrics.frechet import feature_statistics, frechet_distance_from_statistics
    from harness.precision import autocast

    times = {}
    start = time.perf_counter()
    with torch.no_grad(), autocast(device, precision):
        samples = generate(generator, range(num_samples), shape, 0, device, batch, show_progress=False)
    times["generate_seconds"] = time.perf_counter() - start
    mark = time.perf_counter()
    features = extractor(samples)
    times["features_seconds"] = time.perf_counter() - mark
    mark = time.perf_counter()
    fid = frechet_distance_from_statistics(*feature_statistics(features), *reference)
    times["frechet_seconds"] = time.perf_counter() - mark
    times["total_seconds"] = time.perf_counter() - start
    return {"fid": fid, "num_samples": num_samples, **times}


def flop_fraction(train_images_per_second: float, peak_tflops: float = 989.0) -> float:
    """Share of the card's dense bf16 peak a GAN step rate represents at 143 GFLOP per image."""
    return train_images_per_second * GAN_STEP_GFLOP_PER_IMAGE * 1e9 / (peak_tflops * 1e12)
