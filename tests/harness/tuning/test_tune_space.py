"""Each method's declared search space, and `--space` parsing (no Optuna, no training)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from baselines import METHODS
from baselines.tunable import Tunable
from harness.errors import UsageError
from harness.tuning.space import declared_space, grid_values, resolve_space

TRAINED = [name for name, cls in METHODS.items() if cls.trains]


@pytest.mark.parametrize("method", TRAINED)
def test_every_trained_method_declares_a_space_of_its_config_fields_holding_its_defaults(method):
    from harness.runner import default_config

    space = declared_space(method)
    config_cls = METHODS.get(method).Config
    fields = {f.name for f in dataclasses.fields(config_cls)}
    assert space and set(space) <= fields
    paper = config_cls()
    from harness.config import apply_overrides

    preset = apply_overrides(paper, default_config(method, "digits").method_config)
    for key, tunable in space.items():
        assert tunable.why, f"{method}.{key} says where its range comes from"
        assert tunable.contains(getattr(paper, key)), f"{method}.{key}: the paper's value lies in the range"
        assert tunable.contains(getattr(preset, key)), f"{method}.{key}: the digits preset lies in the range"
    lrs = [t for k, t in space.items() if k.endswith("lr")]
    assert lrs and all(t.log for t in lrs), "learning rates are searched on a log scale"


def test_methods_that_do_not_train_have_nothing_to_tune():
    with pytest.raises(UsageError, match="does not train"):
        declared_space("teacher")


def test_space_flags_replace_declared_ranges_and_add_fields():
    space = resolve_space("gan_only", ["g_lr=1e-4:1e-3", "beta2=0.9,0.99", "r1_interval=4:32:log", "d_lr=3e-4"])
    assert space["g_lr"] == Tunable("float", 1e-4, 1e-3, log=True, why="--space")  # keeps the declared log scale
    assert space["beta2"].choices == (0.9, 0.99)
    assert space["r1_interval"].kind == "int" and space["r1_interval"].log
    assert space["d_lr"].choices == (3e-4,), "one value holds a setting fixed"
    assert "r1_gamma" in space, "declared keys not named stay as declared"
    assert resolve_space("gan_only", ["g_lr=1e-4:1e-3:linear"])["g_lr"].log is False


@pytest.mark.parametrize("pair, message", [
    ("nope=1:2", "unknown key 'nope'"),
    ("r1_interval=1.5:4", "not a whole number"),
    ("g_lr=0:1e-3:log", "log range needs LOW > 0"),
    ("g_lr=1e-3:1e-4", "LOW must be below HIGH"),
    ("g_lr=a:b", "is not a number"),
    ("r1_interval=a,b", "every choice must be a int"),
    ("discriminator=1:2", "give choices"),
    ("d_features=a,b", "cannot be searched"),
    ("g_lr=1:2:cubic", "LOW:HIGH:log"),
    ("g_lr", "KEY=RANGE"),
    ("g_lr=1e-4,,5e-4", "an empty choice"),
    ("g_lr=1e-4,", "an empty choice"),
])
def test_bad_space_flags_are_usage_errors(pair, message):
    with pytest.raises(UsageError, match=message):
        resolve_space("gan_only", [pair])


def test_grid_values_cover_ranges_on_their_scale():
    assert grid_values(Tunable("float", 1e-4, 1e-2, log=True), 3) == [1e-4, 1e-3, 1e-2]
    assert grid_values(Tunable("float", 0.0, 1.0), 3) == [0.0, 0.5, 1.0]
    assert grid_values(Tunable("int", 1, 10), 4) == [1, 4, 7, 10]
    assert grid_values(Tunable("choice", choices=("a", "b")), 5) == ["a", "b"]
    assert math.isclose(grid_values(Tunable("float", 1e-4, 1e-2, log=True), 1)[0], 1e-3)
