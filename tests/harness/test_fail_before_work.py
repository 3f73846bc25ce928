"""Issue #15's matrix: bad inputs, mix-ups and broken files given to the installed `bench` entry
point. Every case must end with its exit status and one clear line, no Python traceback, and the
results folder byte for byte as it was (no empty run folder, no temporary file). A few cases (one
per command) start the real executable; the rest call its function in this process
(helpers.run_main_in_process), which checks the same code without a fresh `import torch` each.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from helpers import bench_executable, run_main_in_process, snapshot, write_tiny_backbone

REPO = Path(__file__).resolve().parents[2]
DIGITS_FEATURES = REPO / "harness" / "metrics" / "weights" / "digits-classifier.safetensors"


def tree(folder: Path) -> tuple[dict[str, bytes], list[str]]:
    """Every file's bytes and every folder's name: a new empty run folder shows up too."""
    return snapshot(folder), sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_dir())


def fake_record(run_id: str, config: dict, reference: dict | None = None) -> dict:
    return {"schema_version": 1, "run_id": run_id, "status": "completed", "method": "gan_only", "dataset": "digits",
            "seed": 0, "budget_kimg": 1.0, "backbone": {"name": "x", "sha256": "0" * 64, "file": "x"},
            "config": config, "metrics": [{"name": "fd", "value": 1.0}], "reference": reference,
            "environment": {"hardware": {"device": "cpu", "cpu_threads": 1}}}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """A results folder holding what the cases point at, plus files kept outside it."""
    from safetensors.torch import save_file
    import torch

    from harness.backbones.files import save_weights
    from harness.build import default_config
    from dataclasses import asdict

    root = tmp_path_factory.mktemp("world")
    results = root / "results"
    config = json.loads(json.dumps(asdict(default_config("gan_only", "digits"))))
    run = results / "digits-gan_only-s0-stored"
    run.mkdir(parents=True)
    (run / "record.json").write_text(json.dumps(fake_record(run.name, config)))
    save_weights({"w": torch.zeros(2)}, run / "generator.safetensors",
                 {"run_id": run.name, "method": "gan_only", "kind": "generator-ema"})
    no_config = results / "digits-gan_only-s1-noconfig" / "checkpoint"
    no_config.mkdir(parents=True)
    save_file({"x": torch.zeros(1)}, str(no_config / "state.safetensors"), metadata={"meta": json.dumps({"step": 3})})
    foreign = results / "digits-gan_only-s2-foreign" / "checkpoint"
    foreign.mkdir(parents=True)
    (foreign / "run.json").write_text(json.dumps({"config": {**config, "train": {**config["train"], "warp": 9}}}))
    (results / "existing.safetensors").write_bytes(b"do not overwrite me")
    (results / "a-file").write_text("not a folder")
    refs = root / "refs"
    bad_ref = refs / "digits-gan_only-s0-ref"
    bad_ref.mkdir(parents=True)
    (bad_ref / "record.json").write_text(json.dumps(fake_record(bad_ref.name, {**config, "colour": "blue"},
                                                                {"tolerance_rel": 0.05})))
    files = root / "files"
    files.mkdir()
    write_tiny_backbone(files / "tiny.safetensors")
    save_file({"w": torch.zeros(2)}, str(files / "bad-card.safetensors"), metadata={"card": "{not json"})
    save_file({"w": torch.zeros(2)}, str(files / "no-card.safetensors"))
    (files / "side-card.safetensors").write_bytes((files / "no-card.safetensors").read_bytes())
    (files / "side-card.json").write_text("{broken")
    (files / "images").mkdir()
    return {"results": results, "refs": refs, "files": files, "run": run, "root": root}


R, F, RUN = "{results}", "{files}", "{run}"
TINY = ["--backbone", f"{F}/tiny.safetensors"]
GAN = ["run", "--method", "gan_only", "--results", R, "--device", "cpu", *TINY]

CASES = {
    # numbers: finite, in range, integral
    "budget nan": (GAN + ["--budget-kimg", "nan"], 2, "--budget-kimg must be a finite number"),
    "budget inf": (GAN + ["--budget-kimg", "inf"], 2, "--budget-kimg must be a finite number"),
    "budget below one image": (GAN + ["--budget-kimg", "1e-7"], 2, "less than one training image"),
    "budget negative": (GAN + ["--budget-kimg", "-1"], 2, "--budget-kimg must be positive"),
    "batch zero": (GAN + ["--set", "train.batch_size=0"], 2, "--set batch_size must be at least 1"),
    "batch over dataset": (GAN + ["--set", "train.batch_size=5000"], 2, "larger than dataset digits (1797 images)"),
    "g_lr nan": (GAN + ["--set", "g_lr=nan"], 2, "--set g_lr must be a finite number"),
    "g_lr zero": (GAN + ["--set", "g_lr=0"], 2, "--set g_lr must be positive"),
    "seed beyond 64 bits": (GAN + ["--seed", str(2 ** 64)], 2, "--seed must be below 2^63"),
    "seed negative": (GAN + ["--seed", "-1"], 2, "--seed must be at least 0"),
    "d_seed beyond 63 bits": (GAN + ["--set", f"d_seed={2 ** 70}"], 2, "--set d_seed must be below 2^63"),
    "ema negative": (GAN + ["--set", "ema_halflife_kimg=-1"], 2, "--set ema_halflife_kimg must be at least 0"),
    "checkpoint nan": (GAN + ["--set", "checkpoint_kimg=nan"], 2, "--set checkpoint_kimg must be a finite number"),
    # evaluation settings, checked before training, not after it
    "unknown metric": (GAN + ["--set", "eval.metrics=fdd"], 2, "unknown metric 'fdd'"),
    "unknown fd implementation": (GAN + ["--set", "eval.fd_impl=bogus"], 2, "no implementation 'bogus'"),
    "grid zero": (GAN + ["--set", "grid_size=0"], 2, "--set eval.grid_size must be at least 1"),
    "eval batch zero": (GAN + ["--set", "eval.batch_size=0"], 2, "--set eval.batch_size must be at least 1"),
    "one sample": (GAN + ["--num-samples", "1"], 2, "--num-samples must be at least 2"),
    "too few for precision/recall": (GAN + ["--num-samples", "3"], 2, "precision/recall need more than k = 3"),
    "metric the feature network cannot give": (GAN + ["--set", "eval.metrics=fd,is"], 2,
                                                "'is' needs logits, which the dataset's feature network"),
    "first seed negative": (GAN + ["--set", "eval.first_seed=-5"], 2, "--set eval.first_seed must be at least 0"),
    # names
    "unknown method": (["run", "--method", "gan_onyl", "--results", R], 2, "unknown method 'gan_onyl'"),
    "unknown dataset": (GAN + ["--dataset", "digitz"], 2, "unknown dataset 'digitz'"),
    "unknown key": (GAN + ["--set", "bogus=1"], 2, "unknown key 'bogus'"),
    "ambiguous key": (GAN + ["--set", "batch_size=32"], 2, "it is train.batch_size and eval.batch_size"),
    "unknown precision": (GAN + ["--precision", "fp8"], 2, "unknown precision 'fp8'"),
    "unknown device": (GAN + ["--device", "tpu"], 2, "unknown device 'tpu'"),
    # paths and mix-ups, recognised by what the file is
    "digits with --data": (GAN + ["--data", "/no/such/path"], 2, "dataset digits is built in and reads no files"),
    "data pointing nowhere": (["run", "--method", "gan_only", "--dataset", "fashion-mnist", "--data", "/no/such/path",
                               "--results", R], 2, "--data /no/such/path: no such file or folder"),
    "generator as backbone": (["run", "--method", "gan_only", "--results", R, "--backbone",
                               f"{RUN}/generator.safetensors"], 2, "the one-step generator of run"),
    "feature network as backbone": (["run", "--method", "gan_only", "--results", R, "--backbone",
                                     str(DIGITS_FEATURES)], 2, "the weights of a feature network"),
    "run folder as backbone": (["run", "--method", "gan_only", "--results", R, "--backbone", RUN], 2,
                               "a run folder of `bench run`; expected a backbone file"),
    "checkpoint as backbone": (["run", "--method", "gan_only", "--results", R, "--backbone",
                                f"{R}/digits-gan_only-s1-noconfig/checkpoint/state.safetensors"], 2,
                               "a training checkpoint"),
    "bad JSON card": (["run", "--method", "gan_only", "--results", R, "--backbone", f"{F}/bad-card.safetensors"], 2,
                      "card is not valid JSON"),
    "bad JSON side card": (["run", "--method", "gan_only", "--results", R, "--backbone",
                            f"{F}/side-card.safetensors"], 2, "card is not valid JSON"),
    "no card": (["run", "--method", "gan_only", "--results", R, "--backbone", f"{F}/no-card.safetensors"], 2,
                "with no card"),
    "backbone of another dataset": (["run", "--method", "gan_only", "--results", R, "--backbone",
                                     "edm-cifar10-32x32-uncond-ve"], 2, "dataset digits is 1x8x8 but backbone"),
    "results is a file": (["run", "--method", "gan_only", "--results", f"{R}/a-file"], 2, "expected a results folder"),
    # --resume takes the settings the run started with
    "resume with other flags": (["run", "--resume", RUN, "--method", "dmd", "--seed", "7", "--results", R], 2,
                                "it takes only --results, --device and --quiet, not --method, --seed"),
    "resume of a finished run": (["run", "--resume", RUN, "--results", R], 2, "has finished already"),
    "resume of no run": (["run", "--resume", "digits-gan_only-s9-nowhere", "--results", R], 2,
                         "no run 'digits-gan_only-s9-nowhere' in"),
    "convert a missing pickle": (["backbones", "convert", f"{F}/missing.pkl", f"{R}/out.safetensors"], 2,
                                 "EDM pickle not found"),
    "resume without config": (["run", "--resume", "digits-gan_only-s1-noconfig", "--results", R], 2,
                              "holds no run config"),
    "resume with a foreign key": (["run", "--resume", "digits-gan_only-s2-foreign", "--results", R], 2,
                                  "unknown config key 'train.warp'"),
    # sweep: every grid point's names and numbers before the first runs
    "sweep misspelt method": (["sweep", "--methods", "gan_only,gan_onyl", "--budgets", "1", "--seeds", "0",
                               "--results", R, *TINY], 2, "unknown method 'gan_onyl'"),
    "sweep budget nan": (["sweep", "--methods", "gan_only", "--budgets", "1,nan", "--seeds", "0", "--results", R,
                          *TINY], 2, "--budgets must be a finite number"),
    "sweep seed not whole": (["sweep", "--methods", "gan_only", "--budgets", "1", "--seeds", "1.5", "--results", R],
                             2, "--seeds 1.5: '1.5' is not a seed or a range like 0-49999"),
    "sweep seed named twice": (["sweep", "--methods", "gan_only", "--budgets", "1", "--seeds", "0-2,1", "--results", R],
                               2, "--seeds 0-2,1: seed 1 is named twice"),
    "sweep budget word": (["sweep", "--methods", "gan_only", "--budgets", "1,two", "--seeds", "0", "--results", R],
                          2, "--budgets 1,two: expected comma-separated numbers of kimg"),
    "sweep unknown metric": (["sweep", "--methods", "teacher,gan_only", "--budgets", "1", "--seeds", "0",
                              "--results", R, "--set", "eval.metrics=fdd", *TINY], 2, "unknown metric 'fdd'"),
    # pretrain
    "pretrain kimg nan": (["pretrain", "--dataset", "digits", "--out", f"{R}/new.safetensors", "--kimg", "nan"], 2,
                          "--kimg must be a finite number"),
    "pretrain out exists": (["pretrain", "--dataset", "digits", "--out", f"{R}/existing.safetensors", "--kimg", "1"], 2,
                            "exists already"),
    "pretrain out in a run folder": (["pretrain", "--dataset", "digits", "--out", f"{RUN}/generator.safetensors",
                                      "--force"], 2, "is a stored run's folder"),
    "pretrain out not safetensors": (["pretrain", "--dataset", "digits", "--out", f"{R}/net.txt"], 2,
                                     "expected a .safetensors file name"),
    "pretrain lr nan": (["pretrain", "--dataset", "digits", "--out", f"{R}/new.safetensors", "--set", "lr=nan"], 2,
                        "--set lr must be a finite number"),
    "pretrain digits with --data": (["pretrain", "--dataset", "digits", "--out", f"{R}/new.safetensors", "--data",
                                     "/no/such"], 2, "reads no files"),
    # report, verify, eval
    "report out is a file": (["report", "--results", R, "--out", f"{R}/a-file"], 2, "expected a folder for the tables"),
    "verify unknown config key": (["verify", "--results", "{refs}"], 2, "unknown config key 'colour'"),
    "eval generator file as checkpoint": (["eval", "--checkpoint", f"{RUN}/generator.safetensors", "--results", R], 2,
                                          "expected a run folder of `bench run`"),
    "eval one sample": (["eval", "--checkpoint", RUN, "--num-samples", "1", "--results", R], 2,
                        "--num-samples must be at least 2"),
    "eval --batch-size zero": (["eval", "--samples", f"{F}/images", "--dataset", "digits", "--batch-size", "0",
                         "--results", R], 2, "--batch-size must be at least 1"),
    "eval repeats zero": (["eval", "--checkpoint", RUN, "--fid-repeats", "0", "--results", R], 2,
                          "--fid-repeats must be at least 1"),
}


# These go through the installed executable, as a user runs them: one case for each command whose
# refusals no other test starts the executable for (`run`, `verify`, `eval`, `sample`, `tune` have theirs
# in test_cli_contract, test_hostile_round_three and test_sample_command).
THROUGH_THE_EXECUTABLE = {"sweep budget nan", "pretrain kimg nan", "report out is a file"}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_fails_first_with_one_line(name, world) -> None:
    args, status, message = CASES[name]
    where = {"results": world["results"], "files": world["files"], "run": world["run"], "refs": world["refs"]}
    args = [a.format(**where) for a in args]
    before = {key: tree(world[key]) for key in ("results", "refs", "files")}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "BENCH_OFFLINE": "1"}
    if name in THROUGH_THE_EXECUTABLE:
        proc = subprocess.run([bench_executable(), *args], capture_output=True, text=True, timeout=300, env=env,
                              cwd=world["root"])
    else:  # the same entry point function in this process: no fresh `import torch` per case
        proc = run_main_in_process(*args, cwd=world["root"], env=env)
    assert proc.returncode == status, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert {key: tree(world[key]) for key in ("results", "refs", "files")} == before


def test_the_matrix_is_at_least_forty_cases() -> None:
    assert len(CASES) >= 40 and THROUGH_THE_EXECUTABLE <= set(CASES)


def test_a_command_failing_after_its_checks_leaves_no_new_results_folder(tmp_path) -> None:
    """The writability probe makes no --results folder: `bench eval` of an unreadable image, refused
    after the probe, leaves the new folder and its new parent absent (it left an empty one)."""
    samples = tmp_path / "samples"
    samples.mkdir()
    for i in range(4):
        (samples / f"{i}.png").write_bytes(b"not a png")
    results = tmp_path / "new" / "results"
    done = run_main_in_process("eval", "--samples", str(samples), "--dataset", "digits", "--results", str(results))
    assert done.returncode == 1 and "not a readable image" in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and not (tmp_path / "new").exists()


def test_a_png_whose_header_claims_a_huge_image_is_one_line(tmp_path) -> None:
    """PIL's decompression-bomb guard raised through `bench eval --samples` as a traceback."""
    import struct
    import zlib

    from PIL import Image

    samples = tmp_path / "samples"
    samples.mkdir()
    for i in range(4):
        Image.new("L", (8, 8)).save(samples / f"{i}.png")
    data = bytearray((samples / "3.png").read_bytes())
    data[16:24] = struct.pack(">II", 100_000, 100_000)  # IHDR width and height, then its CRC again
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    (samples / "3.png").write_bytes(bytes(data))
    done = run_main_in_process("eval", "--samples", str(samples), "--dataset", "digits", "--metric", "fd",
                               "--results", str(tmp_path / "results"), "--quiet")
    assert done.returncode == 1 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "3.png: its header claims an image larger than PIL reads" in done.stderr
    assert not (tmp_path / "results").exists()


def test_a_samples_file_of_one_image_or_the_wrong_size_is_a_usage_error(tmp_path) -> None:
    """Was exit 1 with the features' internal message ("feature statistics need [N >= 2, D] ...")."""
    import numpy as np

    np.savez(tmp_path / "one.npz", arr_0=np.zeros((1, 8, 8, 1), np.uint8))
    done = run_main_in_process("eval", "--samples", str(tmp_path / "one.npz"), "--dataset", "digits", "--metric", "fd",
                               "--results", str(tmp_path / "results"), "--quiet")
    assert done.returncode == 2 and "1 image(s); the metrics need at least 2" in done.stderr, done.stderr
    assert not (tmp_path / "results").exists()
    np.savez(tmp_path / "big.npz", arr_0=np.zeros((4, 16, 16, 1), np.uint8))  # was exit 1, after the real data loaded
    done = run_main_in_process("eval", "--samples", str(tmp_path / "big.npz"), "--dataset", "digits", "--metric", "fd",
                               "--results", str(tmp_path / "results"), "--quiet")
    assert done.returncode == 2 and "16x16x1 (width x height x channels), but the digits images" in done.stderr
    assert not (tmp_path / "results").exists()


def test_a_ref_that_is_no_file_says_what_it_is(tmp_path) -> None:
    """A folder or a pipe given as --ref was reported as "no such file"."""
    import numpy as np

    np.savez(tmp_path / "s.npz", arr_0=np.zeros((4, 8, 8, 1), np.uint8))
    (tmp_path / "folder.npz").mkdir()
    os.mkfifo(tmp_path / "pipe.npz")
    for ref, what in (("folder.npz", "got a folder"), ("pipe.npz", "got a pipe, socket or device"),
                      ("absent.npz", "got nothing (no such file or folder)")):
        done = run_main_in_process("eval", "--samples", str(tmp_path / "s.npz"), "--dataset", "digits", "--metric",
                                   "fid", "--ref", str(tmp_path / ref), "--results", str(tmp_path / "results"))
        assert done.returncode == 2 and "expected an .npz file of reference statistics, " + what in done.stderr, done.stderr


def test_a_backbone_file_of_another_kind_is_a_usage_error(tmp_path) -> None:
    """`--backbone /etc/passwd` was read as safetensors: exit 1, while a garbage `.safetensors` was exit 2."""
    (tmp_path / "notes.txt").write_text("not a network\n")
    os.mkfifo(tmp_path / "pipe.safetensors")
    for given, what in (("notes.txt", "a .txt file"), ("pipe.safetensors", "a pipe, socket or device")):
        done = run_main_in_process("run", "--method", "gan_only", "--dataset", "digits", "--backbone",
                                   str(tmp_path / given), "--results", str(tmp_path / "results"))
        assert done.returncode == 2 and f"--backbone {tmp_path / given}: {what}" in done.stderr, done.stderr
        assert "expected a backbone file" in done.stderr and not (tmp_path / "results").exists()
