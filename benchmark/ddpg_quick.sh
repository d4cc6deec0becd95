#!/usr/bin/env bash
# A quick benchmark, under an hour on 2 cores: Pendulum-v1, InvertedPendulum-v4, Hopper-v4 and HalfCheetah-v4 at
# reduced budgets (learning from step 5,000), SEEDS seeds (5: the fewest at which report.py's two-sided comparison
# of the scripts can find a difference is 4), both scripts; then the report in
# benchmark/results/quick/. Same settings and resuming as benchmark/ddpg.sh; checkpoints every 10,000 steps.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmark/runs/quick}
export SEEDS=${SEEDS:-5}
export CHECKPOINT_FREQUENCY=${CHECKPOINT_FREQUENCY:-10000}  # runs of 15k-50k steps
COMMON="--learning-starts 5000 --eval-frequency 5000 --eval-episodes 10"
status=0
bash benchmark/run_sweep.sh "$OUT/short" "Pendulum-v1" "" -- --total-timesteps 15000 $COMMON || status=1
bash benchmark/run_sweep.sh "$OUT/medium" "InvertedPendulum-v4" "" -- --total-timesteps 25000 $COMMON || status=1
bash benchmark/run_sweep.sh "$OUT/long" "Hopper-v4 HalfCheetah-v4" "" -- --total-timesteps 50000 $COMMON || status=1
if [ "${SLURM:-0}" = 1 ]; then
    echo "when the array jobs are over: python benchmark/report.py $OUT --out benchmark/results/quick"
else
    python benchmark/report.py "$OUT" --out benchmark/results/quick
fi
exit $status
