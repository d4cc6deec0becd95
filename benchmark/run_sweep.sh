#!/usr/bin/env bash
# run_sweep.sh OUT "ENV ..." REPORT_DIR -- SCRIPT_ARGS...: one sweep of both scripts x ENVs x SEEDS, here or on
# Slurm (see benchmark/ddpg.sh for the settings); on this machine, the report follows when REPORT_DIR is given.
set -euo pipefail
out=$1 envs=$2 report=$3
shift 4
options=(--seeds "${SEEDS:-3}" --workers "${WORKERS:-$(nproc)}")
# left unset: sweep.py's defaults
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
