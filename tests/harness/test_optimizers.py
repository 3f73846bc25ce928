"""harness/optimizers.py: torch.optim's numbers and state layout, without importing torch._dynamo."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from harness.optimizers import Adam, AdamW, RAdam

PAIRS = [
    (Adam, torch.optim.Adam, {"lr": 2e-3, "betas": (0.0, 0.99), "eps": 1e-8}),
    (Adam, torch.optim.Adam, {"lr": 1e-3, "betas": (0.5**0.8, 0.99**0.8), "weight_decay": 0.1, "amsgrad": True}),
    (AdamW, torch.optim.AdamW, {"lr": 1e-3, "betas": (0.9, 0.999), "weight_decay": 0.01}),
    (RAdam, torch.optim.RAdam, {"lr": 4e-4, "betas": (0.9, 0.999), "eps": 1e-8}),
    (RAdam, torch.optim.RAdam, {"lr": 1e-3, "weight_decay": 0.05, "decoupled_weight_decay": True}),
    # The paths CUDA takes (bench pretrain asks for fused; foreach is torch's default there), run on the CPU.
    (Adam, torch.optim.Adam, {"lr": 1e-3, "fused": True}),
    (AdamW, torch.optim.AdamW, {"lr": 1e-3, "foreach": True}),
    (RAdam, torch.optim.RAdam, {"lr": 1e-3, "foreach": True}),
]


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.SiLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 6 * 6, 3))


def train(model: torch.nn.Module, opt, steps: range, seed: int = 1) -> None:
    """A few steps with changing learning rates; the last layer's bias gets no gradient on odd steps."""
    rng = torch.Generator().manual_seed(seed + steps.start)
    for step in steps:
        x = torch.randn((5, 1, 6, 6), generator=rng)
        opt.zero_grad(set_to_none=True)
        (model(x) ** 2).mean().backward()
        if step % 2:
            model[3].bias.grad = None
        opt.param_groups[0]["lr"] *= 0.9
        opt.step()


def same_state(a: dict, b: dict) -> bool:
    if a["param_groups"] != b["param_groups"] or a["state"].keys() != b["state"].keys():
        return False
    return all(torch.equal(a["state"][i][k], b["state"][i][k]) and a["state"][i][k].dtype == b["state"][i][k].dtype
               for i in a["state"] for k in a["state"][i].keys() | b["state"][i].keys())


@pytest.mark.parametrize("ours, theirs, hyper", PAIRS, ids=lambda x: getattr(x, "__name__", None))
def test_steps_match_torch_optim_bit_for_bit(ours, theirs, hyper):
    mine, reference = tiny_model(), tiny_model()
    opt_mine, opt_ref = ours(mine.parameters(), **hyper), theirs(reference.parameters(), **hyper)
    train(mine, opt_mine, range(6))
    train(reference, opt_ref, range(6))
    for p, q in zip(mine.parameters(), reference.parameters()):
        assert torch.equal(p, q)
    assert same_state(opt_mine.state_dict(), opt_ref.state_dict())


@pytest.mark.parametrize("ours, theirs, hyper", PAIRS[::2], ids=lambda x: getattr(x, "__name__", None))
def test_state_dicts_cross_between_torch_optim_and_ours(ours, theirs, hyper):
    """A checkpoint written with torch.optim resumes here, and the other way round, with torch's numbers."""
    start = tiny_model()
    first = theirs(start.parameters(), **hyper)
    train(start, first, range(3))
    saved_params = [p.detach().clone() for p in start.parameters()]

    def resumed(cls, state):
        model = tiny_model()
        with torch.no_grad():
            for p, q in zip(model.parameters(), saved_params):
                p.copy_(q)
        opt = cls(model.parameters(), **{**hyper, "lr": 123.0})  # the saved lr wins, as in torch.optim
        opt.load_state_dict(state)
        train(model, opt, range(3, 6))
        return model, opt

    mine, opt_mine = resumed(ours, first.state_dict())
    reference, opt_ref = resumed(theirs, first.state_dict())
    assert opt_ref.param_groups[0]["lr"] < 1
    for p, q in zip(mine.parameters(), reference.parameters()):
        assert torch.equal(p, q)
    assert same_state(opt_mine.state_dict(), opt_ref.state_dict())
    back = theirs(tiny_model().parameters(), **hyper)
    back.load_state_dict(opt_mine.state_dict())  # and torch.optim takes our state as its own
    assert same_state(back.state_dict(), opt_mine.state_dict())


def test_a_state_that_does_not_fit_is_a_value_error():
    opt = Adam(tiny_model().parameters())
    other = Adam(torch.nn.Linear(2, 2).parameters())
    other.param_groups[0]["params"][0].grad = torch.ones(2, 2)
    other.step()
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(other.state_dict())


def test_bad_hyperparameters_are_refused_as_torch_refuses_them():
    params = list(tiny_model().parameters())
    with pytest.raises(ValueError, match="Invalid learning rate"):
        Adam(params, lr=-1.0)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        RAdam(params, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(TypeError, match="momentum"):
        Adam(params, momentum=0.9)


def test_step_pre_hooks_run_before_each_step_until_removed():
    model = tiny_model()
    opt = Adam(model.parameters())
    seen = []
    handle = opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(o.state_dict()["state"].keys()))
    train(model, opt, range(2))
    handle.remove()
    train(model, opt, range(2, 3))
    assert [len(keys) for keys in seen] == [0, 4]


def test_zero_grad_clears_or_zeroes():
    model = tiny_model()
    opt = Adam(model.parameters())
    train(model, opt, range(1))
    (model(torch.ones(1, 1, 6, 6)).sum()).backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_training_with_them_never_imports_torch_dynamo():
    """The reason they exist: building a torch.optim.Optimizer imports torch._dynamo (~1 s)."""
    code = ("import sys, torch\n"
            "from harness.optimizers import Adam, AdamW, RAdam\n"
            "for cls in (Adam, AdamW, RAdam):\n"
            "    layer = torch.nn.Linear(2, 2)\n"
            "    opt = cls(layer.parameters())\n"
            "    layer(torch.ones(1, 2)).sum().backward()\n"
            "    opt.step(); opt.zero_grad(); opt.load_state_dict(opt.state_dict())\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
