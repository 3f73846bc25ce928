"""The consistency-style preconditioning of D2O's generator and CD (baselines/d2o.py) feeds the
backbone's inner network what the backbone's own wrapper feeds it (EDM, VP, VE, iDDPM: EDM's
Table 1), and refuses a wrapper whose conditioning it does not know."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from baselines import METHODS
from baselines.d2o import BackboneConditioning, ConsistencyFunction, d2o_generator_from
from harness.backbones import LoadedBackbone, build_network
from harness.errors import UsageError
from tiny_methods import TINY, context

WRAPPERS = ("EDMPrecond", "VPPrecond", "VEPrecond", "iDDPMPrecond")


def wrapped(class_name: str) -> nn.Module:
    torch.manual_seed(0)
    return build_network(class_name, dict(TINY, label_dim=0, model_type="SongUNet")).eval().requires_grad_(False)


def inner_inputs(model: nn.Module, call) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, c_noise) the inner network received during ``call()``."""
    seen = []
    handle = model.register_forward_pre_hook(lambda module, args: seen.append((args[0].clone(), args[1].clone())))
    try:
        call()
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize("class_name", WRAPPERS)
def test_inner_network_sees_what_its_own_wrapper_feeds_it(class_name):
    net = wrapped(class_name)
    sigma = torch.tensor([0.5, 3.0, 20.0]).clamp(min=float(getattr(net, "sigma_min", 0.0)))
    x = torch.randn(3, 1, 8, 8)
    want_x, want_noise = inner_inputs(net.model, lambda: net(x, sigma))
    f = ConsistencyFunction(net.model, 0.5, 0.002, BackboneConditioning.of(net, 0.5))
    got_x, got_noise = inner_inputs(net.model, lambda: f(x, sigma))
    torch.testing.assert_close(got_x, want_x)
    torch.testing.assert_close(got_noise, want_noise)
    # D2O's generator at sigma = 80 likewise (within the wrapper's range).
    G = d2o_generator_from(net, min(80.0, float(getattr(net, "sigma_max", 80.0))))
    z = torch.randn(3, 1, 8, 8)
    want_x, want_noise = inner_inputs(net.model, lambda: net(z * G.sigma, torch.full((3,), G.sigma)))
    got_x, got_noise = inner_inputs(G.unet, lambda: G(z))
    torch.testing.assert_close(got_x, want_x)
    torch.testing.assert_close(got_noise, want_noise)
    assert G(z).shape == z.shape


def test_ve_backbone_is_not_given_edm_conditioning():
    net = wrapped("VEPrecond")
    c_in, c_noise = BackboneConditioning.of(net, 0.5)(torch.tensor(80.0))
    assert float(c_in) == 1.0 and float(c_noise) == pytest.approx(torch.log(torch.tensor(40.0)).item())


class UnknownPrecond(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.model, self.img_resolution, self.img_channels, self.label_dim = inner, 8, 1, 0

    def forward(self, x, sigma, class_labels=None):
        return self.model(x, sigma.reshape(-1).log(), class_labels)


@pytest.mark.parametrize("method", ["gan_only", "consistency_distillation", "dmd", "backbone_one_step"])
def test_unknown_wrapper_is_a_clear_error(method):
    net = UnknownPrecond(wrapped("EDMPrecond").model)
    backbone = LoadedBackbone(net=net, name="odd", path=None, sha256="0" * 64, card={})
    cls = METHODS.get(method)
    with pytest.raises(UsageError, match="UnknownPrecond.*conditioning"):
        cls(context(backbone), cls.Config())
