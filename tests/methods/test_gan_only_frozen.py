"""D2O-F (baselines/gan_only_frozen.py): the freezing rule names exactly the layers the paper names, and on
the released architectures (built on the meta device) freezes the published shares."""

from __future__ import annotations

import json

import pytest
import torch

from baselines import METHODS
from baselines.gan_only_frozen import frozen_parameter_names
from harness.backbones import build_network
from harness.errors import UsageError
from tiny_methods import context, run_steps, tiny_backbone, tiny_net


# --- D2O-F freezing rule --------------------------------------------------------------------------------

def test_freeze_rule_names_on_small_songunet():
    named = list(tiny_net(label_dim=3).named_parameters())
    names = {n for n, _ in named}
    f1, f2, f3 = (frozen_parameter_names(named, level) for level in (1, 2, 3))
    assert frozen_parameter_names(named, 0) == set()
    for name in ["model.enc.8x8_block0.conv0.weight", "model.enc.8x8_block0.conv1.bias",
                 "model.enc.4x4_down.conv0.weight", "model.dec.8x8_up.conv1.weight",
                 "model.dec.4x4_in0.conv0.weight", "model.dec.4x4_in1.conv1.weight",
                 "model.enc.4x4_block0.proj.weight", "model.dec.4x4_in0.proj.bias"]:
        assert name in names and name in f1 and name in f2 and name in f3, name
    for name in ["model.enc.4x4_block0.qkv.weight", "model.dec.4x4_in0.qkv.bias"]:
        assert name in names and name not in f1 and name in f2 and name in f3, name
    for name in ["model.enc.4x4_block0.skip.weight", "model.enc.4x4_down.skip.weight", "model.dec.8x8_up.skip.bias"]:
        assert name in names and name not in f2 and name in f3, name
    never = [n for n in names if any(key in n for key in ("map_", "_conv.", "aux_", "norm", "affine"))]
    assert {"model.map_label.weight", "model.map_layer0.weight", "model.enc.8x8_conv.weight",
            "model.enc.4x4_aux_residual.weight", "model.dec.8x8_aux_conv.weight", "model.dec.8x8_aux_norm.weight",
            "model.enc.8x8_block0.norm0.weight", "model.dec.4x4_in0.norm2.weight",
            "model.enc.8x8_block0.affine.weight"} <= set(never)
    assert not set(never) & f3
    # Exactly block conv0/conv1/proj (+qkv, +skip): nothing else is frozen.
    layer = {n: n.split(".")[-2] for n in names}
    assert {layer[n] for n in f1} == {"conv0", "conv1", "proj"}
    assert {layer[n] for n in f3} == {"conv0", "conv1", "proj", "qkv", "skip"}
    # Prefix-independent: the generator's names start with `unet.` instead of `model.`.
    renamed = [(n.replace("model.", "unet.", 1), p) for n, p in named]
    assert {n.replace("model.", "unet.", 1) for n in f1} == frozen_parameter_names(renamed, 1)


@pytest.mark.parametrize("key,shares", [
    ("cifar10_32_ncsnpp_uncond", (84.4, 86.5, 90.5)),
    ("ffhq_afhqv2_64_ncsnpp_uncond", (83.8, 85.7, 89.7)),
    ("imagenet_64_adm_cond", (78.8, 87.0, 90.2)),
])
def test_freeze_shares_of_released_architectures(specs_dir, key, shares):
    entry = json.loads((specs_dir / "edm" / "keys" / "keys_summary.json").read_text())[key]
    with torch.device("meta"):
        net = build_network(entry["top_class"], dict(entry["init_kwargs"]))
    named = list(net.named_parameters())
    total = sum(p.numel() for _, p in named)
    assert total == entry["param_scalars"]
    for level, share in zip((1, 2, 3), shares):
        frozen = frozen_parameter_names(named, level)
        got = 100 * sum(p.numel() for n, p in named if n in frozen) / total
        assert abs(got - share) <= 0.1, (level, got, share)


@pytest.mark.parametrize("level", [4, -1])
def test_freeze_level_out_of_range_is_usage_error(level):
    with pytest.raises(UsageError):
        frozen_parameter_names([], level)
    cls = METHODS.get("gan_only_frozen")
    with pytest.raises(UsageError):
        cls(context(tiny_backbone()), cls.Config(freeze_level=level))


def test_d2o_f_trains_only_unfrozen_weights():
    cls = METHODS.get("gan_only_frozen")
    method = cls(context(tiny_backbone()), cls.Config(d_width=8))
    info = method.record_info()
    frozen = frozen_parameter_names(method.G.named_parameters(), 1)
    assert info["freeze_level"] == 1 and info["frozen_tensors"] == len(frozen)
    assert info["frozen_share"] == pytest.approx(info["frozen_parameters"] / info["total_parameters"])
    assert 0.5 < info["frozen_share"] < 1.0
    before = {n: p.detach().clone() for n, p in method.G.named_parameters()}
    run_steps(method, label_dim=0)
    for n, p in method.G.named_parameters():
        assert p.requires_grad == (n not in frozen)
        assert torch.equal(p, before[n]) == (n in frozen), n
