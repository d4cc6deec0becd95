#!/usr/bin/env bash
# A study of one option: a sweep of VARIANTS (sweep.py's NAME=ARGS, one a line; the first is the report's
# baseline) of the JAX script on each env of BUDGETS at its own --total-timesteps, SEEDS seeds, then the report
# comparing the variants in RESULTS and the command that made it in RESULTS/command.txt. The studies call it with
# their settings (benchmark/ddpg_noise.sh, benchmark/ddpg_n_step.sh); STUDY names the one for command.txt.
#
# Settings (environment variables): VARIANTS, BUDGETS (ENV=STEPS words, the one place for the envs and their
# budgets), SEEDS (10), WORKERS (runs at once; default one per core), OUT, RESULTS, SLURM (1: one array job per env)
# and SBATCH_ARGS, CHECKPOINT_FREQUENCY (10000) and TIME_LIMIT_WARNING as in benchmark/ddpg.sh, COMMON_ARGS (the
# arguments every run gets; below). Every env's sweep goes into the one OUT
# (OUT/{variant}/ddpg_continuous_action_jax/{env}/seed{N}/, variants listed in OUT/variants.json), so one report
# covers them all. Run it again to resume, as benchmark/ddpg.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${STUDY:?} ${VARIANTS:?} ${BUDGETS:?} ${OUT:?} ${RESULTS:?}"
# the studies' protocol, unless given: 10 seeds, learning from step 2,000, evaluated every 5,000 steps (5 episodes)
COMMON_ARGS=${COMMON_ARGS:-"--learning-starts 2000 --eval-frequency 5000 --eval-episodes 5"}
export SEEDS=${SEEDS:-10}
export CHECKPOINT_FREQUENCY=${CHECKPOINT_FREQUENCY:-10000}  # runs of 10k-30k steps
export VARIANTS
export SCRIPTS=ddpg_continuous_action_jax.py  # the question is about the option, not the framework
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
        "WORKERS=${WORKERS:-$(nproc)} OUT=$OUT RESULTS=$RESULTS bash $STUDY  # on $(nproc) cores" \
        > "$RESULTS/command.txt"
fi
exit $status
