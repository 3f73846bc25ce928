"""`bench sample`: exports that outside evaluators read and that `bench eval` measures to the record's
number; npz round trips; resuming, --force, --subdirs, the teacher; bad input refused before work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import invoke_bench, run_bench, snapshot


@pytest.fixture(scope="module")
def run_output(tmp_path_factory) -> tuple[Path, str]:
    """A tiny gan_only run on digits made by `bench run` (in-process), with a curve point before its
    end and every snapshot kept; its folder and what it printed on stderr."""
    import contextlib
    import io
    import sys

    from harness.cli import main

    torch.set_num_threads(1)
    results, err = tmp_path_factory.mktemp("runs"), io.StringIO()
    argv = ["bench", "run", "--method", "gan_only", "--dataset", "digits", "--budget-kimg", "0.096", "--device",
            "cpu", "--num-samples", "60", "--eval-every-kimg", "0.064", "--keep", "all", "--set",
            "train.batch_size=32", "--set", "tensorboard=false", "--results", str(results), "--quiet"]
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()) as out, \
            contextlib.redirect_stderr(err):
        patch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as done:
            main()
    assert done.value.code in (0, None), err.getvalue()
    return Path(out.getvalue().strip().splitlines()[-1]).parent, err.getvalue()


@pytest.fixture(scope="module")
def trained_run(run_output) -> Path:
    return run_output[0]


def bench(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    return invoke_bench(monkeypatch, capsys, *args)


def eval_fd(monkeypatch, capsys, samples: Path, results: Path) -> float:
    code, out, err = bench(monkeypatch, capsys, "eval", "--samples", str(samples), "--dataset", "digits", "--metric",
                           "fd", "--results", str(results), "--quiet")
    assert code == 0, err
    return json.loads(Path(out.strip().splitlines()[-1]).read_text())["metrics"][0]["value"]


def test_exported_samples_measure_the_records_numbers(trained_run: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    record = json.loads((trained_run / "record.json").read_text())
    stored = snapshot(trained_run.parent)
    final_fd = next(m["value"] for m in record["metrics"] if m["name"] == "fd")
    code, out, err = bench(monkeypatch, capsys, "sample", str(trained_run), "--seeds", "0-59", "--out",
                           str(tmp_path / "png"), "--quiet", "--batch", "7")
    assert code == 0, err
    assert "60 images written" in out and "img/s" in out
    assert sorted(p.name for p in (tmp_path / "png").iterdir())[:2] == ["000000.png", "000001.png"]
    assert eval_fd(monkeypatch, capsys, tmp_path / "png", tmp_path / "ev") == final_fd  # to the float

    # A kept curve point, exported from its snapshot, gives that point's number.
    point = record["curve"]["points"][0]
    assert [k["kimg"] for k in record["snapshots"]["kept"]] == [point["kimg"]] == [0.064]
    code, _, err = bench(monkeypatch, capsys, "sample", str(trained_run), "--seeds", "0-59", "--snapshot",
                         f"{point['kimg']}", "--out", str(tmp_path / "point.npz"), "--quiet")
    assert code == 0, err
    assert eval_fd(monkeypatch, capsys, tmp_path / "point.npz", tmp_path / "ev") == point["metrics"][0]["value"]

    # --snapshot best: the generator behind the record's best curve point gives that point's number.
    code, _, err = bench(monkeypatch, capsys, "sample", str(trained_run), "--seeds", "0-59", "--snapshot", "best",
                         "--out", str(tmp_path / "best.npz"), "--quiet")
    assert code == 0, err
    assert eval_fd(monkeypatch, capsys, tmp_path / "best.npz", tmp_path / "ev") == record["best_snapshot"]["value"]
    assert snapshot(trained_run.parent) == stored  # bench sample changed nothing stored


def test_a_clones_kept_snapshot_is_sampled_without_the_final_generator(trained_run: Path, tmp_path: Path,
                                                                       monkeypatch, capsys) -> None:
    """A clone holds a run's record and kept snapshots, not its final generator (git-ignored): the snapshot
    loads on its own (checked against the record's sha256), and a tampered one is refused in one line."""
    import shutil

    clone = tmp_path / "results" / trained_run.name
    shutil.copytree(trained_run, clone, ignore=shutil.ignore_patterns("generator.*", "checkpoint"))
    args = ("sample", str(clone), "--seeds", "0-59", "--snapshot", "0.064", "--quiet")  # the kept curve point
    code, _, err = bench(monkeypatch, capsys, *args, "--out", str(tmp_path / "clone.npz"))
    assert code == 0 and "not kept" not in err, err  # no re-made final generator either
    code, _, err = bench(monkeypatch, capsys, "sample", str(trained_run), "--seeds", "0-59", "--snapshot", "0.064",
                         "--out", str(tmp_path / "kept.npz"), "--quiet")
    assert code == 0, err
    assert (tmp_path / "clone.npz").read_bytes() == (tmp_path / "kept.npz").read_bytes()

    (kept,) = clone.glob("snapshots/*.safetensors")
    kept.write_bytes(kept.read_bytes()[:-1] + b" ")
    code, _, err = bench(monkeypatch, capsys, *args, "--out", str(tmp_path / "bad.npz"))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and "sha256 is not the one" in lines[0], err
    assert not (tmp_path / "bad.npz").exists()


def test_run_prints_what_its_kept_snapshots_use(run_output) -> None:
    run_dir, err = run_output
    kept = json.loads((run_dir / "record.json").read_text())["snapshots"]
    assert kept["bytes"] == sum(p.stat().st_size for p in (run_dir / "snapshots").glob("*.safetensors")) > 0
    assert "snapshots: keep all: 1 kept beside the final generator" in err


def test_npz_round_trips_and_matches_the_pngs(trained_run: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from PIL import Image

    from harness.sample_files import read_npz

    for out in ("a.npz", "png"):
        code, _, err = bench(monkeypatch, capsys, "sample", str(trained_run), "--seeds", "3,9,20-24", "--out",
                             str(tmp_path / out), "--quiet")
        assert code == 0, err
    images, labels = read_npz(tmp_path / "a.npz")
    assert images.dtype == np.uint8 and images.shape == (7, 8, 8, 1) and labels is None  # NHWC, unconditional
    pngs = [np.asarray(Image.open(tmp_path / "png" / f"{s:06d}.png")) for s in (3, 9, 20, 21, 22, 23, 24)]
    assert np.array_equal(images[..., 0], np.stack(pngs))
    with np.load(tmp_path / "a.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["arr_0"]


def test_resume_keeps_files_force_replaces_them(trained_run: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "png"
    args = ["sample", str(trained_run), "--seeds", "0-9", "--out", str(out), "--quiet"]
    assert bench(monkeypatch, capsys, *args)[0] == 0
    original = (out / "000004.png").read_bytes()
    (out / "000004.png").unlink()
    (out / "000005.png").write_bytes(b"kept as it is")
    code, text, _ = bench(monkeypatch, capsys, *args)
    assert code == 0 and "1 images written, 9 already there kept" in text
    assert (out / "000004.png").read_bytes() == original and (out / "000005.png").read_bytes() == b"kept as it is"
    code, text, _ = bench(monkeypatch, capsys, *args, "--force")
    assert code == 0 and "10 images written" in text and (out / "000005.png").read_bytes() != b"kept as it is"
    manifest = json.loads((out / "bench-sample.json").read_text())
    assert manifest["seeds"] == "0-9" and manifest["source"]["run_id"] == trained_run.name


def test_subdirs_follow_edm_layout(trained_run: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, err = bench(monkeypatch, capsys, "sample", str(trained_run), "--seeds", "998-1001", "--subdirs",
                         "--out", str(tmp_path / "s"), "--quiet")
    assert code == 0, err
    found = sorted(p.relative_to(tmp_path / "s").as_posix() for p in (tmp_path / "s").rglob("*.png"))
    assert found == ["000000/000998.png", "000000/000999.png", "001000/001000.png", "001000/001001.png"]


def test_teacher_and_backbone_sample_with_the_eval_seed_protocol(tiny_backbone: Path, tmp_path: Path, monkeypatch,
                                                                 capsys) -> None:
    from PIL import Image

    from baselines.teacher import Teacher, TeacherConfig
    from baselines.base import MethodContext
    from harness.backbones import load_backbone
    from harness.data import to_uint8
    from harness.evaluate import generate

    code, _, err = bench(monkeypatch, capsys, "sample", "--method", "teacher", "--backbone", str(tiny_backbone),
                         "--set", "num_steps=2", "--seeds", "5-7", "--out", str(tmp_path / "t"), "--quiet")
    assert code == 0, err
    backbone = load_backbone(str(tiny_backbone))
    teacher = Teacher(MethodContext(backbone, 0, torch.device("cpu"), 0, 1, 0), TeacherConfig(num_steps=2))
    expected = to_uint8(generate(teacher.generator, range(5, 8), (1, 8, 8), 0, torch.device("cpu"), 500, False))
    got = np.stack([np.asarray(Image.open(tmp_path / "t" / f"{s:06d}.png")) for s in (5, 6, 7)])
    assert np.array_equal(got, expected[:, 0].numpy())
    code, _, err = bench(monkeypatch, capsys, "sample", "--method", "backbone_one_step", "--backbone",
                         str(tiny_backbone), "--seeds", "0-1", "--out", str(tmp_path / "b.npz"), "--quiet")
    assert code == 0 and (tmp_path / "b.npz").is_file(), err


def test_exported_pixels_are_what_torch_fidelity_and_clean_fid_read(trained_run: Path, tmp_path: Path, monkeypatch,
                                                                     capsys) -> None:
    """Until the offline FID network (#22/#24) exists, the check is on the pixels both tools load
    from the folder: the same images, in RGB, as the harness measured (grey repeated)."""
    from cleanfid.utils import ResizeDataset
    from torch_fidelity.datasets import ImagesPathDataset
    from torch_fidelity.utils import glob_samples_paths

    from harness.sample_files import load_image_folder

    code, _, err = bench(monkeypatch, capsys, "sample", str(trained_run), "--seeds", "0-11", "--subdirs", "--out",
                         str(tmp_path / "png"), "--quiet")
    assert code == 0, err
    ours, _ = load_image_folder(tmp_path / "png")
    ours = ((ours + 1) * 127.5).round().to(torch.uint8).expand(-1, 3, -1, -1)
    files = sorted(glob_samples_paths(str(tmp_path / "png"), True, "png", verbose=False))
    assert len(files) == 12
    fidelity = torch.stack([ImagesPathDataset(files)[i] for i in range(12)])
    assert fidelity.dtype == torch.uint8 and torch.equal(fidelity, ours)
    seen = []
    clean = ResizeDataset(files, mode="clean")
    clean.custom_image_tranform = lambda x: seen.append(x) or x
    for i in range(12):
        clean[i]
    assert torch.equal(torch.from_numpy(np.stack(seen)).permute(0, 3, 1, 2), ours)


@pytest.mark.parametrize("args, message", [
    (["--seeds", "9-1", "--out", "{tmp}/o"], "ends before it starts"),
    (["--seeds", "0-3", "--out", "{results}/inside"], "inside the results folder"),
    (["--seeds", "0-3", "--snapshot", "0.1", "--out", "{tmp}/o"], "was not kept"),
    (["--seeds", "0-3", "--subdirs", "--out", "{tmp}/o.npz"], "--subdirs is for PNG folders"),
    (["--seeds", "0-3", "--method", "teacher", "--out", "{tmp}/o"], "pass a run folder (bench sample RUN) or --method"),
    (["--seeds", "0-3", "--out", "{tmp}/file/o.npz"], "file is a file, not a folder"),
    (["--seeds", "0-3", "--out", "{tmp}/dir.npz"], "dir.npz is a folder"),
    (["--seeds", "0-3", "--out", "{tmp}/done.npz"], "done.npz exists; pass --force"),
    (["--seeds", "0-3", "--class-labels", "0", "--out", "{tmp}/o"], "the model is unconditional"),
])
def test_bad_input_is_one_line_and_changes_nothing(trained_run: Path, tmp_path: Path, args, message, monkeypatch,
                                                   capsys) -> None:
    (tmp_path / "file").write_text("a file where a folder is meant")
    (tmp_path / "dir.npz").mkdir()
    (tmp_path / "done.npz").write_bytes(b"a finished export")
    before = snapshot(trained_run.parent), snapshot(tmp_path)
    argv = [a.format(tmp=tmp_path, results=trained_run.parent) for a in args]
    code, _, err = bench(monkeypatch, capsys, "sample", str(trained_run), *argv)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert (snapshot(trained_run.parent), snapshot(tmp_path)) == before and not (tmp_path / "o").exists()
    assert not list(tmp_path.glob(".*.parts")) and not (tmp_path / "dir.npz" / "o").exists()


def test_entry_point_refuses_a_bad_seed_range(trained_run: Path, tmp_path: Path) -> None:
    result = run_bench("sample", str(trained_run), "--seeds", "0-4,x", "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "'x' is not a seed" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_eval_refuses_an_npz_of_the_wrong_layout(tmp_path: Path, monkeypatch, capsys) -> None:
    np.savez(tmp_path / "f.npz", arr_0=np.zeros((4, 8, 8, 1), np.float32))
    np.savez(tmp_path / "c.npz", arr_0=np.zeros((4, 1, 8, 8), np.uint8))
    for name, message in (("f.npz", "arr_0 is float32, expected uint8"), ("c.npz", "expected [N, H, W, C]")):
        code, _, err = bench(monkeypatch, capsys, "eval", "--samples", str(tmp_path / name), "--dataset", "digits",
                             "--metric", "fd", "--results", str(tmp_path / "r"))
        assert code == 2 and message in err, err
    assert not (tmp_path / "r").exists()


def test_entry_point_refuses_an_npz_of_the_wrong_dtype(tmp_path: Path) -> None:
    np.savez(tmp_path / "f.npz", arr_0=np.zeros((4, 8, 8, 1), np.float32))
    result = run_bench("eval", "--samples", str(tmp_path / "f.npz"), "--dataset", "digits", "--metric", "fd",
                       "--results", str(tmp_path / "r"))
    assert result.returncode == 2 and "arr_0 is float32, expected uint8" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_eval_refuses_npz_files_that_are_no_zip_or_cut_short_in_one_line(tmp_path: Path) -> None:
    """A text file named .npz and a zip cut short, as --samples (exit 2) and as --ref statistics (exit 1):
    one line each, no traceback (a cut --ref raised zipfile's BadZipFile out of the command)."""
    from helpers import run_main_in_process

    np.savez(tmp_path / "whole.npz", arr_0=np.zeros((4, 8, 8, 1), np.uint8))
    (tmp_path / "cut.npz").write_bytes((tmp_path / "whole.npz").read_bytes()[:200])
    (tmp_path / "text.npz").write_bytes(b"garbage\n")
    for name, why in (("cut", "BadZipFile: File is not a zip file"), ("text", "not a zip archive, as every .npz is")):
        npz = str(tmp_path / f"{name}.npz")
        as_samples = run_main_in_process("eval", "--samples", npz, "--dataset", "digits", "--results", str(tmp_path / "r"))
        as_ref = run_main_in_process("eval", "--samples", str(tmp_path / "whole.npz"), "--dataset", "digits",
                                     "--ref", npz, "--results", str(tmp_path / "r"), "--quiet")
        for done, code in ((as_samples, 2), (as_ref, 1)):
            assert done.returncode == code and f"{npz}: not a readable .npz" in done.stderr, done.stderr
            assert why in done.stderr and "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "r").exists()


def test_conditional_models_store_their_labels(tmp_path: Path, monkeypatch, capsys) -> None:
    from harness.evaluate import seed_latents
    from harness.sample_files import read_npz
    from helpers import write_tiny_backbone

    backbone = str(write_tiny_backbone(tmp_path / "cond.safetensors", label_dim=3))
    common = ["sample", "--method", "backbone_one_step", "--backbone", backbone, "--seeds", "0-9", "--quiet"]
    code, _, err = bench(monkeypatch, capsys, *common, "--out", str(tmp_path / "drawn.npz"))
    assert code == 0, err
    images, labels = read_npz(tmp_path / "drawn.npz")
    _, onehot = seed_latents(range(10), (1, 8, 8), 3)
    assert labels.dtype == np.int64 and labels.tolist() == onehot.argmax(1).tolist()  # the eval protocol's classes
    code, _, err = bench(monkeypatch, capsys, *common, "--class-label", "2", "--out", str(tmp_path / "two.npz"))
    assert code == 0 and read_npz(tmp_path / "two.npz")[1].tolist() == [2] * 10, err
    code, _, err = bench(monkeypatch, capsys, *common, "--class-label", "3", "--out", str(tmp_path / "bad.npz"))
    assert code == 2 and "outside the model's 3 classes" in err and not (tmp_path / "bad.npz").exists()
    assert not (tmp_path / ".bad.npz.parts").exists()


def test_progress_reports_images_per_second(trained_run: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, err = bench(monkeypatch, capsys, "sample", str(trained_run), "--seeds", "0-9", "--batch", "5", "--out",
                         str(tmp_path / "p.npz"))
    lines = [line for line in err.splitlines() if line.startswith("sampling: ")]
    assert code == 0 and lines[-1].startswith("sampling: 10/10 images, ") and "img/s" in lines[-1], err
