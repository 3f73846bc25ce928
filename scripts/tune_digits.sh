#!/usr/bin/env bash
# Equal tuning effort on digits (issue #19): every trained method gets the same Optuna study —
# TRIALS trials at TUNE_KIMG kimg, seed 100, trials scored on held-out sample seeds 1,000,000.. —
# then its best settings re-run at RERUN_KIMG kimg on seeds 0,1,2 (measured on seeds 0..1,999, like
# the default rows), and `bench report` rebuilds tables/ (tables/tuned.md: default vs tuned).
#
#   scripts/tune_digits.sh                 # everything, one method after another
#   JOBS=2 scripts/tune_digits.sh          # two methods at a time
#   METHODS="gan_only dmd" TRIALS=4 scripts/tune_digits.sh
#
# Stopped or killed, the same command continues: finished trials and re-runs are kept, a killed
# trial continues from its checkpoint once its heartbeat is stale (2 x 60 s), and studies live in
# results/tuning/<dataset>-<method>-<kimg>kimg.db (optuna-dashboard sqlite:///results/tuning/NAME.db).
set -euo pipefail
cd "$(dirname "$0")/.."

METHODS=${METHODS:-"gan_only gan_only_frozen progressive_distillation consistency_distillation dmd"}
TRIALS=${TRIALS:-12}
TUNE_KIMG=${TUNE_KIMG:-5}
RERUN_KIMG=${RERUN_KIMG:-20}
RERUN_SEEDS=${RERUN_SEEDS:-0,1,2}
JOBS=${JOBS:-1}
RESULTS=${RESULTS:-results}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # the thread count the stored digits records use

BENCH=${BENCH:-bench}
printf '%s\n' $METHODS | xargs -P "$JOBS" -I{} \
  $BENCH tune --method {} --dataset digits --budget-kimg "$TUNE_KIMG" --trials "$TRIALS" --seed 100 \
    --rerun-seeds "$RERUN_SEEDS" --rerun-budget-kimg "$RERUN_KIMG" --results "$RESULTS" --device cpu --quiet
$BENCH report --results "$RESULTS" --out "${TABLES:-tables}"
