"""A sweep as one Slurm array job (sweep.py --slurm; the rest of the sweep's semantics in sweep.py's docstring):
submitting it, and running one of its tasks.

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
"""

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from sweep_task import DONE_ALREADY, FAILED_ALREADY, RUNNING_ELSEWHERE, STOPPED, outcome, run_task

SWEEP = str(Path(__file__).with_name("sweep.py"))  # each array task runs `sweep.py --run-task TASK_FILE --index N`


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
    run_one = f"{shlex.quote(sys.executable)} {shlex.quote(SWEEP)} --run-task {shlex.quote(str(task_file))} --index"
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
