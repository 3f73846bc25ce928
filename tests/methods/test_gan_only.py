"""D2O (baselines/gan_only.py) as the authors' loop runs it (Zyriix/GDD training/training_loop.py,
training/loss.py): generator, discriminator and, every 16th iteration but the first, lazy R1 as a
separate step of the D optimiser with gain 16; GAN losses summed over 64 images per GPU, R1 averaged."""

from __future__ import annotations

import pytest
import torch

from baselines import METHODS
from baselines.losses import discriminator_loss, r1_penalty
from tiny_methods import BATCH, context, tiny_backbone


def gan_only(**config):
    cls = METHODS.get("gan_only")
    return cls(context(tiny_backbone()), cls.Config(**{"d_width": 8, "discriminator": "scratch", **config}))


def record_d_steps(method) -> list[dict[str, torch.Tensor]]:
    """Wrap the D optimiser's step: record the gradient each step applies."""
    steps, original = [], method.opt_d.step

    def step(*args, **kwargs):
        steps.append({n: p.grad.detach().clone() for n, p in method.D.named_parameters() if p.grad is not None})
        return original(*args, **kwargs)

    method.opt_d.step = step
    return steps


def batch():
    gen = torch.Generator().manual_seed(1)
    return torch.rand((BATCH, 1, 8, 8), generator=gen) * 2 - 1


@pytest.mark.parametrize("step,d_steps", [(0, 1), (1, 1), (15, 1), (16, 2), (32, 2)])
def test_lazy_r1_is_its_own_d_step_at_iterations_16_32_and_not_0(step, d_steps):
    method = gan_only(r1_gamma=0.5)
    steps = record_d_steps(method)
    losses = method.train_step(batch(), None, step, torch.Generator().manual_seed(0))
    assert len(steps) == d_steps and ("r1" in losses) == (d_steps == 2)


def test_r1_step_applies_only_the_r1_gradient_with_gain_16():
    method = gan_only(r1_gamma=0.5)
    steps = record_d_steps(method)
    real = batch()
    state = {k: v.clone() for k, v in method.D.state_dict().items()}
    original_step = method.opt_d.step

    def main_step_then_snapshot(*args, **kwargs):  # the D weights right before the R1 step
        out = original_step(*args, **kwargs)
        if len(steps) == 1:
            state.update({k: v.clone() for k, v in method.D.state_dict().items()})
        return out

    method.opt_d.step = main_step_then_snapshot
    method.train_step(real, None, 16, torch.Generator().manual_seed(0))
    assert len(steps) == 2
    check = gan_only(r1_gamma=0.5).D
    check.load_state_dict(state)
    # the authors' reduction: gain 16 * mean over images of gamma/2 ||grad_x sum D(x)||^2, nothing else
    (16 * (0.5 / 2) * r1_penalty(check, real, None).mean()).backward()
    expected = {name: p.grad for name, p in check.named_parameters() if p.grad is not None}
    assert set(steps[1]) == set(expected) and "out.bias" not in expected  # a bias has no input gradient
    for name, grad in expected.items():
        torch.testing.assert_close(steps[1][name], grad, rtol=1e-4, atol=1e-7)


def test_gan_losses_are_the_authors_per_gpu_sums():
    from baselines.base import draw_latents

    method = gan_only(r1_gamma=0.0)
    real = batch()
    D = gan_only(r1_gamma=0.0).D
    D.load_state_dict(method.D.state_dict())  # the discriminator before the step
    losses = method.train_step(real, None, 1, torch.Generator().manual_seed(0))
    replay = torch.Generator().manual_seed(0)
    draw_latents(tuple(real.shape), replay, real.device)  # the generator stage's latents
    with torch.no_grad():  # the D stage's fakes, from the generator after its step (unchanged since)
        fake = method.G(draw_latents(tuple(real.shape), replay, real.device), None)
        per_image = discriminator_loss(D(real, None), D(fake, None))
    assert per_image.shape == (BATCH,)
    # Zyriix/GDD loss.py sums over each GPU's 64 images (DDP averages the 4 GPUs): 64 x the batch mean.
    torch.testing.assert_close(losses["loss_d"], 64 * per_image.mean())


def test_gradients_are_sanitised_before_every_step_as_the_authors_loop_does():
    """GDD training_loop.py: nan_to_num(grad, nan=0, posinf=1e5, neginf=-1e5) before each stage's step
    (issue #23, item 8). A NaN and an infinite gradient entry must not reach the weights."""
    method = gan_only(r1_gamma=0.5)
    g_param = next(p for p in method.G.parameters() if p.requires_grad and p.numel() > 3)
    d_param = next(p for p in method.D.parameters() if p.numel() > 3)

    def poison(grad):
        grad = grad.clone()
        grad.view(-1)[:3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
        return grad

    g_param.register_hook(poison)
    d_param.register_hook(poison)
    applied = []
    for opt, param in ((method.opt_g, g_param), (method.opt_d, d_param)):
        def step(*args, _original=opt.step, _param=param, **kwargs):
            applied.append(_param.grad.view(-1)[:4].clone())
            return _original(*args, **kwargs)
        opt.step = step
    method.train_step(batch(), None, 16, torch.Generator().manual_seed(0))  # G, D main and R1 steps
    assert len(applied) == 3
    for grad in applied:
        assert grad[:3].tolist() == [0.0, 1e5, -1e5] and torch.isfinite(grad[3])
    assert all(torch.isfinite(p).all() for p in [*method.G.parameters(), *method.D.parameters()])
