"""Config files (harness/config_files.py): config.toml in every run folder, `bench run --config`
and `--from-record` with flags on top, unknown keys and bad values named at file:line."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from baselines import METHODS
from harness.build import configure
from harness.config import apply_overrides
from harness.config_files import configure_from_file, to_toml
from harness.errors import UsageError
from helpers import invoke_bench


def test_toml_round_trips_a_full_config(tmp_path: Path) -> None:
    config = configure("gan_only", "digits", seed=5, device="cpu",
                       overrides=["g_lr=3e-4", "eval.at_kimg=1,2.5", "ema_rampup_ratio=none", "eval.metrics=fd"])
    (tmp_path / "config.toml").write_text(to_toml(config))
    again = configure_from_file(tmp_path / "config.toml", None, tmp_path, None, None, backbone=None, budget_kimg=None,
                                seed=None, device=None, data_path=None, overrides=[])
    typed = lambda c: apply_overrides(METHODS.get(c.method).Config(), c.method_config)  # noqa: E731
    assert {**asdict(again), "method_config": None} == {**asdict(config), "method_config": None}
    assert typed(again) == typed(config) and typed(again).g_lr == 3e-4
    assert again.train.ema_rampup_ratio is None and again.eval.at_kimg == (1.0, 2.5)


def _from_file(path: Path, **flags):
    base = dict(backbone=None, budget_kimg=None, seed=None, device=None, data_path=None, overrides=[])
    return configure_from_file(path, None, path.parent, None, None, **{**base, **flags})


@pytest.mark.parametrize("text, message", [
    ('method = "gan_only"\n\n[train]\nbudget_kimg = 1.0\nbudget_kimgg = 2\n', "config.toml:5: unknown key 'budget_kimgg' in [train]"),
    ('method = "gan_only"\nseeed = 1\n', "config.toml:2: unknown key 'seeed'"),
    ('method = "gan_only"\n[method_config]\ng_lr = "fast"\n', "config.toml:3: method_config.g_lr=fast: expected a value of type float"),
    ('method = "gan_only"\n[eval]\nnum_samples = 1\n', "--num-samples"),
    ('method = "gan_only"\n[train\n', "not a TOML config"),
    # found by a hostile-input hunt: accepted, a string as a flag (torch.compile ran), a nested list
    # flattened, an empty dataset name read as the default
    ('method = "gan_only"\n[train]\ncompile = "yes"\n', "config.toml:3: train.compile = 'yes': expected true or false"),
    ('method = "gan_only"\n[eval]\nmetrics = [["fd"]]\n', "config.toml:3: eval.metrics = [['fd']]: expected a list of plain"),
    ('method = "gan_only"\ndataset = ""\n', "config.toml:2: dataset = '': expected a name or path"),
    ('method = "gan_only"\nbackbone = 3\n', "config.toml:2: backbone = 3: expected a name or path"),
])
def test_bad_files_are_usage_errors_naming_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _from_file(tmp_path / "config.toml")


def test_flags_override_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('method = "gan_only"\nseed = 1\n[method_config]\ng_lr = 1e-3\n')
    config = _from_file(tmp_path / "config.toml", seed=3, overrides=["g_lr=2e-4"])
    assert config.seed == 3 and config.method_config["g_lr"] == "2e-4"
    assert _from_file(tmp_path / "config.toml").method_config["g_lr"] == "0.001"


def test_run_writes_config_and_from_record_reruns_it(tiny_backbone: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    common = ["--results", str(tmp_path / "r"), "--quiet", "--device", "cpu"]
    code, out, err = invoke_bench(monkeypatch, capsys, "run", "--method", "backbone_one_step", "--backbone",
                                  str(tiny_backbone), "--num-samples", "20", "--set", "sigma=40", *common)
    assert code == 0, err
    first = Path(out.strip().splitlines()[-1]).parent
    assert (first / "config.toml").is_file()
    code, out, err = invoke_bench(monkeypatch, capsys, "run", "--from-record", str(first), "--seed", "3", *common)
    assert code == 0, err
    a, b = (json.loads(p.read_text()) for p in (first / "record.json", Path(out.strip().splitlines()[-1])))
    assert b["seed"] == 3 and b["config"]["method_config"]["sigma"] == 40.0
    assert {k: v for k, v in a["config"].items() if k != "seed"} == {k: v for k, v in b["config"].items() if k != "seed"}
    code, out, err = invoke_bench(monkeypatch, capsys, "run", "--config", str(first / "config.toml"), *common)
    assert code == 0, err
    assert json.loads(Path(out.strip().splitlines()[-1]).read_text())["metrics"] == a["metrics"]
    code, _, err = invoke_bench(monkeypatch, capsys, "run", "--config", str(first / "config.toml"), "--method", "dmd",
                                *common)
    assert code == 2 and "--method dmd differs" in err


@pytest.mark.parametrize("args, message", [
    (["--keep", "some"], "expected final, best, all or a number"),
    (["--set", "eval.feature_extractor=nope"], "unknown feature extractor 'nope'"),
])
def test_new_run_settings_are_checked_before_work(args, message, tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, err = invoke_bench(monkeypatch, capsys, "run", "--method", "gan_only", *args, "--results",
                                str(tmp_path / "r"))
    assert code == 2 and message in err and not (tmp_path / "r").exists(), err
