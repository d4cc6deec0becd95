"""What the std floor of --normalize-observations does to the observations the networks see, before any learning.

    python benchmark/observation_floor.py --out benchmark/results/observation_floor

The scripts divide by sqrt(var + 1e-8): a dimension is scaled to unit std however little it varies. OpenAI Baselines'
DDPG divides by sqrt(max(var, 1e-2)): a dimension whose std is under 0.1 is scaled by at most 10. For each env and
seed, STEPS uniformly random actions (as a run's warm-up acts) through the JAX script's own env and running
statistics (every observation the env returns is counted, as in a run), then, with the statistics at the last step,
each floor's normalised frames (the scripts': the JAX script's own normalize_obs): the share of frames with some
dimension at the clip (+-5, the default), the share of (frame, dimension) entries at the clip, the dimensions with
std under 0.1 (where the floors differ) and the smallest non-zero std. Writes OUT/observation_floor.csv (one row per
env, seed and floor) and OUT/observation_floor.md (per env and floor, the mean over seeds and their range), and
prints the latter.
"""

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import ddpg_continuous_action_jax as ddpg  # noqa: E402
from report_tables import write_csv  # noqa: E402

ENV_IDS = ("Humanoid-v4", "HalfCheetah-v4", "Hopper-v4", "Walker2d-v4", "InvertedPendulum-v4",
           "MountainCarContinuous-v0", "Pendulum-v1")  # fmt: skip
FLOORS = ("scripts", "baselines")


def normalised(frames: np.ndarray, obs_rms, floor: str, clip: float) -> np.ndarray:
    """The frames as the networks see them: through the script's own normalize_obs, or with Baselines' floor."""
    if floor == "scripts":
        return ddpg.normalize_obs(frames, obs_rms, clip)
    return np.clip((frames - obs_rms.mean) / np.sqrt(np.maximum(obs_rms.var, 1e-2)), -clip, clip)


def measure(frames: np.ndarray, obs_rms, floor: str, clip: float) -> dict:
    at_clip = np.abs(normalised(frames, obs_rms, floor, clip)) >= clip
    std = np.sqrt(obs_rms.var)
    return {"frames_at_clip": at_clip.any(axis=1).mean(), "entries_at_clip": at_clip.mean(),
            "dims": len(std), "dims_std_under_0.1": int((std < 0.1).sum()),
            "smallest_nonzero_std": std[std > 0].min() if (std > 0).any() else float("nan")}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--envs", nargs="+", default=ENV_IDS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--clip", type=float, default=ddpg.Args.observation_clip)
    args = parser.parse_args(argv)
    rows = []
    for env_id in args.envs:
        for seed in range(1, args.seeds + 1):
            frames, obs_rms = collect(env_id, seed, args.steps)
            for floor in FLOORS:
                rows.append({"env_id": env_id, "seed": seed, "steps": args.steps, "floor": floor,
                             **measure(frames, obs_rms, floor, args.clip)})  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "observation_floor.csv", rows)
    summary = summarised(rows)
    (args.out / "observation_floor.md").write_text(summary)
    print(summary, end="")
    return 0


HEADER = ("| env | floor | frames at the clip, % | entries at the clip, % | dims with std < 0.1 "
          "| smallest non-zero std |\n"
          "| --- | --- | --- | --- | --- | --- |")  # fmt: skip


def summarised(rows: list) -> str:
    """A markdown table: per env and floor, each measure's mean over the seeds and its range [min, max]."""
    lines = [HEADER]
    for env_id in dict.fromkeys(row["env_id"] for row in rows):
        for floor in FLOORS:
            group = [row for row in rows if row["env_id"] == env_id and row["floor"] == floor]
            cells = (spread(group, "frames_at_clip", 100), spread(group, "entries_at_clip", 100, digits=3),
                     f"{group[0]['dims']}: {spread(group, 'dims_std_under_0.1', digits=0)}",
                     spread(group, "smallest_nonzero_std", digits=4))  # fmt: skip
            lines.append(f"| {env_id} | {floor} | {' | '.join(cells)} |")
    seeds = len({row["seed"] for row in rows})
    return "\n".join(lines) + f"\n\nMean over {seeds} seeds [min, max] after {rows[0]['steps']} random steps.\n"


def spread(group: list, key: str, scale: float = 1.0, digits: int = 2) -> str:
    values = [row[key] * scale for row in group]
    return f"{np.mean(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"


def collect(env_id: str, seed: int, steps: int) -> tuple:
    """The observations of `steps` random steps, each reset's included, and their running statistics, counted as a
    run counts them."""
    shape_of = gym.make(env_id)
    obs_rms = ddpg.observation_statistics(shape_of.observation_space.shape)
    shape_of.close()
    env = ddpg.make_env(env_id, seed, obs_rms=obs_rms)
    obs, _ = env.reset()
    frames = [obs]
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        frames.append(obs)
        if terminated or truncated:
            obs, _ = env.reset()
            frames.append(obs)
    env.close()
    return np.asarray(frames, np.float64), obs_rms


if __name__ == "__main__":
    sys.exit(main())
