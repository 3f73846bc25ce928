"""Two CPU processes under torchrun (gloo): the same training as one process on the whole batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import write_tiny_backbone

HERE = Path(__file__).parent


def torchrun(*args: str) -> subprocess.CompletedProcess:
    """Two ranks on this machine. ``--standalone``: torchrun's rendezvous store binds a free port itself
    (a port picked here and bound there later can be taken in between by another test's process)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), str(HERE)])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_two_ranks_write_one_record_and_count_the_budget_over_both(tiny_backbone, tmp_path):
    results = tmp_path / "results"
    proc = torchrun("-m", "harness.cli", "run", "--method", "gan_only", "--dataset", "digits", "--device", "cpu",
                    "--backbone", str(tiny_backbone), "--budget-kimg", "0.128", "--num-samples", "100",
                    "--set", "train.batch_size=32", "--set", "d_width=16", "--set", "eval.batch_size=100",
                    "--set", "checkpoint_kimg=0.064", "--results", str(results), "--quiet")
    records = list(results.rglob("record.json"))
    seen = f"stdout: {proc.stdout[-1500:]}\nstderr: {proc.stderr[-2500:]}\nfiles: {sorted(results.rglob('*'))}"
    assert len(records) == 1 and proc.stdout.strip().splitlines()[-1] == str(records[0]), seen
    assert len(list(results.rglob("state.safetensors"))) == 1 and len(list(results.iterdir())) == 1, seen
    record = json.loads(records[0].read_text())
    assert record["status"] == "completed", seen
    assert record["training"]["images_seen"] == 128 and record["training"]["steps"] == 4  # 4 x 32 over 2 ranks
    assert record["distributed"] == {"world_size": 2, "backend": "gloo", "batch_per_rank": 16}
    deprecated = [w for w in ("FutureWarning", "DeprecationWarning") if w in proc.stderr]  # e.g. broadcast_buffers'
    assert not deprecated, proc.stderr[-2000:]


@pytest.fixture(scope="module")
def two_rank_worker(tmp_path_factory) -> tuple[Path, Path]:
    """One torchrun launch of ddp_grads_worker.py: the first step's gradients and the replica report."""
    out = tmp_path_factory.mktemp("ddp")
    backbone = write_tiny_backbone(out / "tiny.safetensors")
    torchrun(str(HERE / "ddp_grads_worker.py"), str(backbone), str(out), "dmd", "progressive_distillation")
    return backbone, out


def test_first_step_gradients_equal_single_process_on_the_global_batch(two_rank_worker):
    from safetensors.torch import load_file

    import ddp_grads_worker as worker
    from harness import distributed

    backbone, out = two_rank_worker
    two = load_file(out / "grads.safetensors")
    one = worker.flat(worker.first_step(str(backbone), distributed.Rank()))
    assert one.keys() == two.keys() and any(k.startswith("generator/") for k in one)
    assert any(k.startswith("discriminator/") for k in one)
    for key in one:
        assert torch.allclose(one[key], two[key], rtol=0, atol=1e-5), (key, (one[key] - two[key]).abs().max())


def test_every_trained_network_is_wrapped_in_ddp_and_the_replicas_stay_equal(two_rank_worker):
    """Ranks train on different images and noise; only averaged gradients keep their weights equal.

    DMD wraps its generator and fake score (and clips the averaged gradient), progressive
    distillation its student, whose copy becomes the next round's teacher (a deepcopy of the wrapper).
    """
    report = json.loads((two_rank_worker[1] / "replicas.json").read_text())
    assert report["dmd"]["wrapped"] == ["G", "fake_score"]
    assert report["progressive_distillation"]["wrapped"] == ["student"]
    assert report["progressive_distillation"]["extra_state"]["round"] >= 1  # a round change happened
    for name, facts in report.items():
        assert facts["spread"] == 0.0, (name, facts["spread"])


def test_buffers_are_left_unsynced_per_forward_with_the_name_this_torch_knows() -> None:
    """torch 2.14 deprecates ``broadcast_buffers`` (a FutureWarning in every DDP run) for
    ``forward_sync_buffers``; torch 2.11, on the GPU machines, has only the old name."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    from harness.distributed import no_buffer_sync_each_forward

    known = inspect.signature(DistributedDataParallel.__init__).parameters
    ((name, value),) = no_buffer_sync_each_forward().items()
    assert value is False and name in known
    assert name == ("forward_sync_buffers" if "forward_sync_buffers" in known else "broadcast_buffers")
