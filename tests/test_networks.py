import copy

import numpy as np
import pytest
import torch

import tests.envs  # noqa: F401  (registers the test envs)
from ddpg_continuous_action import Actor, QNetwork, make_env, soft_update, td_target

ASYMMETRIC = "tests.envs:AsymmetricBounds-v0"


@pytest.fixture
def env():
    return make_env(ASYMMETRIC, seed=0)


def set_output_layer(actor: Actor, bias: float):
    with torch.no_grad():
        actor.fc_mu.weight.zero_()
        actor.fc_mu.bias.fill_(bias)


@pytest.mark.parametrize(
    "bias, bound",
    [(0.0, lambda space: (space.low + space.high) / 2), (50.0, lambda space: space.high), (-50.0, lambda space: space.low)],
)
def test_actor_maps_tanh_onto_asymmetric_per_dimension_bounds(env, bias, bound):
    actor = Actor(env)
    set_output_layer(actor, bias)
    action = actor(torch.randn(16, 3)).detach().numpy()
    np.testing.assert_allclose(action, np.broadcast_to(bound(env.action_space), (16, 3)), atol=1e-6)


@pytest.mark.parametrize("env_id", [ASYMMETRIC, "Pendulum-v1", "Humanoid-v4", "InvertedPendulum-v4"])
def test_actor_and_target_actor_stay_in_bounds_on_extreme_inputs(env_id):
    env = make_env(env_id, seed=0)
    actor = Actor(env)
    target_actor = copy.deepcopy(actor)
    obs = torch.randn(4096, env.observation_space.shape[0]) * 1e4
    low, high = env.action_space.low, env.action_space.high
    for network in (actor, target_actor):
        action = network(obs).detach().numpy()
        assert action.shape == (4096, env.action_space.shape[0])
        assert (action >= low).all() and (action <= high).all()
        assert np.isclose(action, low).any() and np.isclose(action, high).any()  # the inputs do saturate tanh


def test_critic_scores_each_obs_action_pair(env):
    qf1 = QNetwork(env)
    obs, actions = torch.randn(5, 3), torch.randn(5, 3)
    values = qf1(obs, actions)
    assert values.shape == (5,)
    torch.testing.assert_close(values[2], qf1(obs[2:3], actions[2:3])[0])


def test_td_target_against_a_hand_computed_value():
    rewards = torch.tensor([1.0, -2.0, 0.5])
    terminations = torch.tensor([0.0, 1.0, 0.0])
    next_obs = torch.tensor([[1.0, 2.0], [3.0, 4.0], [-1.0, 0.5]])

    def target_actor(s):
        return s[:, :1] * 0.5

    def qf1_target(s, a):
        return s.sum(-1) + 10 * a[:, 0]

    # row 0: mu' = 0.5, Q' = 3 + 5 = 8, y = 1 + 0.99 * 8; row 1 terminated: y = r; row 2: Q' = -0.5 - 5
    expected = torch.tensor([1 + 0.99 * 8, -2.0, 0.5 + 0.99 * -5.5])
    torch.testing.assert_close(td_target(rewards, terminations, next_obs, target_actor, qf1_target, 0.99), expected)


def test_td_target_carries_no_gradient(env):
    target = td_target(torch.ones(4), torch.zeros(4), torch.randn(4, 3), Actor(env), QNetwork(env), 0.99)
    assert not target.requires_grad


@pytest.mark.parametrize("tau", [0.25, 1.0])
def test_soft_update_moves_target_tau_of_the_way(env, tau):
    source, target = QNetwork(env), QNetwork(env)
    before = [p.detach().clone() for p in target.parameters()]
    source_params = [p.detach().clone() for p in source.parameters()]
    soft_update(target, source, tau)
    for after, old, new in zip(target.parameters(), before, source_params):
        torch.testing.assert_close(after.detach(), tau * new + (1 - tau) * old)
    for unchanged, new in zip(source.parameters(), source_params):
        torch.testing.assert_close(unchanged.detach(), new)
