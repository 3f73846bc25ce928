"""EDM's preconditioning wrappers D(x; σ) = c_skip·x + c_out·F(c_in·x; c_noise) (arXiv 2206.00364, Table 1).

The wrappers own no parameters (only iDDPM owns the buffer `u`); the inner network is the
attribute `model`, which is why every checkpoint key starts with `model.` (tests/data/edm/keys).
Each wrapper records the keywords it was given in `init_kwargs`, mirroring the
`_init_kwargs` that EDM stores in its pickles (NVlabs/edm README, released checkpoints; NVlabs/edm torch_utils/persistence.py).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .dhariwal_unet import DhariwalUNet
from .song_unet import SongUNet

INNER_NETWORKS: dict[str, type[nn.Module]] = {"SongUNet": SongUNet, "DhariwalUNet": DhariwalUNet}

Coefficients = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def records_init_kwargs(init: Callable[..., None]) -> Callable[..., None]:
    """Keep a copy of the keywords given to `__init__` as the plain dict `self.init_kwargs`.

    Only the keywords actually passed are kept (like EDM's `_init_kwargs`), so the dict can
    be written to JSON and passed back to the class to rebuild the same network. As in EDM,
    the wrappers take keyword arguments only (arXiv 2206.00364, App. B.6).
    """

    @functools.wraps(init)
    def wrapper(self: nn.Module, **kwargs: Any) -> None:
        init(self, **kwargs)
        self.init_kwargs = copy.deepcopy(kwargs)

    return wrapper


class Precond(nn.Module):
    """Shared forward pass of all four wrappers (arXiv 2206.00364, Table 1).

    Subclasses provide `coefficients(sigma)` -> (c_skip, c_out, c_in, c_noise) per §2.3.
    """

    def __init__(
        self,
        img_resolution: int,
        img_channels: int,
        label_dim: int,
        use_fp16: bool,
        model_type: str,
        out_channels: int,
        model_kwargs: dict[str, Any],
    ) -> None:
        super().__init__()
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.label_dim = label_dim
        self.use_fp16 = use_fp16
        self.model = INNER_NETWORKS[model_type](
            img_resolution=img_resolution,
            in_channels=img_channels,
            out_channels=out_channels,
            label_dim=label_dim,
            **model_kwargs,
        )

    def coefficients(self, sigma: torch.Tensor) -> Coefficients:
        raise NotImplementedError

    def round_sigma(self, sigma: torch.Tensor | float) -> torch.Tensor:
        """Snap σ to a noise level the network supports; the identity by default (§2.1)."""
        return torch.as_tensor(sigma)

    def forward(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor | float,
        class_labels: torch.Tensor | None = None,
        force_fp32: bool = False,
        **model_kwargs: Any,
    ) -> torch.Tensor:
        # 1. Inputs to float32; σ broadcast as [-1, 1, 1, 1] (a scalar σ covers the batch).
        x = x.to(torch.float32)
        sigma = torch.as_tensor(sigma, device=x.device).to(torch.float32).reshape(-1, 1, 1, 1)

        # 2. One-hot labels: dropped for unconditional nets, zeros when absent.
        if self.label_dim == 0:
            class_labels = None
        elif class_labels is None:
            class_labels = torch.zeros([1, self.label_dim], device=x.device)
        else:
            class_labels = class_labels.to(torch.float32).reshape(-1, self.label_dim)

        # 3. Compute dtype: float16 only for fp16 nets on CUDA (§2.4).
        use_half = self.use_fp16 and not force_fp32 and x.device.type == "cuda"
        dtype = torch.float16 if use_half else torch.float32

        # 4-6. Precondition, run the network, combine.
        c_skip, c_out, c_in, c_noise = self.coefficients(sigma)
        F_x = self.model(
            (c_in * x).to(dtype),
            c_noise.flatten(),
            class_labels=class_labels,
            **model_kwargs,
        )
        if F_x.dtype != dtype:
            raise RuntimeError(f"inner network returned {F_x.dtype}, expected {dtype}")
        # iDDPM nets also predict a variance in the second half of the channels; drop it.
        F_x = F_x[:, : self.img_channels].to(torch.float32)
        return c_skip * x + c_out * F_x


class VPPrecond(Precond):
    """Variance-preserving preconditioning of Song et al.'s DDPM++ (arXiv 2206.00364, Table 1)."""

    @records_init_kwargs
    def __init__(
        self,
        img_resolution: int,
        img_channels: int,
        label_dim: int = 0,
        use_fp16: bool = False,
        beta_d: float = 19.9,
        beta_min: float = 0.1,
        M: int = 1000,
        epsilon_t: float = 1e-5,
        model_type: str = "SongUNet",
        **model_kwargs: Any,
    ) -> None:
        super().__init__(
            img_resolution, img_channels, label_dim, use_fp16, model_type,
            out_channels=img_channels, model_kwargs=model_kwargs,
        )
        self.beta_d = beta_d
        self.beta_min = beta_min
        self.M = M
        self.epsilon_t = epsilon_t
        # Evaluated in float32 like EDM, hence sigma_min = 2^-10 rather than 0.0010005.
        self.sigma_min = float(self.sigma(torch.tensor(epsilon_t, device="cpu")))
        self.sigma_max = float(self.sigma(torch.tensor(1.0, device="cpu")))

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """σ_VP(t) = √(exp(½β_d t² + β_min t) − 1)."""
        return ((0.5 * self.beta_d * t**2 + self.beta_min * t).exp() - 1).sqrt()

    def sigma_inv(self, sigma: torch.Tensor) -> torch.Tensor:
        """t_VP(σ), the inverse of `sigma`."""
        return ((self.beta_min**2 + 2 * self.beta_d * (1 + sigma**2).log()).sqrt()
                - self.beta_min) / self.beta_d

    def coefficients(self, sigma: torch.Tensor) -> Coefficients:
        c_skip = torch.ones_like(sigma)
        c_out = -sigma
        c_in = 1 / (sigma**2 + 1).sqrt()
        c_noise = (self.M - 1) * self.sigma_inv(sigma)
        return c_skip, c_out, c_in, c_noise


class VEPrecond(Precond):
    """Variance-exploding preconditioning of Song et al.'s NCSN++ (arXiv 2206.00364, Table 1)."""

    @records_init_kwargs
    def __init__(
        self,
        img_resolution: int,
        img_channels: int,
        label_dim: int = 0,
        use_fp16: bool = False,
        sigma_min: float = 0.02,
        sigma_max: float = 100,
        model_type: str = "SongUNet",
        **model_kwargs: Any,
    ) -> None:
        super().__init__(
            img_resolution, img_channels, label_dim, use_fp16, model_type,
            out_channels=img_channels, model_kwargs=model_kwargs,
        )
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max

    def coefficients(self, sigma: torch.Tensor) -> Coefficients:
        c_skip = torch.ones_like(sigma)
        c_out = sigma
        c_in = torch.ones_like(sigma)
        c_noise = (0.5 * sigma).log()
        return c_skip, c_out, c_in, c_noise


class iDDPMPrecond(Precond):
    """Improved-DDPM preconditioning on a discrete cosine schedule `u` (arXiv 2206.00364, Table 1)."""

    @records_init_kwargs
    def __init__(
        self,
        img_resolution: int,
        img_channels: int,
        label_dim: int = 0,
        use_fp16: bool = False,
        C_1: float = 0.001,
        C_2: float = 0.008,
        M: int = 1000,
        model_type: str = "DhariwalUNet",
        **model_kwargs: Any,
    ) -> None:
        super().__init__(
            img_resolution, img_channels, label_dim, use_fp16, model_type,
            out_channels=img_channels * 2, model_kwargs=model_kwargs,
        )
        self.C_1 = C_1
        self.C_2 = C_2
        self.M = M
        u = self._noise_levels(C_1, C_2, M)
        self.register_buffer("u", u)
        self.sigma_min = float(u[M - 1])
        self.sigma_max = float(u[0])

    @staticmethod
    def _noise_levels(C_1: float, C_2: float, M: int) -> torch.Tensor:
        """The M+1 supported σ values, decreasing to u_M = 0, in float32."""

        def alpha_bar(j: int) -> torch.Tensor:
            j_ = torch.tensor(j, dtype=torch.float32, device="cpu")
            return (0.5 * math.pi * j_ / M / (C_2 + 1)).sin() ** 2

        u = torch.zeros(M + 1, device="cpu")
        for j in range(M, 0, -1):
            ratio = (alpha_bar(j - 1) / alpha_bar(j)).clip(min=C_1)
            u[j - 1] = ((u[j] ** 2 + 1) / ratio - 1).sqrt()
        return u

    def sigma_index(self, sigma: torch.Tensor | float) -> torch.Tensor:
        """j*(σ): index of the entry of `u` nearest to σ, same shape as σ."""
        sigma = torch.as_tensor(sigma)
        u = self.u.to(sigma.device, torch.float32)
        distance = (sigma.to(torch.float32).reshape(-1, 1) - u.reshape(1, -1)).abs()
        return distance.argmin(dim=1).reshape(sigma.shape)

    def round_sigma(self, sigma: torch.Tensor | float) -> torch.Tensor:
        sigma = torch.as_tensor(sigma)
        index = self.sigma_index(sigma)
        return self.u.to(sigma.device)[index].to(sigma.dtype)

    def coefficients(self, sigma: torch.Tensor) -> Coefficients:
        c_skip = torch.ones_like(sigma)
        c_out = -sigma
        c_in = 1 / (sigma**2 + 1).sqrt()
        c_noise = (self.M - 1 - self.sigma_index(sigma)).to(torch.float32)
        return c_skip, c_out, c_in, c_noise


class EDMPrecond(Precond):
    """EDM's own preconditioning, "config F" of the paper (arXiv 2206.00364, Table 1)."""

    @records_init_kwargs
    def __init__(
        self,
        img_resolution: int,
        img_channels: int,
        label_dim: int = 0,
        use_fp16: bool = False,
        sigma_min: float = 0,
        sigma_max: float = float("inf"),
        sigma_data: float = 0.5,
        model_type: str = "DhariwalUNet",
        **model_kwargs: Any,
    ) -> None:
        super().__init__(
            img_resolution, img_channels, label_dim, use_fp16, model_type,
            out_channels=img_channels, model_kwargs=model_kwargs,
        )
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.sigma_data = sigma_data

    def coefficients(self, sigma: torch.Tensor) -> Coefficients:
        sd = self.sigma_data
        c_skip = sd**2 / (sigma**2 + sd**2)
        c_out = sigma * sd / (sigma**2 + sd**2).sqrt()
        c_in = 1 / (sd**2 + sigma**2).sqrt()
        c_noise = sigma.log() / 4
        return c_skip, c_out, c_in, c_noise
