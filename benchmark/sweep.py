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

On Slurm (--slurm; --sbatch-args for resources and --time), the array job is submitted with `--requeue`,
`--signal=B:USR1@SECONDS` (--time-limit-warning) and `--open-mode=append` (a task's log OUT/slurm/JOBID_TASK.log
keeps all its attempts), and each task's batch shell `exec`s the task runner, so that the signals reach it:
- preemption, or `scontrol requeue`: Slurm sends SIGTERM to the job's processes and SIGKILL KillWait seconds
  later (30 by default); the run checkpoints in between, Slurm puts the task back in the queue, not held, with a
  begin time AuthInfo's cred_expire + 1 s later (121 s by default), and the task comes back and resumes (its
  old process is gone by then, and with it its lock);
- the time limit: SECONDS before it the run checkpoints and the task requeues itself (`scontrol requeue
  Incomplete`: a cancelled job stays cancelled), so a run longer than the time limit goes on in the next
  allocation. Slurm may send the warning up to 60 s early; allow an episode and a checkpoint write.
A Slurm task whose task is running elsewhere ends (exit code 75) without requeueing itself: see run_slurm_task.

    python benchmark/sweep.py --out benchmark/runs/quick --envs Pendulum-v1 --seeds 3 -- --total-timesteps 15000
    python benchmark/sweep.py --out benchmark/runs/noise --envs Pendulum-v1 --scripts ddpg_continuous_action_jax.py \
        --variants 'gaussian=--exploration-noise-type gaussian' 'ou=--exploration-noise-type ou' \
        -- --total-timesteps 15000
"""

import argparse
import errno
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ("ddpg_continuous_action.py", "ddpg_continuous_action_jax.py")
# a run's exit code when it stopped on SIGTERM or SIGUSR1 after saving its checkpoint (EX_TEMPFAIL); the sweep's
# when it is not complete but nothing failed: started again, it goes on
STOPPED = 75
# a task's outcomes that are not exit codes (those are 0-255): another runner holds its lock, or finished the task
# (done, or failed) between the moment this sweep listed it and the moment it took the lock
RUNNING_ELSEWHERE, DONE_ALREADY, FAILED_ALREADY = 256, 257, 258
# what each outcome is called on the console; any other exit code: "FAILED"
OUTCOMES = {0: "done", STOPPED: "stopped", RUNNING_ELSEWHERE: "running elsewhere"}
OUTCOMES |= {DONE_ALREADY: "done already", FAILED_ALREADY: "FAILED already"}
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
CHECKPOINTS = ("checkpoint.pt", "checkpoint.npz")  # the PyTorch script's, the JAX script's
VERSIONS_FILE = "versions.jsonl"  # report.py reads it (what each run ran): keep its name and format
VARIANTS_FILE = "variants.json"  # report.py tells a sweep of variants by this file: keep its name and format
VARIANT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
# not variant names: OUT/slurm/ holds the array jobs' files, and OUT/{script}/ is a sweep without variants
RESERVED_NAMES = ("slurm", *(Path(script).stem for script in SCRIPTS))

stop_requests = []  # the stop signals this process received
running = set()  # the runs it has under way (subprocess.Popen), to pass those signals on to


def pass_on_stop(signum, frame):
    """Signal handler: ask every run under way to checkpoint and stop; start no new ones."""
    stop_requests.append(signum)
    for run in list(running):
        run.send_signal(signum)  # a no-op for a run that has already exited


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


def is_done(task: dict) -> bool:
    return (Path(task["dir"]) / "done").exists()


def marker_time(task_dir: Path, marker: str) -> int | None:
    """When the marker was written (ns), or None when there is none."""
    try:
        return (task_dir / marker).stat().st_mtime_ns
    except FileNotFoundError:
        return None


def pending_tasks(tasks: list) -> list:
    """The tasks not done, each with the time of its `failed` marker as this sweep found it ("failed_seen"): a task
    that another sweep fails while this one runs is not tried again (the runs are deterministic: it would fail
    again, after as long), while one that had failed before this sweep started is."""
    return [{**task, "failed_seen": marker_time(Path(task["dir"]), "failed")} for task in tasks if not is_done(task)]


def lock_task(task_dir: Path):
    """TASK_DIR/lock, open, with this process's lock on it; None when another process holds the lock.

    A POSIX record lock (fcntl.lockf, which is fcntl F_SETLK: no waiting): the kernel releases it however the
    process ends, SIGKILL included, so a lock is never stale; and NFS forwards it to the server (NLM for NFSv3,
    part of the protocol in NFSv4), so it holds across the nodes of a cluster, where BSD flock() is local-only on
    many systems and older Linux NFS clients. A POSIX lock belongs to the process: closing any descriptor of the
    file drops it, so the caller keeps this one open until the task is over and opens the file nowhere else; and
    threads of one process do not exclude each other, which is fine because the local runner's threads never
    share a task (make_tasks lists each task directory once)."""
    lock = open(task_dir / "lock", "a")  # "a": creates the file, or opens another runner's as it is
    try:
        fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        lock.close()
        if e.errno in (errno.EACCES, errno.EAGAIN):  # held by another process
            return None
        raise
    return lock


def run_to_resume(task_dir: Path, log) -> Path | None:
    """The task's run directory if it holds a checkpoint. Run directories without one cannot be resumed: they are
    removed (and the log says so), so that the task has one run directory, never two."""
    runs = sorted(path for path in (task_dir / "runs").glob("*") if path.is_dir())
    resumable = [run for run in runs if any((run / name).exists() for name in CHECKPOINTS)]
    for run in runs:
        if run not in resumable:
            # a run holds the same kind of lock on its own directory: one still going (its runner killed) stays
            if (run_lock := lock_task(run)) is None:
                raise RuntimeError(f"{run} has no checkpoint but a run is still writing it; stop that run first")
            run_lock.close()
            log.write(f"# removed {run.relative_to(task_dir)}: no checkpoint to resume from; starting afresh\n")
            shutil.rmtree(run)
    if len(resumable) > 1:
        raise RuntimeError(f"{len(resumable)} run directories with a checkpoint in {task_dir / 'runs'}; keep one")
    return resumable[0] if resumable else None


def script_version(script: Path) -> dict:
    """What a run runs: the script's sha256 and, in a git checkout, the last commit that changed the script and
    whether the file differs from that commit ("modified"); commit and modified are None outside git."""
    version = {"script": script.name, "sha256": hashlib.sha256(script.read_bytes()).hexdigest()}
    git = ["git", "-C", str(script.parent)]
    try:
        last = subprocess.run([*git, "log", "-1", "--format=%H", "--", script.name], capture_output=True, text=True)
        modified = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", script.name], capture_output=True)
    except OSError:  # no git on this machine
        return {**version, "commit": None, "modified": None}
    if last.returncode or not last.stdout.strip():  # not a git checkout, or the script was never committed
        return {**version, "commit": None, "modified": None}
    return {**version, "commit": last.stdout.strip(), "modified": modified.returncode != 0}


def record_version(task_dir: Path, script: Path) -> None:
    """Append what this attempt runs to TASK_DIR/versions.jsonl, a line an attempt (a resumed run has several)."""
    line = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), **script_version(script)}
    with open(task_dir / VERSIONS_FILE, "a") as versions:
        versions.write(json.dumps(line) + "\n")


def thread_share(threads: int) -> dict:
    """The environment variables that hold a run to `threads` threads in both frameworks: PyTorch's OpenMP pool, and
    XLA's CPU pool (which otherwise takes every core, whatever OMP_NUM_THREADS says). All the cores: no XLA limit."""
    share = {"OMP_NUM_THREADS": str(threads)}
    if threads < (os.cpu_count() or 1):
        share["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}"
    return share


def start_run(command: list, cwd: Path, log, threads: int) -> int:
    """Run one command to its end, passing on the stop signals this process receives; its exit code."""
    # each run gets its share of the cores, so that parallel runs do not fight over threads
    env = {**os.environ, **thread_share(threads), "PYTHONUNBUFFERED": "1"}
    run = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    running.add(run)
    if stop_requests:  # a signal that came while the run was starting
        run.send_signal(stop_requests[-1])
    try:
        return run.wait()
    finally:
        running.discard(run)


def last_error(log_path: Path, start: int) -> str:
    """The last line the run wrote to the log from byte `start` on that begins with `error: `, or "": the scripts
    say in one such line why they refused or stopped a run."""
    with open(log_path, "rb") as log:
        log.seek(start)
        lines = log.read().decode(errors="replace").splitlines()
    return next((line for line in reversed(lines) if line.startswith("error: ")), "")


def mark_failed(task_dir: Path, code: int, reason: str) -> int:
    """Leave the `failed` marker, its first line `exit code N: REASON` (or `exit code N`); returns a non-zero code."""
    (task_dir / "failed").write_text(f"exit code {code}{': ' + reason if reason else ''}\nsee {task_dir / 'log.txt'}\n")
    return code or 1


def failure(task_dir: Path) -> str:
    """Why the task failed: the first line of its `failed` marker."""
    lines = (task_dir / "failed").read_text().splitlines() if (task_dir / "failed").exists() else []
    return lines[0] if lines else "no reason recorded"


def run_task(task: dict, threads: int) -> int:
    """Run one task in its directory, or resume its run from the checkpoint, holding the task's lock; leave `done`
    (naming the run directory), `stopped` or `failed` behind. Returns 0 (done), STOPPED, RUNNING_ELSEWHERE (another
    runner holds the lock: nothing in the directory is touched), DONE_ALREADY or FAILED_ALREADY (by another runner,
    since the sweep listed the task), or another exit code (failed)."""
    task_dir = Path(task["dir"])
    task_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_task(task_dir)
    if lock is None:
        return RUNNING_ELSEWHERE
    with lock:  # held until the task's marker is written; closing the file releases it
        if is_done(task):
            return DONE_ALREADY
        failed = marker_time(task_dir, "failed")
        if failed is not None and failed != task.get("failed_seen", failed):  # see pending_tasks
            return FAILED_ALREADY
        return run_locked(task, task_dir, threads)


def run_locked(task: dict, task_dir: Path, threads: int) -> int:
    """run_task's work, once it holds the task's lock."""
    for marker in ("failed", "stopped"):
        (task_dir / marker).unlink(missing_ok=True)
    log_path = task_dir / "log.txt"
    with open(log_path, "a") as log:
        try:
            resume = run_to_resume(task_dir, log)
        except RuntimeError as e:
            log.write(f"# error: {e}\n")
            return mark_failed(task_dir, 1, f"error: {e}")
        command = task["command"] + (["--resume", str(resume.relative_to(task_dir))] if resume else [])
        log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(command)}\n")
        record_version(task_dir, Path(task["command"][1]))
        log.flush()
        start = log_path.stat().st_size  # where this attempt's output begins
        code = start_run(command, task_dir, log, threads)
    runs = sorted((task_dir / "runs").glob("*"))
    if code == 0 and len(runs) == 1:
        (task_dir / "done").write_text(runs[0].name + "\n")
        return 0
    # a run killed by a stop signal (before it could handle it) resumes from its last checkpoint, if any, too
    if code == STOPPED or (code < 0 and stop_requests):
        (task_dir / "stopped").write_text(f"exit code {code}; run again, it resumes from its last checkpoint\n")
        return STOPPED
    reason = last_error(log_path, start) or (f"{len(runs)} run directories in runs/, not one" if code == 0 else "")
    return mark_failed(task_dir, code, reason)


def label(code: int) -> str:
    return OUTCOMES.get(code, "FAILED")


def outcome(task: dict, code: int) -> str:
    """The line that tells what became of a task."""
    task_dir = task["dir"]
    see = f" (see {task_dir}/log.txt)"
    if label(code).startswith("FAILED"):
        return f"{label(code)}: {task_dir}: {failure(Path(task_dir))}{see}"
    return f"{label(code)}: {task_dir}" + (see if code == STOPPED else "")


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


def requeue_slurm_task() -> str:
    """Put this Slurm array task back in the queue, to resume from its checkpoint. `Incomplete` acts only on a job
    that is still running (stopped by the time-limit warning); a job Slurm is already requeuing (preemption,
    `scontrol requeue`) or that was cancelled is left as it is."""
    task_id = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    result = subprocess.run(["scontrol", "requeue", "Incomplete", task_id], capture_output=True, text=True)
    return f"scontrol requeue Incomplete {task_id}: exit code {result.returncode} {result.stderr.strip()}".strip()


def run_slurm_task(task_file: Path, index: int) -> int:
    """One task of a Slurm array job: run it; if it stopped, requeue it so that it comes back and resumes."""
    task = json.loads(task_file.read_text())[index]
    code = run_task(task, int(os.environ.get("SLURM_CPUS_PER_TASK", "1")))
    print(outcome(task, code), flush=True)
    if code == STOPPED and "SLURM_ARRAY_JOB_ID" in os.environ:
        print(requeue_slurm_task(), flush=True)
    # Running elsewhere: no requeue. The holder is a live process (a requeued task's old one is gone, and its lock
    # with it) that finishes the task, or stops and brings it back itself (a Slurm task requeues itself, a local
    # sweep is started again); requeued, this task would only come back every 121 s, one allocation each time, for
    # as long as the other run lasts. Its exit code says the sweep is not complete.
    return {RUNNING_ELSEWHERE: STOPPED, DONE_ALREADY: 0, FAILED_ALREADY: 1}.get(code, code)


def submit_slurm(tasks: list, out: Path, workers: int, sbatch_args, time_limit_warning: int | None) -> int:
    """Submit the tasks as one requeueable Slurm array job (at most `workers` running at once); logs in OUT/slurm/.
    With a time_limit_warning, each task gets SIGUSR1 that many seconds before its time limit."""
    (out / "slurm").mkdir(parents=True, exist_ok=True)
    task_file = out / "slurm" / f"tasks-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.json"
    task_file.write_text(json.dumps(tasks, indent=1))
    run_one = f"{shlex.quote(sys.executable)} {shlex.quote(__file__)} --run-task {shlex.quote(str(task_file))} --index"
    warning = [f"--signal=B:USR1@{time_limit_warning}"] if time_limit_warning else []
    command = [
        "sbatch", "--parsable", f"--array=0-{len(tasks) - 1}%{workers}", "--job-name=ddpg-sweep",
        f"--output={out / 'slurm' / '%A_%a.log'}", "--open-mode=append", "--requeue", *warning, *sbatch_args,
        # exec: the batch shell becomes the task runner, so that B:USR1 and SIGTERM reach it, not a shell
        f"--wrap=exec {run_one} $SLURM_ARRAY_TASK_ID",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"error: sbatch failed: {result.stderr.strip()}", file=sys.stderr)
        return 1
    job_id = result.stdout.strip().split(";")[0]
    print(f"submitted Slurm array job {job_id}: {len(tasks)} tasks, logs in {out / 'slurm'}/{job_id}_*.log")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
