"""The projected discriminator's heads and loss as in Projected GAN / D2O (Zyriix/GDD ``pg_modules``,
``training/loss.py``): patch logits with a softplus each, projection widths expanding per scale,
BatchNorm in the heads' down-blocks, a projection-only conditional head, and the paper's pair of
feature networks as the default where both are on disk."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.functional import softplus

import harness.features
from baselines.discriminator_choice import DiscriminatorSettings, default_feature_networks, discriminator_for
from baselines.losses import discriminator_loss, generator_loss
from baselines.projected_discriminator import ProjectedDiscriminator, projection_widths
from harness.features import FEATURE_NETWORKS


@pytest.fixture(scope="module")
def lite0():
    return FEATURE_NETWORKS.get("efficientnet-lite0")()


def make_d(lite0, num_classes: int = 0, input_size: int = 64) -> ProjectedDiscriminator:
    network, info = lite0
    return ProjectedDiscriminator([(copy.deepcopy(network), info)], resolution=8, channels=1, num_classes=num_classes,
                                  seed=0, width=8, proj_channels=8, input_size=input_size)


def test_every_patch_logit_gets_its_own_softplus(lite0):
    D = make_d(lite0)
    torch.manual_seed(0)
    real, fake = torch.rand((3, 1, 8, 8)) * 2 - 1, torch.rand((3, 1, 8, 8)) * 2 - 1
    with torch.no_grad():
        out_real, out_fake = D(real), D(fake)
    (logits_real,), (logits_fake,) = out_real, out_fake  # one [N, L] tensor per feature network
    assert logits_real.shape == (3, D.logits_per_image()[0]) and logits_real.shape[1] > len(D.branches[0].heads)
    expected = softplus(logits_fake).mean(1) + softplus(-logits_real).mean(1)
    torch.testing.assert_close(discriminator_loss(out_real, out_fake), expected)
    torch.testing.assert_close(generator_loss(out_fake), softplus(-logits_fake).mean(1))
    # Not one softplus of the summed logits (the harness's loss before):
    summed = softplus(logits_fake.sum(1)) + softplus(-logits_real.sum(1))
    assert not torch.allclose(expected, summed)


def test_two_feature_networks_add_their_mean_losses():
    a, b = torch.randn(2, 5), torch.randn(2, 3)
    torch.testing.assert_close(generator_loss([a, b]), softplus(-a).mean(1) + softplus(-b).mean(1))


def test_projection_widths_expand_per_scale(lite0):
    assert projection_widths(64) == ([64, 128, 256, 512], [64, 64, 128, 256])
    D = make_d(lite0)
    projection = D.branches[0].projection
    assert [projection.ccm[i].weight.shape[0] for i in range(4)] == [8, 16, 32, 64]
    assert [projection.csm[i].weight.shape for i in range(4)] == [(8, 8, 1, 1), (8, 16, 1, 1), (16, 32, 1, 1),
                                                                  (32, 64, 1, 1)]
    assert [head.body[0].in_channels if len(head.body) else head.out.in_channels
            for head in D.branches[0].heads] == [8, 8, 16, 32]


def test_head_down_blocks_are_conv_batchnorm_leaky_relu(lite0):
    D = make_d(lite0)
    for head in D.branches[0].heads:
        layers = list(head.body)
        assert len(layers) % 3 == 0
        for conv, norm, act in zip(layers[::3], layers[1::3], layers[2::3]):
            assert isinstance(conv, nn.Conv2d) and conv.stride == (2, 2)
            assert isinstance(norm, nn.BatchNorm2d) and isinstance(act, nn.LeakyReLU)
    assert any(len(head.body) for head in D.branches[0].heads)


def test_conditional_head_is_projection_only(lite0):
    D = make_d(lite0, num_classes=3)
    labels = torch.nn.functional.one_hot(torch.arange(2) % 3, 3).float()
    with torch.no_grad():
        for head in D.branches[0].heads:  # a class embedding of zero leaves no logit at all
            head.classes.weight.zero_()
            head.classes.bias.zero_()
        (logits,) = D(torch.rand((2, 1, 8, 8)), labels)
    assert torch.equal(logits, torch.zeros_like(logits))
    with pytest.raises(ValueError, match="class labels"):
        D(torch.rand((2, 1, 8, 8)))


@pytest.fixture
def on_disk(monkeypatch):
    """Pretend exactly the named feature networks have weights on disk."""
    def set_available(*names):
        monkeypatch.setattr(harness.features, "feature_network_available", lambda name: name in names)
    return set_available


def test_default_feature_networks_are_the_papers_pair_where_on_disk(on_disk):
    on_disk("efficientnet-lite0", "vgg16-bn", "deit-b-distilled")
    assert default_feature_networks(32)[0] == ("vgg16-bn", "efficientnet-lite0")  # CIFAR-10
    assert default_feature_networks(64)[0] == ("deit-b-distilled", "efficientnet-lite0")  # 64x64
    on_disk("efficientnet-lite0", "vgg16-bn")
    features, reason = default_feature_networks(64)
    assert features == ("efficientnet-lite0",) and "deit-b-distilled" in reason


def test_the_record_says_which_feature_networks_and_why(on_disk):
    on_disk("efficientnet-lite0")
    net = type("Net", (), {"img_resolution": 32, "img_channels": 1, "label_dim": 0})()
    settings = DiscriminatorSettings(discriminator="projected", d_width=8, d_input_size=32, d_proj_channels=8)
    _, info = discriminator_for(settings, net, 0)
    assert [f["name"] for f in info["feature_networks"]] == ["efficientnet-lite0"]
    assert "vgg16-bn" in info["feature_networks_reason"] and info["logits_per_image"][0] > 0
