"""DMD (baselines/dmd.py): the generator's gradient is the weighted score difference; both updates
draw sigma from the same Karras schedule; DMD2's mean reductions."""

from __future__ import annotations

import pytest
import torch

from baselines import METHODS
from baselines.base import draw_latents
from baselines.dmd import distribution_matching_gradient, distribution_matching_loss
from baselines.losses import edm_loss_weight, generator_loss
from tiny_methods import context, one_hot, tiny_backbone, tiny_net


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
    # DMD2's reduction (a mean over every element): the gradient is grad / numel.
    torch.testing.assert_close(x.grad * x.numel(), expected, rtol=1e-5, atol=1e-6)
    # Identical scores give no gradient (DMD at initialisation).
    assert distribution_matching_gradient(x.detach(), x_t, sigma, real, real, labels).abs().max() == 0


def small_dmd(**config):
    cls = METHODS.get("dmd")
    return cls(context(tiny_backbone()), cls.Config(**{"fake_steps_per_generator_step": 1, **config}))


def test_fake_score_trains_on_the_sigmas_the_generator_update_queries():
    """DMD2 (main/edm/edm_guidance.py compute_loss_fake) draws the fake score's sigma from the Karras grid the
    distribution-matching gradient queries; EDM's lognormal put sigma > 10 in 0.2% of fake-score steps
    against 32% of queries."""
    method = small_dmd()
    rng = torch.Generator().manual_seed(0)
    fake = method.fake_score_sigmas(40_000, rng, torch.device("cpu"))
    dm = method.dm_sigmas(40_000, rng, torch.device("cpu"))
    share = lambda s: float((s > 10).float().mean())  # noqa: E731
    assert abs(share(fake) - share(dm)) < 0.02 and 0.28 < share(dm) < 0.36
    # Within the queried range [Karras(0.98), Karras(0.02)] the fake score's sigmas follow the queried
    # distribution: the quantiles agree (a two-sample Kolmogorov-Smirnov distance below 0.02).
    lo, hi = float(dm.min()), float(dm.max())
    inside = fake[(fake >= lo) & (fake <= hi)].sort().values
    grid = torch.linspace(lo, hi, 200, dtype=inside.dtype)
    cdf = lambda sample: torch.searchsorted(sample, grid).double() / len(sample)  # noqa: E731
    assert float((cdf(inside) - cdf(dm.sort().values)).abs().max()) < 0.02
    assert len(inside) > 0.9 * len(fake)  # and they cover the same range


def test_fake_score_loss_is_dmd2s_mean():
    method = small_dmd()
    real = torch.rand((4, 1, 8, 8)) * 2 - 1
    rng = torch.Generator().manual_seed(5)
    replay = torch.Generator().manual_seed(5)
    with torch.no_grad():
        x = method.G(draw_latents(tuple(real.shape), replay, real.device), None)
        sigma = method.fake_score_sigmas(4, replay, real.device)
        x_t = x + sigma.reshape(-1, 1, 1, 1) * draw_latents(tuple(real.shape), replay, real.device)
        error = (method.fake_score(x_t, sigma, None) - x).square()
        expected = (edm_loss_weight(sigma, 0.5).reshape(-1, 1, 1, 1) * error).mean()
    loss = method.fake_score_step(real, None, rng)["loss_fake"]
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("side", [8, 32])
def test_distribution_matching_and_gan_terms_keep_dmd2s_ratio_at_any_image_size(side):
    """With DMD2's means, the DM term's gradient per pixel is grad / (N C H W) and the GAN term's
    gan_weight * d mean softplus(-logit) / dx: their ratio does not depend on the image size (with sums
    over C H W, as before, the DM term outweighed the GAN term by C H W: 3,072x at 32x32 RGB)."""
    gan_weight = 3e-3
    x = torch.zeros((2, 3, side, side), requires_grad=True)
    grad = torch.ones_like(x)
    distribution_matching_loss(x, grad).backward()
    dm = x.grad.clone()
    x.grad = None
    logits = x.mean(dim=[1, 2, 3])  # a linear discriminator: d logit / dx = 1 / (C H W)
    (gan_weight * generator_loss(logits).mean()).backward()
    ratio = float((dm / x.grad).mean())
    # d/dx of mean softplus(-l) at l = 0 is -0.5 / (N C H W): the ratio is -1 / (0.5 gan_weight) at any size.
    assert ratio == pytest.approx(-1 / (0.5 * gan_weight), rel=1e-5)


def test_dmd_updates_are_two_methods_returning_their_losses():
    method = small_dmd(gan_weight=3e-3)
    real, rng = torch.rand((4, 1, 8, 8)) * 2 - 1, torch.Generator().manual_seed(0)
    assert set(method.fake_score_step(real, None, rng)) == {"loss_fake", "loss_cls"}
    assert set(method.generator_step(real, None, rng)[0]) == {"loss_dm", "loss_gan"}
    # The GAN term's networks are trainable again after the generator update.
    assert all(p.requires_grad for p in method.fake_score.parameters())
    assert all(p.requires_grad for p in method.classifier.parameters())


# --- DMD2's image accounting (issue #23 item 12) ------------------------------------------------------------

def test_dmd_counts_images_as_dmd2_does():
    """tianweiy/DMD2 main/edm/train_edm.py: every iteration is one batch and one fake-score update on it; the
    generator updates every 5th iteration, so the teacher (real score) runs once per 5 batches of images."""
    cls = METHODS.get("dmd")
    method = cls(context(tiny_backbone()), cls.Config())  # fake_steps_per_generator_step = 5
    calls = {"fake": [], "generator": 0, "teacher_images": 0}
    fake_step, generator_step = method.fake_score_step, method.generator_step

    def counting_fake(real, labels, rng, x=None):
        calls["fake"].append(real)
        return fake_step(real, labels, rng, x)

    def counting_generator(real, labels, rng):
        calls["generator"] += 1
        return generator_step(real, labels, rng)

    method.fake_score_step, method.generator_step = counting_fake, counting_generator
    hook = method.real_score.register_forward_hook(
        lambda module, args, out: calls.__setitem__("teacher_images", calls["teacher_images"] + out.shape[0]))
    rng, data = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    batches = [torch.rand((4, 1, 8, 8), generator=data) * 2 - 1 for _ in range(10)]
    try:
        for step, real in enumerate(batches):
            method.train_step(real, None, step, rng)
    finally:
        hook.remove()
    assert len(calls["fake"]) == 10 and calls["generator"] == 2  # steps 0 and 5
    assert all(seen is real for seen, real in zip(calls["fake"], batches))  # a new real batch per update
    images = sum(len(b) for b in batches)
    assert calls["teacher_images"] / images == pytest.approx(method.teacher_passes_per_image) == 0.2
