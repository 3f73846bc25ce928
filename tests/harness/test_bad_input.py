"""Hostile and broken input: one clear error, a non-zero exit, and nothing already stored changes."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import snapshot
from harness.errors import BenchError
from harness.runner import configure, run


def tiny(backbone: Path, budget: float = 0.1, seed: int = 0):
    return configure("gan_only", "digits", backbone=str(backbone), budget_kimg=budget, seed=seed, device="cpu",
                     overrides=["train.batch_size=32", "d_width=16", "eval.batch_size=100"], num_samples=100)


@pytest.fixture
def stored_run(tiny_backbone, tmp_path) -> Path:
    results = tmp_path / "results"
    run(tiny(tiny_backbone), results, show_progress=False)
    return results




def test_read_only_results_directory_fails_before_training(tiny_backbone, readonly_dir):
    start = time.perf_counter()
    with pytest.raises(BenchError, match="is not writable"):
        run(tiny(tiny_backbone, budget=50), readonly_dir / "results", show_progress=False)
    assert time.perf_counter() - start < 60  # it did not train 50 kimg first


def test_write_failing_part_way_leaves_no_half_record(tiny_backbone, stored_run, monkeypatch):
    before = snapshot(stored_run)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", disk_full)
    with pytest.raises(BenchError, match="could not write .*record.json: No space left on device"):
        run(tiny(tiny_backbone, seed=1), stored_run, show_progress=False)
    after = snapshot(stored_run)
    assert {k: v for k, v in after.items() if k in before} == before
    assert not [k for k in after if k.endswith("record.json") and k not in before]
    assert not [k for k in after if k.endswith(".tmp")]


def test_truncated_safetensors_backbone(tiny_backbone, stored_run, tmp_path):
    before = snapshot(stored_run)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(tiny_backbone.read_bytes()[:1000])
    with pytest.raises(BenchError, match="not a readable safetensors file"):
        run(tiny(broken), stored_run, show_progress=False)
    assert snapshot(stored_run) == before


def test_checkpoint_of_another_architecture(tiny_backbone, stored_run, tmp_path):
    """Weights of one network under the card of another: refused with the mismatch named."""
    from helpers import write_tiny_backbone
    from harness.backbones.files import load_weights, save_weights

    other = write_tiny_backbone(tmp_path / "other.safetensors", model_channels=32)
    state, _ = load_weights(other)
    _, card = load_weights(tiny_backbone)
    save_weights(state, tmp_path / "mixed.safetensors", card)
    before = snapshot(stored_run)
    with pytest.raises(BenchError, match="weights do not fit EDMPrecond"):
        run(tiny(tmp_path / "mixed.safetensors"), stored_run, show_progress=False)
    assert snapshot(stored_run) == before


def test_two_runs_at_once_into_one_results_directory(tiny_backbone, tmp_path):
    results = tmp_path / "shared"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["--method", "gan_only", "--budget-kimg", "0.3", "--device", "cpu", "--num-samples", "100",
            "--set", "train.batch_size=32", "--set", "d_width=16", "--backbone", str(tiny_backbone),
            "--results", str(results), "--quiet"]
    procs = [subprocess.Popen([sys.executable, "-m", "harness.cli", "run", *args, "--seed", "7"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outputs]
    paths = [Path(o[0].strip().splitlines()[-1]) for o in outputs]
    assert paths[0] != paths[1]
    records = [json.loads(p.read_text()) for p in paths]
    assert all(r["status"] == "completed" for r in records)
    assert [m["value"] for m in records[0]["metrics"]] == [m["value"] for m in records[1]["metrics"]]


class Exploit:
    """A pickle payload that would create a marker file if it were ever unpickled naively."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_backbone_is_refused_and_nothing_runs(stored_run, tmp_path):
    import pickle

    marker = tmp_path / "pwned"
    hostile = tmp_path / "hostile.pkl"
    hostile.write_bytes(pickle.dumps({"ema": Exploit(marker)}))
    before = snapshot(stored_run)
    with pytest.raises(BenchError, match="system"):
        run(tiny(hostile), stored_run, show_progress=False)
    assert not marker.exists()
    assert snapshot(stored_run) == before
