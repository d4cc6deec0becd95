"""When did each run of a sweep first succeed? Per finished run of one env: the first env step at which a
training episode's return exceeded THRESHOLD (empty: never), read from the run's TensorBoard log, as a CSV, and
a line per variant and script. The noise study asks it of MountainCarContinuous, where a return above 0 needs
the goal's +100 (the README's budgets and the rescaled env's results):

    python benchmark/first_success.py benchmark/runs/noise --env-id MountainCarContinuous-v0 --threshold 0 \\
        --out benchmark/results/noise/first_goal.csv
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report_runs import find_runs, read_run  # noqa: E402
from report_tables import write_csv  # noqa: E402


def first_successes(sweep: Path, env_id: str, threshold: float) -> list:
    rows = []
    for run in find_runs(sweep):
        if run.env_id == env_id:
            steps, returns = read_run(run.run_dir)["train"]
            above = steps[returns > threshold]
            rows.append({"variant": run.variant, "script": run.script, "seed": run.seed,
                         "first_step": int(above[0]) if above.size else ""})  # fmt: skip
    return rows


def summary(rows: list) -> list:
    lines = []
    for group in dict.fromkeys((row["variant"], row["script"]) for row in rows):
        steps = [row["first_step"] for row in rows if (row["variant"], row["script"]) == group]
        found = [step for step in steps if step != ""]
        span = f", first at steps {min(found)}-{max(found)}" if found else ""
        lines.append(f"{' '.join(filter(None, group))}: {len(found)} of {len(steps)} runs{span}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path, help="the sweep's OUT directory")
    parser.add_argument("--env-id", required=True, help="the env whose runs to read")
    parser.add_argument("--threshold", type=float, required=True, help="a training return above it is a success")
    parser.add_argument("--out", type=Path, required=True, help="the CSV to write")
    args = parser.parse_args(argv)
    rows = first_successes(args.sweep, args.env_id, args.threshold)
    if not rows:
        print(f"error: no finished run of {args.env_id} in {args.sweep}; check the sweep directory and --env-id")
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(args.out, rows)
    print("\n".join(summary(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
