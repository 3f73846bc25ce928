"""The projected discriminator's geometry as the authors build it (issue #23, items 1-5; Zyriix/GDD and
autonomousvision/projected-gan ``pg_modules/``, StyleGAN-XL ``feature_networks/``): cross-scale mixing
upsamples x2 (align_corners=True) before a 1x1 convolution, heads are as deep as the authors' nominal
sides make them, projections carry nn.Conv2d's default init with bias from the seed, the authors' VGG
and DeiT taps, their per-size head widths from 32x32 up, and the pretrained class embedding.
Feature networks here are small stand-ins with the real networks' strides (no weights needed)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from baselines.projected_discriminator import ProjectedDiscriminator
from harness.errors import UsageError
from harness.features import VGGFeatures, ViTFeatures
from harness.features.random_init import default_init_


class StridedMaps(nn.Module):
    """4 maps at the given strides (average pools of a fixed 1x1 convolution): a cheap feature network."""

    def __init__(self, strides=(4, 8, 16, 32), channels=(6, 8, 10, 12)):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(3, c, 1) for c in channels)
        self.strides, self.channels = list(strides), list(channels)

    def forward(self, x):
        return [conv(F.avg_pool2d(x, s)) for conv, s in zip(self.convs, self.strides)]


def info(size: int = 224) -> dict:
    return {"name": "toy", "input_size": size, "mean": [0.5] * 3, "std": [0.5] * 3}


def make(strides=(4, 8, 16, 32), size=224, resolution=8, seed=0, num_classes=0, width=8, proj=4):
    torch.manual_seed(0)
    return ProjectedDiscriminator([(StridedMaps(strides), info(size))], resolution=resolution, channels=3,
                                  num_classes=num_classes, seed=seed, width=width, proj_channels=proj,
                                  input_size=size)


def test_cross_scale_mixing_upsamples_x2_align_corners_then_1x1():
    D = make(size=64)
    branch = D.branches[0]
    x = torch.rand(2, 3, 64, 64)
    feats = branch.network(x)
    mixed = branch.projection(feats)
    assert [m.shape[-1] for m in mixed] == [2 * f.shape[-1] for f in feats] == [32, 16, 8, 4]
    p = branch.projection
    ccm = [F.conv2d(f, p.ccm[i].weight, p.ccm[i].bias) for i, f in enumerate(feats)]
    expected, coarser = [None] * 4, None
    for i in (3, 2, 1, 0):
        h = ccm[i] if coarser is None else ccm[i] + coarser
        h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=True)
        expected[i] = coarser = F.conv2d(h, p.csm[i].weight, p.csm[i].bias)
    for got, want in zip(mixed, expected):
        torch.testing.assert_close(got, want)
    assert all(p.csm[i].weight.shape[-2:] == (1, 1) and p.csm[i].bias is not None for i in range(4))


def down_blocks(head) -> int:
    return sum(isinstance(layer, nn.BatchNorm2d) for layer in head.body)


def test_heads_at_224_pixels_have_the_authors_depths_and_logit_maps():
    # EfficientNet-lite0 / DeiT strides: mixed maps 112/56/28/14, 4/3/2/1 down-blocks to 7x7, 4x4 kernel.
    D = make()
    heads = D.branches[0].heads
    assert [down_blocks(h) for h in heads] == [4, 3, 2, 1]
    assert [h.out.kernel_size for h in heads] == [(4, 4)] * 4 and [h.patches for h in heads] == [16] * 4
    # VGG16-BN's taps (strides 2-16): mixed maps 224/112/56/28, the same depths, 11x11 logits per head.
    D = make(strides=(2, 4, 8, 16))
    assert [down_blocks(h) for h in D.branches[0].heads] == [4, 3, 2, 1]
    assert D.logits_per_image() == [4 * 121]
    (logits,) = D(torch.rand(1, 3, 32, 32) * 2 - 1)
    assert logits.shape == (1, 4 * 121)


def test_projections_have_conv2d_default_init_with_bias_from_the_seed():
    a, b, c = make(seed=3, proj=16), make(seed=3, proj=16), make(seed=4, proj=16)
    for conv_a, conv_b, conv_c in zip([*a.branches[0].projection.ccm, *a.branches[0].projection.csm],
                                      [*b.branches[0].projection.ccm, *b.branches[0].projection.csm],
                                      [*c.branches[0].projection.ccm, *c.branches[0].projection.csm]):
        bound = 1 / math.sqrt(conv_a.weight[0].numel())
        for t in ("weight", "bias"):
            va = getattr(conv_a, t)
            assert torch.equal(va, getattr(conv_b, t)) and not torch.equal(va, getattr(conv_c, t))
            assert va.abs().max() <= bound
    w = torch.cat([m.weight.flatten() * math.sqrt(m.weight[0].numel()) for m in a.branches[0].projection.ccm])
    assert abs(float(w.std()) - 1 / math.sqrt(3)) < 0.05  # uniform on +-1: std 0.577 (a unit normal: 1)


def test_default_init_matches_pytorch_bounds_for_transposed_convolutions():
    layer = nn.ConvTranspose2d(8, 2, 4, stride=4)  # PyTorch's fan_in: weight dim 1 (2) x 16 = 32
    default_init_(layer, torch.Generator().manual_seed(0))
    assert layer.weight.abs().max() <= 1 / math.sqrt(32) and layer.weight.abs().max() > 0.9 / math.sqrt(32)


def test_head_widths_are_the_authors_nfc_from_32x32_and_flat_below():
    wide = make(resolution=32)
    first = wide.branches[0].heads[0]
    assert [layer.out_channels for layer in first.body if isinstance(layer, nn.Conv2d)] == [64, 64, 128, 256, 512][1:]
    assert [h.out.in_channels for h in wide.branches[0].heads] == [512] * 4
    assert all(layer.bias is not None for layer in first.body if isinstance(layer, nn.Conv2d))
    assert wide.describe()["head_widths"].startswith("nfc")
    flat = make(resolution=8, width=8)
    assert {layer.out_channels for h in flat.branches[0].heads for layer in h.body if isinstance(layer, nn.Conv2d)} == {8}


def test_conditional_heads_start_from_efficientnet_lite0_class_embedding():
    from harness.features.efficientnet_lite import load_efficientnet_lite0

    D = make(size=64, num_classes=5)
    rows = load_efficientnet_lite0()[0].classifier.weight[:5]
    head = D.branches[0].heads[0]
    assert torch.equal(head.classes.embed.weight, rows) and head.classes.embed.weight.requires_grad
    labels = F.one_hot(torch.tensor([3, 0]), 5).float()
    cmap = head.classes(labels)
    expected = F.leaky_relu(rows[[3, 0]] @ head.classes.weight.t() / math.sqrt(1280) + head.classes.bias, 0.2)
    torch.testing.assert_close(cmap, expected * math.sqrt(2))
    assert "efficientnet-lite0" in D.describe()["class_embedding"]


def test_vgg_is_tapped_before_its_pools_at_strides_2_to_16():
    import torchvision

    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"], batch_norm=True)
    vgg = VGGFeatures(features).eval()
    assert vgg.taps == [12, 22, 32, 42] and vgg.channels == [128, 256, 512, 512]
    with torch.no_grad():
        maps = vgg(torch.rand(1, 3, 64, 64))
    assert [m.shape[1:] for m in maps] == [(128, 32, 32), (256, 16, 16), (512, 8, 8), (512, 4, 4)]
    assert all(float(m.min()) >= 0 for m in maps)  # after the ReLU, before the max-pool


class FakeViT(nn.Module):
    """timm's interface for DeiT-B: block outputs as [N, 768, 14, 14] maps at 224 pixels."""

    embed_dim = 768

    def forward_intermediates(self, x, indices, intermediates_only):
        assert list(indices) == [2, 5, 8, 11] and intermediates_only
        return [torch.full((x.shape[0], 768, 14, 14), float(i)) for i in indices]


def test_deit_taps_go_through_the_authors_readout_and_reassemble_layers():
    vit = ViTFeatures(FakeViT())
    assert vit.channels == [96, 192, 384, 768]
    vit.init_random_layers(torch.Generator().manual_seed(0))
    other = ViTFeatures(FakeViT())
    other.init_random_layers(torch.Generator().manual_seed(0))
    assert all(torch.equal(p, q) for p, q in zip(vit.parameters(), other.parameters()))
    with torch.no_grad():
        maps = vit(torch.zeros(1, 3, 224, 224))
    assert [tuple(m.shape[1:]) for m in maps] == [(96, 56, 56), (192, 28, 28), (384, 14, 14), (768, 7, 7)]


@pytest.mark.parametrize("size", [48, 100])
def test_input_size_must_be_a_multiple_of_32(size):
    with pytest.raises(UsageError, match="multiple of 32"):
        make(size=size)
