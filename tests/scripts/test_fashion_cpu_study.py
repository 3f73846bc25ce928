"""scripts/fashion_cpu_study.py, issue #27's one command: every grid point is a valid `bench run`, a stored
record is recognised only as its own point (DMD with and without its GAN term, a freeze level, random
init, the early-stopped backbone are told apart), so re-running the command runs only what is missing."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fashion_cpu_study.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("fashion_cpu_study", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def record_of(study, point, **changes) -> dict:
    """A completed record as `bench run` writes it for ``point`` (the fields the study reads)."""
    from dataclasses import asdict

    from baselines import METHODS
    from harness.build import configure
    from harness.config import apply_overrides

    sets = [v for flag, v in zip(point.command(), point.command()[1:]) if flag == "--set"]
    config = configure(point.method, "fashion-mnist", backbone=point.backbone, budget_kimg=study.BUDGET_KIMG,
                       seed=point.seed, device="cpu", overrides=sets)
    as_dict = asdict(config)  # the method's settings as the runner stores them: typed, defaults filled in
    as_dict["method_config"] = asdict(apply_overrides(METHODS.get(point.method).Config(), config.method_config))
    record = {"schema_version": 1, "kind": "run", "status": "completed", "run_id": f"r-{point.method}-{point.seed}",
              "method": point.method, "seed": point.seed, "budget_kimg": study.BUDGET_KIMG,
              "config": {"backbone": config.backbone, "train": as_dict["train"], "eval": as_dict["eval"],
                         "method_config": as_dict["method_config"]}}
    record.update(changes)
    return record


@pytest.mark.parametrize("backbone", ["edm-fashion-mnist-32x32-uncond-small", "edm-fashion-mnist-32x32-uncond-small-200kimg"])
def test_every_point_is_a_valid_run_config(study, backbone):
    """The settings and flags of every grid point pass `bench run`'s checks (harness.build.configure)."""
    points = study.points(backbone)
    assert len(points) == len(study.grid(backbone)) * len(study.SEEDS) == 30
    assert {p.backbone for p in points} == {backbone, study.EARLY_STOPPED}
    for point in points:
        record = record_of(study, point)
        assert study.matches(record, point), point.name()


def test_the_backbones_share_the_early_stopped_control(study):
    """The 10-kimg control is one set of runs for both backbones: stored once, never re-run for the other."""
    small, long = (study.points(b) for b in study.BACKBONES)
    assert [p for p in small if p.backbone == study.EARLY_STOPPED] == [p for p in long if p.backbone == study.EARLY_STOPPED]
    assert not set(p for p in small if p.backbone != study.EARLY_STOPPED) & set(long)


def test_a_record_matches_its_own_point_only(study):
    points = study.points()
    for point in points:
        record = record_of(study, point)
        others = [p for p in points if p != point and study.matches(record, p)]
        assert others == [], (point.name(), [p.name() for p in others])
    dmd = next(p for p in points if p.method == "dmd" and not p.settings)
    assert not study.matches(record_of(study, dmd, status="failed"), dmd)
    assert not study.matches(record_of(study, dmd, budget_kimg=2.0), dmd)


def test_dry_run_lists_what_is_stored_and_what_would_run(study, tmp_path, capsys):
    points = study.points()
    results = tmp_path / "results"
    for i, point in enumerate(points[:2]):
        (results / f"run{i}").mkdir(parents=True)
        (results / f"run{i}" / "record.json").write_text(json.dumps(record_of(study, point)))
    (results / "broken").mkdir()
    (results / "broken" / "record.json").write_text("{not json")
    todo, done = study.plan(results)
    assert [p for p, _ in done] == points[:2] and todo == points[2:]
    assert study.main(["--dry-run", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert f"2 of {len(points)} runs stored, {len(points) - 2} to run" in out
    assert "to run: gan_only (init=random) from edm-fashion-mnist-32x32-uncond-small-200kimg seed 0: bench run" in out
    assert study.main(["--dry-run", "--results", str(results), "--backbone", study.BACKBONES[0]]) == 0
    assert "to run: gan_only (init=random) from edm-fashion-mnist-32x32-uncond-small seed 0: bench run" in capsys.readouterr().out


def tune_options(command: list[str], results: Path):
    """The TuneOptions `bench tune` builds from ``command`` (harness/tuning/cli.py maps flags one to one)."""
    from harness.tuning.command import TuneOptions

    flags, sets, args = {}, [], iter(command[2:])
    for flag in args:
        if flag == "--quiet":
            continue
        value = next(args)
        sets.append(value) if flag == "--set" else flags.__setitem__(flag, value)
    return TuneOptions(method=flags["--method"], dataset=flags["--dataset"], backbone=flags["--backbone"],
                       budget_kimg=float(flags["--budget-kimg"]), trials=int(flags["--trials"]),
                       seed=int(flags["--seed"]), device=flags["--device"], overrides=sets, results=results,
                       rerun_seeds=[int(x) for x in flags["--rerun-seeds"].split(",")],
                       rerun_budget_kimg=float(flags["--rerun-budget-kimg"]))


def test_every_tuning_command_passes_bench_tune_checks(study, tmp_path):
    """Item 3: the same study for every trained method, measured as the grid's runs, re-run on the grid's seeds."""
    from harness.tuning.command import base_config, check_options

    for method in study.TUNED:
        options = tune_options(study.tune_command(method), tmp_path)
        check_options(options)
        config = base_config(options)
        assert (options.trials, options.budget_kimg, options.rerun_budget_kimg) == (8, 5.0, study.BUDGET_KIMG)
        assert options.rerun_seeds == list(study.SEEDS) and options.seed not in study.SEEDS
        assert (config.eval.num_samples, config.train.batch_size, config.eval.every_kimg) == (1000, 32, 5.0)
        assert config.backbone == study.BACKBONE
        assert ("d_width=16" in options.overrides) == method.startswith("gan_only"), method


def test_dry_run_with_tune_lists_the_studies_after_the_runs(study, tmp_path, capsys):
    assert study.main(["--dry-run", "--tune", "--results", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert "results: no such folder yet, so nothing is stored there" in out
    lines = [line for line in out.splitlines() if line.startswith("then: tuning ")]
    assert [line.split()[2] for line in lines] == list(study.TUNED)
    assert out.index("to run: ") < out.index("then: tuning ")
