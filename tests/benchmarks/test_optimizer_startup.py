"""What torch.optim costs a training process, against harness/optimizers.py (issue #26: the quick
start's time, and the ~20 training processes the suite starts).

Building any ``torch.optim.Optimizer`` imports ``torch._dynamo``. The same tiny `bench run` through
the entry point's function, once as it is (``harness``) and once with gan_only's ``Adam`` swapped back
for ``torch.optim.Adam`` (``torch.optim``); the records' metrics agree (the updates are the same
functions). Seconds per process land in the benchmark's stats.

``python -m pytest tests/benchmarks/test_optimizer_startup.py --benchmark-only -n 0``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import write_tiny_backbone

MAIN = ("import sys, torch\n"
        "if sys.argv.pop(1) == 'torch.optim':\n"
        "    import baselines.gan_only as gan_only; gan_only.Adam = torch.optim.Adam\n"
        "from harness.cli import main; sys.argv = ['bench', *sys.argv[1:]]; main()\n")


@pytest.mark.parametrize("optimizers", ["harness", "torch.optim"])
def test_seconds_per_tiny_training_process(benchmark, optimizers, tmp_path):
    backbone = write_tiny_backbone(tmp_path / "tiny.safetensors")
    args = ["run", "--method", "gan_only", "--dataset", "digits", "--backbone", str(backbone), "--device", "cpu",
            "--budget-kimg", "0.1", "--num-samples", "100", "--set", "train.batch_size=32", "--set", "d_width=16",
            "--set", "eval.batch_size=100", "--quiet", "--threads", "1"]
    fds = []

    def one_run() -> None:
        out = subprocess.run([sys.executable, "-c", MAIN, optimizers, *args, "--results", str(tmp_path / f"r{len(fds)}")],
                             capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
        record = json.loads(open(out.stdout.strip().splitlines()[-1]).read())
        fds.append(record["metrics"][0]["value"])

    benchmark.pedantic(one_run, rounds=3, iterations=1)
    assert len(set(fds)) == 1
    benchmark.extra_info["fd"] = fds[0]
