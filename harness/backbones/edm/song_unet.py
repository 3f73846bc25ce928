"""SongUNet: the DDPM++ and NCSN++ architectures of Song et al. as in EDM (SongUNet in NVlabs/edm networks.py; arXiv 2011.13456).

The encoder and decoder are `ModuleDict`s whose insertion order is both the state-dict
order and the execution order; module names (`32x32_block0`, `16x16_aux_residual`, …) are
the checkpoint interface (tests/data/edm/keys).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Conv2d, FourierEmbedding, GroupNorm, Linear, PositionalEmbedding, UNetBlock


class SongUNet(nn.Module):
    """DDPM++ (positional embedding, standard encoder) / NCSN++ (Fourier, residual encoder)."""

    def __init__(
        self,
        img_resolution: int,
        in_channels: int,
        out_channels: int,
        label_dim: int = 0,
        augment_dim: int = 0,
        model_channels: int = 128,
        channel_mult: Sequence[int] = (1, 2, 2, 2),
        channel_mult_emb: int = 4,
        num_blocks: int = 4,
        attn_resolutions: Sequence[int] = (16,),
        dropout: float = 0.10,
        label_dropout: float = 0,
        embedding_type: str = "positional",
        channel_mult_noise: int = 1,
        encoder_type: str = "standard",
        decoder_type: str = "standard",
        resample_filter: Sequence[float] = (1, 1),
    ) -> None:
        if embedding_type not in ("fourier", "positional"):
            raise ValueError(f"unknown embedding_type {embedding_type!r}")
        if encoder_type not in ("standard", "skip", "residual"):
            raise ValueError(f"unknown encoder_type {encoder_type!r}")
        if decoder_type not in ("standard", "skip"):
            raise ValueError(f"unknown decoder_type {decoder_type!r}")
        super().__init__()
        self.label_dropout = label_dropout

        # Init presets (NVlabs/edm networks.py).
        init = dict(init_mode="xavier_uniform")
        init_zero = dict(init_mode="xavier_uniform", init_weight=1e-5)
        init_attn = dict(init_mode="xavier_uniform", init_weight=math.sqrt(0.2))

        emb_channels = model_channels * channel_mult_emb
        noise_channels = model_channels * channel_mult_noise
        block_kwargs = dict(
            emb_channels=emb_channels,
            num_heads=1,
            dropout=dropout,
            skip_scale=math.sqrt(0.5),
            eps=1e-6,
            resample_filter=resample_filter,
            resample_proj=True,
            adaptive_scale=False,
            init=init,
            init_zero=init_zero,
            init_attn=init_attn,
        )

        # Mapping network (SongUNet in NVlabs/edm networks.py; arXiv 2011.13456).
        if embedding_type == "positional":
            self.map_noise = PositionalEmbedding(num_channels=noise_channels, endpoint=True)
        else:
            self.map_noise = FourierEmbedding(num_channels=noise_channels)
        self.map_label = Linear(label_dim, noise_channels, **init) if label_dim else None
        self.map_augment = (
            Linear(augment_dim, noise_channels, bias=False, **init) if augment_dim else None
        )
        self.map_layer0 = Linear(noise_channels, emb_channels, **init)
        self.map_layer1 = Linear(emb_channels, emb_channels, **init)

        # Encoder (SongUNet in NVlabs/edm networks.py; arXiv 2011.13456).
        self.enc = nn.ModuleDict()
        channels = in_channels
        aux_channels = in_channels
        for level, mult in enumerate(channel_mult):
            res = img_resolution >> level
            if level == 0:
                self.enc[f"{res}x{res}_conv"] = Conv2d(channels, model_channels, kernel=3, **init)
                channels = model_channels
            else:
                self.enc[f"{res}x{res}_down"] = UNetBlock(
                    channels, channels, down=True, **block_kwargs
                )
                if encoder_type == "skip":
                    self.enc[f"{res}x{res}_aux_down"] = Conv2d(
                        aux_channels, aux_channels, kernel=0, down=True,
                        resample_filter=resample_filter,
                    )
                    self.enc[f"{res}x{res}_aux_skip"] = Conv2d(
                        aux_channels, channels, kernel=1, **init
                    )
                if encoder_type == "residual":
                    self.enc[f"{res}x{res}_aux_residual"] = Conv2d(
                        aux_channels, channels, kernel=3, down=True,
                        resample_filter=resample_filter, fused_resample=True, **init,
                    )
                    aux_channels = channels
            for index in range(num_blocks):
                out = model_channels * mult
                self.enc[f"{res}x{res}_block{index}"] = UNetBlock(
                    channels, out, attention=(res in attn_resolutions), **block_kwargs
                )
                channels = out

        # Channel counts of the skip stack: every encoder output except the aux layers.
        skip_channels = [
            module.out_channels for name, module in self.enc.items() if "aux" not in name
        ]

        # Decoder (SongUNet in NVlabs/edm networks.py; arXiv 2011.13456).
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
                attention = index == num_blocks and res in attn_resolutions
                self.dec[f"{res}x{res}_block{index}"] = UNetBlock(
                    channels + skip_channels.pop(), out, attention=attention, **block_kwargs
                )
                channels = out
            if decoder_type == "skip" or level == 0:
                if decoder_type == "skip" and level < len(channel_mult) - 1:
                    self.dec[f"{res}x{res}_aux_up"] = Conv2d(
                        out_channels, out_channels, kernel=0, up=True,
                        resample_filter=resample_filter,
                    )
                self.dec[f"{res}x{res}_aux_norm"] = GroupNorm(channels, eps=1e-6)
                self.dec[f"{res}x{res}_aux_conv"] = Conv2d(
                    channels, out_channels, kernel=3, **init_zero
                )

    def embed(
        self,
        noise_labels: torch.Tensor,
        class_labels: torch.Tensor | None,
        augment_labels: torch.Tensor | None,
    ) -> torch.Tensor:
        """Map c_noise, class and augment labels to the block embedding (SongUNet in NVlabs/edm networks.py; arXiv 2011.13456)."""
        emb = self.map_noise(noise_labels)
        emb = emb.reshape(emb.shape[0], 2, -1).flip(1).reshape(emb.shape)  # [sin, cos]
        if self.map_label is not None:
            labels = class_labels
            if self.training and self.label_dropout:
                keep = torch.rand([labels.shape[0], 1], device=labels.device) >= self.label_dropout
                labels = labels * keep.to(labels.dtype)
            emb = emb + self.map_label(labels * math.sqrt(self.map_label.in_features))
        if self.map_augment is not None and augment_labels is not None:
            emb = emb + self.map_augment(augment_labels)
        emb = F.silu(self.map_layer0(emb))
        return F.silu(self.map_layer1(emb))

    def forward(
        self,
        x: torch.Tensor,
        noise_labels: torch.Tensor,
        class_labels: torch.Tensor | None,
        augment_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        emb = self.embed(noise_labels, class_labels, augment_labels)

        # Encoder: push every non-aux output; aux layers rewrite the top of the stack (§4.4).
        skips: list[torch.Tensor] = []
        aux = x
        for name, module in self.enc.items():
            if name.endswith("_aux_down"):
                aux = module(aux)
            elif name.endswith("_aux_skip"):
                x = skips[-1] = x + module(aux)
            elif name.endswith("_aux_residual"):
                x = skips[-1] = aux = (x + module(aux)) / math.sqrt(2)
            else:
                x = module(x, emb) if isinstance(module, UNetBlock) else module(x)
                skips.append(x)

        # Decoder: blocks consume skips; the aux head accumulates the output image (§4.5).
        aux = None
        head = None
        for name, module in self.dec.items():
            if name.endswith("_aux_up"):
                aux = module(aux)
            elif name.endswith("_aux_norm"):
                head = module(x)
            elif name.endswith("_aux_conv"):
                head = module(F.silu(head))
                aux = head if aux is None else head + aux
            else:
                # Only the `_block{i}` layers are wider than x: they take [x, skip] (§4.5).
                if x.shape[1] != module.in_channels:
                    x = torch.cat([x, skips.pop()], dim=1)
                x = module(x, emb)
        return aux
