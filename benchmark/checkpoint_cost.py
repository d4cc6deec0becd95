"""What a checkpoint costs: its size on disk and the time to write it and to load it back, with a full replay
buffer (1M transitions by default), for both scripts on Hopper-v4 and Humanoid-v4.

    python benchmark/checkpoint_cost.py --out benchmark/results/checkpoint

Each measurement runs in a fresh process: a short run of the script itself (its own networks, optimisers,
buffer and random-number generators, after a few hundred training steps), whose buffer is then filled to
capacity with random transitions. The script's own `save_checkpoint` writes the checkpoint (fsync included, so
the time is the disk's, not the page cache's); `load_checkpoint` and `restore_checkpoint` read it back into a
run's own objects. Write and load times are medians over --repeats; the share of the run's time is one write per
--frequency steps (the sweeps' default) at the training rate of the short run (steps 1,500 to 3,000).
"""

import argparse
import csv
import os
import runpy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from speed import ROOT, SCRIPTS, logged_rate, measure_in_subprocess  # a fresh Python process per measurement

MODULE = Path(__file__).stem
ENVS = ("Hopper-v4", "Humanoid-v4")
SHORT_RUN = ("--total-timesteps", "3000", "--learning-starts", "1000", "--eval-episodes", "0")
RATE_FROM = 1500  # the training rate is measured from here to the end of the short run (compilation before it)


def short_run(script: str, env_id: str, buffer_size: int) -> tuple:
    """A short run of the script in this process, as its __main__ runs it: the script's functions, the run's args and
    what the run built (networks, optimisers, buffer, random-number generators, run directory)."""
    sys.argv = [script, "--env-id", env_id, "--buffer-size", str(buffer_size), *SHORT_RUN]
    sys.argv += ["--diagnostics-frequency", "0"]
    ddpg = runpy.run_path(script)
    args, _ = ddpg["parse_args"]()
    return ddpg, args, ddpg["train"](args)


def fill(rb, fields: tuple, rng: np.random.Generator):
    """Every slot of the buffer written with random data, as after a run longer than its capacity."""
    for name in fields:
        rng.standard_normal(out=getattr(rb, name), dtype=np.float32)
    rb.size, rb.pos = rb.capacity, 0


def measure(script_name: str, env_id: str, buffer_size: int, repeats: int) -> dict:
    """Size, write and load times of one script's checkpoint with a full buffer, and the training rate of the run
    it comes from (run in a fresh process)."""
    script = str(ROOT / SCRIPTS[script_name])
    with tempfile.TemporaryDirectory() as cwd:
        os.chdir(cwd)
        ddpg, args, run = short_run(script, env_id, buffer_size)
        rate = logged_rate(run["run_dir"], RATE_FROM)
        fill(run["rb"], ddpg["BUFFER_FIELDS"], np.random.default_rng(0))
        # the JAX script keeps its networks and optimisers in `state`; the PyTorch script returns them by name
        state = run["state"] if "state" in run else {k: v for k, v in run.items() if k not in ("rb", "rngs", "run_dir")}
        extra = {
            "args": ddpg["asdict"](args), "episodes": 0, "episodic_return": 0.0, "param_noise_std": 0.1,
            "probe_obs": None, "probe_actions": None, "wandb_id": None,
        }  # fmt: skip
        writes, loads = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            ddpg["save_checkpoint"](run["run_dir"], 1500, state, run["rngs"], run["rb"], extra)
            writes.append(time.perf_counter() - start)
            start = time.perf_counter()
            checkpoint = ddpg["load_checkpoint"](run["run_dir"])
            ddpg["restore_checkpoint"](checkpoint, state, run["rngs"], run["rb"])
            loads.append(time.perf_counter() - start)
            del checkpoint
        size = os.path.getsize(os.path.join(run["run_dir"], f"checkpoint.{'npz' if 'state' in run else 'pt'}"))
    return {"size_gib": size / 2**30, "write_s": float(np.median(writes)), "load_s": float(np.median(loads)),
            "steps_per_s": rate}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where checkpoint_cost.csv and .md go")
    parser.add_argument("--envs", nargs="+", default=list(ENVS))
    parser.add_argument("--buffer-size", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="writes and loads per measurement (median)")
    parser.add_argument("--frequency", type=int, default=100_000, help="steps between checkpoints, for the share")
    args = parser.parse_args(argv)

    rows = []
    for env_id in args.envs:
        for script_name in SCRIPTS:
            cost = measure_in_subprocess("measure", script_name, env_id, args.buffer_size, args.repeats, module=MODULE)
            share = cost["write_s"] / (args.frequency / cost["steps_per_s"])
            rows.append({"env_id": env_id, "script": script_name, **{k: round(v, 3) for k, v in cost.items()}})
            rows[-1]["share_of_run_time"] = round(share, 4)
            print(f"{env_id} {script_name}: {rows[-1]}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "checkpoint_cost.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    context = (
        f"{args.buffer_size:,}-transition buffers, full; medians of {args.repeats} writes and loads; share: one write "
        f"per {args.frequency:,} steps at the training rate measured in the same process\n\n"
    )
    table = "| env | script | size on disk | write | load | training rate | share of run time |\n"
    table += "|---|---|---|---|---|---|---|\n"
    table += "".join(
        f"| {r['env_id']} | {r['script']} | {r['size_gib']:.2f} GiB | {r['write_s']:.1f} s | {r['load_s']:.1f} s "
        f"| {r['steps_per_s']:.0f} steps/s | {r['share_of_run_time']:.2%} |\n"
        for r in rows
    )
    (args.out / "checkpoint_cost.md").write_text(context + table)
    print("\n" + context + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
