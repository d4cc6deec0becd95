"""Envs of the benchmark's experiments that Gymnasium lacks, registered on import: a script reaches one as
`--env-id benchmark.envs:NAME-v0` (Gymnasium imports the module first)."""

import gymnasium as gym
from gymnasium.envs.classic_control.continuous_mountain_car import Continuous_MountainCarEnv


def rescaled_mountain_car(**kwargs) -> gym.Env:
    return gym.wrappers.RescaleObservation(Continuous_MountainCarEnv(**kwargs), -1.0, 1.0)


# MountainCarContinuous-v0 (999 steps, solved at 90) with its observation, position in [-1.2, 0.6] and velocity in
# [-0.07, 0.07], mapped linearly onto [-1, 1] each: what parameter noise needs there (exploration_probe.py)
gym.register(
    "MountainCarContinuousRescaled-v0", entry_point=rescaled_mountain_car, max_episode_steps=999, reward_threshold=90.0
)

# Humanoid-v4 (same physics, observation and action spaces, time limit of 1,000 steps) whose episodes never end
# early: an untrained humanoid falls within ~20 steps and ends its episode, a trained one stays up for all 1,000.
# stop_latency.py needs the trained one's episodes (the longest wait for the episode end at which a stopped run
# writes its checkpoint, and evaluation episodes as long) without training one first.
gym.register(
    "HumanoidFullEpisodes-v4", entry_point="gymnasium.envs.mujoco.humanoid_v4:HumanoidEnv",
    max_episode_steps=1000, kwargs={"terminate_when_unhealthy": False},
)  # fmt: skip
