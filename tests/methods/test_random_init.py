"""The thesis control (baselines/random_init.py): GAN fine-tuning from a randomly initialised network of
the backbone's architecture, `--set init=random`; refused, in one line, where the backbone is the premise."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from baselines import METHODS
from baselines.random_init import REFUSED, check_init_override, randomly_initialised
from harness.errors import UsageError
from helpers import run_main_in_process
from tiny_methods import context, tiny_backbone


def build(method: str = "gan_only", seed: int = 0, **config):
    cls = METHODS.get(method)
    ctx = context(tiny_backbone())
    ctx.seed = seed
    return cls(ctx, cls.Config(**{"d_width": 8, "discriminator": "scratch", **config})), ctx.backbone


def generator_weights(method) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in method.G.unet.state_dict().items()}


@pytest.mark.parametrize("method", ["gan_only", "gan_only_frozen"])
def test_random_init_differs_from_the_backbone_and_is_deterministic(method):
    pretrained, backbone = build(method)
    random_a, _ = build(method, init="random")
    random_b, _ = build(method, init="random")
    other_seed, _ = build(method, seed=1, init="random")
    a, b, c = generator_weights(random_a), generator_weights(random_b), generator_weights(other_seed)
    backbone_state = backbone.net.model.state_dict()
    assert generator_weights(pretrained).keys() == a.keys() == backbone_state.keys()  # the same architecture
    assert all(torch.equal(generator_weights(pretrained)[k], backbone_state[k]) for k in a)
    drawn = [k for k in a if not torch.equal(a[k], backbone_state[k])]
    assert len(drawn) > len(a) // 2  # not the backbone's weights (EDM zero-inits a few layers: those may agree)
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed, same weights
    assert any(not torch.equal(a[k], c[k]) for k in a)  # another seed, other weights
    assert random_a.record_info()["init"] == "random" and pretrained.record_info()["init"] == "pretrained"
    if method == "gan_only_frozen":  # D2O-F freezes the same layers of the random network
        assert random_a.record_info()["frozen_share"] == pretrained.record_info()["frozen_share"] > 0.5


def test_random_network_is_rebuilt_from_the_recorded_architecture_without_touching_the_backbone():
    net = tiny_backbone().net
    state = {k: v.clone() for k, v in net.state_dict().items()}
    before = torch.random.get_rng_state()
    fresh = randomly_initialised(net, seed=0)
    assert torch.equal(torch.random.get_rng_state(), before)  # no other random stream moved
    assert type(fresh) is type(net) and fresh.init_kwargs == net.init_kwargs and not fresh.training
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())
    del net.init_kwargs
    with pytest.raises(UsageError, match="records no init_kwargs"):
        randomly_initialised(net, seed=0)


def test_an_unknown_init_value_is_a_usage_error():
    with pytest.raises(UsageError, match="init=scratch: expected one of pretrained, random"):
        METHODS.get("gan_only").Config(init="scratch")


@pytest.mark.parametrize("method", sorted(REFUSED))
def test_methods_whose_premise_is_the_backbone_refuse_init_random(method):
    assert "init" not in {f for f in asdict(METHODS.get(method).Config())}
    with pytest.raises(UsageError, match=f"{method} cannot start from a random network: "):
        check_init_override(method, ["method.init=random"])
    check_init_override(method, ["seed=3"])  # other settings pass


@pytest.mark.parametrize("method", ["teacher", "dmd"])
def test_refusal_exits_2_in_one_line_through_the_entry_point(tmp_path, method):
    """The console script's function in this process (`bench run`'s refusals through the executable
    itself: tests/harness/test_cli_contract.py)."""
    result = run_main_in_process("run", "--method", method, "--dataset", "digits", "--set", "init=random", "--results",
                       str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and REFUSED[method] in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()


def test_old_records_without_the_setting_rebuild_as_pretrained():
    from harness.build import config_from_record, configure

    config = configure("gan_only", "digits")
    full = asdict(METHODS.get("gan_only").Config(**config.method_config))  # what a record stores
    stored = json.loads(json.dumps({**asdict(config), "method_config": full}))
    stored["method_config"].pop("init")
    rebuilt = config_from_record({"config": stored})
    assert METHODS.get("gan_only").Config(**rebuilt.method_config).init == "pretrained"


def test_same_seed_same_record_and_the_record_says_random_init(tiny_backbone, tmp_path):
    from harness.runner import configure, run
    from harness.summary import summarize, summary_text

    def once(init: str):
        config = configure("gan_only", "digits", backbone=str(tiny_backbone), budget_kimg=0.064, seed=2, device="cpu",
                           overrides=["train.batch_size=32", "eval.batch_size=100", "d_width=8", f"init={init}"],
                           num_samples=100, eval_every_kimg=0)
        return json.loads(run(config, tmp_path / "r", show_progress=False).read_text())

    a, b, pretrained = once("random"), once("random"), once("pretrained")
    values = lambda r: [m["value"] for m in r["metrics"]]  # noqa: E731
    assert values(a) == values(b) and values(a) != values(pretrained)
    assert a["config"]["method_config"]["init"] == "random" and a["method_info"]["init"] == "random"
    assert pretrained["config"]["method_config"]["init"] == "pretrained"
    assert "pretrain_kimg" in a["backbone"]  # None here: the test backbone's card states no pre-training
    assert "(random init, not pre-trained)" in summary_text(summarize(a))
    assert "random init" not in summary_text(summarize(pretrained))
