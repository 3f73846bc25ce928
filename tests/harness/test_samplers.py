"""EDM's Heun sampler (harness/samplers.py) snaps its time steps to the noise levels the network supports,
as EDM's sampler does with ``round_sigma`` (issue #23 item 16): iDDPM's discrete schedule."""

from __future__ import annotations

import torch

from harness.backbones import build_network
from harness.samplers import heun_sample, karras_sigmas


def sigmas_seen(net: torch.nn.Module, steps: int) -> list[float]:
    seen = []
    forward = net.forward

    def spy(x, sigma, class_labels=None, **kwargs):
        seen.extend(torch.as_tensor(sigma, dtype=torch.float64).flatten().unique().tolist())
        return forward(x, sigma, class_labels, **kwargs)

    net.forward = spy
    heun_sample(net, torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(0)), num_steps=steps)
    return seen


def test_iddpm_heun_steps_are_on_its_discrete_schedule():
    torch.manual_seed(0)
    net = build_network("iDDPMPrecond", dict(img_resolution=8, img_channels=1, label_dim=0, model_type="SongUNet",
                                             model_channels=8, channel_mult=[1], num_blocks=1, attn_resolutions=[],
                                             dropout=0.0)).eval()
    supported = set(net.u.to(torch.float64).tolist())
    seen = sigmas_seen(net, 4)
    assert seen and all(s in supported for s in seen)  # every evaluated sigma is one of iDDPM's u_j
    grid = karras_sigmas(4, net.sigma_min, net.sigma_max)[:-1].tolist()
    assert any(g not in supported for g in grid)  # the unsnapped Karras grid would not have been


def test_edm_heun_steps_are_the_karras_grid_unchanged():
    torch.manual_seed(0)
    net = build_network("EDMPrecond", dict(img_resolution=8, img_channels=1, label_dim=0, model_type="SongUNet",
                                           model_channels=8, channel_mult=[1], num_blocks=1, attn_resolutions=[],
                                           dropout=0.0)).eval()
    seen = sigmas_seen(net, 3)
    assert sorted(set(seen), reverse=True) == karras_sigmas(3)[:-1].tolist()
