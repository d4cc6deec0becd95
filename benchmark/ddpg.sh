#!/usr/bin/env bash
# The full benchmark of the reference table: HalfCheetah, Walker2d, Hopper, InvertedPendulum, Humanoid (v4) and
# Pusher-v5 (Pusher-v4 needs mujoco<3), 1M steps, SEEDS seeds, both scripts; then the report.
#
#   bash benchmark/ddpg.sh                                  # here, WORKERS runs at a time
#   SLURM=1 SBATCH_ARGS="--cpus-per-task=2 --mem=8G --time=24:00:00" bash benchmark/ddpg.sh   # one array job
#
# Settings (environment variables): SEEDS (3), WORKERS (runs at once; default one per core), OUT
# (benchmark/runs/ddpg), SLURM (1: submit to Slurm), SBATCH_ARGS (resources, partition, account).
# Run it again to resume: finished runs are skipped. Runs that fail are listed and the others go on.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmark/runs/ddpg}
ENVS="HalfCheetah-v4 Walker2d-v4 Hopper-v4 InvertedPendulum-v4 Humanoid-v4 Pusher-v5"
exec bash benchmark/run_sweep.sh "$OUT" "$ENVS" benchmark/results/ddpg -- --total-timesteps 1000000
