"""The buffer holds a real env trajectory: truncation keeps the true final observation, only termination is flagged."""

import gymnasium as gym
import numpy as np
import pytest

from tests.conftest import run_in_process


def replay_against_buffer(env_id: str, seed: int, rb) -> tuple:
    """Replay the stored actions in a fresh env and check every stored field; return (terminations, truncations)."""
    env = gym.make(env_id)
    env.reset(seed=seed)  # the scripts seed the env once when they make it, then every episode starts with a reset
    obs, _ = env.reset()
    terminations = truncations = 0
    for i in range(rb.size):
        np.testing.assert_allclose(rb.obs[i], obs, rtol=1e-6, atol=1e-6, err_msg=f"obs of transition {i}")
        next_obs, reward, terminated, truncated, _ = env.step(rb.actions[i])
        np.testing.assert_allclose(rb.next_obs[i], next_obs, rtol=1e-6, atol=1e-6, err_msg=f"next_obs of {i}")
        assert rb.rewards[i] == pytest.approx(reward, rel=1e-5, abs=1e-5)
        assert rb.terminations[i] == float(terminated), (
            f"transition {i}: terminated={terminated}, truncated={truncated}"
        )
        obs = next_obs
        if terminated or truncated:
            terminations += terminated
            truncations += truncated and not terminated
            obs, _ = env.reset()
    return terminations, truncations


@pytest.mark.parametrize(
    "env_id, total, ends",
    [
        ("Pendulum-v1", 650, "truncations"),  # 200-step time limit, never terminates
        ("InvertedPendulum-v4", 400, "terminations"),  # falls within a few dozen steps
    ],
)
def test_buffer_matches_a_replayed_trajectory_across_episode_ends(script, tmp_path, monkeypatch, env_id, total, ends):
    args = ["--env-id", env_id, "--total-timesteps", str(total), "--learning-starts", "300", "--eval-episodes", "0"]
    rb = run_in_process(script, tmp_path, monkeypatch, *args, "--batch-size", "32")["rb"]
    assert rb.size == total
    terminations, truncations = replay_against_buffer(env_id, 1, rb)
    count = {"terminations": terminations, "truncations": truncations}
    assert count[ends] >= 3 and sum(count.values()) == count[ends]
    if ends == "truncations":
        # the stored final observation is the episode's own, not the first one of the next episode
        assert not np.allclose(rb.next_obs[199], rb.obs[200]) and rb.terminations.sum() == 0
