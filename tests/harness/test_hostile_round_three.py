"""Issue #29's cases, through the installed `bench` entry point's function (a handful through the
executable in a subprocess, the rest in-process: helpers.run_main_in_process): a typo that
would overwrite the tables, a study name that escapes, verify fooled by NaN, settings without a
range, bounds on sizes, conflicting flags. Each case ends with its exit status and one `error:`
line, no traceback, and every folder it could touch byte for byte (and folder for folder) as it was.
The cases that need a run, a signal, a lock or a small file system are tests of their own below.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest

from helpers import run_bench, run_main_in_process, snapshot, write_tiny_backbone

REPO = Path(__file__).resolve().parents[2]


def tree(folder: Path) -> tuple[dict[str, bytes], list[str]]:
    return snapshot(folder), sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_dir())


def record(run_id: str, config: dict, metrics: list, reference: dict | None = None) -> dict:
    return {"schema_version": 1, "run_id": run_id, "status": "completed", "method": "gan_only", "dataset": "digits",
            "seed": 0, "budget_kimg": 1.0, "backbone": {"name": "x", "sha256": "0" * 64, "file": "x"},
            "config": config, "metrics": metrics, "reference": reference,
            "environment": {"hardware": {"device": "cpu", "cpu_threads": 1}}}


def reference_folder(root: Path, name: str, config: dict, metrics: list, tolerance: float = 0.05) -> Path:
    folder = root / name
    run = folder / "digits-gan_only-s0-ref"
    run.mkdir(parents=True)
    (run / "record.json").write_text(json.dumps(record(run.name, config, metrics, {"tolerance_rel": tolerance})))
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """A checkout-like folder (results/ with a stored run, tables/), references, and input files."""
    import torch

    from harness.backbones.files import load_weights, save_weights
    from harness.build import default_config

    root = tmp_path_factory.mktemp("world")
    results = root / "results"
    config = json.loads(json.dumps(asdict(default_config("gan_only", "digits"))))
    fd = [{"name": "fd", "value": 1.5}, {"name": "precision", "value": 0.5}, {"name": "recall", "value": 0.5}]
    run = results / "digits-gan_only-s0-stored"
    run.mkdir(parents=True)
    (run / "record.json").write_text(json.dumps(record(run.name, config, fd)))
    save_weights({"w": torch.zeros(2)}, run / "generator.safetensors",
                 {"run_id": run.name, "method": "gan_only", "kind": "generator-ema"})
    (results / "tuning").mkdir()
    (results / "tuning" / "corrupt.db").write_bytes(b"this is not a database\n" * 40)
    (root / "tables").mkdir()
    (root / "tables" / "main.md").write_text("| the committed table |\n")
    refs = root / "refs"
    refs.mkdir()
    reference_folder(refs, "empty", config, [])
    reference_folder(refs, "nan", config, [{**m, "value": float("nan")} if m["name"] == "fd" else m for m in fd])
    reference_folder(refs, "loose", config, fd, tolerance=1e9)
    files = root / "files"
    files.mkdir()
    tiny = write_tiny_backbone(files / "tiny.safetensors")
    (files / "net.pkl").write_bytes(b"not read: the destination is refused first")
    state, card = load_weights(tiny)
    for name, change in (("zero-width", {"model_channels": 0}), ("no-levels", {"channel_mult": []}),
                         ("unknown-type", {"model_type": "NoSuchUNet"}), ("dropout-5", {"dropout": 5.0}),
                         ("resolution-0", {"img_resolution": 0}), ("million-blocks", {"num_blocks": 10**6})):
        save_weights(state, files / f"{name}.safetensors", {**card, "init_kwargs": {**card["init_kwargs"], **change}})
    return {"root": root, "results": results, "refs": refs, "files": files, "run": run}


R, F = "{results}", "{files}"
TINY = ["--backbone", f"{F}/tiny.safetensors", "--device", "cpu"]
GAN = ["run", "--method", "gan_only", "--results", R, *TINY]
TUNE = ["tune", "--method", "gan_only", "--budget-kimg", "0.1", "--trials", "1", "--results", R, *TINY]

CASES = {
    # losing what a user has
    "report --results typo": (["report", "--results", "resutls"], 2, "--results resutls: no such folder"),
    "convert over a stored generator": (["backbones", "convert", f"{F}/net.pkl", "{run}/generator.safetensors"], 2,
                                        "exists already (the one-step generator of run"),
    # a regression check that can be fooled
    "verify a reference with no metrics": (["verify", "--results", "{refs}/empty"], 1, "its stored metrics lack 'fd'"),
    "verify a NaN reference": (["verify", "--results", "{refs}/nan"], 1, "stored fd is nan, not a finite number"),
    "verify an unbounded tolerance": (["verify", "--results", "{refs}/loose"], 2, "tolerance_rel must be at most 0.5"),
    # escaping the results folder
    "study name with encoded slashes": (TUNE + ["--study", "x%2F..%2F..%2F..%2Fevil"], 2, "a study name is"),
    "study name with a query string": (TUNE + ["--study", "x?mode=ro"], 2, "a study name is"),
    "study name of dots": (TUNE + ["--study", "a..b"], 2, "a study name is"),
    "corrupt study database": (TUNE + ["--study", "corrupt"], 1, "corrupt.db: not an SQLite file"),
    # settings the validator did not cover: one range table
    "log_every_kimg nan": (GAN + ["--set", "log_every_kimg=nan"], 2, "--set log_every_kimg must be a finite number"),
    "beta1 5": (GAN + ["--set", "beta1=5"], 2, "--set beta1 must be >= 0 and < 1, got 5"),
    "d_width 0": (GAN + ["--set", "d_width=0"], 2, "--set d_width must be >= 1, got 0"),
    "sigma_data 0": (GAN + ["--set", "sigma_data=0"], 2, "--set sigma_data must be > 0, got 0"),
    "gan_loss_images 0": (GAN + ["--set", "gan_loss_images=0"], 2, "--set gan_loss_images must be >= 1, got 0"),
    "CD sigma_min above sigma_max": (["run", "--method", "consistency_distillation", "--results", R, *TINY, "--set",
                                      "sigma_min=100"], 2, "sigma_min=100 must be below sigma_max=80"),
    "pretrain model_channels 0": (["pretrain", "--dataset", "digits", "--out", f"{F}/new.safetensors", "--set",
                                   "model_channels=0"], 2, "--set model_channels must be >= 1, got 0"),
    "pretrain channel_mult empty": (["pretrain", "--dataset", "digits", "--out", f"{F}/new.safetensors", "--set",
                                     "channel_mult="], 2, "--set channel_mult is empty"),
    "card with model_channels 0": (GAN[:-4] + ["--backbone", f"{F}/zero-width.safetensors", "--device", "cpu"], 1,
                                   "the card's model_channels must be >= 1, got 0"),
    "card with no levels": (GAN[:-4] + ["--backbone", f"{F}/no-levels.safetensors", "--device", "cpu"], 1,
                            "the card's channel_mult is empty"),
    # found by a hostile-input hunt: a traceback after the run folder was made, an IndexError, a hang
    "card with dropout 5": (GAN[:-4] + ["--backbone", f"{F}/dropout-5.safetensors", "--device", "cpu"], 1,
                            "the card's dropout must be >= 0 and <= 1, got 5"),
    "card with resolution 0": (GAN[:-4] + ["--backbone", f"{F}/resolution-0.safetensors", "--device", "cpu"], 1,
                               "the card's img_resolution must be >= 1"),
    "card with a million blocks": (GAN[:-4] + ["--backbone", f"{F}/million-blocks.safetensors", "--device", "cpu"], 1,
                                   "the card's num_blocks must be >= 1 and <= 64, got 1000000"),
    "card with an unknown model_type": (GAN[:-4] + ["--backbone", f"{F}/unknown-type.safetensors", "--device", "cpu"],
                                        1, "unknown model_type 'NoSuchUNet'"),
    # tune's re-run flags before the first trial
    "tune rerun seed negative": (TUNE + ["--rerun-seeds", "-1"], 2, "--rerun-seeds -1: '-1' is not a seed"),
    "tune rerun seed twice": (TUNE + ["--rerun-seeds", "0-2,2"], 2, "--rerun-seeds 0-2,2: seed 2 is named twice"),
    "tune rerun budget nan": (TUNE + ["--rerun-budget-kimg", "nan"], 2, "--rerun-budget-kimg must be a finite number"),
    # sizes nobody means
    "eval 10^12 FID sets": (["eval", "--checkpoint", "{run}", "--fid-repeats", "1000000000000", "--results", R], 2,
                            "--fid-repeats must be at most 100"),
    "eval 10^8 samples": (["eval", "--checkpoint", "{run}", "--num-samples", "100000000", "--results", R], 2,
                          "--num-samples must be at most 1000000, got 100000000"),
    "run 10^8 samples": (GAN + ["--num-samples", "100000000"], 2, "--num-samples must be at most 1000000"),
    "run one sample over": (GAN + ["--num-samples", "1000001"], 2, "must be at most 1000000, got 1000001"),
    # weak spots
    "budget set twice": (GAN + ["--set", "budget_kimg=1", "--budget-kimg", "2"], 2,
                         "--set budget_kimg=1 and --budget-kimg 2 both set train.budget_kimg"),
    "missing backbone file": (["run", "--method", "gan_only", "--results", f"{R}/never", "--backbone",
                               f"{F}/no-such.safetensors"], 2, "no-such.safetensors: no such file"),
    "curve interval under one image": (GAN + ["--eval-every-kimg", "0.0004"], 2,
                                       "--eval-every-kimg 0.0004 is less than one training image"),
}


# This one also starts the real executable (`tune`'s one refusal through it); the others call its function
# in this process (same code, without the ~1.5 s a fresh `import torch` costs each). `report` and `verify`
# refuse through the executable in test_fail_before_work and test_cli_contract.
REAL_EXECUTABLE = {"corrupt study database"}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_case_is_one_line_and_changes_nothing(name, world) -> None:
    args, status, message = CASES[name]
    args = [a.format(**world) for a in args]
    watched = ("root",)
    before = {key: tree(world[key]) for key in watched}
    env = {"BENCH_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    if name in REAL_EXECUTABLE:
        proc = run_bench(*args, cwd=world["root"], timeout=300, env=env)
    else:
        proc = run_main_in_process(*args, cwd=world["root"], env={**os.environ, **env})
    assert proc.returncode == status, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert {key: tree(world[key]) for key in watched} == before


def test_report_in_a_folder_without_results_writes_nothing(tmp_path) -> None:
    proc = run_main_in_process("report", cwd=tmp_path)
    assert proc.returncode == 2 and "--results results: no such folder" in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []  # no tables/ of published numbers only


def test_convert_overwrites_only_with_force(world, tmp_path) -> None:
    """--force is the way to replace a file: the refusal names it, the flag exists (the pickle, not
    a real EDM one, is then refused for what it is, and the destination is left as it was)."""
    dst = tmp_path / "kept.safetensors"
    dst.write_bytes(b"keep me")
    refused = run_main_in_process("backbones", "convert", str(world["files"] / "net.pkl"), str(dst))
    assert refused.returncode == 2 and "pass --force" in refused.stderr
    forced = run_bench("backbones", "convert", str(world["files"] / "net.pkl"), str(dst), "--force")
    assert "exists already" not in forced.stderr and "No such option" not in forced.stderr
    assert forced.returncode != 0 and "Traceback" not in forced.stderr and dst.read_bytes() == b"keep me"


def test_the_study_url_names_exactly_the_study_file() -> None:
    """SQLAlchemy decodes '%xx' in a URL's path and cuts it at '?': the quoted absolute path
    survives both, whatever the results folder is called."""
    from sqlalchemy.engine import make_url

    from harness.tuning.study import storage_url

    path = Path("/tmp/res%2F..%2Fults?mode=ro#x/tuning/study.db")
    assert make_url(storage_url(path)).database == str(path)


def test_a_nan_in_the_re_run_is_a_failure_not_within_tolerance() -> None:
    from harness.verify import compare

    stored = [{"name": "fd", "value": 2.0}]
    assert compare(stored, [{"name": "fd", "value": float("nan")}], 0.05) == [
        "fd: stored 2.0, re-run nan (not a finite number)"]
    assert compare(stored, [{"name": "fd", "value": 2.05}], 0.05) == []
