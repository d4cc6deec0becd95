#!/usr/bin/env bash
# The exploration-noise study: does --exploration-noise-type gaussian, ou or param learn better? One variant of
# the sweep per noise type, the JAX script only (about 1.3x the PyTorch one's speed here, and the question is
# about the option, not the framework), SEEDS seeds (10), learning from step 2,000, evaluated every 5,000 steps
# (5 episodes), checkpoints every 10,000 steps, at these budgets:
#
#   Pendulum-v1 10,000 steps, MountainCarContinuous-v0 30,000, HalfCheetah-v4 30,000
#
# then the report, comparing the variants, in benchmark/results/noise/ (RESULTS). 77 minutes on 2 cores here.
# Why 10 seeds: the report corrects for the 8 comparisons of a study (Holm), and with 5 seeds a side the smallest
# p-value of one env's comparison (2/252) can never pass Holm's first threshold (0.05/8): only 10 can give a
# per-env answer (benchmark/results/calibration/variants.txt). The budgets fit 10 seeds in 90 minutes; why they
# are enough for the question, and the answer: README, "Exploration noise, measured here".
#
#   bash benchmark/ddpg_noise.sh
#   SEEDS=20 WORKERS=4 OUT=/scratch/noise bash benchmark/ddpg_noise.sh
#   SLURM=1 SBATCH_ARGS="--cpus-per-task=1 --mem=8G --time=2:00:00" bash benchmark/ddpg_noise.sh
#   BUDGETS="Hopper-v4=100000 Walker2d-v4=100000" bash benchmark/ddpg_noise.sh   # other envs or budgets
#
# Settings: benchmark/ddpg_variants.sh's, which runs the study; here OUT is benchmark/runs/noise and RESULTS
# benchmark/results/noise unless given. Run it again to resume.
set -euo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-benchmark/runs/noise} RESULTS=${RESULTS:-benchmark/results/noise}
export BUDGETS=${BUDGETS:-"Pendulum-v1=10000 MountainCarContinuous-v0=30000 HalfCheetah-v4=30000"}
# the variants, in order (the first, the default, is the report's baseline): NAME=ARGS a line
VARIANTS=$(for noise in gaussian ou param; do echo "$noise=--exploration-noise-type $noise"; done)
export VARIANTS STUDY=benchmark/ddpg_noise.sh
exec bash benchmark/ddpg_variants.sh
