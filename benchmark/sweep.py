"""Run a sweep of DDPG runs (scripts x envs x seeds) on this machine or as one Slurm array job.

Each run gets a task directory OUT/{script}/{env_id}/seed{seed}/ holding the script's `runs/`, a `log.txt`,
and a `done` marker (naming the finished run directory) or a `failed` one. A sweep started again skips the
tasks that are done and runs the others, so an interrupted sweep resumes where it stopped.

    python benchmark/sweep.py --out benchmark/runs/quick --envs Pendulum-v1 --seeds 3 -- --total-timesteps 15000
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ("ddpg_continuous_action.py", "ddpg_continuous_action_jax.py")


def make_tasks(out: Path, scripts, envs, seeds: int, script_args) -> list:
    """One task per script x env x seed: where it runs and the command it runs there."""
    return [
        {
            "dir": str(out / Path(script).stem / env_id / f"seed{seed}"),
            "command": [sys.executable, str(ROOT / script), "--env-id", env_id, "--seed", str(seed), *script_args],
        }
        for script in scripts
        for env_id in envs
        for seed in range(1, seeds + 1)
    ]


def is_done(task: dict) -> bool:
    return (Path(task["dir"]) / "done").exists()


def run_task(task: dict, threads: int) -> int:
    """Run one task in its directory; leave `done` (with the run directory's name) or `failed` behind."""
    task_dir = Path(task["dir"])
    task_dir.mkdir(parents=True, exist_ok=True)
    (task_dir / "failed").unlink(missing_ok=True)
    before = set((task_dir / "runs").glob("*"))
    # each run gets its share of the cores, so that parallel runs do not fight over threads
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    with open(task_dir / "log.txt", "a") as log:
        log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(task['command'])}\n")
        log.flush()
        code = subprocess.call(task["command"], cwd=task_dir, stdout=log, stderr=subprocess.STDOUT, env=env)
    new_runs = sorted(set((task_dir / "runs").glob("*")) - before)
    if code == 0 and len(new_runs) == 1:
        (task_dir / "done").write_text(new_runs[0].name + "\n")
        return 0
    (task_dir / "failed").write_text(f"exit code {code}; see {task_dir / 'log.txt'}\n")
    return code or 1


def run_local(tasks: list, workers: int) -> int:
    """Run the tasks on this machine, `workers` at a time; report each failure and go on."""
    threads = max(1, (os.cpu_count() or 1) // workers)

    def run(task):
        code = run_task(task, threads)
        print(
            f"{'done' if code == 0 else 'FAILED'}: {task['dir']}" + (f" (see {task['dir']}/log.txt)" if code else ""),
            flush=True,
        )
        return code

    with ThreadPoolExecutor(max_workers=workers) as pool:
        codes = list(pool.map(run, tasks))
    failed = sum(code != 0 for code in codes)
    print(f"{len(codes) - failed} runs done, {failed} failed")
    return 1 if failed else 0


def submit_slurm(tasks: list, out: Path, workers: int, sbatch_args) -> int:
    """Submit the tasks as one Slurm array job (at most `workers` running at once); logs in OUT/slurm/."""
    (out / "slurm").mkdir(parents=True, exist_ok=True)
    task_file = out / "slurm" / f"tasks-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.json"
    task_file.write_text(json.dumps(tasks, indent=1))
    run_one = f"{shlex.quote(sys.executable)} {shlex.quote(__file__)} --run-task {shlex.quote(str(task_file))} --index"
    command = [
        "sbatch", "--parsable", f"--array=0-{len(tasks) - 1}%{workers}", "--job-name=ddpg-sweep",
        f"--output={out / 'slurm' / '%A_%a.log'}", *sbatch_args,
        f"--wrap={run_one} $SLURM_ARRAY_TASK_ID",
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
    parser.add_argument("--slurm", action="store_true", help="submit one Slurm array job instead of running here")
    parser.add_argument(
        "--sbatch-args", default="", help="extra sbatch options, e.g. '--cpus-per-task=2 --time=12:00:00'"
    )
    parser.add_argument("--run-task", type=Path, help=argparse.SUPPRESS)  # a Slurm array task: the task file ...
    parser.add_argument("--index", type=int, help=argparse.SUPPRESS)  # ... and its index in it
    parser.add_argument("script_args", nargs="*", help="arguments for every run, after --")
    args = parser.parse_args(argv)

    if args.run_task:
        task = json.loads(args.run_task.read_text())[args.index]
        code = run_task(task, int(os.environ.get("SLURM_CPUS_PER_TASK", "1")))
        print(f"{'done' if code == 0 else 'FAILED'}: {task['dir']} (its output: {task['dir']}/log.txt)")
        return code
    if args.out is None or not args.envs or args.seeds < 1 or args.workers < 1:
        parser.error("give --out, at least one of --envs, and positive --seeds and --workers")
    tasks = make_tasks(args.out, args.scripts, args.envs, args.seeds, args.script_args)
    pending = [task for task in tasks if not is_done(task)]
    print(f"{len(tasks)} runs in the sweep: {len(tasks) - len(pending)} already done, {len(pending)} to run")
    if not pending:
        return 0
    if args.slurm:
        return submit_slurm(pending, args.out, args.workers, shlex.split(args.sbatch_args))
    return run_local(pending, args.workers)


if __name__ == "__main__":
    sys.exit(main())
