"""The backbones the harness knows by name: NVIDIA's released EDM checkpoints (the artefacts' public pages,
NVlabs/edm README, released checkpoints) and the small backbones trained by ``bench pretrain`` and shipped in the repo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.registry import Registry

EDM_URL = "https://nvlabs-fi-cdn.nvidia.com/edm/pretrained/"
SHIPPED_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class BackboneSpec:
    """A named backbone: where its file comes from and what it must look like once loaded."""

    name: str
    filename: str
    resolution: int
    channels: int
    label_dim: int
    architecture: str
    num_params: int | None = None
    url: str | None = None  # None: shipped in the repo, never downloaded
    description: str = ""
    make_hint: str | None = None  # for a repo backbone not made yet: how to make it (shown when missing)

    @property
    def shipped_path(self) -> Path | None:
        return None if self.url else SHIPPED_DIR / self.filename


BACKBONES: Registry[BackboneSpec] = Registry("backbone")


def _edm(name: str, resolution: int, label_dim: int, architecture: str, num_params: int) -> None:
    BACKBONES.add(name, BackboneSpec(name, f"{name}.pkl", resolution, 3, label_dim, architecture, num_params,
                                     url=EDM_URL + f"{name}.pkl", description=f"NVIDIA EDM release, {architecture}"))


_edm("edm-cifar10-32x32-uncond-ve", 32, 0, "EDMPrecond+SongUNet NCSN++", 56_397_827)
_edm("edm-cifar10-32x32-cond-ve", 32, 10, "EDMPrecond+SongUNet NCSN++", 56_400_643)
_edm("edm-cifar10-32x32-uncond-vp", 32, 0, "EDMPrecond+SongUNet DDPM++", 55_733_891)
_edm("edm-cifar10-32x32-cond-vp", 32, 10, "EDMPrecond+SongUNet DDPM++", 55_735_299)
_edm("edm-afhqv2-64x64-uncond-ve", 64, 0, "EDMPrecond+SongUNet NCSN++", 62_761_091)
_edm("edm-afhqv2-64x64-uncond-vp", 64, 0, "EDMPrecond+SongUNet DDPM++", 61_805_571)
_edm("edm-ffhq-64x64-uncond-ve", 64, 0, "EDMPrecond+SongUNet NCSN++", 62_761_091)
_edm("edm-ffhq-64x64-uncond-vp", 64, 0, "EDMPrecond+SongUNet DDPM++", 61_805_571)
_edm("edm-imagenet-64x64-cond-adm", 64, 1000, "EDMPrecond+DhariwalUNet ADM", 295_899_267)

BACKBONES.add("edm-digits-8x8-uncond", BackboneSpec(
    "edm-digits-8x8-uncond", "edm-digits-8x8-uncond.safetensors", 8, 1, 0, "EDMPrecond+SongUNet DDPM++ (small)",
    description="trained by `bench pretrain --dataset digits` (see its card); shipped in the repo"))

# Issue #10: the GPU-scale backbone (15.5M-parameter calibration of the issue; this SongUNet counts 16.4M).
# Made by scripts/fashion_mnist_gpu.py on one H200 (2026-12-04, see its card); where the file is missing, loading it names that command.
FASHION_MNIST_PRETRAIN = ("bench pretrain --dataset fashion-mnist --out "
                          "harness/backbones/weights/edm-fashion-mnist-32x32-uncond.safetensors --seed 0 --device cuda")
BACKBONES.add("edm-fashion-mnist-32x32-uncond", BackboneSpec(
    "edm-fashion-mnist-32x32-uncond", "edm-fashion-mnist-32x32-uncond.safetensors", 32, 1, 0,
    "EDMPrecond+SongUNet DDPM++ (64/128/256 channels, attention at 8x8)", num_params=16_370_753,
    description="trained by `bench pretrain --dataset fashion-mnist` on one GPU (~1 Mimg, bf16 autocast, fp16 file)",
    make_hint=(f"make it on a GPU with `{FASHION_MNIST_PRETRAIN}`, or run `python scripts/fashion_mnist_gpu.py`, "
               "which makes it and then runs every method from it, or use the CPU-scale backbone "
               "`--backbone edm-fashion-mnist-32x32-uncond-small` shipped in the repo")))

# The CPU-scale one (the GPU-made backbone above is 23x larger and slow to train from on a CPU): 16/32/64 channels, one block per level,
# no attention (0.71M parameters), 50 kimg on 2 CPU cores (see its card and README "Fashion-MNIST").
BACKBONES.add("edm-fashion-mnist-32x32-uncond-small", BackboneSpec(
    "edm-fashion-mnist-32x32-uncond-small", "edm-fashion-mnist-32x32-uncond-small.safetensors", 32, 1, 0,
    "EDMPrecond+SongUNet DDPM++ (small: 16/32/64 channels, 1 block per level)", num_params=710_689,
    description="trained by `bench pretrain --dataset fashion-mnist` on 2 CPU cores (50 kimg, fp32); shipped in the repo"))

# Issue #27's thesis control between random init and the 50- and 200-kimg backbones: the same recipe stopped at
# 10 kimg (one CPU thread, 105 s of training; teacher FD 138 against 56 at 50 kimg, see its card). Named
# <recipe>-<N>kimg, its runs join the thesis cell of each fuller backbone of the recipe (harness/report/tables/claims.py).
BACKBONES.add("edm-fashion-mnist-32x32-uncond-small-10kimg", BackboneSpec(
    "edm-fashion-mnist-32x32-uncond-small-10kimg", "edm-fashion-mnist-32x32-uncond-small-10kimg.safetensors", 32, 1,
    0, "EDMPrecond+SongUNet DDPM++ (small, as edm-fashion-mnist-32x32-uncond-small)", num_params=710_689,
    description="the small backbone's recipe stopped early: 10 kimg on one CPU thread (fp32); shipped in the repo"))

# Issue #27's stronger CPU backbone: the 10-kimg run above continued with `bench pretrain --resume` to 20 and then
# 200 kimg (one CPU thread, 2,121 s of training in all; teacher FD 23.3 against 56.0 at 50 kimg, see its card).
# The narrower/wider choice: at 20 kimg this width reached teacher FD 96.8 in 210 s, 32/64/128 channels 101.6 in 592 s.
BACKBONES.add("edm-fashion-mnist-32x32-uncond-small-200kimg", BackboneSpec(
    "edm-fashion-mnist-32x32-uncond-small-200kimg", "edm-fashion-mnist-32x32-uncond-small-200kimg.safetensors", 32, 1,
    0, "EDMPrecond+SongUNet DDPM++ (small, as edm-fashion-mnist-32x32-uncond-small)", num_params=710_689,
    description="the small backbone's recipe to 200 kimg on one CPU thread (fp32); shipped in the repo"))
