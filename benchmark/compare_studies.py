"""Two runs of one study compared, variant by variant: does a setting that every run of one of them had (an option
added to the launcher's COMMON_ARGS, say) change what each variant reaches? Reads the two reports' runs.csv (one
final return per run), and compares the same variant, env, script and protocol of NEW against BASELINE with
report.py's statistics, two-sided, one Holm family per script and protocol; writes the table as report.py writes
its comparisons (OUT.md, OUT.csv). Two sweeps without variants (their runs.csv have no variant column) are compared
env by env; a sweep without variants has no counterpart in a study with them. The observation-normalisation
experiment of the noise study:

    python benchmark/compare_studies.py benchmark/results/noise/normalized/runs.csv \\
        benchmark/results/noise/runs.csv --names normalised raw --out benchmark/results/noise/normalized/against_raw
"""

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report_compare import compare_groups, corrected, grouped_finals  # noqa: E402
from report_runs import has_variants  # noqa: E402
from report_stats import COMPARISON_SAMPLES  # noqa: E402
from report_tables import write_comparison  # noqa: E402

COLUMNS = ("env_id", "variant", "script", "protocol")  # the env first and the protocol last, as compare_groups needs


def final_returns(runs_csv: Path) -> list:
    with open(runs_csv, newline="") as f:
        return [{"variant": "", **row, "final_return": float(row["final_return"])} for row in csv.DictReader(f)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("new", type=Path, help="the runs.csv of the study with the setting")
    parser.add_argument("baseline", type=Path, help="the runs.csv of the study without it")
    parser.add_argument("--names", nargs=2, default=["new", "baseline"], metavar=("NEW", "BASELINE"))
    parser.add_argument("--out", type=Path, required=True, help="the table's path, without .md or .csv")
    parser.add_argument("--bootstrap-reps", type=int, default=COMPARISON_SAMPLES)
    args = parser.parse_args(argv)
    runs = [final_returns(path) for path in (args.new, args.baseline)]
    columns = COLUMNS if any(map(has_variants, runs)) else tuple(c for c in COLUMNS if c != "variant")
    new, baseline = (grouped_finals(rows, columns) for rows in runs)
    rows = corrected(compare_groups(new, baseline, columns, *args.names, "two-sided", args.bootstrap_reps))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_comparison(args.out, rows, columns, *args.names, "two-sided")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
