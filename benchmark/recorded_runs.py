"""Proof that a change changes no number: record a fixed set of short runs of both scripts, then compare two
recordings value for value (bit for bit: record both on the same machine, as float rounding differs between CPUs).

    python benchmark/recorded_runs.py record /tmp/before --checkout /tmp/before-tree   # an earlier commit's scripts
    python benchmark/recorded_runs.py record /tmp/after                                 # this checkout's
    python benchmark/recorded_runs.py compare /tmp/before /tmp/after

A recording holds, per run, every scalar the run logged but charts/SPS (a speed, not a result), every histogram,
the evaluation lines it printed and the saved model's weights. The runs: each script with each noise type on
Pendulum-v1, `--paper` on Hopper-v4, and Hopper-v4 with critic LayerNorm, --policy-frequency 3 and checkpoints;
one thread each. `compare` prints each run's first difference and exits 1 if any run differs.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {"pytorch": "ddpg_continuous_action.py", "jax": "ddpg_continuous_action_jax.py"}
SHORT = ["--total-timesteps", "3000", "--learning-starts", "1000", "--eval-frequency", "1000", "--eval-episodes", "2",
         "--batch-size", "64", "--diagnostics-frequency", "1000", "--save-model"]  # fmt: skip
RUNS = {
    "pendulum-gaussian": ["--env-id", "Pendulum-v1", "--exploration-noise-type", "gaussian"],
    "pendulum-ou": ["--env-id", "Pendulum-v1", "--exploration-noise-type", "ou"],
    "pendulum-param": ["--env-id", "Pendulum-v1", "--exploration-noise-type", "param"],
    "hopper-paper": ["--env-id", "Hopper-v4", "--paper"],
    "hopper-options": ["--env-id", "Hopper-v4", "--critic-layer-norm", "--policy-frequency", "3",
                       "--checkpoint-frequency", "1000"],
}  # fmt: skip
ONE_THREAD = {"OMP_NUM_THREADS": "1", "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}


def logged(run_dir: Path) -> dict:
    """Every scalar but SPS and every histogram of a run, as {tag: [[step, value or bucket list], ...]}."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    values = {tag: [[e.step, e.value] for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    values.pop("charts/SPS", None)
    for tag in events.Tags()["histograms"]:
        values[tag] = [[e.step, list(e.histogram_value.bucket)] for e in events.Histograms(tag)]
    return values


def saved_weights(run_dir: Path, script: str) -> dict:
    """The saved model's actor and critic weights, flattened to {name: list}."""
    (path,) = [p for p in run_dir.iterdir() if p.stem == Path(script).stem]  # not the checkpoint
    if path.suffix == ".pt":
        import torch

        model = torch.load(path, weights_only=True)
        return {f"{net}.{k}": v.flatten().tolist() for net in ("actor", "qf1") for k, v in model[net].items()}
    import flax.serialization
    import jax

    model = flax.serialization.msgpack_restore(path.read_bytes())
    leaves = jax.tree_util.tree_leaves_with_path({"actor": model["actor"], "qf1": model["qf1"]})
    return {jax.tree_util.keystr(key): np.asarray(leaf).flatten().tolist() for key, leaf in leaves}


def record(out: Path, checkout: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for script_name, script in SCRIPTS.items():
        for run_name, args in RUNS.items():
            with tempfile.TemporaryDirectory() as cwd:
                command = [sys.executable, str(checkout / script), *SHORT, *args]
                result = subprocess.run(command, cwd=cwd, env={**os.environ, **ONE_THREAD}, capture_output=True,
                                        text=True)  # fmt: skip
                if result.returncode:
                    raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-2000:]}")
                (run_dir,) = (Path(cwd) / "runs").iterdir()
                evals = [line for line in result.stdout.splitlines() if re.match(r"step \d+: eval", line)]
                recording = {"logged": logged(run_dir), "evals": evals, "weights": saved_weights(run_dir, script)}
            (out / f"{script_name}-{run_name}.json").write_text(json.dumps(recording))
            print(f"recorded {script_name} {run_name}: {len(recording['logged'])} tags", flush=True)


def first_difference(before: dict, after: dict) -> str:
    """Where two recordings of one run first differ, or "" when they are the same bit for bit."""
    for part in ("logged", "evals", "weights"):
        if isinstance(before[part], list):
            if before[part] != after[part]:
                return f"{part}: {before[part]} != {after[part]}"
            continue
        if set(before[part]) != set(after[part]):
            return f"{part}: tags {sorted(set(before[part]) ^ set(after[part]))} in one recording only"
        for tag in sorted(before[part]):
            if before[part][tag] != after[part][tag]:
                return f"{part} {tag} differs"
    return ""


def compare(before_dir: Path, after_dir: Path) -> int:
    names = sorted(path.name for path in before_dir.glob("*.json"))
    differing = 0
    for name in names:
        after_path = after_dir / name
        if not after_path.exists():
            print(f"{name}: missing from {after_dir}")
            differing += 1
            continue
        difference = first_difference(json.loads((before_dir / name).read_text()), json.loads(after_path.read_text()))
        print(f"{name}: {difference or 'the same, bit for bit'}")
        differing += bool(difference)
    print(f"{len(names) - differing} of {len(names)} runs the same bit for bit")
    return 1 if differing else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    recording = commands.add_parser("record", help="record the runs")
    recording.add_argument("out", type=Path)
    recording.add_argument("--checkout", type=Path, default=ROOT, help="whose scripts to run (default: these)")
    comparing = commands.add_parser("compare", help="compare two recordings")
    comparing.add_argument("before", type=Path)
    comparing.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "record":
        record(args.out, args.checkout.resolve())
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    raise SystemExit(main())
