"""Proof that a change changes no number: record a fixed set of short runs of both scripts, then compare two
recordings value for value (bit for bit: record both on the same machine, as float rounding differs between CPUs).

    python benchmark/recorded_runs.py record /tmp/before --checkout /tmp/before-tree   # an earlier commit's scripts
    python benchmark/recorded_runs.py record /tmp/after                                 # this checkout's
    python benchmark/recorded_runs.py compare /tmp/before /tmp/after

A recording holds, per run, every scalar the run logged but charts/SPS (a speed, not a result), every histogram,
the evaluation lines it printed and the saved model's weights. The runs: each script with each noise type on
Pendulum-v1, `--paper` on Hopper-v4, Hopper-v4 with critic LayerNorm, --policy-frequency 3 and checkpoints, and
HalfCheetah-v4 with the defaults; one thread each (--threads N: N; --runs NAME ...: only those). `compare` prints
each run's first difference (the first step at which a logged value differs) and exits 1 if any run differs; --csv
FILE writes it as a table too.

Does the machine change the numbers? Record with 1 and 2 threads, or with the vector instructions held to AVX2 on
an AVX-512 machine (--max-isa avx2: PyTorch's own kernels, MKL's and XLA's, as on a CPU without AVX-512), and
compare: benchmark/results/reproducibility/ holds what that found.
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
    "halfcheetah": ["--env-id", "HalfCheetah-v4"],  # the defaults, on a larger env
}  # fmt: skip


def machine_env(threads: int, max_isa: str | None) -> dict:
    """The variables that hold both frameworks to `threads` threads (as benchmark/sweep.py sets them) and, with
    max_isa ("avx2"), every library's CPU kernels that choose their instruction set at run time to AVX2: PyTorch's
    own, MKL's, oneDNN's, XLA's and NumPy's (whose AVX-512 targets are X86_V4 and up)."""
    xla = f"--xla_cpu_multi_thread_eigen={'false' if threads == 1 else 'true'} intra_op_parallelism_threads={threads}"
    env = {"OMP_NUM_THREADS": str(threads), "XLA_FLAGS": xla}
    if max_isa == "avx2":
        env |= {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}  # fmt: skip
        env["XLA_FLAGS"] += " --xla_cpu_max_isa=AVX2"
    return env


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


def record(out: Path, checkout: Path, threads: int = 1, max_isa: str | None = None, runs=tuple(RUNS)) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for script_name, script in SCRIPTS.items():
        for run_name, args in ((name, RUNS[name]) for name in runs):
            with tempfile.TemporaryDirectory() as cwd:
                command = [sys.executable, str(checkout / script), *SHORT, *args]
                result = subprocess.run(command, cwd=cwd, env={**os.environ, **machine_env(threads, max_isa)},
                                        capture_output=True, text=True)  # fmt: skip
                if result.returncode:
                    raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-2000:]}")
                (run_dir,) = (Path(cwd) / "runs").iterdir()
                evals = [line for line in result.stdout.splitlines() if re.match(r"step \d+: eval", line)]
                recording = {"logged": logged(run_dir), "evals": evals, "weights": saved_weights(run_dir, script)}
            (out / f"{script_name}-{run_name}.json").write_text(json.dumps(recording))
            print(f"recorded {script_name} {run_name}: {len(recording['logged'])} tags", flush=True)


def first_difference(before: dict, after: dict) -> str:
    """Where two recordings of one run first differ, or "" when they are the same bit for bit."""
    logged, logged_after = before["logged"], after["logged"]
    if (step := first_differing_step(logged, logged_after)) is not None:
        tags = [tag for tag in sorted(logged) if first_differing_step({tag: logged[tag]}, logged_after) == step]
        return f"logged values differ from step {step} ({', '.join(tags)})"
    for part in ("logged", "evals", "weights"):
        if before[part] != after[part]:
            return f"{part} differ"
    return ""


def first_differing_step(before: dict, after: dict) -> int | None:
    """The first step at which a tag's logged value differs between two recordings, or None."""
    steps = []
    for tag, values in before.items():
        other = after.get(tag) or []
        differing = [step for (step, value), (_, value_after) in zip(values, other) if value != value_after]
        steps += differing[:1] or ([values[len(other)][0]] if len(values) > len(other) else [])
    return min(steps, default=None)


def final_eval(recording: dict) -> str:
    """The mean return of a recording's last evaluation, as printed."""
    return recording["evals"][-1].rsplit("mean ", 1)[-1] if recording["evals"] else ""


def compare(before_dir: Path, after_dir: Path, csv: Path | None = None) -> int:
    names = sorted(path.name for path in before_dir.glob("*.json"))
    rows = []
    for name in names:
        after_path = after_dir / name
        if not after_path.exists():
            print(f"{name}: missing from {after_dir}")
            rows.append([name[: -len(".json")], "missing", "", "", ""])
            continue
        before, after = json.loads((before_dir / name).read_text()), json.loads(after_path.read_text())
        difference = first_difference(before, after)
        print(f"{name}: {difference or 'the same, bit for bit'}")
        step = first_differing_step(before["logged"], after["logged"])
        rows.append([name[: -len(".json")], "no" if difference else "yes", "" if step is None else step,
                     final_eval(before), final_eval(after)])  # fmt: skip
    same = sum(row[1] == "yes" for row in rows)
    print(f"{same} of {len(names)} runs the same bit for bit")
    if csv:
        header = "run,same_bit_for_bit,first_differing_step,final_eval_before,final_eval_after"
        csv.write_text("\n".join([header, *(",".join(map(str, row)) for row in rows)]) + "\n")
    return 0 if same == len(names) else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    recording = commands.add_parser("record", help="record the runs")
    recording.add_argument("out", type=Path)
    recording.add_argument("--checkout", type=Path, default=ROOT, help="whose scripts to run (default: these)")
    recording.add_argument("--threads", type=int, default=1, help="each run's threads (default: 1)")
    recording.add_argument("--max-isa", choices=["avx2"], help="hold the CPU kernels to this instruction set")
    recording.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS), help="only these runs")
    comparing = commands.add_parser("compare", help="compare two recordings")
    comparing.add_argument("before", type=Path)
    comparing.add_argument("after", type=Path)
    comparing.add_argument("--csv", type=Path, help="also write the comparison to this CSV file")
    args = parser.parse_args(argv)
    if args.command == "record":
        record(args.out, args.checkout.resolve(), args.threads, args.max_isa, args.runs)
        return 0
    return compare(args.before, args.after, args.csv)


if __name__ == "__main__":
    raise SystemExit(main())
