#!/usr/bin/env bash
# The full benchmark of the reference table: HalfCheetah, Walker2d, Hopper, InvertedPendulum and Humanoid (v4),
# 1M steps, SEEDS seeds, both scripts; then the report. The table's sixth env, Pusher-v4, builds only with
# mujoco<3: run it with ENVS=Pusher-v4 from an environment that has mujoco 2.3.7 (the README's recipe).
#
#   bash benchmark/ddpg.sh                                  # here, WORKERS runs at a time
#   SLURM=1 SBATCH_ARGS="--cpus-per-task=2 --mem=8G --time=24:00:00" bash benchmark/ddpg.sh   # one array job
#
#   ENVS="HalfCheetah-v4 Walker2d-v4 Hopper-v4" CHECKPOINT_FREQUENCY=50000 OUT=/scratch/ddpg bash benchmark/ddpg.sh
#
# Settings (environment variables): ENVS (the envs, space-separated; default the five above), SEEDS (3), WORKERS
# (runs at once; default one per core), THREADS (each run's threads here; default cores/WORKERS), OUT
# (benchmark/runs/ddpg), SLURM (1: submit to Slurm), SBATCH_ARGS (resources, partition, account, time limit),
# CHECKPOINT_FREQUENCY (steps between checkpoints; sweep.py's default, 100000, when unset; 0: none) and
# TIME_LIMIT_WARNING (Slurm: seconds before the time limit at which a run checkpoints; default 300).
#
# Run it again to resume: finished runs are skipped, the others go on from their last checkpoint (or start
# again if they have none). Runs that fail are listed and the others go on. SIGTERM or SIGUSR1 to the process
# of benchmark/sweep.py stops its runs at their next episode end, each with a checkpoint (marked `stopped`).
#
# On Slurm, nothing more to pass: sweep.py submits the array job with --requeue, --open-mode=append and
# --signal=B:USR1@TIME_LIMIT_WARNING. A preempted or requeued task gets SIGTERM, checkpoints within KillWait
# (30 s by default) and comes back by itself (Slurm delays a requeued task by cred_expire + 1 s, 121 s by
# default); at the time limit's warning the run checkpoints and the task requeues itself, so a --time shorter
# than a run is fine: the run goes on in the next allocation. `scancel` stops a task for good.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmark/runs/ddpg}
ENVS=${ENVS:-"HalfCheetah-v4 Walker2d-v4 Hopper-v4 InvertedPendulum-v4 Humanoid-v4"}
exec bash benchmark/run_sweep.sh "$OUT" "$ENVS" benchmark/results/ddpg -- --total-timesteps 1000000
