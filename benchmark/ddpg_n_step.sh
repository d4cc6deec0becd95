#!/usr/bin/env bash
# The n-step study: does --n-step 3 or 5 learn better than DDPG's 1-step target? One variant of the sweep per n
# (n1, the default, is the baseline), the JAX script only, SEEDS seeds (10), learning from step 2,000, evaluated
# every 5,000 steps (5 episodes), checkpoints every 10,000 steps, at these budgets:
#
#   Pendulum-v1 10,000 steps, Hopper-v4 30,000, HalfCheetah-v4 30,000
#
# then the report, comparing the variants, in benchmark/results/n_step/ (RESULTS). Why 10 seeds: as for the noise
# study (benchmark/ddpg_noise.sh), the fewest at which one env's comparison can pass the Holm correction; the
# budgets fit them in about 90 minutes on 2 cores. The answer, and the budget it holds for: README, "n-step
# returns, measured here".
#
#   bash benchmark/ddpg_n_step.sh
#   SEEDS=20 WORKERS=4 OUT=/scratch/n_step bash benchmark/ddpg_n_step.sh
#   BUDGETS="Hopper-v4=300000 Walker2d-v4=300000" bash benchmark/ddpg_n_step.sh   # other envs or budgets
#
# Settings: benchmark/ddpg_variants.sh's, which runs the study; here OUT is benchmark/runs/n_step and RESULTS
# benchmark/results/n_step unless given. Run it again to resume.
set -euo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-benchmark/runs/n_step} RESULTS=${RESULTS:-benchmark/results/n_step}
export BUDGETS=${BUDGETS:-"Pendulum-v1=10000 Hopper-v4=30000 HalfCheetah-v4=30000"}
# the variants, in order (the first, the default, is the report's baseline): NAME=ARGS a line
VARIANTS=$(for n in 1 3 5; do echo "n$n=--n-step $n"; done)
export VARIANTS STUDY=benchmark/ddpg_n_step.sh
exec bash benchmark/ddpg_variants.sh
