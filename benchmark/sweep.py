"""Run a sweep of DDPG runs (scripts x envs x seeds) on this machine or as one Slurm array job.

Each run gets a task directory OUT/{script}/{env_id}/seed{seed}/ holding the script's `runs/` (one run
directory, never two), a `log.txt`, and a marker: `done` (naming the finished run directory), `stopped` (stopped
on a signal, to be resumed) or `failed`. A sweep started again skips the tasks that are done and runs the others.

Runs save a checkpoint every --checkpoint-frequency steps (at the next episode end), so a task that stops goes on
from its checkpoint instead of starting over: when its run directory holds a checkpoint, the task resumes it
(`--resume runs/NAME`, with the same script arguments, which the script checks against the run's own). A run
directory without one (a run killed before its first checkpoint) is removed, and the run starts afresh.

Stopping: SIGTERM or SIGUSR1 to the sweep (or to a Slurm task) is passed on to the runs, which save a checkpoint
at their next episode end (seconds) and exit with code 75; their tasks are marked `stopped`, tasks not started
yet are left alone, and the sweep started again resumes them.

On Slurm (--slurm; --sbatch-args for resources and --time), the array job is submitted with `--requeue`,
`--signal=B:USR1@SECONDS` (--time-limit-warning) and `--open-mode=append` (a task's log OUT/slurm/JOBID_TASK.log
keeps all its attempts), and each task's batch shell `exec`s the task runner, so that the signals reach it:
- preemption, or `scontrol requeue`: Slurm sends SIGTERM to the job's processes and SIGKILL KillWait seconds
  later (30 by default); the run checkpoints in between, Slurm puts the task back in the queue, not held, with a
  begin time AuthInfo's cred_expire + 1 s later (121 s by default), and the task comes back and resumes;
- the time limit: SECONDS before it the run checkpoints and the task requeues itself (`scontrol requeue
  Incomplete`: a cancelled job stays cancelled), so a run longer than the time limit goes on in the next
  allocation. Slurm may send the warning up to 60 s early; allow an episode and a checkpoint write.

    python benchmark/sweep.py --out benchmark/runs/quick --envs Pendulum-v1 --seeds 3 -- --total-timesteps 15000
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ("ddpg_continuous_action.py", "ddpg_continuous_action_jax.py")
STOPPED = 75  # a run's exit code when it stopped on SIGTERM or SIGUSR1 after saving its checkpoint (EX_TEMPFAIL)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
CHECKPOINTS = ("checkpoint.pt", "checkpoint.npz")  # the PyTorch script's, the JAX script's

stop_requests = []  # the stop signals this process received
running = set()  # the runs it has under way (subprocess.Popen), to pass those signals on to


def pass_on_stop(signum, frame):
    """Signal handler: ask every run under way to checkpoint and stop; start no new ones."""
    stop_requests.append(signum)
    for run in list(running):
        run.send_signal(signum)  # a no-op for a run that has already exited


def make_tasks(out: Path, scripts, envs, seeds: int, script_args, checkpoint_frequency: int) -> list:
    """One task per script x env x seed: where it runs and the command that starts its run there."""
    run_args = [*script_args, "--checkpoint-frequency", str(checkpoint_frequency)]
    return [
        {
            "dir": str(out / Path(script).stem / env_id / f"seed{seed}"),
            "command": [sys.executable, str(ROOT / script), "--env-id", env_id, "--seed", str(seed), *run_args],
        }
        for script in scripts
        for env_id in envs
        for seed in range(1, seeds + 1)
    ]


def is_done(task: dict) -> bool:
    return (Path(task["dir"]) / "done").exists()


def run_to_resume(task_dir: Path, log) -> Path | None:
    """The task's run directory if it holds a checkpoint. Run directories without one cannot be resumed: they are
    removed (and the log says so), so that the task has one run directory, never two."""
    runs = sorted(path for path in (task_dir / "runs").glob("*") if path.is_dir())
    resumable = [run for run in runs if any((run / name).exists() for name in CHECKPOINTS)]
    for run in runs:
        if run not in resumable:
            log.write(f"# removed {run.relative_to(task_dir)}: no checkpoint to resume from; starting afresh\n")
            shutil.rmtree(run)
    if len(resumable) > 1:
        raise RuntimeError(f"{len(resumable)} run directories with a checkpoint in {task_dir / 'runs'}; keep one")
    return resumable[0] if resumable else None


def start_run(command: list, cwd: Path, log, threads: int) -> int:
    """Run one command to its end, passing on the stop signals this process receives; its exit code."""
    # each run gets its share of the cores, so that parallel runs do not fight over threads
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    run = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    running.add(run)
    if stop_requests:  # a signal that came while the run was starting
        run.send_signal(stop_requests[-1])
    try:
        return run.wait()
    finally:
        running.discard(run)


def run_task(task: dict, threads: int) -> int:
    """Run one task in its directory, or resume its run from the checkpoint; leave `done` (naming the run
    directory), `stopped` or `failed` behind. Returns 0 (done), STOPPED, or another exit code (failed)."""
    task_dir = Path(task["dir"])
    task_dir.mkdir(parents=True, exist_ok=True)
    for marker in ("failed", "stopped"):
        (task_dir / marker).unlink(missing_ok=True)
    with open(task_dir / "log.txt", "a") as log:
        try:
            resume = run_to_resume(task_dir, log)
        except RuntimeError as e:
            log.write(f"# error: {e}\n")
            (task_dir / "failed").write_text(f"{e}\n")
            return 1
        command = task["command"] + (["--resume", str(resume.relative_to(task_dir))] if resume else [])
        log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(command)}\n")
        log.flush()
        code = start_run(command, task_dir, log, threads)
    runs = sorted((task_dir / "runs").glob("*"))
    if code == 0 and len(runs) == 1:
        (task_dir / "done").write_text(runs[0].name + "\n")
        return 0
    # a run killed by a stop signal (before it could handle it) resumes from its last checkpoint, if any, too
    if code == STOPPED or (code < 0 and stop_requests):
        (task_dir / "stopped").write_text(f"exit code {code}; run again, it resumes from its last checkpoint\n")
        return STOPPED
    (task_dir / "failed").write_text(f"exit code {code}; see {task_dir / 'log.txt'}\n")
    return code or 1


def run_local(tasks: list, workers: int) -> int:
    """Run the tasks on this machine, `workers` at a time; report each failure and go on. Returns 1 if a run
    failed, else STOPPED if a stop signal stopped some, else 0."""
    threads = max(1, (os.cpu_count() or 1) // workers)

    def run(task):
        if stop_requests:
            print(f"not started: {task['dir']}", flush=True)
            return STOPPED
        code = run_task(task, threads)
        outcome = {0: "done", STOPPED: "stopped"}.get(code, "FAILED")
        print(f"{outcome}: {task['dir']}" + (f" (see {task['dir']}/log.txt)" if code else ""), flush=True)
        return code

    with ThreadPoolExecutor(max_workers=workers) as pool:
        codes = list(pool.map(run, tasks))
    stopped = codes.count(STOPPED)
    failed = len(codes) - codes.count(0) - stopped
    print(
        f"{codes.count(0)} runs done, {failed} failed, {stopped} stopped"
        + (" (run the sweep again)" if stopped else "")
    )
    return 1 if failed else STOPPED if stopped else 0


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
    if is_done(task):  # a task requeued after it finished
        print(f"done already: {task['dir']}")
        return 0
    code = run_task(task, int(os.environ.get("SLURM_CPUS_PER_TASK", "1")))
    outcome = {0: "done", STOPPED: "stopped"}.get(code, "FAILED")
    print(f"{outcome}: {task['dir']} (its output: {task['dir']}/log.txt)", flush=True)
    if code == STOPPED and "SLURM_ARRAY_JOB_ID" in os.environ:
        print(requeue_slurm_task(), flush=True)
    return code


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
        "--workers", type=int, default=os.cpu_count() or 1, help="runs at once (each gets cores/workers threads)"
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
    tasks = make_tasks(args.out, args.scripts, args.envs, args.seeds, args.script_args, args.checkpoint_frequency)
    pending = [task for task in tasks if not is_done(task)]
    print(f"{len(tasks)} runs in the sweep: {len(tasks) - len(pending)} already done, {len(pending)} to run")
    if not pending:
        return 0
    if args.slurm:
        # without checkpoints a warning would only stop runs that have nothing to resume from
        warning = args.time_limit_warning if args.checkpoint_frequency else None
        return submit_slurm(pending, args.out, args.workers, shlex.split(args.sbatch_args), warning)
    return run_local(pending, args.workers)


if __name__ == "__main__":
    sys.exit(main())
