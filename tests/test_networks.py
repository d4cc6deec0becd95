"""Networks and the pieces of the update that can be checked by hand, in both scripts."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

import tests.envs  # noqa: F401  (registers the test envs)

ASYMMETRIC = "tests.envs:AsymmetricBounds-v0"


def actor_fn(module, env, output_bias=None):
    """The script's actor as obs -> action on numpy arrays; with `output_bias`, its last layer outputs only that."""
    rng = np.random.default_rng(0)  # the scripts' own initialisation, seeded: the same weights in both
    if module.__name__ == "ddpg_continuous_action":
        actor = module.Actor(env)
        module.init_params(actor, rng)
        if output_bias is not None:
            with torch.no_grad():
                actor.fc_mu.weight.zero_()
                actor.fc_mu.bias.fill_(output_bias)
        return lambda obs: actor(torch.as_tensor(obs)).detach().numpy()
    actor = module.make_actor(env)
    params = module.init_params(actor, rng, None, np.zeros(env.observation_space.shape, np.float32))
    if output_bias is not None:
        layer = params["params"]["fc_mu"]
        layer["kernel"], layer["bias"] = jnp.zeros_like(layer["kernel"]), jnp.full_like(layer["bias"], output_bias)
    return lambda obs: np.asarray(actor.apply(params, obs))


@pytest.mark.parametrize(
    "bias, bound",
    [
        (0.0, lambda space: (space.low + space.high) / 2),
        (50.0, lambda space: space.high),
        (-50.0, lambda space: space.low),
    ],
)
def test_actor_maps_tanh_onto_asymmetric_per_dimension_bounds(module, bias, bound):
    env = module.make_env(ASYMMETRIC, seed=0)
    action = actor_fn(module, env, output_bias=bias)(np.random.randn(16, 3).astype(np.float32))
    np.testing.assert_allclose(action, np.broadcast_to(bound(env.action_space), (16, 3)), atol=1e-6)


@pytest.mark.parametrize("env_id", [ASYMMETRIC, "Pendulum-v1", "Humanoid-v4", "InvertedPendulum-v4"])
def test_actor_stays_in_bounds_on_extreme_inputs(module, env_id):
    # the target actor is the same network with other weights: the bounds hold for it the same way
    env = module.make_env(env_id, seed=0)
    obs = (np.random.default_rng(0).normal(size=(4096, env.observation_space.shape[0])) * 1e4).astype(np.float32)
    action = actor_fn(module, env)(obs)
    low, high = env.action_space.low, env.action_space.high
    assert action.shape == (4096, env.action_space.shape[0])
    assert (action >= low).all() and (action <= high).all()
    assert np.isclose(action, low).any() and np.isclose(action, high).any()  # the inputs do saturate tanh


def test_critic_scores_each_obs_action_pair():
    from ddpg_continuous_action import QNetwork, make_env

    qf1 = QNetwork(make_env(ASYMMETRIC, seed=0))
    obs, actions = torch.randn(5, 3), torch.randn(5, 3)
    values = qf1(obs, actions)
    assert values.shape == (5,)
    torch.testing.assert_close(values[2], qf1(obs[2:3], actions[2:3])[0])


def test_td_target_against_a_hand_computed_value(module):
    array = torch.tensor if module.__name__ == "ddpg_continuous_action" else jnp.asarray
    rewards = array([1.0, -2.0, 0.5])
    terminations = array([0.0, 1.0, 0.0])
    discounts = array([0.99, 0.99, 0.99**3])  # row 2: the end of a 3-step window
    next_obs = array([[1.0, 2.0], [3.0, 4.0], [-1.0, 0.5]])

    def actor_target(s):
        return s[:, :1] * 0.5

    def qf1_target(s, a):
        return s.sum(-1) + 10 * a[:, 0]

    # row 0: mu' = 0.5, Q' = 3 + 5 = 8, y = 1 + 0.99 * 8; row 1 terminated: y = r; row 2: Q' = -0.5 - 5
    expected = [1 + 0.99 * 8, -2.0, 0.5 + 0.99**3 * -5.5]
    target = module.compute_td_target(rewards, terminations, next_obs, discounts, actor_target, qf1_target)
    np.testing.assert_allclose(np.asarray(target), expected, rtol=1e-6)


def test_td_target_carries_no_gradient():
    from ddpg_continuous_action import Actor, QNetwork, compute_td_target, make_env

    env = make_env(ASYMMETRIC, seed=0)
    discounts = torch.full((4,), 0.99)
    target = compute_td_target(torch.ones(4), torch.zeros(4), torch.randn(4, 3), discounts, Actor(env), QNetwork(env))
    assert not target.requires_grad


@pytest.mark.parametrize("tau", [0.25, 1.0])
def test_soft_update_moves_target_tau_of_the_way(tau):
    from ddpg_continuous_action import (
        QNetwork,
        make_env,
        soft_update,
    )  # the JAX one is checked against it in test_parity

    env = make_env(ASYMMETRIC, seed=0)
    source, target = QNetwork(env), QNetwork(env)
    before = [p.detach().clone() for p in target.parameters()]
    source_params = [p.detach().clone() for p in source.parameters()]
    soft_update(target, source, tau)
    for after, old, new in zip(target.parameters(), before, source_params):
        torch.testing.assert_close(after.detach(), tau * new + (1 - tau) * old)
    for unchanged, new in zip(source.parameters(), source_params):
        torch.testing.assert_close(unchanged.detach(), new)
