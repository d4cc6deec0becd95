"""Training speed of both scripts next to Stable-Baselines3's and SBX's DDPG, measured in one run on one machine.

    python benchmark/speed.py --out benchmark/results/speed

Every implementation runs Hopper-v4 with the same settings (256-256 networks, batch 256, lr 3e-4 for actor and
critic, tau 0.005, Gaussian noise 0.1, one gradient step per env step, the actor every second step) in a fresh
process; the rate counts only env steps after `learning_starts` plus a warm-up (JIT compilation included
there), from wall-clock marks at those steps. The table gives each rate's median over the repeats (run
round-robin, so that a slow spell of the machine hits every implementation), the ratios, the share of the
arithmetic limit (FLOPs per training step over the 256x256x256 matrix-product rate measured here), and the
peak memory of a run whose replay buffer holds 1M Humanoid-v4 transitions.
"""

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {"pytorch": "ddpg_continuous_action.py", "jax": "ddpg_continuous_action_jax.py"}
IMPLEMENTATIONS = {
    **{f"ours-{name}": script for name, script in SCRIPTS.items()},
    "sb3": "Stable-Baselines3 DDPG",
    "sbx": "SBX DDPG",
}
HIDDEN, BATCH, LR, TAU, NOISE, POLICY_FREQUENCY, GAMMA = (256, 256), 256, 3e-4, 0.005, 0.1, 2, 0.99
OBS_DIM, ACT_DIM = 11, 3  # Hopper-v4's


def train_step_flops(obs_dim: int, act_dim: int) -> float:
    """FLOPs of one training step: a critic update every step, an actor update every POLICY_FREQUENCY steps.
    A forward pass costs 2 * batch * (multiply-adds); a backward pass twice the forward."""
    h1, h2 = HIDDEN
    actor = 2 * BATCH * (obs_dim * h1 + h1 * h2 + h2 * act_dim)
    critic = 2 * BATCH * ((obs_dim + act_dim) * h1 + h1 * h2 + h2)
    critic_update = actor + critic + 3 * critic  # target actor and target critic forward; critic forward + backward
    actor_update = 3 * actor + 3 * critic  # actor and critic forward, backward through both
    return critic_update + actor_update / POLICY_FREQUENCY


def best_rate(products, flops_per_call: float, calls: int = 200, rounds: int = 10) -> float:
    """The best GFLOP/s over several rounds of calls of products(): a limit, so the best round, not a slow spell."""
    products()
    durations = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            products()
        durations.append(time.perf_counter() - start)
    return flops_per_call * calls / min(durations) / 1e9


def matmul_gflops() -> float:
    """The rate of a 256x256 by 256x256 float32 matrix product here, in GFLOP/s (PyTorch, default threads)."""
    import torch

    a, b = torch.randn(256, 256), torch.randn(256, 256)
    return best_rate(lambda: a @ b, 2 * 256**3)


def logged_rate(run_dir, from_step: int) -> float:
    """Env steps/s of one of our runs from `from_step` to its end, from the wall times of its logged losses."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir))
    events.Reload()
    marks = [(e.step, e.wall_time) for e in events.Scalars("losses/qf1_loss") if e.step >= from_step]
    (first_step, first_time), (last_step, last_time) = marks[0], marks[-1]
    return (last_step - first_step) / (last_time - first_time)


def rate_of_our_script(script: str, learning_starts: int, warmup: int, steps: int) -> float:
    """Steps/s of one of our scripts between learning_starts + warmup and the end, from its TensorBoard wall times."""
    total = learning_starts + warmup + steps
    with tempfile.TemporaryDirectory() as cwd:
        args = ["--env-id", "Hopper-v4", "--total-timesteps", str(total), "--learning-starts", str(learning_starts)]
        off = ["--eval-episodes", "0", "--diagnostics-frequency", "0"]
        subprocess.run([sys.executable, str(ROOT / script), *args, *off], cwd=cwd, check=True, capture_output=True)
        (run_dir,) = (Path(cwd) / "runs").iterdir()
        return logged_rate(run_dir, learning_starts + warmup)


def library_model(name: str, env_id: str, learning_starts: int):
    """Stable-Baselines3's or SBX's DDPG with the settings of our scripts."""
    import gymnasium as gym
    from stable_baselines3.common.noise import NormalActionNoise

    if name == "sb3":
        from stable_baselines3 import DDPG

        kwargs = {"device": "cpu"}
    else:
        from sbx import DDPG

        kwargs = {"qf_learning_rate": LR}
    env = gym.make(env_id)
    scale = (env.action_space.high - env.action_space.low) / 2
    noise = NormalActionNoise(mean=np.zeros_like(scale), sigma=NOISE * scale)
    model = DDPG(
        "MlpPolicy", env, learning_rate=LR, buffer_size=1_000_000, learning_starts=learning_starts, batch_size=BATCH,
        tau=TAU, gamma=GAMMA, train_freq=1, gradient_steps=1, action_noise=noise,
        policy_kwargs={"net_arch": list(HIDDEN)}, seed=1, **kwargs,
    )  # fmt: skip
    model.policy_delay = POLICY_FREQUENCY  # both libraries' DDPG is their TD3 with policy_delay=1
    return model


def rate_of_library(name: str, learning_starts: int, warmup: int, steps: int) -> float:
    """Steps/s of Stable-Baselines3's or SBX's DDPG in the same window, from a callback's clock."""
    from stable_baselines3.common.callbacks import BaseCallback

    start_step, end_step = learning_starts + warmup, learning_starts + warmup + steps
    marks = {}

    class Clock(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps in (start_step, end_step):
                marks[self.num_timesteps] = time.perf_counter()
            return True

    library_model(name, "Hopper-v4", learning_starts).learn(total_timesteps=end_step, callback=Clock())
    return steps / (marks[end_step] - marks[start_step])


def peak_memory_gib(name: str) -> float:
    """Peak resident memory of a short Humanoid-v4 run (1,000 random steps, 200 training steps) whose 1M-transition
    replay buffer is then filled, every page written, as after a full run; in GiB."""
    if name.startswith("ours"):
        import runpy

        script = str(ROOT / IMPLEMENTATIONS[name])
        args = ["--env-id", "Humanoid-v4", "--total-timesteps", "1200", "--learning-starts", "1000"]
        sys.argv = [script, *args, "--eval-episodes", "0", "--diagnostics-frequency", "0"]
        with tempfile.TemporaryDirectory() as cwd:
            os.chdir(cwd)
            ddpg = runpy.run_path(script)  # as the script's __main__ runs it
            rb = ddpg["train"](*ddpg["parse_args"]())["rb"]
        arrays = [getattr(rb, name) for name in ddpg["BUFFER_FIELDS"]]
    else:
        model = library_model(name, "Humanoid-v4", learning_starts=1000)
        model.learn(total_timesteps=1200)
        rb = model.replay_buffer
        arrays = (rb.observations, rb.next_observations, rb.actions, rb.rewards, rb.dones)
    for array in arrays:
        array.fill(1.0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def measure_in_subprocess(function: str, *args, module: str = "speed") -> float:
    """Run one measurement (a function of a module in benchmark/) in a fresh Python process, so that no
    implementation inherits another's state."""
    code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import {module}; "
    code += f"print(json.dumps({module}.{function}(*{list(args)!r})))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"{function}{args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def before_ratio(name: str, rates: dict):
    """ours-X's median rate over before-X's, when both were timed in this run; else empty."""
    earlier = name.replace("ours-", "before-")
    if not name.startswith("ours-") or earlier not in rates:
        return ""
    return round(float(np.median(rates[name]) / np.median(rates[earlier])), 3)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where the CSV and the table go")
    parser.add_argument("--implementations", nargs="+", default=list(IMPLEMENTATIONS), choices=IMPLEMENTATIONS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--learning-starts", type=int, default=5_000)
    parser.add_argument("--warmup", type=int, default=500, help="training steps left out (JIT compilation)")
    parser.add_argument("--steps", type=int, default=3_000, help="training steps measured")
    parser.add_argument(
        "--before", type=Path, metavar="CHECKOUT",
        help="a checkout of an earlier commit (git worktree add): its scripts are timed too, round-robin with the "
        "others, as before-pytorch and before-jax, and the table gives ours / before",
    )  # fmt: skip
    args = parser.parse_args(argv)

    before = {}
    if args.before:
        before = {f"before-{name}": str(args.before.resolve() / script) for name, script in SCRIPTS.items()}
    rates = {name: [] for name in [*args.implementations, *before]}
    for repeat in range(args.repeats):
        for name in rates:
            if name in before:
                function, target = "rate_of_our_script", before[name]
            elif name.startswith("ours"):
                function, target = "rate_of_our_script", IMPLEMENTATIONS[name]
            else:
                function, target = "rate_of_library", name
            rate = measure_in_subprocess(function, target, args.learning_starts, args.warmup, args.steps)
            rates[name].append(rate)
            print(f"repeat {repeat + 1}/{args.repeats}: {name} {rate:.1f} steps/s", flush=True)
    memory = {name: measure_in_subprocess("peak_memory_gib", name) for name in args.implementations}
    memory |= {name: float("nan") for name in before}  # the rates alone, for the comparison
    gflops = measure_in_subprocess("matmul_gflops")
    flops = train_step_flops(OBS_DIM, ACT_DIM)
    print(f"matrix product 256x256x256: {gflops:.1f} GFLOP/s; a training step: {flops / 1e9:.3f} GFLOP")
    rows = []
    for name, values in rates.items():
        median = float(np.median(values))
        rows.append({
            "implementation": name, "steps_per_s_median": round(median, 1),
            "steps_per_s_runs": " ".join(f"{v:.1f}" for v in values),
            "vs_sb3": round(median / np.median(rates["sb3"]), 2) if "sb3" in rates else "",
            "vs_sbx": round(median / np.median(rates["sbx"]), 2) if "sbx" in rates else "",
            "vs_before": before_ratio(name, rates),
            "share_of_matmul_limit": round(median * flops / (gflops * 1e9), 3),
            "humanoid_full_buffer_peak_gib": round(memory[name], 2),
        })  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "speed.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    columns = ["implementation", "steps/s (median)", "runs", "x SB3", "x SBX", "x before", "share of matmul limit"]
    columns += ["peak memory, Humanoid, 1M buffer"]
    header = "| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|\n"
    table = header + "".join(
        f"| {r['implementation']} | {r['steps_per_s_median']} | {r['steps_per_s_runs']} | {r['vs_sb3']} "
        f"| {r['vs_sbx']} | {r['vs_before']} | {r['share_of_matmul_limit']:.1%} "
        f"| {r['humanoid_full_buffer_peak_gib']} GiB |\n"
        for r in rows
    )
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    context = (
        f"Hopper-v4, {args.repeats} repeats of {args.steps} training steps; {machine}; matmul {gflops:.1f} GFLOP/s\n"
    )
    (args.out / "speed.md").write_text(context + "\n" + table)
    print("\n" + context + "\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
