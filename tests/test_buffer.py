"""The replay buffer (the same in both scripts, each with its own copy)."""

import numpy as np


def fill(buffer, first: int, count: int):
    """Add transitions numbered first..first+count-1; every field of transition i encodes i."""
    for i in range(first, first + count):
        buffer.add(
            obs=np.full(3, i, dtype=np.float64),
            next_obs=np.full(3, i + 0.5),
            action=np.full(2, -i, dtype=np.float32),
            reward=float(i),
            terminated=i % 2 == 0,
            truncated=i % 3 == 0,
        )


def test_preallocated_float32_arrays_that_adds_write_into(module):
    buffer = module.ReplayBuffer(capacity=10, obs_dim=3, act_dim=2, seed=0)
    arrays = {name: getattr(buffer, name) for name in module.BUFFER_FIELDS}
    assert len(arrays) == 6 and all(a.shape[0] == 10 and a.dtype == np.float32 for a in arrays.values())
    fill(buffer, 0, 25)
    assert all(array is getattr(buffer, name) for name, array in arrays.items())


def test_wraps_around_and_overwrites_the_oldest(module):
    buffer = module.ReplayBuffer(capacity=10, obs_dim=3, act_dim=2, seed=0)
    fill(buffer, 0, 7)
    assert (buffer.size, buffer.pos) == (7, 7)
    fill(buffer, 7, 6)  # transitions 0..12: 10..12 overwrite 0..2
    assert (buffer.size, buffer.pos) == (10, 3)
    assert buffer.rewards.tolist() == [10, 11, 12, 3, 4, 5, 6, 7, 8, 9]
    assert buffer.next_obs[:, 0].tolist() == [10.5, 11.5, 12.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5]
    assert buffer.actions[1].tolist() == [-11, -11]
    assert buffer.terminations.tolist() == [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    assert buffer.truncations.tolist() == [0, 0, 1, 1, 0, 0, 1, 0, 0, 1]


def test_samples_only_stored_transitions_and_keeps_their_fields_together(module):
    buffer = module.ReplayBuffer(capacity=100, obs_dim=3, act_dim=2, seed=0)
    fill(buffer, 1, 20)
    obs, actions, rewards, next_obs, terminations, discounts = buffer.sample(512, 1, 0.99)
    assert obs.shape == (512, 3) and actions.shape == (512, 2) and rewards.shape == (512,)
    assert set(rewards.tolist()) <= set(range(1, 21))  # never an empty slot (their reward is 0)
    np.testing.assert_array_equal(obs[:, 0], rewards)
    np.testing.assert_array_equal(next_obs[:, 0], rewards + 0.5)
    np.testing.assert_array_equal(actions[:, 1], -rewards)
    np.testing.assert_array_equal(terminations, rewards % 2 == 0)
    np.testing.assert_array_equal(discounts, np.float32(0.99))


def test_sampling_is_uniform_over_a_full_wrapped_buffer(module):
    buffer = module.ReplayBuffer(capacity=50, obs_dim=3, act_dim=2, seed=0)
    fill(buffer, 0, 80)
    draws = np.concatenate([buffer.sample(256, 1, 0.99)[2] for _ in range(200)])  # 51,200 draws
    counts = np.bincount(draws.astype(int), minlength=80)
    assert counts[:30].sum() == 0  # overwritten
    expected = len(draws) / 50
    chi2 = ((counts[30:] - expected) ** 2 / expected).sum()
    assert chi2 < 90  # 49 degrees of freedom: p < 1e-3 beyond 85


def test_same_seed_same_samples(module):
    buffers = [module.ReplayBuffer(capacity=50, obs_dim=3, act_dim=2, seed=seed) for seed in (3, 3, 4)]
    for buffer in buffers:
        fill(buffer, 0, 50)
    first, second, other = (buffer.sample(64, 1, 0.99)[2] for buffer in buffers)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)
