"""Crash safety: a run killed with SIGKILL resumes to the record an uninterrupted run gets."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.runner import configure, run
from harness.seeding import cpu_threads

ARGS = ["--method", "gan_only", "--dataset", "digits", "--budget-kimg", "1.5", "--seed", "5", "--device", "cpu",
        "--num-samples", "200", "--set", "train.batch_size=32", "--set", "checkpoint_kimg=0.25", "--set", "d_width=16",
        "--set", "eval.batch_size=100", "--quiet"]


def metrics(path: Path) -> list[tuple[str, float]]:
    return [(m["name"], m["value"]) for m in json.loads(path.read_text())["metrics"]]


def test_sigkill_then_resume_equals_uninterrupted(tiny_backbone, tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", *ARGS, "--backbone", str(tiny_backbone),
                             "--results", str(results)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    state = None
    while time.time() < deadline and proc.poll() is None:
        found = list(results.glob("*/checkpoint/state.safetensors"))
        if found:
            state = found[0]
            break
        time.sleep(0.05)
    assert state is not None, f"no checkpoint appeared: {proc.communicate()[1].decode()[-2000:]}"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run_dir = state.parent.parent
    assert not (run_dir / "record.json").exists(), "the run finished before it was killed; make it longer"

    from harness.runner import resume

    resumed = resume(run_dir.name, results, show_progress=False)
    assert resumed.parent == run_dir

    straight_config = configure("gan_only", "digits", backbone=str(tiny_backbone), budget_kimg=1.5, seed=5,
                                device="cpu", overrides=["train.batch_size=32", "checkpoint_kimg=0.25", "d_width=16",
                                                         "eval.batch_size=100"], num_samples=200)
    with cpu_threads(1):  # the thread count the killed process ran with (OMP_NUM_THREADS=1)
        straight = run(straight_config, tmp_path / "straight", show_progress=False)
    assert metrics(resumed) == metrics(straight)
    record = json.loads(resumed.read_text())
    assert record["status"] == "completed" and record["training"]["images_seen"] == 1504
    assert record["environment"]["hardware"]["cpu_threads"] == 1, "resume must run with the killed run's threads"


def test_resume_of_a_finished_run_is_refused(tiny_backbone, tmp_path):
    import pytest

    from harness.errors import BenchError
    from harness.runner import resume

    config = configure("gan_only", "digits", backbone=str(tiny_backbone), budget_kimg=0.1, seed=0, device="cpu",
                       overrides=["train.batch_size=32", "d_width=16"], num_samples=100)
    path = run(config, tmp_path, show_progress=False)
    before = path.read_bytes()
    with pytest.raises(BenchError, match="has finished already"):
        resume(path.parent.name, tmp_path, show_progress=False)
    assert path.read_bytes() == before
