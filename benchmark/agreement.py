"""How long a PyTorch run and a JAX run with the same seed and options stay the same run.

    python benchmark/agreement.py --out benchmark/results/agreement

Both scripts draw their initial weights and every random number (random actions, exploration noise, buffer
sampling, env resets) from the same numpy generators in the same order, so the two runs of one seed differ only
by float rounding, until that rounding grows. For every env x exploration noise x seed, each script runs once,
in a fresh process, in-process there (runpy), so that its filled replay buffer can be read from its globals;
its TensorBoard log gives the losses and the evaluation returns. The report, in env steps past learning_starts:

- the first transition whose observation or action differs between the runs by more than 1e-6, 1e-3 and 1e-1
  (max absolute difference over the components of obs and action; step 0 is the first action of the actor);
- the last `losses/qf1_loss` step (logged every 100 steps) up to which the losses agree within 1%:
  |a - b| <= 0.01 * max(|a|, |b|) at that step and at every logged step before it;
- the first `eval/episodic_return` step whose means differ by more than 1% of the return's scale, the largest
  absolute mean evaluation return of either run.

Before learning_starts the actions are random draws from the env's action space: those transitions (obs, action,
reward) must be bit-identical, and the script stops with the evidence if they are not. A value of "> N" means the
runs still agreed at the end of the run, N steps past learning_starts (inf in the CSV).

Every run gets one thread (OMP_NUM_THREADS=1, XLA single-threaded), and all of them run a copy of the two scripts
taken at the start, so that an edit made meanwhile cannot mix two versions in one table.
"""

import argparse
import csv
import hashlib
import os
import runpy
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from speed import ROOT, SCRIPTS, measure_in_subprocess  # a fresh Python process per measurement

BUFFER_FIELDS = ("obs", "actions", "rewards")
THRESHOLDS = (1e-6, 1e-3, 1e-1)
RELATIVE = 0.01  # losses and evaluation returns agree within 1%


def record_run(script: str, script_args: list, out: str) -> float:
    """Run one script (a path) in this process, in `out` as cwd, and save there its buffer and its logged scalars as
    .npy files: `{field}.npy` for the buffer, `{tag with / as _}.npy` as (step, value) rows. Returns its seconds."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    os.chdir(out)
    sys.argv = [script, *script_args]
    start = time.time()
    ddpg = runpy.run_path(script)  # its functions; then train as its __main__ does, keeping what the run built
    rb = ddpg["train"](*ddpg["parse_args"]())["rb"]
    seconds = time.time() - start
    for field in BUFFER_FIELDS:
        np.save(f"{field}.npy", getattr(rb, field)[: rb.size])
    (run_dir,) = Path("runs").iterdir()
    events = EventAccumulator(str(run_dir))
    events.Reload()
    for tag in ("losses/qf1_loss", "eval/episodic_return"):
        np.save(f"{tag.replace('/', '_')}.npy", np.array([(e.step, e.value) for e in events.Scalars(tag)]))
    return seconds


def load_run(directory: Path) -> dict:
    """What record_run saved in `directory`, by file name."""
    return {path.stem: np.load(path) for path in directory.glob("*.npy")}


def first_step_over(difference: np.ndarray, steps: np.ndarray, threshold: float) -> float:
    """The first step whose difference exceeds the threshold; inf if none does."""
    over = np.flatnonzero(difference > threshold)
    return float(steps[over[0]]) if len(over) else float("inf")


def compare(torch_run: dict, jax_run: dict, learning_starts: int) -> dict:
    """The agreement measures of one pair of runs (see the module docstring), in steps past learning_starts."""
    size = len(torch_run["obs"])
    assert len(jax_run["obs"]) == size, f"buffer sizes differ: {size} and {len(jax_run['obs'])}"
    for field in BUFFER_FIELDS:  # random actions from the same generator: bit-identical, or there is a bug
        a, b = torch_run[field][:learning_starts], jax_run[field][:learning_starts]
        if not np.array_equal(a, b):
            bad = np.flatnonzero((a != b).reshape(learning_starts, -1).any(1))
            raise SystemExit(f"BUG: {field} differ before learning_starts, first at step {bad[0]} of {len(bad)}: "
                             f"pytorch {a[bad[0]]}, jax {b[bad[0]]}")  # fmt: skip
    steps = np.arange(size) - learning_starts
    difference = np.maximum(*(np.abs(torch_run[f] - jax_run[f]).max(1) for f in ("obs", "actions")))
    row = {"run_steps": size - learning_starts, "random_steps_identical": True}
    row |= {f"transitions_differ_{t:g}": first_step_over(difference[learning_starts:], steps[learning_starts:], t)
            for t in THRESHOLDS}  # fmt: skip

    (loss_steps, a), (other_steps, b) = torch_run["losses_qf1_loss"].T, jax_run["losses_qf1_loss"].T
    assert np.array_equal(loss_steps, other_steps), "the two runs logged qf1_loss at different steps"
    apart = np.abs(a - b) > RELATIVE * np.maximum(np.abs(a), np.abs(b))
    agree = np.flatnonzero(np.cumsum(apart) == 0)  # the logged steps before the first disagreement
    row["losses_agree_until"] = loss_steps[agree[-1]] - learning_starts if len(agree) else float("nan")
    row["losses_disagree"] = bool(apart.any())

    (eval_steps, a), (other_steps, b) = torch_run["eval_episodic_return"].T, jax_run["eval_episodic_return"].T
    assert np.array_equal(eval_steps, other_steps), "the two runs evaluated at different steps"
    row["return_scale"] = float(np.abs(np.concatenate([a, b])).max())
    row["eval_differs"] = first_step_over(np.abs(a - b), eval_steps - learning_starts, RELATIVE * row["return_scale"])
    row["eval_max_difference"] = float(np.abs(a - b).max())
    return row


def script_args(env_id: str, noise: str, seed: int, total_timesteps: int, options) -> list:
    """The command line both scripts get."""
    return [
        "--env-id", env_id, "--exploration-noise-type", noise, "--seed", str(seed),
        "--total-timesteps", str(total_timesteps), "--learning-starts", str(options.learning_starts),
        "--eval-frequency", str(options.eval_frequency), "--eval-episodes", str(options.eval_episodes),
        "--batch-size", str(options.batch_size), "--n-step", str(options.n_step),
    ]  # fmt: skip


def median_cell(values: list, run_steps: int) -> str:
    """The median over seeds; '> N' where it lies past the end of the runs (runs that never came apart)."""
    median = float(np.median(values))
    return f"> {run_steps}" if median == float("inf") else "-" if np.isnan(median) else f"{median:g}"


def table(rows: list) -> str:
    """The Markdown table: one line per env x noise, medians over its seeds."""
    columns = [f"obs/action > {t:g}" for t in THRESHOLDS] + ["qf1_loss within 1% until", "eval returns differ > 1%"]
    keys = [f"transitions_differ_{t:g}" for t in THRESHOLDS] + ["losses_agree_until", "eval_differs"]
    lines = ["| env | noise | seeds | " + " | ".join(columns) + " |", "|---" * (len(columns) + 3) + "|"]
    for env_id, noise in dict.fromkeys((r["env_id"], r["noise"]) for r in rows):
        group = [r for r in rows if (r["env_id"], r["noise"]) == (env_id, noise)]
        cells = [median_cell([r[key] for r in group], group[0]["run_steps"]) for key in keys]
        lines.append(f"| {env_id} | {noise} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def snapshot_scripts(directory: Path) -> str:
    """Copy both scripts into `directory`, for every run to use; returns their names and content hashes."""
    versions = []
    for script in SCRIPTS.values():
        shutil.copy(ROOT / script, directory / script)
        versions.append(f"{script} sha256 {hashlib.sha256((directory / script).read_bytes()).hexdigest()[:12]}")
    return ", ".join(versions)


def run_pair(snapshot: Path, arguments: list) -> tuple:
    """Both scripts (from the snapshot) with the same arguments, each in a fresh process and a temporary directory;
    returns what each saved (see record_run) and its seconds, by framework."""
    runs, seconds = {}, {}
    with tempfile.TemporaryDirectory() as temp:
        for name, script in SCRIPTS.items():
            out = Path(temp) / name
            out.mkdir()
            script = str(snapshot / script)
            seconds[name] = measure_in_subprocess("record_run", script, arguments, str(out), module="agreement")
            runs[name] = load_run(out)
    return runs, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where agreement.csv and agreement.md go")
    parser.add_argument("--envs", nargs="+", default=["Pendulum-v1=6000", "Hopper-v4=8000"],
                        help="ENV_ID=TOTAL_TIMESTEPS for each env")  # fmt: skip
    parser.add_argument("--noise-types", nargs="+", default=["gaussian", "ou", "param"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--eval-frequency", type=int, default=1000)
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n-step", type=int, default=1, help="the scripts' --n-step")
    options = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by every run
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

    start, rows = time.time(), []
    with tempfile.TemporaryDirectory() as snapshot:
        versions = snapshot_scripts(Path(snapshot))
        for env_id, total_timesteps in (env.split("=") for env in options.envs):
            for noise in options.noise_types:
                for seed in options.seeds:
                    arguments = script_args(env_id, noise, seed, int(total_timesteps), options)
                    runs, seconds = run_pair(Path(snapshot), arguments)
                    row = {"env_id": env_id, "noise": noise, "seed": seed, "learning_starts": options.learning_starts}
                    row |= compare(runs["pytorch"], runs["jax"], options.learning_starts)
                    row |= {f"seconds_{name}": round(s, 1) for name, s in seconds.items()}
                    rows.append(row)
                    print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)

    options.out.mkdir(parents=True, exist_ok=True)
    with open(options.out / "agreement.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    command = "OMP_NUM_THREADS=1 python benchmark/agreement.py " + " ".join(sys.argv[1:] if argv is None else argv)
    context = (
        f"    {command}\n\nMedians over seeds, in env steps past learning_starts ({options.learning_starts}); "
        f"{time.time() - start:.0f} s. Transitions: the first step whose obs or action differ by more than the "
        "threshold (max absolute difference; 0 is the actor's first action). qf1_loss: the last logged step up to "
        "which the losses agree within 1% (relative to the larger; the run's length: to the end). Eval: the first "
        "evaluation whose mean returns differ by more than 1% of the largest absolute mean evaluation return of "
        "either run. '> N': still together at the end, N steps past learning_starts. The transitions before "
        f"learning_starts were bit-identical in every run. Scripts: {versions}.\n"
    )
    (options.out / "agreement.md").write_text(context + "\n" + table(rows))
    print("\n" + context + "\n" + table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
