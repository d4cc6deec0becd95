"""--n-step: windows built by hand, their TD targets computed by hand (both scripts, each with its own copy)."""

import numpy as np
import pytest

GAMMA = 0.5  # powers of a half are exact in float32: every expected value below is exact


def buffer_of(module, capacity: int, rewards, terminated=(), truncated=()):
    """A buffer holding transitions 0, 1, ... in order: transition i has obs [i], next_obs [i + 0.5], action [-i],
    reward rewards[i]; it terminates if i is in `terminated`, and is truncated if i is in `truncated`."""
    rb = module.ReplayBuffer(capacity, obs_dim=1, act_dim=1, seed=0)
    for i, reward in enumerate(rewards):
        rb.add([i], [i + 0.5], [-i], reward, i in terminated, i in truncated)
    return rb


def td_targets(module, rb, rows, n_step: int) -> np.ndarray:
    """The script's TD targets for the windows from these buffer rows, with Q'(s', mu'(s')) = 10 * s'."""
    batch = module.n_step_transitions(rb, np.array(rows), n_step, GAMMA)
    if module.__name__ == "ddpg_continuous_action":
        import torch

        batch = [torch.from_numpy(x) for x in batch]
    _, _, rewards, next_obs, terminations, discounts = batch

    def qf1_target(obs, action):
        return 10 * obs[:, 0]

    return np.asarray(module.compute_td_target(rewards, terminations, next_obs, discounts, lambda s: s, qf1_target))


def test_a_window_stops_at_a_termination_and_drops_the_bootstrap(module):
    rb = buffer_of(module, 10, rewards=[1, 2, 3, 4, 5, 6, 7], terminated=[2])
    expected = [
        1 + 0.5 * 2 + 0.25 * 3,  # 0, 1, 2: the episode ends at 2, so no Q' term
        2 + 0.5 * 3,  # 1, 2: cut short by the termination
        3,  # 2: the terminal transition alone
        4 + 0.5 * 5 + 0.25 * 6 + 0.125 * 10 * 5.5,  # 3, 4, 5 (a new episode): a full window, Q'(s_6) = 10 * 5.5
    ]
    np.testing.assert_array_equal(td_targets(module, rb, [0, 1, 2, 3], n_step=3), expected)


def test_a_window_stops_at_a_truncation_and_bootstraps_from_the_real_final_observation(module):
    rb = buffer_of(module, 10, rewards=[1, 2, 3, 4, 5, 6, 7], truncated=[1])
    expected = [
        1 + 0.5 * 2 + 0.25 * 10 * 1.5,  # 0, 1: truncated at 1, bootstrap from its next_obs 1.5 with gamma^2
        2 + 0.5 * 10 * 1.5,  # 1: gamma^1
        3 + 0.5 * 4 + 0.25 * 5 + 0.125 * 10 * 4.5,  # 2, 3, 4: the next episode, whole
    ]
    np.testing.assert_array_equal(td_targets(module, rb, [0, 1, 2], n_step=3), expected)
    batch = module.n_step_transitions(rb, np.array([0, 1, 2]), 3, GAMMA)
    np.testing.assert_array_equal(batch[0][:, 0], [0, 1, 2])  # obs and action are the window's first
    np.testing.assert_array_equal(batch[1][:, 0], [0, -1, -2])
    np.testing.assert_array_equal(batch[5], [0.25, 0.5, 0.125])  # gamma^k for a window of k steps


def test_a_window_never_reads_past_the_newest_transition(module):
    rb = buffer_of(module, 10, rewards=[1, 2, 3, 4, 5])  # rows 5..9 never written; no episode has ended
    rb.rewards[5:], rb.next_obs[5:] = np.nan, np.nan  # read, even masked out, they would make the targets NaN
    expected = [
        3 + 0.5 * 4 + 0.25 * 5 + 0.125 * 10 * 4.5,  # 2, 3, 4: the newest is 4
        4 + 0.5 * 5 + 0.25 * 10 * 4.5,  # 3, 4: cut at the newest, bootstrap from its next_obs with gamma^2
        5 + 0.5 * 10 * 4.5,  # 4 alone
    ]
    np.testing.assert_array_equal(td_targets(module, rb, [2, 3, 4], n_step=3), expected)


def test_windows_in_a_wrapped_buffer_follow_the_ring_and_stop_at_the_write_position(module):
    # capacity 5 after 8 transitions: rows 0..4 hold transitions 5, 6, 7, 3, 4; the next write goes to row 3
    rb = buffer_of(module, 5, rewards=[1, 2, 3, 4, 5, 6, 7, 8])
    assert (rb.pos, rb.rewards.tolist()) == (3, [6, 7, 8, 4, 5])
    expected = [
        4 + 0.5 * 5 + 0.25 * 6 + 0.125 * 10 * 5.5,  # row 3: transitions 3, 4, 5, across the end of the array
        5 + 0.5 * 6 + 0.25 * 7 + 0.125 * 10 * 6.5,  # row 4: transitions 4, 5, 6
        7 + 0.5 * 8 + 0.25 * 10 * 7.5,  # row 1: transitions 6, 7; row 3 (transition 3, the oldest) is not next
        8 + 0.5 * 10 * 7.5,  # row 2: transition 7, the newest
    ]
    np.testing.assert_array_equal(td_targets(module, rb, [3, 4, 1, 2], n_step=3), expected)


def test_an_episode_end_and_the_wrap_in_one_window(module):
    # capacity 4 after 6 transitions: rows hold 4, 5, 2, 3; transition 3 terminates, so row 2's window is 2, 3
    rb = buffer_of(module, 4, rewards=[1, 2, 3, 4, 5, 6], terminated=[3])
    expected = [3 + 0.5 * 4, 4, 5 + 0.5 * 6 + 0.25 * 10 * 5.5]  # rows 2, 3 (terminal), 0: 4, 5 then the newest
    np.testing.assert_array_equal(td_targets(module, rb, [2, 3, 0], n_step=4), expected)


def windows_by_loop(rb, rows, n_step: int) -> list:
    """The same windows computed one step at a time, as the definition reads: (return, last row, k)."""
    windows = []
    for row in rows:
        total, k = 0.0, 0
        while True:
            at = (row + k) % rb.capacity
            total += GAMMA**k * float(rb.rewards[at])
            k += 1
            newest = at == (rb.pos - 1) % rb.capacity
            if k == n_step or rb.terminations[at] or rb.truncations[at] or newest:
                windows.append((total, at, k))
                break
    return windows


@pytest.mark.parametrize("n_step", [2, 5])
def test_random_episodes_in_a_wrapped_buffer_match_a_step_by_step_loop(module, n_step):
    rng = np.random.default_rng(n_step)
    count = 137  # a capacity of 50 wrapped almost three times
    ends = rng.random(count)
    rb = buffer_of(module, 50, rng.integers(-8, 8, count), np.flatnonzero(ends < 0.1), np.flatnonzero(ends > 0.92))
    rows = np.arange(50)
    _, _, rewards, next_obs, terminations, discounts = module.n_step_transitions(rb, rows, n_step, GAMMA)
    for row, (total, last, k) in zip(rows, windows_by_loop(rb, rows, n_step)):
        assert rewards[row] == np.float32(total) and discounts[row] == np.float32(GAMMA**k), f"row {row}"
        assert next_obs[row, 0] == rb.next_obs[last, 0] and terminations[row] == rb.terminations[last], f"row {row}"


def test_one_step_windows_are_the_one_step_batch_bit_for_bit(module):
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=90).astype(np.float32)
    rb = buffer_of(module, 64, rewards, terminated=[5, 40, 77], truncated=[20, 60])
    one_step = rb.sample(128, 1, 0.99)
    windows = module.n_step_transitions(rb, np.random.default_rng(0).integers(0, rb.size, 128), 1, 0.99)  # its draws
    for field, window in zip(one_step, windows):
        np.testing.assert_array_equal(field, window)
        assert field.dtype == window.dtype == np.float32
