"""benchmark/: sweeps with tiny budgets, here and on a real single-node Slurm cluster started by the test."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

TINY = ("--total-timesteps", "300", "--learning-starts", "200", "--batch-size", "32", "--eval-episodes", "1")


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
    assert "doesn't exist" in (out / "ddpg_continuous_action" / "NoSuchEnv-v0" / "seed1" / "log.txt").read_text()
    report = (tmp_path / "report" / "results.md").read_text()
    assert (
        "| Pendulum-v1 | PyTorch | eval | 2 | 300 |" in report and "| Pendulum-v1 | JAX | train | 2 | 300 |" in report
    )
    assert (tmp_path / "report" / "Pendulum-v1.png").stat().st_size > 10_000

    stamps = {path: path.stat().st_mtime for path in out.rglob("done")}
    second = sweep(out, "Pendulum-v1 NoSuchEnv-v0", check_status=1)
    assert "8 runs in the sweep: 4 already done, 4 to run" in second.stdout
    assert {path: path.stat().st_mtime for path in out.rglob("done")} == stamps  # finished runs are not run again
    assert all(len(list((out / d / "runs").iterdir())) == 1 for d in done)


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
    job_id = submitted.stdout.split("submitted Slurm array job ")[1].split(":")[0]
    deadline = time.time() + 300
    while subprocess.run(["squeue", "-h", "-j", job_id], env=slurm, capture_output=True, text=True).stdout.strip():
        assert time.time() < deadline, "the array job did not finish in 5 minutes"
        time.sleep(2)
    assert len(task_dirs(out, "done")) == 4 and len(task_dirs(out, "failed")) == 4
    logs = sorted((out / "slurm").glob(f"{job_id}_*.log"))
    assert [log.name for log in logs] == [f"{job_id}_{i}.log" for i in range(8)]
    resumed = sweep(out, "Pendulum-v1 NoSuchEnv-v0", check_status=0, SLURM="1", **slurm)
    assert "4 already done, 4 to run" in resumed.stdout  # only the failed tasks are submitted again
