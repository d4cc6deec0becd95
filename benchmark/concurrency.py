"""Runs at a time on this machine: the training steps per second of all runs together, one run with every core
against several side by side with a share each (the share sweep.py gives them), for each script.

    python benchmark/concurrency.py --out benchmark/results/concurrency

Each measurement starts its runs at once (Hopper-v4, the defaults but learning from step --learning-starts, no
evaluation or diagnostics) and adds up their rates over the same window (speed.py's, from the TensorBoard wall
times). Repeats go round-robin over the settings, so that a slow spell of the machine hits each of them; the table
gives the median of the repeats, and the ratio of each setting to one run at a time.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from report_tables import write_csv
from speed import ROOT, SCRIPTS, logged_rate
from sweep import thread_share


def total_rate(script: str, runs: int, learning_starts: int, warmup: int, steps: int) -> float:
    """Steps/s of `runs` runs of the script started together, each with cores/runs threads, added up."""
    threads = max(1, (os.cpu_count() or 1) // runs)
    env = {**os.environ, **thread_share(threads)}
    total = learning_starts + warmup + steps
    args = ["--env-id", "Hopper-v4", "--total-timesteps", str(total), "--learning-starts", str(learning_starts)]
    args += ["--eval-episodes", "0", "--diagnostics-frequency", "0"]
    with tempfile.TemporaryDirectory() as tmp:
        cwds = [Path(tmp) / str(i) for i in range(runs)]
        processes = []
        for seed, cwd in enumerate(cwds, start=1):
            cwd.mkdir()
            command = [sys.executable, str(ROOT / script), *args, "--seed", str(seed)]
            processes.append(subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL))
        if any(process.wait() for process in processes):
            raise RuntimeError(f"a run of {script} failed")
        return sum(logged_rate(next((cwd / "runs").iterdir()), learning_starts + warmup) for cwd in cwds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where the CSV and the table go")
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 2], help="runs at a time to compare")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--learning-starts", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=500, help="training steps left out (JIT compilation)")
    parser.add_argument("--steps", type=int, default=4_000, help="training steps measured")
    args = parser.parse_args(argv)

    rates = {(name, runs): [] for name in SCRIPTS for runs in args.runs}
    for repeat in range(args.repeats):
        for (name, runs), values in rates.items():
            values.append(total_rate(SCRIPTS[name], runs, args.learning_starts, args.warmup, args.steps))
            print(f"repeat {repeat + 1}/{args.repeats}: {name}, {runs} at a time: {values[-1]:.1f} steps/s", flush=True)
    rows = []
    for (name, runs), values in rates.items():
        alone = np.median(rates[(name, args.runs[0])])
        rows.append({
            "script": name, "runs_at_a_time": runs, "threads_each": max(1, (os.cpu_count() or 1) // runs),
            "total_steps_per_s_median": round(float(np.median(values)), 1),
            "total_steps_per_s_repeats": " ".join(f"{v:.1f}" for v in values),
            f"vs_{args.runs[0]}_at_a_time": round(float(np.median(values) / alone), 2),
        })  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "concurrency.csv", rows)
    header = "| " + " | ".join(rows[0]) + " |\n" + "|---" * len(rows[0]) + "|\n"
    table = header + "".join("| " + " | ".join(map(str, row.values())) + " |\n" for row in rows)
    command = "python benchmark/concurrency.py " + " ".join(sys.argv[1:] if argv is None else argv)
    context = f"    {command}\n\nHopper-v4, {args.steps} training steps a run, {os.cpu_count()} cores; medians of "
    context += f"{args.repeats} repeats, round-robin\n"
    (args.out / "concurrency.md").write_text(context + "\n" + table)
    print("\n" + context + "\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
