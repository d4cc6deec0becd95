"""benchmark/envs.py: the rescaled MountainCarContinuous is the same env, its observation mapped onto [-1, 1]."""

import gymnasium as gym
import numpy as np

import benchmark.envs  # noqa: F401  (registers the envs)


def test_rescaled_mountain_car_is_mountain_car_seen_through_a_linear_map():
    raw, rescaled = gym.make("MountainCarContinuous-v0"), gym.make("MountainCarContinuousRescaled-v0")
    low, high = raw.observation_space.low, raw.observation_space.high
    assert np.all(rescaled.observation_space.low == -1) and np.all(rescaled.observation_space.high == 1)
    obs, _ = raw.reset(seed=5)
    scaled, _ = rescaled.reset(seed=5)
    actions = np.where(np.arange(999) % 80 < 40, 1.0, -1.0).astype(np.float32)[:, None]  # a swing to the goal
    for steps, action in enumerate(actions, start=1):
        obs, reward, terminated, truncated, _ = raw.step(action)
        scaled, scaled_reward, scaled_terminated, scaled_truncated, _ = rescaled.step(action)
        np.testing.assert_allclose(scaled, 2 * (obs - low) / (high - low) - 1, atol=1e-6)
        assert (reward, terminated, truncated) == (scaled_reward, scaled_terminated, scaled_truncated)
        if terminated or truncated:
            break
    assert terminated and steps < 999  # the swing got there: the episode ends at the goal, as MountainCar's does
