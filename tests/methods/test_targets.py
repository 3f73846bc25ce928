"""The one-step methods' defining equations, checked on tiny in-memory EDM backbones.

* D2O-F's freezing rule names exactly the layers PAPER_FACTS.md §2 names, and on the released
  architectures (built on the meta device) freezes the published shares.
* Progressive distillation's target: one student DDIM step with it lands where two teacher steps land.
* Consistency distillation's target: the EMA network at the point one teacher Heun step reaches.
* DMD's generator gradient: autograd through the loss gives w (D_fake - D_real) on x.
* Every method takes two training steps, unconditional and conditional, and generates images.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from baselines import METHODS
from baselines.base import MethodContext
from baselines.consistency_distillation import (ConsistencyFunction, cd_sigmas, consistency_distillation_target,
                                                heun_step_per_sample)
from baselines.d2o import D2OGenerator
from baselines.dmd import distribution_matching_gradient, distribution_matching_loss
from baselines.gan_only_frozen import frozen_parameter_names
from baselines.progressive_distillation import pd_schedule, progressive_distillation_target, teacher_two_ddim_steps
from harness.backbones import LoadedBackbone, build_network
from harness.errors import BenchError, MissingArtefactError, UsageError
from harness.samplers import ddim_step, heun_step

# A tiny NCSN++-flavoured SongUNet (residual encoder, attention at 4x4): every layer kind the
# freezing rule talks about, small enough for CPU.
TINY = dict(img_resolution=8, img_channels=1, model_type="SongUNet", model_channels=8, channel_mult=[1, 2],
            num_blocks=1, attn_resolutions=[4], dropout=0.0, embedding_type="fourier", channel_mult_noise=2,
            encoder_type="residual", resample_filter=[1, 3, 3, 1])


def tiny_net(label_dim: int = 0, seed: int = 0, jitter: float = 0.05) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build_network("EDMPrecond", dict(TINY, label_dim=label_dim))
    with torch.no_grad():  # EDM zero-inits output layers; jitter so every network has a non-trivial output
        for p in net.parameters():
            p.add_(jitter * torch.randn_like(p))
    return net.eval().requires_grad_(False)


def tiny_backbone(label_dim: int = 0) -> LoadedBackbone:
    return LoadedBackbone(net=tiny_net(label_dim), name="tiny", path=Path("tiny.safetensors"), sha256="0" * 64,
                          card={})


def one_hot(batch: int, label_dim: int) -> torch.Tensor | None:
    if not label_dim:
        return None
    return torch.nn.functional.one_hot(torch.arange(batch) % label_dim, label_dim).float()


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


# --- progressive distillation ------------------------------------------------------------------------------

def test_pd_target_one_student_step_equals_two_teacher_steps():
    teacher = tiny_net(label_dim=3, seed=1)
    grid = pd_schedule(8, 0.002, 80.0, 7.0)
    # Student steps of rounds 0 and 2 (stride 2 and 8), including the final jump to sigma = 0.
    index = torch.tensor([0, 1, 3, 0])
    stride = torch.tensor([2, 2, 2, 8])
    sigma, sigma_mid, sigma_next = grid[stride * index], grid[stride * index + stride // 2], grid[stride * (index + 1)]
    assert float(sigma_next[2]) == 0.0 and float(sigma_next[3]) == 0.0
    torch.manual_seed(2)
    x = (torch.rand(4, 1, 8, 8) * 2 - 1 + sigma.reshape(-1, 1, 1, 1) * torch.randn(4, 1, 8, 8)).to(torch.float64)
    labels = one_hot(4, 3)
    target = progressive_distillation_target(teacher, x, sigma, sigma_mid, sigma_next, labels)
    s, s_next = sigma.reshape(-1, 1, 1, 1), sigma_next.reshape(-1, 1, 1, 1)
    one_student_step = ddim_step(x, target, s, s_next)
    two_teacher_steps = teacher_two_ddim_steps(teacher, x, sigma, sigma_mid, sigma_next, labels)
    torch.testing.assert_close(one_student_step, two_teacher_steps, rtol=0, atol=1e-5)
    # The teacher steps are ordinary DDIM steps of the denoiser.
    for b in range(4):
        x1 = ddim_step(x[b:b + 1], teacher(x[b:b + 1], sigma[b], labels[b:b + 1]).double(), sigma[b], sigma_mid[b])
        x2 = ddim_step(x1, teacher(x1, sigma_mid[b], labels[b:b + 1]).double(), sigma_mid[b], sigma_next[b])
        torch.testing.assert_close(x2, two_teacher_steps[b:b + 1], rtol=1e-5, atol=1e-5)


def test_pd_rounds_halve_and_student_becomes_teacher():
    cls = METHODS.get("progressive_distillation")
    method = cls(context(tiny_backbone(), budget_batches=2), cls.Config(start_steps=4, lr=1e-3))
    assert method.num_rounds == 2 and [method.student_steps(r) for r in range(2)] == [2, 1]
    assert method.teacher is method.ctx.backbone.net
    run_steps(method, label_dim=0, steps=1)
    assert method.round == 0
    run_steps(method, label_dim=0, steps=1, first_step=1)
    assert method.round == 1 and method.teacher is not method.ctx.backbone.net
    assert not any(p.requires_grad for p in method.teacher.parameters())
    with pytest.raises(UsageError):
        cls(context(tiny_backbone()), cls.Config(start_steps=6))
    with pytest.raises(UsageError):
        cls(context(tiny_backbone()), cls.Config(start_steps=4, round_fractions=(1.0,)))


# --- consistency distillation ------------------------------------------------------------------------------

def test_heun_step_per_sample_matches_harness_heun_step():
    teacher = tiny_net(label_dim=3, seed=3)
    sigmas = cd_sigmas(18, 0.002, 80.0, 7.0)
    n = torch.tensor([0, 5, 11, 16])
    torch.manual_seed(4)
    x = sigmas[n + 1].reshape(-1, 1, 1, 1).float() * torch.randn(4, 1, 8, 8)
    labels = one_hot(4, 3)
    batched = heun_step_per_sample(teacher, x, sigmas[n + 1], sigmas[n], labels)
    for b in range(4):
        single = heun_step(teacher, x[b:b + 1], sigmas[n[b] + 1], sigmas[n[b]], labels[b:b + 1])
        torch.testing.assert_close(batched[b:b + 1], single, rtol=1e-5, atol=1e-5)


def test_cd_target_is_ema_network_at_heun_point():
    teacher = tiny_net(label_dim=0, seed=5)
    ema = ConsistencyFunction(tiny_net(label_dim=0, seed=6).model).requires_grad_(False)
    sigmas = cd_sigmas(18, 0.002, 80.0, 7.0)
    n = torch.tensor([0, 3, 9, 16])
    torch.manual_seed(7)
    x_next = torch.rand(4, 1, 8, 8) * 2 - 1 + sigmas[n + 1].reshape(-1, 1, 1, 1).float() * torch.randn(4, 1, 8, 8)
    target = consistency_distillation_target(teacher, ema, x_next, sigmas[n + 1], sigmas[n], None)
    for b in range(4):
        x_hat = heun_step(teacher, x_next[b:b + 1], sigmas[n[b] + 1], sigmas[n[b]], None)
        expected = ema(x_hat.float(), sigmas[n[b]], None)
        torch.testing.assert_close(target[b:b + 1], expected, rtol=1e-4, atol=1e-5)


def test_consistency_function_boundary_and_generator():
    unet = tiny_net(label_dim=0, seed=8).model
    f = ConsistencyFunction(unet, 0.5, 0.002)
    torch.manual_seed(9)
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(f(x, 0.002), x)  # boundary condition f(x, eps) = x
    z = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(f(80 * z, 80.0), D2OGenerator(unet, 80.0, 0.5, 0.002)(z), rtol=1e-5, atol=1e-5)


def test_cd_lpips_is_a_clear_error():
    cls = METHODS.get("consistency_distillation")
    with pytest.raises(MissingArtefactError, match="LPIPS"):
        cls(context(tiny_backbone()), cls.Config(loss="lpips"))
    with pytest.raises(UsageError):
        cls(context(tiny_backbone()), cls.Config(loss="l1"))


# --- DMD ---------------------------------------------------------------------------------------------------

def test_dmd_generator_gradient_is_weighted_score_difference():
    real, fake = tiny_net(label_dim=3, seed=10), tiny_net(label_dim=3, seed=11)
    labels = one_hot(4, 3)
    torch.manual_seed(12)
    x = (torch.rand(4, 1, 8, 8) * 2 - 1).requires_grad_(True)
    sigma = torch.tensor([0.05, 0.5, 3.0, 40.0])
    x_t = x.detach() + sigma.reshape(-1, 1, 1, 1) * torch.randn(4, 1, 8, 8)
    grad = distribution_matching_gradient(x.detach(), x_t, sigma, real, fake, labels)
    distribution_matching_loss(x, grad).backward()
    with torch.no_grad():
        d_real, d_fake = real(x_t, sigma, labels), fake(x_t, sigma, labels)
        w = 1 / (x - d_real).abs().mean(dim=[1, 2, 3], keepdim=True)
        expected = w * (d_fake - d_real)
    assert expected.abs().max() > 1e-3  # a real difference, not 0 = 0
    torch.testing.assert_close(x.grad, expected, rtol=1e-5, atol=1e-6)
    # Identical scores give no gradient (DMD at initialisation).
    assert distribution_matching_gradient(x.detach(), x_t, sigma, real, real, labels).abs().max() == 0


# --- every method trains and generates ---------------------------------------------------------------------

BATCH = 4

SMALL_CONFIGS = {
    "gan_only_frozen": dict(d_width=8, r1_interval=1),
    "progressive_distillation": dict(start_steps=4, lr=1e-3),
    "consistency_distillation": dict(num_scales=6, lr=1e-3),
    "dmd": dict(fake_steps_per_generator_step=2, g_lr=1e-3, fake_lr=1e-3),
    "dmd+gan": dict(fake_steps_per_generator_step=2, g_lr=1e-3, fake_lr=1e-3, gan_weight=3e-3),
}


def context(backbone: LoadedBackbone, budget_batches: int = 2) -> MethodContext:
    return MethodContext(backbone=backbone, num_classes=backbone.label_dim or 10, device=torch.device("cpu"),
                         seed=0, batch_size=BATCH, budget_images=budget_batches * BATCH)


def run_steps(method, label_dim: int, steps: int = 2, first_step: int = 0) -> list[dict]:
    rng = torch.Generator().manual_seed(123)
    data = torch.Generator().manual_seed(321)
    out = []
    for step in range(first_step, first_step + steps):
        real = torch.rand((BATCH, 1, 8, 8), generator=data) * 2 - 1
        out.append(method.train_step(real, one_hot(BATCH, label_dim), step, rng))
    return out


CASES = [(key, label_dim) for key in sorted(SMALL_CONFIGS) for label_dim in (0, 3)
         if not (key == "dmd+gan" and label_dim == 0)]  # the GAN head is label-agnostic: one case suffices


@pytest.mark.parametrize("key,label_dim", CASES, ids=[f"{k}-{'cond' if d else 'uncond'}" for k, d in CASES])
def test_method_trains_two_steps_and_generates(key, label_dim):
    cls = METHODS.get(key.split("+")[0])
    backbone = tiny_backbone(label_dim)
    method = cls(context(backbone), cls.Config(**SMALL_CONFIGS[key]))
    assert method.nfe == 1 and method.teacher_passes_per_image >= 0
    before = [p.detach().clone() for p in method.generator.parameters()]
    for losses in run_steps(method, label_dim):
        assert losses and all(isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad
                              for v in losses.values())
        assert all(torch.isfinite(v) for v in losses.values()), losses
    assert any(not torch.equal(a, b) for a, b in zip(before, method.generator.parameters()))
    # The backbone (teacher / real score) is never modified.
    reference = tiny_backbone(label_dim).net
    assert all(torch.equal(a, b) for a, b in zip(backbone.net.parameters(), reference.parameters()))
    with torch.no_grad():
        images = method.generator(torch.randn(3, 1, 8, 8), one_hot(3, label_dim))
    assert images.shape == (3, 1, 8, 8) and torch.isfinite(images).all()
    assert isinstance(method.record_info(), dict)


def test_methods_registered_with_typed_configs():
    from harness.config import apply_overrides

    for name in ("gan_only_frozen", "progressive_distillation", "consistency_distillation", "dmd"):
        cls = METHODS.get(name)
        assert cls.name == name
        apply_overrides(cls.Config(), {})
    cfg = apply_overrides(METHODS.get("progressive_distillation").Config(), {"round_fractions": "1,1,2"})
    assert cfg.round_fractions == (1.0, 1.0, 2.0)
    assert issubclass(UsageError, BenchError)
