"""How long a run takes from a stop signal (Slurm's SIGTERM before preemption) to its exit, in the worst case: the
whole of an episode still to come, an evaluation falling due in it, and a checkpoint with a full 1M-transition
Humanoid-v4 buffer; for both scripts, and for an earlier checkout's (--before) beside them.

    python benchmark/stop_latency.py --out benchmark/results/stop_latency --before CHECKOUT

Slurm sends SIGKILL KillWait seconds (slurm.conf; 30 by default) after SIGTERM: a run must exit well within them.
Each run is a fresh process of the script, as its __main__ runs it (parse_args, then train), with two changes made
from outside: its ReplayBuffer counts as full from the start (its arrays are preallocated, every page written, so
the checkpoint holds and writes all of them), and its `evaluate` and `save_checkpoint` print the clock at their
start and end. The env is HumanoidFullEpisodes-v4 (benchmark/envs.py): Humanoid-v4 whose episodes, like a trained
humanoid's, last their 1,000 steps, in training and in evaluation. The run learns from --learning-starts, evaluates
every --eval-frequency steps (10 episodes, the default), and checkpoints only on the signal, which this process
sends on the first progress line after --signal-after (an episode start): the run goes on to the episode's end,
an evaluation falling due on the way (unless the run defers it to the resumed run), then writes its checkpoint
(fsync included) and exits with 75.

All times come from one clock, time.monotonic() (CLOCK_MONOTONIC, the same in every process of the machine):
here, the signal and the exit (the process reaped); in the run, the marks of `evaluate` and `save_checkpoint`.
Signal to exit splits into the rest of the episode (signal to the checkpoint's start; the evaluation included),
the checkpoint write, and the exit after it (the log closed, the interpreter's teardown). Repeats go round-robin
over the scripts, so that a slow spell of the machine hits each; the table gives the median and the max (the worst
case, the point here) of the repeats. Each run's directory (a checkpoint of ~3 GiB) is deleted after it.
"""

import argparse
import csv
import os
import platform
import re
import runpy
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from speed import ROOT, SCRIPTS
from sweep import thread_share

ENV_ID = "benchmark.envs:HumanoidFullEpisodes-v4"
EPISODE_STEPS = 1000
KILL_WAIT = 30  # Slurm's default KillWait, seconds from SIGTERM to SIGKILL
MARK = "stop_latency:"  # the lines the run prints at marks: "stop_latency: NAME start|end CLOCK"
PROGRESS = re.compile(r"^step (\d+)/\d+ \|")
STOPPED = re.compile(r"^stopped at step (\d+) \(signal \d+\), checkpoint saved")
PARTS = ("episode_rest_s", "evaluation_s", "checkpoint_write_s", "exit_after_write_s")


def marked(name: str, function):
    """`function`, printing the clock when it starts and ends."""

    def wrapper(*args, **kwargs):
        print(f"{MARK} {name} start {time.monotonic():.6f}", flush=True)
        result = function(*args, **kwargs)
        print(f"{MARK} {name} end {time.monotonic():.6f}", flush=True)
        return result

    return wrapper


def run_with_full_buffer(script: str, argv: list):
    """Run a script as its __main__ does (parse_args, then train) in this process, with a replay buffer that is full
    from the start and marks around its evaluations and checkpoint writes."""
    sys.argv = [script, *argv]
    ddpg = runpy.run_path(script)  # the script's functions; its __main__ block does not run
    buffer_class, init = ddpg["ReplayBuffer"], ddpg["ReplayBuffer"].__init__

    def full_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.size = self.capacity  # as after a run longer than its capacity: the checkpoint saves all of it

    buffer_class.__init__ = full_init  # the class object itself, which train uses
    module = ddpg["train"].__globals__  # the script's own globals: run_path returns a copy
    for name in ("evaluate", "save_checkpoint"):
        module[name] = marked(name, module[name])
    args, checkpoint = ddpg["parse_args"]()
    ddpg["train"](args, checkpoint)


def run_args(args) -> list:
    return [
        "--env-id", ENV_ID, "--total-timesteps", str(args.total_timesteps),
        "--learning-starts", str(args.learning_starts), "--eval-frequency", str(args.eval_frequency),
        "--eval-episodes", str(args.eval_episodes), "--checkpoint-frequency", str(10 * args.total_timesteps),
    ]  # fmt: skip


def measure(script: str, argv: list, signal_after: int, log) -> dict:
    """One run of the script in a fresh process, signalled (SIGTERM) on its first progress line after step
    `signal_after`: the clock at the signal, at the run's marks and lines, and at its exit; its checkpoint's size."""
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import stop_latency; "
    code += f"stop_latency.run_with_full_buffer({script!r}, {argv!r})"
    env = {**os.environ, **thread_share(1), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    times = {"signal_step": None, "stop_step": None}
    with tempfile.TemporaryDirectory(prefix="stop_latency_") as cwd:
        start = time.monotonic()
        process = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        for line in process.stdout:
            now = time.monotonic()
            log.write(f"{now - start:9.3f}  {line}")
            if (progress := PROGRESS.match(line)) and times["signal_step"] is None and int(progress[1]) > signal_after:
                times["signal"], times["signal_step"] = time.monotonic(), int(progress[1])
                process.send_signal(signal.SIGTERM)
                log.write(f"{times['signal'] - start:9.3f}  [SIGTERM sent]\n")
            elif line.startswith(MARK) and times["signal_step"] is not None:  # those after the signal
                _, name, event, clock = line.split()
                times[f"{name}_{event}"] = float(clock)
                if event == "end":  # its time, and how many ran, added up
                    times[f"{name}_s"] = times.get(f"{name}_s", 0.0) + float(clock) - times[f"{name}_start"]
                    times[f"{name}_runs"] = times.get(f"{name}_runs", 0) + 1
            elif stopped := STOPPED.match(line):
                times["stop_step"] = int(stopped[1])
        times["exit_code"] = process.wait()
        times["exit"] = time.monotonic()
        checkpoints = list(Path(cwd).glob("runs/*/checkpoint.*"))
        times["checkpoint_gib"] = checkpoints[0].stat().st_size / 2**30 if checkpoints else float("nan")
    if times["exit_code"] != 75 or times["signal_step"] is None:
        raise RuntimeError(f"{script} exited {times['exit_code']} (signal at step {times['signal_step']}), not 75 "
                           f"after a signal: see {log.name}")  # fmt: skip
    return times


def parts(times: dict) -> dict:
    """Signal to exit, and its parts, in seconds; the training rate in the rest of the episode."""
    evaluation = times.get("evaluate_s", 0.0)
    rest = times["save_checkpoint_start"] - times["signal"]
    return {
        "signal_step": times["signal_step"], "stop_step": times["stop_step"],
        "evaluations": times.get("evaluate_runs", 0),
        "signal_to_exit_s": times["exit"] - times["signal"], "episode_rest_s": rest, "evaluation_s": evaluation,
        "checkpoint_write_s": times["save_checkpoint_end"] - times["save_checkpoint_start"],
        "exit_after_write_s": times["exit"] - times["save_checkpoint_end"],
        "checkpoint_gib": times["checkpoint_gib"],
        "steps_per_s_in_rest": (times["stop_step"] - times["signal_step"]) / (rest - evaluation),
    }  # fmt: skip


def machine() -> str:
    """The CPU, its cores, and the load average now."""
    model = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
        model = names[0] if names else model
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, load average {load} (1, 5, 15 min)"


def revision(checkout: Path) -> str:
    """The commit of a checkout, and whether its scripts differ from it."""
    git = ["git", "-C", str(checkout)]
    top = subprocess.run([*git, "rev-parse", "--show-toplevel"], capture_output=True, text=True).stdout.strip()
    if not top or Path(top).resolve() != checkout.resolve():
        return f"{checkout} (not a git checkout)"
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    changed = subprocess.run([*git, "status", "--porcelain", "--", *SCRIPTS.values()], capture_output=True, text=True)
    return f"{checkout} at {commit}" + (" (its scripts modified)" if changed.stdout.strip() else "")


def summary_rows(rows: list) -> list:
    """Per script and version: median and max of signal to exit, medians of its parts."""
    summary = []
    for key in dict.fromkeys((row["script"], row["version"]) for row in rows):
        runs = [row for row in rows if (row["script"], row["version"]) == key]
        total = [row["signal_to_exit_s"] for row in runs]
        summary.append({
            "script": key[0], "version": key[1], "runs": len(runs),
            "signal_to_exit_median_s": float(np.median(total)), "signal_to_exit_max_s": max(total),
            **{f"{part}_median": float(np.median([row[part] for row in runs])) for part in PARTS},
            "checkpoint_gib": runs[0]["checkpoint_gib"],
            "steps_per_s_in_rest_median": float(np.median([row["steps_per_s_in_rest"] for row in runs])),
            "kill_wait_left_at_max_s": KILL_WAIT - max(total),
        })  # fmt: skip
    return summary


def markdown(summary: list, rows: list, context: str) -> str:
    columns = ["script", "version", "signal to exit: median", "max", "rest of the episode", "of it evaluation",
               "checkpoint write", "exit after it", "checkpoint", "steps/s in the rest", f"left of {KILL_WAIT} s (max)"]
    table = "| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|\n"
    table += "".join(
        f"| {r['script']} | {r['version']} | {r['signal_to_exit_median_s']:.1f} s | {r['signal_to_exit_max_s']:.1f} s "
        + "".join(f"| {r[f'{part}_median']:.1f} s " for part in PARTS)
        + f"| {r['checkpoint_gib']:.2f} GiB | {r['steps_per_s_in_rest_median']:.0f} "
        + f"| {r['kill_wait_left_at_max_s']:.1f} s |\n"
        for r in summary
    )
    runs = "| repeat | script | version | signal at step | stopped at step | signal to exit | rest of the episode "
    runs += "| evaluation | checkpoint write | exit after it | load average (1 min) after |\n" + "|---" * 11 + "|\n"
    runs += "".join(
        f"| {r['repeat']} | {r['script']} | {r['version']} | {r['signal_step']} | {r['stop_step']} "
        f"| {r['signal_to_exit_s']:.1f} s | {r['episode_rest_s']:.1f} s "
        f"| {'%.1f s' % r['evaluation_s'] if r['evaluations'] else 'none ran'} "
        f"| {r['checkpoint_write_s']:.1f} s | {r['exit_after_write_s']:.1f} s | {r['load_1min_after']:.2f} |\n"
        for r in rows
    )
    return f"{context}\n{table}\nEach run:\n\n{runs}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where stop_latency.csv, .md, .log and command.txt go")
    parser.add_argument(
        "--before", type=Path, metavar="CHECKOUT",
        help="a checkout of an earlier commit (git worktree add): its scripts are measured too, round-robin with the "
        "others, as version 'before'",
    )  # fmt: skip
    parser.add_argument(
        "--after", type=Path, default=ROOT, metavar="DIRECTORY",
        help="where the scripts measured as version 'after' are (default: this repository's working tree)",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--learning-starts", type=int, default=1_000)
    parser.add_argument("--signal-after", type=int, default=2_000, help="an episode start (a multiple of 1,000)")
    parser.add_argument("--eval-frequency", type=int, default=2_500, help="one evaluation falls due in the episode")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument(
        "--total-timesteps", type=int, default=3_100,
        help="above the episode's end; progress lines come every 1%% of it (31 steps for 3,100)",
    )  # fmt: skip
    parser.add_argument("--note", default="", help="what else ran on the machine, for the table's context")
    args = parser.parse_args(argv)
    episode_end = args.signal_after + EPISODE_STEPS
    if args.signal_after % EPISODE_STEPS or args.total_timesteps <= episode_end:
        parser.error(f"--signal-after must be an episode start and --total-timesteps above its end ({episode_end})")
    if episode_end // args.eval_frequency * args.eval_frequency <= args.signal_after:
        parser.error(f"--eval-frequency {args.eval_frequency}: no evaluation falls due in steps {args.signal_after}-"
                     f"{episode_end}")  # fmt: skip

    versions = {("after", name): str(args.after.resolve() / script) for name, script in SCRIPTS.items()}
    if args.before:
        versions |= {("before", name): str(args.before.resolve() / script) for name, script in SCRIPTS.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python benchmark/stop_latency.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    (args.out / "command.txt").write_text(command + "\n")
    context = f"    {command}\n\nafter: {revision(args.after)}"
    context += f"; before: {revision(args.before)}" if args.before else ""
    context += f"\n{machine()} at the start"
    context += f"; {args.note}\n" if args.note else "\n"
    rows = []
    with open(args.out / "stop_latency.log", "w") as log:
        log.write(context + "\n")
        for repeat in range(1, args.repeats + 1):
            for (version, name), script in versions.items():
                log.write(f"\n=== repeat {repeat}: {name} {version}: {script} {shlex.join(run_args(args))}\n")
                figures = parts(measure(script, run_args(args), args.signal_after, log))
                figures["load_1min_after"] = os.getloadavg()[0]  # how busy the machine was over about this run
                rows.append({"repeat": repeat, "script": name, "version": version, **figures})
                line = f"repeat {repeat}/{args.repeats}: {name} {version}: " + ", ".join(
                    f"{key} {value:.2f}" if isinstance(value, float) else f"{key} {value}"
                    for key, value in figures.items()
                )
                log.write(line + "\n")
                print(line, flush=True)
        summary = summary_rows(rows)
        context += (
            f"{machine()} at the end\n\n{ENV_ID} (episodes of {EPISODE_STEPS} steps, never ending early), a full "
            f"1M-transition buffer; the signal (SIGTERM) on the first progress line after step {args.signal_after}, "
            f"an evaluation ({args.eval_episodes} episodes) due at step {args.eval_frequency}, the episode's end at "
            f"step {episode_end}; one thread per run; median and max of {args.repeats} repeats, round-robin. Rest of "
            "the episode: from the signal to the checkpoint's start, the evaluation included; exit after it: from "
            f"the checkpoint written to the process reaped. Slurm's default KillWait: {KILL_WAIT} s.\n"
        )
        tables = markdown(summary, rows, context)
        log.write("\n" + tables)
    with open(args.out / "stop_latency.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()} for row in rows)
    (args.out / "stop_latency.md").write_text(tables)
    print("\n" + tables)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
