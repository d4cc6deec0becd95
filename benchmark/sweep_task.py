"""One task of a sweep (see sweep.py): its lock, its markers, its run started or resumed from its checkpoint, the stop
signals passed on to that run, and what became of the task."""

import errno
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

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

stop_requests = []  # the stop signals this process received
running = set()  # the runs it has under way (subprocess.Popen), to pass those signals on to


def pass_on_stop(signum, frame):
    """Signal handler: ask every run under way to checkpoint and stop; start no new ones."""
    stop_requests.append(signum)
    for run in list(running):
        run.send_signal(signum)  # a no-op for a run that has already exited


def is_done(task: dict) -> bool:
    return (Path(task["dir"]) / "done").exists()


def marker_time(task_dir: Path, marker: str) -> int | None:
    """When the marker was written (ns), or None when there is none."""
    try:
        return (task_dir / marker).stat().st_mtime_ns
    except FileNotFoundError:
        return None


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
        if failed is not None and failed != task.get("failed_seen", failed):  # see sweep.pending_tasks
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
