"""Exploration alone, before any learning: how often does each exploration noise of the JAX script reach the goal of
MountainCarContinuous-v0 with an untrained actor, on the env's own observations and on observations rescaled to
[-1, 1] (benchmark/envs.py)? And how much do parameter noise's perturbed actors depend on velocity?

Why ask: in the noise study (benchmark/ddpg_noise.sh) parameter noise never reaches the goal, where the write-up
it reruns says it does. MountainCar's observation is (position, velocity), position in [-1.2, 0.6] and velocity
in [-0.07, 0.07]: unscaled, velocity spans a range 13 times smaller than position's and moves the first layer's
pre-activations that much less, so an actor, and a perturbation of it, is almost a function of position alone. A
force that depends on position alone is conservative: over a swing it gives back the energy it put in, so it
cannot pump the car up the hill, however large the perturbation. Action noise needs no such dependence: OU noise
pushes one way for several steps at a time, and now and then in time with the swing.

Each setting runs EPISODES episodes (one env each, seeds 0..EPISODES-1, 999 steps at most), each with an actor
drawn as the script draws it (init_params; LayerNorm for parameter noise, which the script forces), the action
noise of the script's defaults, or the actor perturbed once at the episode start with the given std, as the
script does. For parameter noise it also reports, on states drawn uniformly from the observation box:
- distance: the RMS difference of perturbed and clean actions (what the script adapts to --param-noise-target);
- velocity part: the RMS of (a(x, v) - a(x, -v)) / 2, the part of the perturbed actor's action that is odd in
  velocity, the only part that can pump energy (0 for a force of position alone).

    python benchmark/exploration_probe.py --out benchmark/results/noise/probe
"""

import argparse
import csv
import sys
from pathlib import Path

import gymnasium as gym
import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import ddpg_continuous_action_jax as ddpg  # noqa: E402

ENV_IDS = {"raw": "MountainCarContinuous-v0", "rescaled": "benchmark.envs:MountainCarContinuousRescaled-v0"}
PARAM_STDS = (0.03, 0.1, 0.3, 1.0)  # the script adapts from 0.1; its runs here settle at 0.03-0.07
PROBE_STATES = 4096


def make_env(observations: str, seed: int) -> gym.Env:
    env = gym.make(ENV_IDS[observations])
    env.reset(seed=seed)
    return env


def draw_actors(actor, noise: str, std: float, episodes: int) -> list:
    """One actor's params per episode, drawn (and perturbed) from that episode's seed."""
    obs_zeros = np.zeros((1, 2), np.float32)
    params = []
    for seed in range(episodes):
        rng = np.random.default_rng(seed)
        clean = ddpg.init_params(actor, rng, ddpg.Args.final_layer_init, obs_zeros)
        params.append(ddpg.perturb_actor(clean, std, rng) if noise == "param" else clean)
    return params


def stacked(params: list):
    return jax.tree.map(lambda *leaves: np.stack(leaves), *params)


def rollouts(actor, params: list, observations: str, noise: str) -> np.ndarray:
    """Whether each episode reached the goal, all episodes stepped together."""
    defaults, apply = ddpg.Args(), jax.jit(jax.vmap(actor.apply))
    envs = [make_env(observations, seed) for seed in range(len(params))]
    obs = np.stack([env.reset(seed=seed)[0] for seed, env in enumerate(envs)]).astype(np.float32)
    rng, ou_noise = np.random.default_rng(len(params)), np.zeros((len(envs), 1))
    running, reached = np.ones(len(envs), bool), np.zeros(len(envs), bool)
    batched = stacked(params)
    while running.any():
        actions = np.asarray(apply(batched, obs[:, None, :]))[:, 0, :]
        if noise == "gaussian":
            actions = actions + rng.normal(0.0, defaults.exploration_noise, actions.shape)
        elif noise == "ou":
            ou_noise = ddpg.ou_step(ou_noise, defaults.ou_theta, defaults.ou_sigma, rng)
            actions = actions + ou_noise
        for i in np.flatnonzero(running):
            next_obs, _, terminated, truncated, _ = envs[i].step(np.clip(actions[i], -1.0, 1.0).astype(np.float32))
            obs[i], reached[i], running[i] = next_obs, terminated, not (terminated or truncated)
    return reached


def action_measures(actor, observations: str, std: float, episodes: int) -> tuple:
    """(distance, velocity part) of the perturbed actors, means over the episodes' actors."""
    box = make_env(observations, 0).observation_space
    states = np.random.default_rng(0).uniform(box.low, box.high, (PROBE_STATES, 2)).astype(np.float32)
    mirrored = states * np.array([1.0, -1.0], np.float32)  # (x, -v); both boxes are symmetric in v
    clean = stacked(draw_actors(actor, "none", 0.0, episodes))
    perturbed = stacked(draw_actors(actor, "param", std, episodes))
    apply = jax.vmap(actor.apply, in_axes=(0, None))
    distance = np.sqrt(np.mean((np.asarray(apply(perturbed, states)) - np.asarray(apply(clean, states))) ** 2, -1))
    odd = (np.asarray(apply(perturbed, states)) - np.asarray(apply(perturbed, mirrored))) / 2
    return float(distance.mean()), float(np.sqrt(np.mean(odd**2, -1)).mean())


def settings() -> list:
    return [("gaussian", 0.0), ("ou", 0.0), *(("param", std) for std in PARAM_STDS)]


def probe(episodes: int) -> list:
    env = gym.make(ENV_IDS["raw"])
    rows = []
    for observations in ENV_IDS:
        for noise, std in settings():
            actor = ddpg.make_actor(env, layer_norm=noise == "param")
            reached = rollouts(actor, draw_actors(actor, noise, std, episodes), observations, noise)
            distance, velocity_part = action_measures(actor, observations, std, episodes) if std else ("", "")
            rows.append({"observations": observations, "noise": noise, "param_std": std or "",
                         "episodes": episodes, "goal_reached": int(reached.sum()), "distance": distance,
                         "velocity_part": velocity_part})  # fmt: skip
            print(rows[-1], flush=True)
    return rows


def markdown(rows: list) -> str:
    def number(value):
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join([*lines, *("| " + " | ".join(number(v) for v in row.values()) + " |" for row in rows)]) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where probe.csv and probe.md go")
    parser.add_argument("--episodes", type=int, default=100, help="episodes (actors) per setting")
    args = parser.parse_args(argv)
    rows = probe(args.episodes)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "probe.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "probe.md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
