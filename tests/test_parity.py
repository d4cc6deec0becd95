"""The JAX script computes what the PyTorch script computes: same weights and batch in, same numbers out."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import ddpg_continuous_action as torch_ddpg
import ddpg_continuous_action_jax as jax_ddpg
import tests.envs  # noqa: F401  (registers the test envs)

TOLERANCE = dict(rtol=1e-5, atol=1e-6)
# Adam's first step is lr * g / (|g| + eps): for a gradient near eps (1e-8) the float32 rounding of g moves the step
# by a few percent of lr (3e-4); a wrong lr, eps or bias correction moves it by far more
ADAM_TOLERANCE = dict(rtol=1e-5, atol=1e-5)
LAYERS = {"actor": ("fc1", "fc2", "fc_mu"), "qf1": ("fc1", "fc2", "fc3")}


def to_flax(network: torch.nn.Module, layers) -> dict:
    """A copy of a torch MLP's weights as Flax params (Dense kernels are the transposed Linear weights)."""
    layer = {name: getattr(network, name) for name in layers}
    return {
        "params": {
            name: {"kernel": jnp.array(dense.weight.detach().numpy().T), "bias": jnp.array(dense.bias.detach().numpy())}
            for name, dense in layer.items()
        }
    }


def assert_same(torch_network: torch.nn.Module, flax_tree: dict, layers, grad=False, tolerance=TOLERANCE):
    for name in layers:
        layer = getattr(torch_network, name)
        weight, bias = (layer.weight.grad, layer.bias.grad) if grad else (layer.weight, layer.bias)
        np.testing.assert_allclose(flax_tree["params"][name]["kernel"], weight.detach().numpy().T, **tolerance)
        np.testing.assert_allclose(flax_tree["params"][name]["bias"], bias.detach().numpy(), **tolerance)


@pytest.fixture
def setup():
    torch.manual_seed(0)
    env = torch_ddpg.make_env("tests.envs:AsymmetricBounds-v0", seed=0)
    actor, qf1 = torch_ddpg.Actor(env), torch_ddpg.QNetwork(env)
    actor_target, qf1_target = torch_ddpg.Actor(env), torch_ddpg.QNetwork(env)  # unlike the online nets, on purpose
    rng = np.random.default_rng(0)
    low, high = env.action_space.low, env.action_space.high
    batch = (
        rng.normal(size=(64, 3)).astype(np.float32),
        rng.uniform(low, high, size=(64, 3)).astype(np.float32),
        rng.normal(size=64).astype(np.float32),
        rng.normal(size=(64, 3)).astype(np.float32),
        (rng.random(64) < 0.3).astype(np.float32),
        (0.99 ** rng.integers(1, 4, 64)).astype(np.float32),  # discounts of 1- to 3-step windows
    )
    state = {
        "actor_params": to_flax(actor, LAYERS["actor"]),
        "qf1_params": to_flax(qf1, LAYERS["qf1"]),
        "actor_target_params": to_flax(actor_target, LAYERS["actor"]),
        "qf1_target_params": to_flax(qf1_target, LAYERS["qf1"]),
    }
    return env, (actor, qf1, actor_target, qf1_target), batch, state


def test_one_critic_step_actor_step_and_soft_update_match(setup):
    env, (actor, qf1, actor_target, qf1_target), batch, state = setup
    lr, tau = 3e-4, 0.005
    flax_actor, flax_qf1 = jax_ddpg.make_actor(env), jax_ddpg.QNetwork()
    actor_optimizer, q_optimizer = optax.adam(lr), optax.adam(lr)
    state["actor_opt_state"] = actor_optimizer.init(state["actor_params"])
    state["q_opt_state"] = q_optimizer.init(state["qf1_params"])

    # critic: loss, gradients, parameters after one Adam step
    torch_batch = [torch.from_numpy(x) for x in batch]
    torch_q_optimizer = torch.optim.Adam(qf1.parameters(), lr=lr, fused=True)  # as in the script
    qf1_loss, qf1_a_values, _ = torch_ddpg.update_critic(qf1, torch_q_optimizer, actor_target, qf1_target, torch_batch)
    obs, actions, rewards, next_obs, terminations, discounts = batch
    td_target = jax_ddpg.compute_td_target(
        rewards,
        terminations,
        next_obs,
        discounts,
        lambda s: flax_actor.apply(state["actor_target_params"], s),
        lambda s, a: flax_qf1.apply(state["qf1_target_params"], s, a),
    )
    grads = jax.grad(lambda p: jax_ddpg.critic_loss(p, flax_qf1, obs, actions, td_target)[0])(state["qf1_params"])
    assert_same(qf1, grads, LAYERS["qf1"], grad=True)
    flax_actor_target = partial(flax_actor.apply, state["actor_target_params"])
    flax_qf1_target = partial(flax_qf1.apply, state["qf1_target_params"])
    state, jax_qf1_loss, jax_qf1_a_values, _ = jax_ddpg.update_critic(
        flax_qf1, q_optimizer, flax_actor_target, flax_qf1_target, batch, state
    )
    np.testing.assert_allclose(jax_qf1_loss, qf1_loss.numpy(), **TOLERANCE)
    np.testing.assert_allclose(jax_qf1_a_values, qf1_a_values.numpy(), **TOLERANCE)
    assert_same(qf1, state["qf1_params"], LAYERS["qf1"], tolerance=ADAM_TOLERANCE)

    # actor, against the updated critic
    torch_actor_optimizer = torch.optim.Adam(actor.parameters(), lr=lr, fused=True)
    actor_loss = torch_ddpg.update_actor(actor, torch_actor_optimizer, qf1, torch_batch[0])
    grads = jax.grad(jax_ddpg.actor_loss)(state["actor_params"], flax_actor, flax_qf1, state["qf1_params"], obs)
    assert_same(actor, grads, LAYERS["actor"], grad=True)
    state, jax_actor_loss = jax_ddpg.update_actor(flax_actor, actor_optimizer, flax_qf1, obs, state)
    np.testing.assert_allclose(jax_actor_loss, actor_loss.numpy(), **TOLERANCE)
    assert_same(actor, state["actor_params"], LAYERS["actor"], tolerance=ADAM_TOLERANCE)

    # the soft updates
    torch_ddpg.soft_update(actor_target, actor, tau)
    torch_ddpg.soft_update(qf1_target, qf1, tau)
    new_actor_target = jax_ddpg.soft_update(state["actor_target_params"], state["actor_params"], tau)
    new_qf1_target = jax_ddpg.soft_update(state["qf1_target_params"], state["qf1_params"], tau)
    assert_same(actor_target, new_actor_target, LAYERS["actor"])
    assert_same(qf1_target, new_qf1_target, LAYERS["qf1"])


def test_same_weights_same_actions_and_q_values(setup):
    env, (actor, qf1, _, _), batch, state = setup
    obs, actions = batch[0] * 100, batch[1]  # large inputs: saturated, clipped actions too
    np.testing.assert_allclose(
        jax_ddpg.make_actor(env).apply(state["actor_params"], obs),
        actor(torch.from_numpy(obs)).detach().numpy(),
        **TOLERANCE,
    )
    np.testing.assert_allclose(
        jax_ddpg.QNetwork().apply(state["qf1_params"], obs, actions),
        qf1(torch.from_numpy(obs), torch.from_numpy(actions)).detach().numpy(),
        **TOLERANCE,
    )
