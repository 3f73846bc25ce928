"""Samplers over an EDM denoiser ``D(x; sigma)``: EDM's Heun (Karras et al. 2022, Algorithm 2),
the deterministic DDIM step in the same parametrisation, and wrappers that turn them into
generators ``G(z, class_labels) -> images`` so a multi-step teacher and a one-step student are
sampled and measured the same way.
"""

from __future__ import annotations

import torch

SIGMA_MIN, SIGMA_MAX, RHO = 0.002, 80.0, 7.0


def supported_sigma_range(net: torch.nn.Module, sigma_min: float, sigma_max: float) -> tuple[float, float]:
    """[sigma_min, sigma_max] narrowed to what the backbone's wrapper supports (its ``sigma_min``/``sigma_max``,
    EDM's VP and iDDPM wrappers have them): the one place every sampler and method clamps sigma."""
    return (max(sigma_min, float(getattr(net, "sigma_min", 0.0))),
            min(sigma_max, float(getattr(net, "sigma_max", float("inf")))))


def karras_sigma(u: torch.Tensor, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX,
                 rho: float = RHO) -> torch.Tensor:
    """EDM eq. 5 as a function of u in [0, 1]: sigma_max at u = 0, sigma_min at u = 1 (any u's shape)."""
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return (a + u * (b - a)) ** rho


def karras_sigmas(num_steps: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX, rho: float = RHO,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """EDM eq. 5 time steps t_0 > ... > t_{N-1}, then t_N = 0 (float64; Karras et al. 2022, arXiv 2206.00364)."""
    if num_steps < 1:
        raise ValueError("num_steps must be at least 1")
    if num_steps == 1:
        steps = torch.tensor([sigma_max], dtype=torch.float64, device=device)
    else:
        i = torch.arange(num_steps, dtype=torch.float64, device=device)
        steps = karras_sigma(i / (num_steps - 1), sigma_min, sigma_max, rho)
    return torch.cat([steps, torch.zeros(1, dtype=torch.float64, device=device)])


def append_dims(v: torch.Tensor, ndim: int) -> torch.Tensor:
    """A scalar or per-sample [B] tensor reshaped to broadcast over [B, C, H, W] (k-diffusion's append_dims)."""
    return v.reshape(v.shape + (1,) * (ndim - v.ndim)) if v.ndim else v.reshape((1,) * ndim)


def denoise(net: torch.nn.Module, x: torch.Tensor, sigma: torch.Tensor | float,
            class_labels: torch.Tensor | None) -> torch.Tensor:
    return net(x, torch.as_tensor(sigma, dtype=torch.float64, device=x.device), class_labels).to(torch.float64)


def heun_step(net: torch.nn.Module, x: torch.Tensor, t_cur: torch.Tensor | float, t_next: torch.Tensor | float,
              class_labels: torch.Tensor | None) -> torch.Tensor:
    """One deterministic step of EDM's Algorithm 2 in float64: Euler, then the 2nd-order correction
    wherever t_next > 0. ``t_cur``/``t_next``: one sigma for the batch or one per sample ([B])."""
    x = x.to(torch.float64)
    t_cur = append_dims(torch.as_tensor(t_cur, dtype=torch.float64, device=x.device), x.ndim)
    t_next = append_dims(torch.as_tensor(t_next, dtype=torch.float64, device=x.device), x.ndim)
    d_cur = (x - denoise(net, x, t_cur, class_labels)) / t_cur
    x_next = x + (t_next - t_cur) * d_cur
    positive = t_next > 0
    if not bool(positive.any()):
        return x_next
    t_eval = t_next if bool(positive.all()) else torch.where(positive, t_next, t_cur)
    d_next = (x_next - denoise(net, x_next, t_eval, class_labels)) / t_eval
    return torch.where(positive, x + (t_next - t_cur) * (0.5 * d_cur + 0.5 * d_next), x_next)


def round_sigmas(net: torch.nn.Module, t: torch.Tensor) -> torch.Tensor:
    """t_0 .. t_{N-1} snapped by the wrapper's ``round_sigma`` (identity where it has none), t_N = 0 kept."""
    if not hasattr(net, "round_sigma"):
        return t
    return torch.cat([torch.as_tensor(net.round_sigma(t[:-1])).to(t.dtype), t[-1:]])


def heun_sample(net: torch.nn.Module, latents: torch.Tensor, class_labels: torch.Tensor | None = None,
                num_steps: int = 18, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX,
                rho: float = RHO) -> torch.Tensor:
    """EDM's deterministic sampler (S_churn = 0); NFE = 2 * num_steps - 1. The time steps are snapped to
    noise levels the network supports (``round_sigma``, as EDM's Algorithm 2 sampler does; only iDDPM's
    wrapper, with its discrete schedule, changes them)."""
    sigma_min, sigma_max = supported_sigma_range(net, sigma_min, sigma_max)
    t = round_sigmas(net, karras_sigmas(num_steps, sigma_min, sigma_max, rho, device=latents.device))
    x = latents.to(torch.float64) * t[0]
    for i in range(num_steps):
        x = heun_step(net, x, t[i], t[i + 1], class_labels)
    return x.to(torch.float32)


def ddim_step(x: torch.Tensor, denoised: torch.Tensor, sigma_from: torch.Tensor | float,
              sigma_to: torch.Tensor | float) -> torch.Tensor:
    """Deterministic DDIM (Song et al. 2021) in EDM's x = y + sigma * n form: keep the predicted noise.

    With eps = (x - D) / sigma_from, the step is x' = D + sigma_to * eps; it is exactly one Euler
    step of the probability-flow ODE dx/dsigma = (x - D) / sigma.
    """
    return denoised + (sigma_to / sigma_from) * (x - denoised)


class HeunGenerator(torch.nn.Module):
    """The multi-step teacher as a generator: latents z ~ N(0, I) to images with NFE = 2N - 1."""

    def __init__(self, net: torch.nn.Module, num_steps: int = 18):
        super().__init__()
        self.net = net
        self.num_steps = num_steps

    @property
    def nfe(self) -> int:
        return 2 * self.num_steps - 1

    def forward(self, z: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        return heun_sample(self.net, z, class_labels, num_steps=self.num_steps)


class OneStepGenerator(torch.nn.Module):
    """The pre-trained denoiser used as it is in one step: D(80 z; 80). The 'before fine-tuning' point."""

    def __init__(self, net: torch.nn.Module, sigma: float = SIGMA_MAX):
        super().__init__()
        self.net = net
        self.sigma = sigma

    def forward(self, z: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z * self.sigma, torch.tensor(self.sigma, device=z.device), class_labels).to(torch.float32)
