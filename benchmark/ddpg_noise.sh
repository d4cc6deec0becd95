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
# Settings (environment variables): BUDGETS (ENV=STEPS words, the one place for the envs and their budgets),
# SEEDS, WORKERS (runs at once; default one per core), OUT (benchmark/runs/noise), RESULTS (the report's
# directory), SLURM (1: one array job per env) and SBATCH_ARGS, CHECKPOINT_FREQUENCY (10000) and
# TIME_LIMIT_WARNING as in benchmark/ddpg.sh, COMMON_ARGS (the arguments every run gets). Every env's sweep goes
# into the one OUT (OUT/{variant}/ddpg_continuous_action_jax/{env}/seed{N}/, variants listed in
# OUT/variants.json), so one report covers them all. Run it again to resume, as benchmark/ddpg.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmark/runs/noise}
RESULTS=${RESULTS:-benchmark/results/noise}
BUDGETS=${BUDGETS:-"Pendulum-v1=10000 MountainCarContinuous-v0=30000 HalfCheetah-v4=30000"}
COMMON_ARGS=${COMMON_ARGS:-"--learning-starts 2000 --eval-frequency 5000 --eval-episodes 5"}
export SEEDS=${SEEDS:-10}
export CHECKPOINT_FREQUENCY=${CHECKPOINT_FREQUENCY:-10000}  # runs of 10k-30k steps
export SCRIPTS=ddpg_continuous_action_jax.py
# the variants, in order (the first, the default, is the report's baseline): NAME=ARGS a line
VARIANTS=$(for noise in gaussian ou param; do echo "$noise=--exploration-noise-type $noise"; done)
export VARIANTS
status=0
for budget in $BUDGETS; do  # one sweep per env, as each has its own --total-timesteps
    code=0
    # shellcheck disable=SC2086  # COMMON_ARGS is a space-separated list
    bash benchmark/run_sweep.sh "$OUT" "${budget%=*}" "" -- --total-timesteps "${budget#*=}" $COMMON_ARGS || code=$?
    case $code in  # as sweep.py's: 1 when a run failed, else 75 when one is not complete (run it again)
        0) ;;
        75) [ "$status" = 1 ] || status=75 ;;
        *) status=1 ;;
    esac
done
if [ "${SLURM:-0}" = 1 ]; then
    echo "when the array jobs are over: python benchmark/report.py $OUT --out $RESULTS"
else
    python benchmark/report.py "$OUT" --out "$RESULTS"
    # the command with every setting that decides the numbers (provenance.md, beside it, has the scripts' commit)
    echo "SEEDS=$SEEDS BUDGETS=\"$BUDGETS\" COMMON_ARGS=\"$COMMON_ARGS\" CHECKPOINT_FREQUENCY=$CHECKPOINT_FREQUENCY" \
        "WORKERS=${WORKERS:-$(nproc)} OUT=$OUT RESULTS=$RESULTS bash benchmark/ddpg_noise.sh  # on $(nproc) cores" \
        > "$RESULTS/command.txt"
fi
exit $status
