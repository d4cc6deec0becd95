"""Run a sweep of DDPG runs (scripts x envs x seeds, and variants) on this machine or as one Slurm array job.

Each run gets a task directory OUT/{script}/{env_id}/seed{seed}/ holding the script's `runs/` (one run
directory, never two), a `log.txt`, a `lock`, `versions.jsonl` (what each attempt ran: the script's sha256 and
the git commit that last changed it, which report.py lists in provenance.md) and a marker: `done` (naming the
finished run directory), `stopped` (stopped on a signal, to be resumed) or `failed` (its first line the reason:
`exit code N: error: ...`, with the last `error: ` line the run printed, if any). A sweep started again skips the
tasks that are done and runs the others.

Variants (--variants NAME=ARGS ...) are named sets of script arguments, one more axis beside scripts, envs and
seeds, e.g. `'ou=--exploration-noise-type ou'`. A variant's tasks lie in OUT/{variant}/, laid out as a sweep
without variants, and run with the variant's arguments after the common ones (the scripts take the last of a
repeated flag, so the variant's wins). OUT/variants.json lists the variants in order,
{"variants": [{"name": NAME, "args": [ARG, ...]}, ...]}; the first is the baseline of reports, and report.py
tells a sweep of variants by this file. A sweep started again on OUT may add variants (appended to the list) but
not give a known name other arguments.

Runs save a checkpoint every --checkpoint-frequency steps (at the next episode end), so a task that stops goes on
from its checkpoint instead of starting over: when its run directory holds a checkpoint, the task resumes it
(`--resume runs/NAME`, with the same script arguments, which the script checks against the run's own). A run
directory without one (a run killed before its first checkpoint) is removed, and the run starts afresh.

One runner per task: a task runner holds a POSIX lock (fcntl.lockf) on TASK_DIR/lock for as long as it works on
the task, taken before it looks at a marker. The kernel releases the lock however the runner ends (SIGKILL
included; a Slurm task requeued or cancelled takes its lock with it), so no lock is ever stale, and NFS forwards
it to the server, so it holds between the nodes of a cluster. A second sweep on the same OUT (or a second Slurm
task) that finds a task locked prints `running elsewhere: TASK_DIR`, leaves everything in it as it is, and goes
on; a task that another sweep finished or failed after this one listed it (`done already`, `FAILED already`) is
not run again.

Stopping: SIGTERM or SIGUSR1 to the sweep (or to a Slurm task) is passed on to the runs, which save a checkpoint
at their next episode end (seconds) and exit with code 75; their tasks are marked `stopped`, tasks not started
yet are left alone, and the sweep started again resumes them.

Exit code: 0 when every run is done; 1 when one failed; else 75 (STOPPED: not complete, nothing failed) when runs
stopped or were running elsewhere: start the sweep again (for the latter, once the other sweep is over) to finish.

On Slurm (--slurm; --sbatch-args for resources and --time): one requeueable array job, whose tasks checkpoint and come
back to resume when preempted, requeued or near their time limit; see sweep_slurm.py's docstring (printed below by
--help).

    python benchmark/sweep.py --out benchmark/runs/quick --envs Pendulum-v1 --seeds 3 -- --total-timesteps 15000
    python benchmark/sweep.py --out benchmark/runs/noise --envs Pendulum-v1 --scripts ddpg_continuous_action_jax.py \
        --variants 'gaussian=--exploration-noise-type gaussian' 'ou=--exploration-noise-type ou' \
        -- --total-timesteps 15000
"""

import argparse
import json
import os
import re
import shlex
import signal
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sweep_slurm
from sweep_slurm import run_slurm_task, submit_slurm
from sweep_task import (
    STOP_SIGNALS,
    STOPPED,
    is_done,
    label,
    marker_time,
    outcome,
    pass_on_stop,
    run_task,
    stop_requests,
)

# reached as sweep.NAME (thread_share by concurrency.py and stop_latency.py), as before sweep_task.py and
# sweep_slurm.py were split from this module
from sweep_slurm import requeue_slurm_task  # noqa: F401
from sweep_task import (  # noqa: F401
    CHECKPOINTS,
    DONE_ALREADY,
    FAILED_ALREADY,
    OUTCOMES,
    RUNNING_ELSEWHERE,
    VERSIONS_FILE,
    failure,
    last_error,
    lock_task,
    mark_failed,
    record_version,
    run_locked,
    run_to_resume,
    running,
    script_version,
    start_run,
    thread_share,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ("ddpg_continuous_action.py", "ddpg_continuous_action_jax.py")
VARIANTS_FILE = "variants.json"  # report.py tells a sweep of variants by this file: keep its name and format
VARIANT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
# not variant names: OUT/slurm/ holds the array jobs' files, and OUT/{script}/ is a sweep without variants
RESERVED_NAMES = ("slurm", *(Path(script).stem for script in SCRIPTS))


def parse_variant(text: str) -> dict:
    """--variants' NAME=ARGS as variants.json holds it: {"name": NAME, "args": ARGS split as a shell would}."""
    name, equals, args = text.partition("=")
    if not equals or not VARIANT_NAME.fullmatch(name) or name in RESERVED_NAMES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give NAME=ARGS, NAME of letters, digits, _ and - (not {' or '.join(RESERVED_NAMES)})"
        )
    try:
        return {"name": name, "args": shlex.split(args)}
    except ValueError as e:  # an unclosed quote
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from None


def read_variants(out: Path) -> list:
    """The variants OUT/variants.json lists, in order; none for a sweep without variants (or a new one)."""
    path = out / VARIANTS_FILE
    if not path.exists():
        return []
    try:
        return json.loads(path.read_text())["variants"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a list of variants ({type(e).__name__}: {e})") from None


def new_variants(out: Path, recorded: list, variants: list) -> list:
    """The variants of this sweep that OUT does not list yet. Raises ValueError (one line) when the sweep does not
    fit OUT: a known name with other arguments, or a sweep with variants and one without in the same OUT (which
    report.py could not tell apart)."""
    if recorded and not variants:
        raise ValueError(f"{out} is a sweep of variants ({out / VARIANTS_FILE}): give --variants, or another --out")
    if variants and not recorded and any((out / Path(script).stem).is_dir() for script in SCRIPTS):
        raise ValueError(f"{out} holds a sweep without variants: give the variants another --out")
    known = {variant["name"]: variant["args"] for variant in recorded}
    for name, args in ((variant["name"], variant["args"]) for variant in variants):
        if known.get(name, args) != args:
            raise ValueError(
                f"variant {name} is {shlex.join(known[name])!r} in {out / VARIANTS_FILE}, not {shlex.join(args)!r}: "
                "give it another name, or another --out"
            )
    return [variant for variant in variants if variant["name"] not in known]


def write_variants(out: Path, variants: list) -> None:
    out.mkdir(parents=True, exist_ok=True)
    temporary = out / f".{VARIANTS_FILE}.{os.getpid()}"
    listed = ",\n".join(f" {json.dumps(variant)}" for variant in variants)  # a variant a line
    temporary.write_text(f'{{"variants": [\n{listed}\n]}}\n')
    temporary.replace(out / VARIANTS_FILE)  # all or nothing: a reader never sees half a list


def make_tasks(out: Path, scripts, envs, seeds: int, script_args, checkpoint_frequency: int, variants=()) -> list:
    """One task per script x env x seed (x variant): where it runs, OUT/[{variant}/]{script}/{env_id}/seed{seed}/,
    and the command that starts its run there. Each task directory once: the tasks of one sweep run in threads of
    one process, which the task locks do not keep apart."""
    layouts = [(out / variant["name"], variant["args"]) for variant in variants] or [(out, [])]
    return [
        {
            "dir": str(base / Path(script).stem / env_id / f"seed{seed}"),
            # the variant's arguments after the common ones (the scripts take the last of a repeated flag, so the
            # variant's wins); the sweep's checkpoint frequency last, as its stopping and resuming relies on it
            "command": [
                sys.executable, str(ROOT / script), "--env-id", env_id, "--seed", str(seed), *script_args,
                *variant_args, "--checkpoint-frequency", str(checkpoint_frequency),
            ],
        }  # fmt: skip
        # seeds outermost, variants innermost: a sweep stopped halfway has about as many runs of each script, env and
        # variant, and the first seed of every one before any second
        for seed in range(1, seeds + 1)
        for script in dict.fromkeys(scripts)
        for env_id in dict.fromkeys(envs)
        for base, variant_args in layouts
    ]


def pending_tasks(tasks: list) -> list:
    """The tasks not done, each with the time of its `failed` marker as this sweep found it ("failed_seen"): a task
    that another sweep fails while this one runs is not tried again (the runs are deterministic: it would fail
    again, after as long), while one that had failed before this sweep started is."""
    return [{**task, "failed_seen": marker_time(Path(task["dir"]), "failed")} for task in tasks if not is_done(task)]


def summary(codes: list) -> str:
    count = Counter(map(label, codes))
    line = f"{count['done']} runs done, {count['FAILED']} failed, {count['stopped']} stopped, "
    line += f"{count['running elsewhere']} running elsewhere"
    if count["done already"] or count["FAILED already"]:
        line += f", {count['done already']} done and {count['FAILED already']} failed by another sweep meanwhile"
    return line + (" (run the sweep again)" if count["stopped"] or count["running elsewhere"] else "")


def exit_code(codes: list) -> int:
    """The sweep's: 1 if a run failed (here, or meanwhile in another sweep), else STOPPED if a stop signal stopped
    some or some were running elsewhere, else 0."""
    labels = set(map(label, codes))
    if labels & {"FAILED", "FAILED already"}:
        return 1
    return STOPPED if labels & {"stopped", "running elsewhere"} else 0


def run_local(tasks: list, workers: int, threads: int | None = None) -> int:
    """Run the tasks on this machine, `workers` at a time, each with `threads` threads (default: its share of the
    cores); report each failure and go on. Returns the sweep's exit code."""
    threads = threads or max(1, (os.cpu_count() or 1) // workers)

    def run(task):
        if stop_requests:
            print(f"not started: {task['dir']}", flush=True)
            return STOPPED
        code = run_task(task, threads)
        print(outcome(task, code), flush=True)
        return code

    with ThreadPoolExecutor(max_workers=workers) as pool:
        codes = list(pool.map(run, tasks))
    print(summary(codes))
    return exit_code(codes)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, epilog=sweep_slurm.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, help="the sweep's directory")
    parser.add_argument("--envs", nargs="+", default=[], help="Gymnasium env ids")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 1..N for every env and script")
    parser.add_argument("--scripts", nargs="+", default=list(SCRIPTS), choices=SCRIPTS)
    parser.add_argument(
        "--variants", nargs="+", default=[], type=parse_variant, metavar="NAME=ARGS",
        help="named sets of script arguments, one more axis of the sweep, each run with its arguments after the "
        "common ones, e.g. 'ou=--exploration-noise-type ou'; the first is the reports' baseline",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="runs at once (each gets cores/workers threads)"
    )
    parser.add_argument(
        "--threads", type=int, help="threads of each run here (default: cores/workers); e.g. 1 to leave a core free"
    )
    parser.add_argument(
        "--checkpoint-frequency", type=int, default=100_000,
        help="steps between a run's checkpoints (at the next episode end), from which a stopped run resumes; "
        "0: none, a stopped run starts over (default: %(default)s, for 1M-step runs)",
    )  # fmt: skip
    parser.add_argument("--slurm", action="store_true", help="submit one Slurm array job instead of running here")
    parser.add_argument(
        "--sbatch-args", default="", help="extra sbatch options, e.g. '--cpus-per-task=2 --time=12:00:00'"
    )
    parser.add_argument(
        "--time-limit-warning", type=int, default=300, metavar="SECONDS",
        help="Slurm: a task's run checkpoints this long before the time limit and the task requeues itself "
        "(sbatch --signal=B:USR1@SECONDS; Slurm may signal up to 60 s early); 0: no warning (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--run-task", type=Path, help=argparse.SUPPRESS)  # a Slurm array task: the task file ...
    parser.add_argument("--index", type=int, help=argparse.SUPPRESS)  # ... and its index in it
    parser.add_argument("script_args", nargs="*", help="arguments for every run, after --")
    args = parser.parse_args(argv)

    if not args.slurm:  # this process runs the runs: it passes these signals on to them
        for signum in STOP_SIGNALS:
            signal.signal(signum, pass_on_stop)
    if args.run_task:
        return run_slurm_task(args.run_task, args.index)
    if args.out is None or not args.envs or args.seeds < 1 or args.workers < 1 or args.checkpoint_frequency < 0:
        parser.error("give --out, at least one of --envs, positive --seeds and --workers, --checkpoint-frequency >= 0")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be positive, got {args.threads}")
    names = [variant["name"] for variant in args.variants]
    if len(set(names)) < len(names):
        parser.error(f"--variants: a name given twice ({' '.join(names)})")
    try:
        recorded = read_variants(args.out)
        new = new_variants(args.out, recorded, args.variants)
    except ValueError as e:  # before anything is written
        print(f"error: {e}", file=sys.stderr)
        return 2
    if new:
        write_variants(args.out, recorded + new)
    tasks = make_tasks(
        args.out, args.scripts, args.envs, args.seeds, args.script_args, args.checkpoint_frequency, args.variants
    )
    pending = pending_tasks(tasks)
    print(f"{len(tasks)} runs in the sweep: {len(tasks) - len(pending)} already done, {len(pending)} to run")
    if not pending:
        return 0
    if args.slurm:
        # without checkpoints a warning would only stop runs that have nothing to resume from
        warning = args.time_limit_warning if args.checkpoint_frequency else None
        return submit_slurm(pending, args.out, args.workers, shlex.split(args.sbatch_args), warning)
    return run_local(pending, args.workers, args.threads)


if __name__ == "__main__":
    sys.exit(main())
