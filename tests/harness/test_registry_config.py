from dataclasses import dataclass

import pytest

from harness.config import EvalConfig, TrainConfig, apply_overrides, split_overrides
from harness.errors import UnknownNameError, UsageError
from harness.registry import Registry
from harness.seeding import derive_seed


def test_registry_lists_valid_names_on_unknown():
    reg = Registry("widget")
    reg.add("b", 2)
    reg.add("a", 1)
    assert reg.get("a") == 1 and reg.names() == ["a", "b"]
    with pytest.raises(UnknownNameError, match="unknown widget 'c'; valid widgets: a, b"):
        reg.get("c")
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", 3)


@dataclass
class Cfg:
    lr: float = 1e-4
    steps: int = 3
    name: str = "x"
    flag: bool = False
    opt: float | None = None
    names: tuple[str, ...] = ("a",)


def test_overrides_parse_types():
    cfg = apply_overrides(Cfg(), {"lr": "2e-3", "steps": "7", "flag": "true", "opt": "none", "names": "fd,is"})
    assert cfg == Cfg(lr=2e-3, steps=7, flag=True, opt=None, names=("fd", "is"))
    assert apply_overrides(Cfg(), {"opt": "0.5"}).opt == 0.5


def test_overrides_reject_unknown_key_and_wrong_type():
    with pytest.raises(UsageError, match="unknown setting 'nope'"):
        apply_overrides(Cfg(), {"nope": "1"})
    with pytest.raises(UsageError, match="expected a value of type int"):
        apply_overrides(Cfg(), {"steps": "1.5"})


def test_split_overrides_routes_keys_to_sections():
    routed = split_overrides(["lr=1", "train.batch_size=64", "eval.num_samples=10"],
                             {"method": Cfg(), "train": TrainConfig(), "eval": EvalConfig()})
    assert routed == {"method": {"lr": "1"}, "train": {"batch_size": "64"}, "eval": {"num_samples": "10"}}
    with pytest.raises(UsageError, match="unknown key 'bogus'"):
        split_overrides(["bogus=1"], {"method": Cfg()})
    with pytest.raises(UsageError, match="KEY=VALUE"):
        split_overrides(["novalue"], {"method": Cfg()})


def test_derived_seeds_are_stable_and_distinct_by_purpose():
    assert derive_seed(0, "data-order") == derive_seed(0, "data-order")
    assert derive_seed(0, "data-order") != derive_seed(0, "train-noise")
    assert derive_seed(0, "data-order") != derive_seed(1, "data-order")


def test_dataset_presets_apply_per_method_training_settings():
    """digits: every method trains 20 kimg by default (DMD too, counted as DMD2 counts images); a method's
    own runner settings (PD: no EMA) apply over the dataset's `train` preset, and a `train/<method>`
    preset over those (CD keeps the dataset's half-life EMA here)."""
    from harness.runner import default_config

    assert default_config("gan_only", "digits").train.budget_kimg == 20.0
    assert default_config("dmd", "digits").train.budget_kimg == 20.0
    assert default_config("dmd", "digits").method_config == {"g_lr": 1e-4, "fake_lr": 1e-4}
    assert default_config("progressive_distillation", "digits").train.ema_beta == 0.0
    assert default_config("consistency_distillation", "digits").train.ema_beta is None


def test_a_key_in_two_sections_is_an_error_naming_both():
    with pytest.raises(UsageError, match=r"--set batch_size is ambiguous: it is train.batch_size and eval.batch_size"):
        split_overrides(["batch_size=64"], {"method": Cfg(), "train": TrainConfig(), "eval": EvalConfig()})
    routed = split_overrides(["train.batch_size=64", "eval.batch_size=8"],
                             {"method": Cfg(), "train": TrainConfig(), "eval": EvalConfig()})
    assert routed["train"] == {"batch_size": "64"} and routed["eval"] == {"batch_size": "8"}
