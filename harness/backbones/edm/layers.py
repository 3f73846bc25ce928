"""Building blocks shared by EDM's SongUNet and DhariwalUNet (NVlabs/edm networks.py).

Every layer keeps its tensors in float32 and casts them to the dtype of the incoming
activation on the fly, so that one set of weights serves both float32 and float16 runs
(NVlabs/edm networks.py, use_fp16). Parameter, buffer and submodule names are the checkpoint interface
(tests/data/edm/keys) and must not be renamed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

InitKwargs = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Initialisation (NVlabs/edm networks.py)
# ---------------------------------------------------------------------------------------------


def weight_init(shape: Sequence[int], mode: str, fan_in: int, fan_out: int) -> torch.Tensor:
    """Draw a tensor from one of EDM's four init distributions (NVlabs/edm networks.py).

    Only matters when training from scratch; loading a checkpoint overwrites it. The draws
    use in-place ops so that building on the meta device stays cheap.
    """
    if mode == "xavier_uniform":
        bound = math.sqrt(6 / (fan_in + fan_out))
        return torch.empty(*shape).uniform_(-bound, bound)
    if mode == "xavier_normal":
        return torch.randn(*shape).mul_(math.sqrt(2 / (fan_in + fan_out)))
    if mode == "kaiming_uniform":
        bound = math.sqrt(3 / fan_in)
        return torch.empty(*shape).uniform_(-bound, bound)
    if mode == "kaiming_normal":
        return torch.randn(*shape).mul_(math.sqrt(1 / fan_in))
    raise ValueError(f"unknown init_mode {mode!r}")


def _init_parameter(
    shape: Sequence[int], init_mode: str, fan_in: int, fan_out: int, scale: float
) -> nn.Parameter:
    """A freshly initialised parameter: an init draw times `init_weight` / `init_bias`."""
    return nn.Parameter(weight_init(shape, init_mode, fan_in, fan_out).mul_(scale))


def _resample_kernel(resample_filter: Sequence[float]) -> torch.Tensor:
    """The separable 2-D resampling kernel outer(f, f) / (Σf)², shape [1, 1, L, L] (§3.2).

    Computed in Python: it is a constant, and exact in float32 for EDM's integer filters.
    """
    norm = sum(resample_filter) ** 2
    rows = [[a * b / norm for b in resample_filter] for a in resample_filter]
    return torch.tensor([[rows]], dtype=torch.float32)


# ---------------------------------------------------------------------------------------------
# Linear, Conv2d, GroupNorm (NVlabs/edm networks.py)
# ---------------------------------------------------------------------------------------------


class Linear(nn.Module):
    """Fully connected layer y = x·Wᵀ + b with EDM's init modes (NVlabs/edm networks.py)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init_mode: str = "kaiming_normal",
        init_weight: float = 1,
        init_bias: float = 0,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        fans = dict(init_mode=init_mode, fan_in=in_features, fan_out=out_features)
        self.weight = _init_parameter([out_features, in_features], scale=init_weight, **fans)
        self.bias = _init_parameter([out_features], scale=init_bias, **fans) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x @ self.weight.to(x.dtype).t()
        if self.bias is not None:
            x = x + self.bias.to(x.dtype)
        return x


class Conv2d(nn.Module):
    """2-D convolution with optional 2× up/down resampling by a FIR filter (NVlabs/edm networks.py).

    `kernel=0` gives a parameter-free resampler. The `resample_filter` buffer exists only
    for resampling layers, because only those carry it in EDM's state dict.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        bias: bool = True,
        up: bool = False,
        down: bool = False,
        resample_filter: Sequence[float] = (1, 1),
        fused_resample: bool = False,
        init_mode: str = "kaiming_normal",
        init_weight: float = 1,
        init_bias: float = 0,
    ) -> None:
        if up and down:
            raise ValueError("Conv2d cannot both upsample and downsample")
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.up = up
        self.down = down
        self.fused_resample = fused_resample
        fans = dict(
            init_mode=init_mode,
            fan_in=in_channels * kernel * kernel,
            fan_out=out_channels * kernel * kernel,
        )
        self.weight = (
            _init_parameter([out_channels, in_channels, kernel, kernel], scale=init_weight, **fans)
            if kernel
            else None
        )
        self.bias = (
            _init_parameter([out_channels], scale=init_bias, **fans) if kernel and bias else None
        )
        kernel_2d = _resample_kernel(resample_filter) if (up or down) else None
        self.register_buffer("resample_filter", kernel_2d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) if self.weight is not None else None
        b = self.bias.to(x.dtype) if self.bias is not None else None
        f = self.resample_filter.to(x.dtype) if self.resample_filter is not None else None
        w_pad = w.shape[-1] // 2 if w is not None else 0
        f_pad = (f.shape[-1] - 1) // 2 if f is not None else 0

        if self.fused_resample and self.up and w is not None:
            x = _upsample(x, f, padding=max(f_pad - w_pad, 0))
            x = F.conv2d(x, w, padding=max(w_pad - f_pad, 0))
        elif self.fused_resample and self.down and w is not None:
            # Convolve first at the enlarged size, then filter-and-subsample: not equivalent
            # to the unfused order, and NCSN++'s aux_residual depends on it (§3.2).
            x = F.conv2d(x, w, padding=w_pad + f_pad)
            x = _downsample(x, f, padding=0)
        else:
            if self.up:
                x = _upsample(x, f, padding=f_pad)
            if self.down:
                x = _downsample(x, f, padding=f_pad)
            if w is not None:
                x = F.conv2d(x, w, padding=w_pad)
        if b is not None:
            x = x + b.reshape(1, -1, 1, 1)
        return x


def _upsample(x: torch.Tensor, kernel_2d: torch.Tensor, padding: int) -> torch.Tensor:
    """Depthwise 2× transposed convolution with 4·filter (nearest-neighbour for [1,1])."""
    channels = x.shape[1]
    weight = kernel_2d.mul(4).tile([channels, 1, 1, 1])
    return F.conv_transpose2d(x, weight, stride=2, padding=padding, groups=channels)


def _downsample(x: torch.Tensor, kernel_2d: torch.Tensor, padding: int) -> torch.Tensor:
    """Depthwise stride-2 convolution with the filter (2×2 average pooling for [1,1])."""
    channels = x.shape[1]
    weight = kernel_2d.tile([channels, 1, 1, 1])
    return F.conv2d(x, weight, stride=2, padding=padding, groups=channels)


class GroupNorm(nn.Module):
    """Group normalisation with at least `min_channels_per_group` channels per group (§3.3)."""

    def __init__(
        self,
        num_channels: int,
        num_groups: int = 32,
        min_channels_per_group: int = 4,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.num_groups = min(num_groups, num_channels // min_channels_per_group)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(
            x, self.num_groups, self.weight.to(x.dtype), self.bias.to(x.dtype), self.eps
        )


# ---------------------------------------------------------------------------------------------
# Noise embeddings (NVlabs/edm networks.py)
# ---------------------------------------------------------------------------------------------


class PositionalEmbedding(nn.Module):
    """Transformer-style sinusoidal embedding of c_noise, output [cos…, sin…] (§3.4)."""

    def __init__(self, num_channels: int, max_positions: int = 10000, endpoint: bool = False):
        super().__init__()
        self.num_channels = num_channels
        self.max_positions = max_positions
        self.endpoint = endpoint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.num_channels // 2
        freqs = torch.arange(half, dtype=torch.float32, device=x.device)
        freqs = freqs / (half - (1 if self.endpoint else 0))
        freqs = (1 / self.max_positions) ** freqs
        x = torch.outer(x, freqs.to(x.dtype))
        return torch.cat([x.cos(), x.sin()], dim=1)


class FourierEmbedding(nn.Module):
    """Random Fourier features of c_noise, output [cos…, sin…] (§3.4).

    The frequencies are random at construction, so they must come from the checkpoint.
    """

    def __init__(self, num_channels: int, scale: float = 16):
        super().__init__()
        self.register_buffer("freqs", torch.randn(num_channels // 2).mul_(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.outer(x, (2 * math.pi * self.freqs).to(x.dtype))
        return torch.cat([x.cos(), x.sin()], dim=1)


# ---------------------------------------------------------------------------------------------
# The residual U-Net block (NVlabs/edm networks.py)
# ---------------------------------------------------------------------------------------------


def multi_head_attention(qkv: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Self-attention over spatial positions for a fused qkv activation (NVlabs/edm networks.py step 6).

    qkv channels are interleaved per head as [head, channel, (q, k, v)]. Logits and softmax
    are computed in float32; the weights are cast back to the activation dtype (§2.4).
    """
    n, three_c, height, width = qkv.shape
    channels = three_c // 3
    head_dim = channels // num_heads
    q, k, v = qkv.reshape(n * num_heads, head_dim, 3, height * width).unbind(2)
    logits = torch.einsum("bci,bcj->bij", q.to(torch.float32), k.to(torch.float32))
    weights = (logits / math.sqrt(head_dim)).softmax(dim=2).to(v.dtype)
    out = torch.einsum("bij,bcj->bci", weights, v)
    return out.reshape(n, channels, height, width)


class UNetBlock(nn.Module):
    """Pre-activation residual block with embedding conditioning and optional attention (§3.5).

    The same class serves DDPM++/NCSN++ (additive embedding, `adaptive_scale=False`) and
    ADM (scale-and-shift, `adaptive_scale=True`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        emb_channels: int,
        up: bool = False,
        down: bool = False,
        attention: bool = False,
        num_heads: int | None = None,
        channels_per_head: int = 64,
        dropout: float = 0,
        skip_scale: float = 1,
        eps: float = 1e-5,
        resample_filter: Sequence[float] = (1, 1),
        resample_proj: bool = False,
        adaptive_scale: bool = True,
        init: InitKwargs | None = None,
        init_zero: InitKwargs | None = None,
        init_attn: InitKwargs | None = None,
    ) -> None:
        super().__init__()
        init = {} if init is None else init
        init_zero = {"init_weight": 0} if init_zero is None else init_zero
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.emb_channels = emb_channels
        if not attention:
            self.num_heads = 0
        elif num_heads is not None:
            self.num_heads = num_heads
        else:
            self.num_heads = out_channels // channels_per_head  # 0 heads: no attention layers
        self.dropout = dropout
        self.skip_scale = skip_scale
        self.adaptive_scale = adaptive_scale
        resample = dict(up=up, down=down, resample_filter=resample_filter)

        self.norm0 = GroupNorm(in_channels, eps=eps)
        self.conv0 = Conv2d(in_channels, out_channels, kernel=3, **resample, **init)
        self.affine = Linear(emb_channels, out_channels * (2 if adaptive_scale else 1), **init)
        self.norm1 = GroupNorm(out_channels, eps=eps)
        self.conv1 = Conv2d(out_channels, out_channels, kernel=3, **init_zero)

        self.skip = None
        if out_channels != in_channels or up or down:
            kernel = 1 if (resample_proj or out_channels != in_channels) else 0
            self.skip = Conv2d(in_channels, out_channels, kernel=kernel, **resample, **init)

        if self.num_heads:
            self.norm2 = GroupNorm(out_channels, eps=eps)
            attn_init = init_attn if init_attn is not None else init
            self.qkv = Conv2d(out_channels, out_channels * 3, kernel=1, **attn_init)
            self.proj = Conv2d(out_channels, out_channels, kernel=1, **init_zero)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        orig = x
        x = self.conv0(F.silu(self.norm0(x)))

        params = self.affine(emb).unsqueeze(2).unsqueeze(3).to(x.dtype)
        if self.adaptive_scale:
            scale, shift = params.chunk(chunks=2, dim=1)
            x = F.silu(shift + self.norm1(x) * (scale + 1))
        else:
            x = F.silu(self.norm1(x + params))

        x = self.conv1(F.dropout(x, p=self.dropout, training=self.training))
        x = x + (self.skip(orig) if self.skip is not None else orig)
        x = x * self.skip_scale

        if self.num_heads:
            attended = multi_head_attention(self.qkv(self.norm2(x)), self.num_heads)
            x = (self.proj(attended) + x) * self.skip_scale
        return x
