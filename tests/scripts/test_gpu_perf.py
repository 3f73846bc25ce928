"""scripts/gpu_perf.py's bookkeeping on the CPU (its measurements run in `scripts/device/rehearse`):
parts already in the JSON are kept, parts not started before --deadline-min are marked and left
for the next run, and a run with only such parts left exits 0 with "complete": false."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_kept_parts_and_deadline(tmp_path: Path) -> None:
    kept = {"torch": "sentinel, not re-measured"}
    (tmp_path / "gpu_perf.json").write_text(json.dumps({"smoke": True, "device_type": "cpu", "card": kept}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BENCH_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_perf.py"), "--out", str(tmp_path), "--smoke",
                           "--device", "cpu", "--deadline-min", "1e-9"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_perf.json").read_text())
    assert report["card"] == kept and report["complete"] is False
    assert report["train_eager"]["skipped"] == "deadline" and report["fid50k"]["skipped"] == "deadline"
    assert "train_compiled" not in report  # --smoke does not compile
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu_perf.json"]  # scratch files stay out of OUT
