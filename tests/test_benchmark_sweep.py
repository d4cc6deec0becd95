"""benchmark/: sweeps with tiny budgets, here and on a real single-node Slurm cluster started by the test."""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ROOT, SCRIPTS, read_scalars, run_dirs, run_script

sys.path.insert(0, str(ROOT / "benchmark"))
import sweep as sweep_py  # noqa: E402

# real sweeps, here and on a Slurm cluster: minutes, not in the quick check; on one pytest-xdist worker, as the Slurm
# tests each start a cluster on this host
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sweeps")]

TINY = ("--total-timesteps", "300", "--learning-starts", "200", "--batch-size", "32", "--eval-episodes", "1")
# runs that stop and resume, STEPS long, with a checkpoint at the first episode end (Pendulum's episodes: 200 steps)
# after every 500 steps: the first at step 600
RESUMABLE = ("--learning-starts", "500", "--batch-size", "64", "--eval-episodes", "2")
CHECKPOINTS = ("--checkpoint-frequency", "500")  # a sweep option, which the sweep passes on to every run
STEPS, EPISODE, FIRST_CHECKPOINT = 3000, 200, 600
SWEEP = ROOT / "benchmark" / "sweep.py"


def sweep(out: Path, envs: str, report: str = "", check_status=None, **env) -> subprocess.CompletedProcess:
    """benchmark/run_sweep.sh as the launchers run it: both scripts x ENVs x 2 seeds, 2 at a time, tiny budgets."""
    command = ["bash", str(ROOT / "benchmark" / "run_sweep.sh"), str(out), envs, report, "--", *TINY]
    environment = {**os.environ, "SEEDS": "2", "WORKERS": "2", **env}
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    if check_status is not None:
        assert result.returncode == check_status, result.stdout + result.stderr
    return result


def task_dirs(out: Path, marker: str) -> list:
    return sorted(str(path.parent.relative_to(out)) for path in out.rglob(marker))


def test_local_sweep_runs_reports_failures_and_resumes(tmp_path):
    out = tmp_path / "sweep"
    first = sweep(out, "Pendulum-v1 NoSuchEnv-v0", str(tmp_path / "report"), check_status=1)
    done = [
        f"{script}/Pendulum-v1/seed{seed}"
        for script in ("ddpg_continuous_action", "ddpg_continuous_action_jax")
        for seed in (1, 2)
    ]
    assert task_dirs(out, "done") == done
    assert task_dirs(out, "failed") == [d.replace("Pendulum-v1", "NoSuchEnv-v0") for d in done]
    assert "4 runs done, 4 failed" in first.stdout and first.stdout.count("FAILED:") == 4
    failed_task = out / "ddpg_continuous_action" / "NoSuchEnv-v0" / "seed1"
    assert "doesn't exist" in (failed_task / "log.txt").read_text()
    reason = "exit code 1: error: --env-id NoSuchEnv-v0: "  # the script's `error: ` line
    assert (failed_task / "failed").read_text().startswith(reason)
    assert f"FAILED: {failed_task}: {reason}" in first.stdout
    assert not (out / "variants.json").exists()  # a sweep without variants is laid out as it always was
    report = (tmp_path / "report" / "results.md").read_text()
    assert (
        "| Pendulum-v1 | PyTorch | eval | 2 | 300 |" in report and "| Pendulum-v1 | JAX | train | 2 | 300 |" in report
    )
    assert (tmp_path / "report" / "Pendulum-v1.png").stat().st_size > 10_000
    provenance = (tmp_path / "report" / "provenance.md").read_text()  # what the runs ran, recorded by the sweep
    for script in SCRIPTS.values():
        last_commit = subprocess.run(["git", "log", "-1", "--format=%H", "--", script.name], cwd=ROOT,
                                     capture_output=True, text=True).stdout.strip()  # fmt: skip
        assert f"{script.name} at commit {last_commit}" in provenance or not last_commit
        assert f"(file sha256 {hashlib.sha256(script.read_bytes()).hexdigest()}): 2 runs" in provenance
    assert "| Pendulum-v1 | - | JAX | 1-2 |" in provenance

    stamps = {path: path.stat().st_mtime for path in out.rglob("done")}
    second = sweep(out, "Pendulum-v1 NoSuchEnv-v0", check_status=1)
    assert "8 runs in the sweep: 4 already done, 4 to run" in second.stdout
    assert {path: path.stat().st_mtime for path in out.rglob("done")} == stamps  # finished runs are not run again
    assert all(len(list((out / d / "runs").iterdir())) == 1 for d in done)


def test_tasks_without_variants_are_as_before_and_a_variants_arguments_come_after_the_common_ones(tmp_path):
    """A sweep without variants keeps its task directories and commands (a stopped run resumes only with the
    arguments it started with); a variant's tasks lie below OUT/{variant}/, its arguments after the common ones."""
    options = (["Pendulum-v1"], 1, ["--tau", "0.01"], 500)
    (plain,) = sweep_py.make_tasks(tmp_path, [SCRIPTS["torch"].name], *options)
    assert plain["dir"] == str(tmp_path / "ddpg_continuous_action" / "Pendulum-v1" / "seed1")
    start = [sys.executable, str(SCRIPTS["torch"]), "--env-id", "Pendulum-v1", "--seed", "1", "--tau", "0.01"]
    assert plain["command"] == [*start, "--checkpoint-frequency", "500"]
    variants = [{"name": "slow", "args": ["--tau", "0.001"]}, {"name": "plain", "args": []}]
    slow, plain_variant = sweep_py.make_tasks(tmp_path, [SCRIPTS["torch"].name], *options, variants)
    assert slow["dir"] == str(tmp_path / "slow" / "ddpg_continuous_action" / "Pendulum-v1" / "seed1")
    assert slow["command"] == [*start, "--tau", "0.001", "--checkpoint-frequency", "500"]  # the last --tau counts
    assert plain_variant["command"] == plain["command"]


# a variant sweep's variants: two noises, and one that the scripts refuse at once
VARIANTS = {
    "gaussian": "--exploration-noise-type gaussian", "ou": "--exploration-noise-type ou", "bad": "--learning-rate -1"
}


def tiny_sweep(out: Path, *options: str, script_args=()) -> list:
    """sweep.py's command for TINY runs of the PyTorch script on Pendulum-v1, seed 1, 2 at a time (`options` come
    after these: an option given twice, the last wins)."""
    return [sys.executable, str(SWEEP), "--out", str(out), "--envs", "Pendulum-v1", "--scripts", SCRIPTS["torch"].name,
            "--seeds", "1", "--workers", "2", *options, "--", *TINY, *script_args]  # fmt: skip


def variants_option(variants: dict) -> list:
    return ["--variants", *(f"{name}={args}" for name, args in variants.items())]


def run_command(command: list) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def test_variant_sweep_lays_out_its_variants_gives_the_reason_of_a_failure_and_resumes(tmp_path):
    out = tmp_path / "sweep"
    # the common --learning-rate is a good one: the `bad` variant's, after it, wins
    first = run_command(tiny_sweep(out, *variants_option(VARIANTS), script_args=("--learning-rate", "0.001")))
    assert first.returncode == 1 and "2 runs done, 1 failed, 0 stopped, 0 running elsewhere" in first.stdout, first
    recorded = [{"name": name, "args": args.split()} for name, args in VARIANTS.items()]
    assert json.loads((out / "variants.json").read_text()) == {"variants": recorded}
    task = "{}/ddpg_continuous_action/Pendulum-v1/seed1".format
    assert task_dirs(out, "done") == [task("gaussian"), task("ou")] and task_dirs(out, "failed") == [task("bad")]
    reason = "exit code 1: error: --learning-rate must be positive"
    assert (out / task("bad") / "failed").read_text().startswith(reason)
    assert f"FAILED: {out / task('bad')}: {reason}" in first.stdout

    stamps = {path: path.stat().st_mtime_ns for path in out.rglob("done")}
    # started again with a new variant, appended: one whose run diverges, failed with the script's line as reason
    added = {**VARIANTS, "blowup": "--learning-rate 1e30 --critic-learning-rate 1e30"}
    second = run_command(tiny_sweep(out, *variants_option(added), script_args=("--learning-rate", "0.001")))
    assert second.returncode == 1 and "4 runs in the sweep: 2 already done, 2 to run" in second.stdout, second
    assert {path: path.stat().st_mtime_ns for path in out.rglob("done")} == stamps
    assert [variant["name"] for variant in json.loads((out / "variants.json").read_text())["variants"]] == list(added)
    assert task_dirs(out, "failed") == [task("bad"), task("blowup")]
    assert (out / task("blowup") / "failed").read_text().startswith("exit code 3: error: diverged at step 300: losses/")


def snapshot(directory: Path) -> dict:
    """Every path below `directory`, and itself, with its mtime and, for a file, its content."""
    paths = [directory, *directory.rglob("*")]
    return {path: (path.stat().st_mtime_ns, path.read_bytes() if path.is_file() else None) for path in paths}


def test_sweep_that_does_not_fit_its_out_is_refused_in_one_line_and_writes_nothing(tmp_path):
    variant_out, plain_out = tmp_path / "variants", tmp_path / "plain"
    variant_out.mkdir()
    (variant_out / "variants.json").write_text(json.dumps({"variants": [{"name": "ou", "args": ["--tau", "0.1"]}]}))
    (plain_out / "ddpg_continuous_action" / "Pendulum-v1" / "seed1").mkdir(parents=True)
    before = snapshot(tmp_path)
    for out, options, error in [
        (variant_out, variants_option(VARIANTS), "error: variant ou is '--tau 0.1' in "),  # a name redefined
        (variant_out, [], "error: " + f"{variant_out} is a sweep of variants"),  # no variants in a sweep of them
        (plain_out, variants_option(VARIANTS), f"error: {plain_out} holds a sweep without variants"),
    ]:
        refused = run_command(tiny_sweep(out, *options))
        assert refused.returncode == 2 and refused.stdout == "", refused
        (line,) = refused.stderr.splitlines()
        assert line.startswith(error), line
    assert snapshot(tmp_path) == before


# holds a POSIX lock on the file it is given until it is killed; a lock of this process would not keep its own
# threads out, so the test's lock holder is a process of its own
HOLD_LOCK = "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True)"
HOLD_LOCK += "; sys.stdin.read()"


def test_task_locked_by_another_process_is_left_alone_until_the_holder_is_killed(tmp_path):
    out = tmp_path / "sweep"
    task = task_dir(out, "torch")
    (task / "runs" / "killed-before-its-first-checkpoint").mkdir(parents=True)  # what a task runner would remove
    (task / "stopped").write_text("exit code 75\n")
    (task / "log.txt").write_text("# an earlier attempt\n")
    command = [sys.executable, "-c", HOLD_LOCK, str(task / "lock")]
    holder = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    before = snapshot(task)
    skipped = run_command(tiny_sweep(out))
    assert skipped.returncode == 75 and f"running elsewhere: {task}\n" in skipped.stdout, skipped
    assert "0 runs done, 0 failed, 0 stopped, 1 running elsewhere" in skipped.stdout
    assert snapshot(task) == before  # no marker, run directory or log touched

    holder.kill()  # SIGKILL: no chance to unlock; the kernel releases the lock
    holder.wait()
    again = run_command(tiny_sweep(out))
    assert again.returncode == 0 and "1 runs done, 0 failed, 0 stopped, 0 running elsewhere" in again.stdout, again
    assert (task / "done").exists() and not (task / "stopped").exists()
    assert "removed runs/killed-before-its-first-checkpoint" in (task / "log.txt").read_text()


def test_two_sweeps_at_once_on_one_out_run_every_task_once(tmp_path):
    out = tmp_path / "sweep"
    # a task that runs and one that fails at once, each sweep one at a time
    command = tiny_sweep(out, "--envs", "Pendulum-v1", "NoSuchEnv-v0", "--workers", "1")
    sweeps = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=300)[0] for process in sweeps]
    assert all(process.returncode in (1, 75) for process in sweeps), outputs  # a failure was seen by either
    assert len(task_dirs(out, "done")) == 1 and len(task_dirs(out, "failed")) == 1, outputs
    counts = [re.search(r"^(\d+) runs done, (\d+) failed", output, re.MULTILINE).groups() for output in outputs]
    assert [sum(int(count[i]) for count in counts) for i in (0, 1)] == [1, 1], outputs  # by the sweep that ran it
    for log in out.rglob("log.txt"):
        assert len(re.findall(r"^# \d{4}-\d\d-\d\d ", log.read_text(), re.MULTILINE)) == 1, log  # one attempt


# What `scontrol requeue` does to a running task (seen on slurm-wlm 22.05): SIGCONT and SIGTERM to every process of
# the job, SIGKILL KillWait seconds later; the task goes back to PENDING, not held, with Reason=BeginTime and a begin
# time of its end + cred_expire + 1 s (121 s by default; 11 s here), after which the main scheduling loop starts it
# (every sched_interval, default 60 s; 1 s here). Its Slurm log is truncated unless --open-mode=append.
SLURM_CONF = """ClusterName=ddpgtest
SlurmctldHost={host}
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
SlurmUser={user}
ReturnToService=2
MpiDefault=none
KillWait=30
AuthInfo=cred_expire=10
SchedulerParameters=sched_interval=1,bf_interval=1
NodeName={host} CPUs={cpus} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def slurm(tmp_path):
    """A real single-node Slurm cluster (slurmctld + slurmd, no munge) for the length of a test."""
    if not shutil.which("slurmctld"):
        pytest.skip("Slurm is not installed here; .ci/run installs Debian's slurm-wlm")
    directory = tmp_path / "slurm"
    (directory / "state").mkdir(parents=True)
    (directory / "spool").mkdir()
    host = socket.gethostname().split(".")[0]
    conf = SLURM_CONF.format(
        host=host,
        ctld_port=free_port(),
        d_port=free_port(),
        dir=directory,
        user=os.environ.get("USER", "root"),
        cpus=os.cpu_count(),
    )
    (directory / "slurm.conf").write_text(conf)
    env = {**os.environ, "SLURM_CONF": str(directory / "slurm.conf")}
    daemons = [
        subprocess.Popen([daemon, "-D", *flags], env=env) for daemon, flags in (("slurmctld", ["-i"]), ("slurmd", []))
    ]
    try:
        deadline = time.time() + 60
        while "idle" not in subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout:
            assert time.time() < deadline, (directory / "slurmctld.log").read_text()[-2000:]
            time.sleep(0.5)
        yield env
    finally:
        for daemon in daemons:
            daemon.terminate()
            daemon.wait(timeout=30)


def test_slurm_sweep_runs_as_one_array_job_with_a_log_per_task(tmp_path, slurm):
    out = tmp_path / "sweep"
    submitted = sweep(
        out, "Pendulum-v1 NoSuchEnv-v0", "report", check_status=0, SLURM="1", SBATCH_ARGS="--cpus-per-task=1", **slurm
    )
    assert "submitted Slurm array job" in submitted.stdout and "8 tasks" in submitted.stdout
    job_id = job_of(submitted)
    wait_until(lambda: not squeue(job_id, slurm), 300, "the array job did not finish")
    assert len(task_dirs(out, "done")) == 4 and len(task_dirs(out, "failed")) == 4
    logs = sorted((out / "slurm").glob(f"{job_id}_*.log"))
    assert [log.name for log in logs] == [f"{job_id}_{i}.log" for i in range(8)]
    resumed = sweep(out, "Pendulum-v1 NoSuchEnv-v0", check_status=0, SLURM="1", **slurm)
    assert "4 already done, 4 to run" in resumed.stdout  # only the failed tasks are submitted again


def squeue(job_id: str, env: dict) -> str:
    """The job's tasks still in the queue (pending, running or completing), one `TASK STATE` a line."""
    return subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%i %T"], env=env, capture_output=True, text=True).stdout


def job_of(submitted: subprocess.CompletedProcess) -> str:
    return submitted.stdout.split("submitted Slurm array job ")[1].split(":")[0]


def wait_until(condition, seconds: float, message: str):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, f"{message} in {seconds} s"
        time.sleep(0.5)


def resumable_sweep(out: Path, *options: str, steps: int = STEPS) -> list:
    """sweep.py's command for RESUMABLE runs of Pendulum-v1, seed 1 (both scripts unless --scripts), one thread each."""
    return [sys.executable, str(SWEEP), "--out", str(out), "--envs", "Pendulum-v1", "--seeds", "1",
            "--workers", str(os.cpu_count()), *CHECKPOINTS, *options,
            "--", "--total-timesteps", str(steps), *RESUMABLE]  # fmt: skip


def task_dir(out: Path, script: str) -> Path:
    return out / SCRIPTS[script].stem / "Pendulum-v1" / "seed1"


def has_checkpoint(task: Path) -> bool:
    return any(task.glob("runs/*/checkpoint.pt")) or any(task.glob("runs/*/checkpoint.npz"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    """Each script's final evaluation in the run that RESUMABLE's task would be if nothing stopped it."""

    def final_eval(script: str) -> float:
        cwd = tmp_path_factory.mktemp(f"uninterrupted_{script}")
        args = ("--env-id", "Pendulum-v1", "--seed", "1", "--total-timesteps", str(STEPS), *RESUMABLE, *CHECKPOINTS)
        run_script(SCRIPTS[script], cwd, *args, OMP_NUM_THREADS="1")
        return read_scalars(run_dirs(cwd)[0])["eval/episodic_return"][-1][1]

    with ThreadPoolExecutor(len(SCRIPTS)) as pool:
        return dict(zip(SCRIPTS, pool.map(final_eval, SCRIPTS)))


def resumed_run(task: Path, steps: int = STEPS) -> tuple:
    """The task's one run directory, which stopped and resumed, its TensorBoard log (each step once in every tag, no
    episode missing) and the step it first stopped at."""
    (run,) = run_dirs(task)
    log = (task / "log.txt").read_text()
    stopped_at = int(re.search(r"stopped at step (\d+)", log).group(1))
    assert f"resuming runs/{run.name} at step {stopped_at} of {steps}" in log
    scalars = read_scalars(run)
    for tag, points in scalars.items():
        logged = [step for step, _ in points]
        assert logged == sorted(set(logged)), f"{tag}: a step logged twice"
    episode_ends = [step for step, _ in scalars["charts/episodic_length"]]
    assert episode_ends == list(range(EPISODE, EPISODE * len(episode_ends) + 1, EPISODE))  # none missing
    return run, scalars, stopped_at


def assert_done_as_if_never_stopped(task: Path, final_eval: float) -> int:
    """The task stopped, resumed and finished: `done` names its one run directory, whose final evaluation is that
    of the run nothing stopped. Returns the step it stopped at."""
    run, scalars, stopped_at = resumed_run(task)
    assert (task / "done").read_text().strip() == run.name and not (task / "stopped").exists()
    assert (
        scalars["eval/episodic_return"][-1] == (STEPS, final_eval)
        and len(scalars["charts/episodic_length"]) == STEPS // EPISODE
    )
    return stopped_at


def test_local_sweep_stopped_by_sigterm_resumes_when_started_again(tmp_path, uninterrupted):
    out = tmp_path / "sweep"
    task = task_dir(out, "torch")
    (task / "runs" / "killed-before-its-first-checkpoint").mkdir(parents=True)
    command = resumable_sweep(out, "--scripts", SCRIPTS["torch"].name)
    sweep_process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_until(lambda: has_checkpoint(task), 120, "no checkpoint")
    sweep_process.send_signal(signal.SIGTERM)  # passed on to the run, which saves at its next episode end
    output = sweep_process.communicate(timeout=120)[0]
    assert sweep_process.returncode == 75 and "0 runs done, 0 failed, 1 stopped" in output, output
    assert (task / "stopped").exists() and not (task / "done").exists()
    assert "removed runs/killed-before-its-first-checkpoint: no checkpoint" in (task / "log.txt").read_text()

    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0 and "1 runs done, 0 failed, 0 stopped" in again.stdout, again.stdout + again.stderr
    assert_done_as_if_never_stopped(task, uninterrupted["torch"])


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(("scontrol", "requeue"), id="requeued"),  # as preemption: SIGTERM to all, then Slurm requeues
        pytest.param(("scancel", "--batch", "--signal=USR1"), id="warned"),  # --signal=B:USR1's time-limit warning
    ],
)
def test_slurm_task_stopped_while_it_runs_comes_back_and_resumes(tmp_path, slurm, uninterrupted, stop):
    out = tmp_path / "sweep"
    command = resumable_sweep(out, "--slurm", "--sbatch-args=--cpus-per-task=1")
    job_id = job_of(subprocess.run(command, cwd=ROOT, env=slurm, capture_output=True, text=True, check=True))
    tasks = {f"{job_id}_{index}": (script, task_dir(out, script)) for index, script in enumerate(SCRIPTS)}
    running = dict(tasks)
    while running:  # each task is stopped as soon as its first checkpoint is on disk: in the middle of an episode
        for task_id, (_, task) in list(running.items()):
            if has_checkpoint(task):
                subprocess.run([*stop, task_id], env=slurm, check=True)
                del running[task_id]
        assert squeue(job_id, slurm), "the tasks ended before their first checkpoint"
        time.sleep(0.2)
    wait_until(lambda: not squeue(job_id, slurm), 240, "the stopped tasks did not come back and finish")

    for task_id, (script, task) in tasks.items():
        stopped_at = assert_done_as_if_never_stopped(task, uninterrupted[script])
        assert stopped_at % EPISODE == 0 and stopped_at > FIRST_CHECKPOINT  # went on to its next episode end
        slurm_log = (out / "slurm" / f"{task_id}.log").read_text()
        assert "stopped: " in slurm_log and "done: " in slurm_log  # both attempts, in one log
        # what brought a warned task back (for a requeued one, a no-op: Slurm was requeuing it already)
        assert f"scontrol requeue Incomplete {task_id}: exit code 0" in slurm_log


def test_slurm_task_at_its_time_limit_checkpoints_requeues_itself_and_resumes(tmp_path, slurm):
    """A real time limit: --time=1 and the warning 15 s before it. Slurm checks time limits every 30 s, so the warning
    comes 15-45 s into the minute: the run, far longer, stops at its next episode end, the task requeues itself and
    resumes in a new allocation. There the test cancels it: a cancelled task stays cancelled."""
    out = tmp_path / "sweep"
    options = ("--scripts", SCRIPTS["torch"].name, "--slurm", "--time-limit-warning", "15")
    command = resumable_sweep(out, *options, "--sbatch-args=--cpus-per-task=1 --time=1", steps=1_000_000)
    job_id = job_of(subprocess.run(command, cwd=ROOT, env=slurm, capture_output=True, text=True, check=True))
    task = task_dir(out, "torch")
    wait_until(lambda: "resuming" in read(task / "log.txt"), 120, "the run did not resume")
    subprocess.run(["scancel", job_id], env=slurm, check=True)
    wait_until(lambda: not squeue(job_id, slurm), 60, "the cancelled task did not end")

    _, _, stopped_at = resumed_run(task, steps=1_000_000)
    assert f"stopped at step {stopped_at} (signal {signal.SIGUSR1:d})" in read(task / "log.txt")
    assert (task / "stopped").exists()  # stopped by scancel's SIGTERM: a sweep started again would resume it
    requeues = re.findall(
        rf"scontrol requeue Incomplete {job_id}_0: exit code 0", read(out / "slurm" / f"{job_id}_0.log")
    )
    assert len(requeues) == 2  # the one after the warning brought it back; the one after scancel did nothing


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""
