"""DhariwalUNet: the ADM architecture of Dhariwal & Nichol as in EDM (DhariwalUNet in NVlabs/edm networks.py; arXiv 2105.05233).

Differs from SongUNet in the embedding (no half swap, label added after the MLP, no
√label_dim scaling), in its scale-and-shift blocks with parameter-free resampling skips,
attention in every block of an attention resolution, and an explicit output head.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Conv2d, GroupNorm, Linear, PositionalEmbedding, UNetBlock


class DhariwalUNet(nn.Module):
    """ADM U-Net (DhariwalUNet in NVlabs/edm networks.py; arXiv 2105.05233); the released ImageNet-64 model uses the defaults."""

    def __init__(
        self,
        img_resolution: int,
        in_channels: int,
        out_channels: int,
        label_dim: int = 0,
        augment_dim: int = 0,
        model_channels: int = 192,
        channel_mult: Sequence[int] = (1, 2, 3, 4),
        channel_mult_emb: int = 4,
        num_blocks: int = 3,
        attn_resolutions: Sequence[int] = (32, 16, 8),
        dropout: float = 0.10,
        label_dropout: float = 0,
    ) -> None:
        super().__init__()
        self.label_dropout = label_dropout

        # Init presets (NVlabs/edm networks.py): PyTorch-default uniform, and all-zero.
        init = dict(init_mode="kaiming_uniform", init_weight=math.sqrt(1 / 3),
                    init_bias=math.sqrt(1 / 3))
        init_zero = dict(init_mode="kaiming_uniform", init_weight=0, init_bias=0)

        emb_channels = model_channels * channel_mult_emb
        block_kwargs = dict(
            emb_channels=emb_channels,
            channels_per_head=64,
            dropout=dropout,
            skip_scale=1,
            eps=1e-5,
            resample_filter=(1, 1),
            resample_proj=False,
            adaptive_scale=True,
            init=init,
            init_zero=init_zero,
        )

        # Mapping network (DhariwalUNet in NVlabs/edm networks.py; arXiv 2105.05233); note map_label is registered last.
        self.map_noise = PositionalEmbedding(num_channels=model_channels)
        self.map_augment = (
            Linear(augment_dim, model_channels, bias=False, **init_zero) if augment_dim else None
        )
        self.map_layer0 = Linear(model_channels, emb_channels, **init)
        self.map_layer1 = Linear(emb_channels, emb_channels, **init)
        self.map_label = (
            Linear(label_dim, emb_channels, bias=False, init_mode="kaiming_normal",
                   init_weight=math.sqrt(label_dim))
            if label_dim
            else None
        )

        # Encoder (DhariwalUNet in NVlabs/edm networks.py; arXiv 2105.05233).
        self.enc = nn.ModuleDict()
        channels = in_channels
        for level, mult in enumerate(channel_mult):
            res = img_resolution >> level
            if level == 0:
                out = model_channels * mult
                self.enc[f"{res}x{res}_conv"] = Conv2d(channels, out, kernel=3, **init)
                channels = out
            else:
                self.enc[f"{res}x{res}_down"] = UNetBlock(
                    channels, channels, down=True, **block_kwargs
                )
            for index in range(num_blocks):
                out = model_channels * mult
                self.enc[f"{res}x{res}_block{index}"] = UNetBlock(
                    channels, out, attention=(res in attn_resolutions), **block_kwargs
                )
                channels = out
        skip_channels = [module.out_channels for module in self.enc.values()]

        # Decoder (DhariwalUNet in NVlabs/edm networks.py; arXiv 2105.05233).
        self.dec = nn.ModuleDict()
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = img_resolution >> level
            if level == len(channel_mult) - 1:
                self.dec[f"{res}x{res}_in0"] = UNetBlock(
                    channels, channels, attention=True, **block_kwargs
                )
                self.dec[f"{res}x{res}_in1"] = UNetBlock(channels, channels, **block_kwargs)
            else:
                self.dec[f"{res}x{res}_up"] = UNetBlock(
                    channels, channels, up=True, **block_kwargs
                )
            for index in range(num_blocks + 1):
                out = model_channels * mult
                self.dec[f"{res}x{res}_block{index}"] = UNetBlock(
                    channels + skip_channels.pop(), out,
                    attention=(res in attn_resolutions), **block_kwargs,
                )
                channels = out

        # Output head.
        self.out_norm = GroupNorm(channels)
        self.out_conv = Conv2d(channels, out_channels, kernel=3, **init_zero)

    def embed(
        self,
        noise_labels: torch.Tensor,
        class_labels: torch.Tensor | None,
        augment_labels: torch.Tensor | None,
    ) -> torch.Tensor:
        """Map c_noise, augment and class labels to the block embedding (DhariwalUNet in NVlabs/edm networks.py; arXiv 2105.05233)."""
        emb = self.map_noise(noise_labels)  # [cos, sin], no swap
        if self.map_augment is not None and augment_labels is not None:
            emb = emb + self.map_augment(augment_labels)
        emb = self.map_layer1(F.silu(self.map_layer0(emb)))
        if self.map_label is not None:
            labels = class_labels
            if self.training and self.label_dropout:
                keep = torch.rand([labels.shape[0], 1], device=labels.device) >= self.label_dropout
                labels = labels * keep.to(labels.dtype)
            emb = emb + self.map_label(labels)
        return F.silu(emb)

    def forward(
        self,
        x: torch.Tensor,
        noise_labels: torch.Tensor,
        class_labels: torch.Tensor | None,
        augment_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        emb = self.embed(noise_labels, class_labels, augment_labels)

        skips: list[torch.Tensor] = []
        for module in self.enc.values():
            x = module(x, emb) if isinstance(module, UNetBlock) else module(x)
            skips.append(x)

        for module in self.dec.values():
            # Only the `_block{i}` layers are wider than x: they take [x, skip] (§5.3).
            if x.shape[1] != module.in_channels:
                x = torch.cat([x, skips.pop()], dim=1)
            x = module(x, emb)

        return self.out_conv(F.silu(self.out_norm(x)))
