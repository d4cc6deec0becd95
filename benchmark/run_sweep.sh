#!/usr/bin/env bash
# run_sweep.sh OUT "ENV ..." REPORT_DIR -- SCRIPT_ARGS...: one sweep of the scripts x ENVs x SEEDS (x variants),
# here or on Slurm (see benchmark/ddpg.sh for the settings); on this machine, the report follows when REPORT_DIR is
# given. Besides ddpg.sh's settings: SCRIPTS (space-separated, e.g. ddpg_continuous_action_jax.py; default both)
# and VARIANTS (sweep.py's --variants, NAME=ARGS each, separated by newlines or ;), e.g.
#   VARIANTS="gaussian=--exploration-noise-type gaussian; ou=--exploration-noise-type ou"
# Exit code: sweep.py's (0 all done, 1 a run failed, 75 not complete: run it again).
set -euo pipefail
out=$1 envs=$2 report=$3
shift 4
options=(--seeds "${SEEDS:-3}" --workers "${WORKERS:-$(nproc)}")
# left unset: sweep.py's defaults
# shellcheck disable=SC2206  # SCRIPTS is a space-separated list
[ -n "${SCRIPTS:-}" ] && options+=(--scripts $SCRIPTS)
if [ -n "${VARIANTS:-}" ]; then  # one a line, without the spaces around it
    mapfile -t variants < <(tr ';' '\n' <<< "$VARIANTS" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//; /^$/d')
    options+=(--variants "${variants[@]}")
fi
[ -n "${THREADS:-}" ] && options+=(--threads "$THREADS")
[ -n "${CHECKPOINT_FREQUENCY:-}" ] && options+=(--checkpoint-frequency "$CHECKPOINT_FREQUENCY")
[ -n "${TIME_LIMIT_WARNING:-}" ] && options+=(--time-limit-warning "$TIME_LIMIT_WARNING")
[ "${SLURM:-0}" = 1 ] && options+=(--slurm "--sbatch-args=${SBATCH_ARGS:-}")
status=0
# shellcheck disable=SC2086  # ENVs are a space-separated list
python benchmark/sweep.py --out "$out" --envs $envs "${options[@]}" -- "$@" || status=$?
if [ -n "$report" ] && [ "${SLURM:-0}" != 1 ]; then
    python benchmark/report.py "$out" --out "$report"
elif [ -n "$report" ]; then
    echo "when the array job is over: python benchmark/report.py $out --out $report"
fi
exit $status
