"""CPU smoke run of scripts/fashion_mnist_gpu.py: the GPU window's exact code path at tiny sizes.

A 500-image subset of the real Debian Fashion-MNIST (400 train + 100 test, written as idx files),
a tiny SongUNet (8 channels at 32, 16, 8; its mid-block attention at 8x8) pre-trained on 0.2 kimg,
every method at 0.05 kimg (2 steps), 50 evaluation samples; then the stored records, timings, `bench report`,
re-evaluation of a stored generator and a second run (which must skip everything) are checked.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.data import fashion_mnist

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "fashion_mnist_gpu.py"
METHODS = ("teacher", "backbone_one_step", "gan_only", "gan_only_frozen", "progressive_distillation",
           "consistency_distillation", "dmd")


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes(), compresslevel=1))


def write_subset(directory: Path, train: int, test: int) -> None:
    """The first ``train`` / ``test`` images of each real split, in the Debian file layout."""
    from harness.data.readers import read_idx_pair

    directory.mkdir(parents=True)
    for (images, labels), n in zip(fashion_mnist.SPLITS, (train, test)):
        x, y = read_idx_pair(fashion_mnist.idx_file(fashion_mnist.DEBIAN_DIR, images),
                             fashion_mnist.idx_file(fashion_mnist.DEBIAN_DIR, labels), 10, size=(28, 28))
        write_idx(directory / f"{images}.gz", np.ascontiguousarray(x[:n]).reshape(n, 28, 28))
        write_idx(directory / f"{labels}.gz", np.ascontiguousarray(y[:n]).astype(np.uint8))


@pytest.mark.fashion_mnist  # tests/conftest.py skips it without the apt package
def test_script_runs_every_method_and_the_report(tmp_path: Path) -> None:
    if not fashion_mnist.has_all_files(fashion_mnist.DEBIAN_DIR):
        pytest.fail("Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist", pytrace=False)
    data = tmp_path / "fm"
    write_subset(data, 400, 100)
    results, tables, backbone = tmp_path / "results", tmp_path / "tables", tmp_path / "fm-tiny.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BENCH_OFFLINE": "1", "BENCH_CACHE_DIR": str(tmp_path / "cache"),
           "FM_PRETRAIN_SET": "model_channels=8 channel_mult=1,1,1 num_blocks=1 attn_resolutions= fd_samples=50 batch_size=32",
           "FM_SET": "train.batch_size=25 checkpoint_kimg=0"}
    argv = [sys.executable, str(SCRIPT), "--results", str(results), "--tables", str(tables), "--backbone", str(backbone),
            "--pretrain-kimg", "0.2", "--budgets", "0.05", "--freeze-levels", "2", "--num-samples", "50",
            "--device", "cpu", "--data", str(data), "--quiet"]
    proc = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    card = json.loads(backbone.with_suffix(".json").read_text())
    assert card["init_kwargs"]["model_channels"] == 8 and card["images_seen"] >= 200
    assert card["precision"] == "fp32" and card["fd_samples"] == 50 and card["teacher_fd"] > 0

    (log_path,) = (results / "fashion-mnist-gpu").glob("*.json")
    log = json.loads(log_path.read_text())
    assert log["device"] == "cpu" and log["stages"][0]["stage"] == "pretrain"
    ran = [s for s in log["stages"] if s["stage"] in METHODS]
    assert all(s["status"] == "completed" and s["seconds"] >= 0 for s in ran), ran
    records = [json.loads(p.read_text()) for p in results.glob("*/record.json")]
    assert sorted(r["method"] for r in records) == sorted(METHODS + ("gan_only_frozen",))
    for r in records:
        assert r["dataset"] == "fashion-mnist" and r["status"] == "completed" and r["backbone"]["sha256"]
        assert (results / r["run_id"] / "samples.png").is_file()
        assert r["budget_kimg"] == (0.05 if r["method"] not in ("teacher", "backbone_one_step") else 0)
    levels = sorted(r["method_info"].get("freeze_level", 0) for r in records if r["method"] == "gan_only_frozen")
    assert levels == [1, 2]
    assert log["stages"][-1]["stage"] == "report"
    for table in ("one_step", "cost", "freeze_ablation"):  # each has a Fashion-MNIST block with these runs
        text = (tables / f"{table}.md").read_text()
        assert "Fashion-MNIST" in text and "runs for Fashion-MNIST" not in text, table

    # The CPU path re-evaluates a stored generator: the same FD as its record.
    import torch

    from harness.data import load_dataset
    from harness.evaluate import generate
    from harness.metrics import evaluate, load_extractor
    from harness.runner import load_generator

    gan = next(r for r in records if r["method"] == "gan_only")
    generator, _ = load_generator(results / gan["run_id"], "cpu")
    samples = generate(generator, range(50), (1, 32, 32), 0, torch.device("cpu"), 50, False)
    (fd,) = evaluate(samples, load_dataset("fashion-mnist", data), ["fd"], load_extractor("fashion-mnist-classifier"))
    stored = next(m["value"] for m in gan["metrics"] if m["name"] == "fd")
    assert fd.value == pytest.approx(stored, rel=1e-4)

    # Run again: everything is stored, so every stage is skipped (a cut-short window continues this way).
    again = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    (second,) = sorted((results / "fashion-mnist-gpu").glob("*.json"))[1:] or [None]
    stages = json.loads(second.read_text())["stages"]
    assert {s["status"] for s in stages if s["stage"] != "report"} <= {"skipped (stored)", "skipped (backbone exists)"}
