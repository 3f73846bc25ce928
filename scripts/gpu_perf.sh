#!/usr/bin/env bash
# Issue #8's device checks in one go: bash scripts/gpu_perf.sh OUT_DIR
# (gan_only images/s and FID-50k timing -> OUT_DIR/gpu_perf.json; the benchmarks -> OUT_DIR/benchmarks.json).
set -euo pipefail
out="${1:?usage: scripts/gpu_perf.sh OUT_DIR}"
mkdir -p "$out"
export BENCH_OFFLINE=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$out/card.txt"
python scripts/gpu_perf.py "$out" 2>&1 | tee "$out/gpu_perf.log"
python -m pytest -q tests/benchmarks --benchmark-only --benchmark-json="$out/benchmarks.json" 2>&1 | tee "$out/benchmarks.log"
