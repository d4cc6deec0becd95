"""The research options: exploration schemes, the paper preset, layer norm, periodic evaluation, diagnostics."""

import sys
from dataclasses import asdict

import jax
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import SCRIPTS, SHORT_RUN, read_scalars, run_dirs, run_in_process, run_script

THETA, SIGMA = 0.15, 0.2


def test_ou_noise_reverts_to_zero_at_the_closed_form_rate(module):
    rng = np.random.default_rng(0)
    noise = np.ones(200_000)  # 200k independent processes started at 1
    for _ in range(10):
        noise = module.ou_step(noise, THETA, SIGMA, rng)
    # x_k = (1 - theta)^k x_0 + noise with variance sigma^2 (1 - (1 - theta)^(2k)) / (1 - (1 - theta)^2)
    mean, variance = (1 - THETA) ** 10, SIGMA**2 * (1 - (1 - THETA) ** 20) / (1 - (1 - THETA) ** 2)
    assert noise.mean() == pytest.approx(mean, abs=5 * np.sqrt(variance / noise.size))
    assert noise.var() == pytest.approx(variance, rel=0.02)


def test_ou_noise_settles_at_the_stationary_spread_and_is_correlated_in_time(module):
    rng = np.random.default_rng(1)
    noise, path = np.zeros(2_000), []
    for _ in range(300):
        noise = module.ou_step(noise, THETA, SIGMA, rng)
        path.append(noise)
    late = np.array(path[100:])  # well past the transient: (1 - theta)^100 ~ 1e-7
    assert late.var() == pytest.approx(SIGMA**2 / (1 - (1 - THETA) ** 2), rel=0.03)
    lag1 = np.mean(late[1:] * late[:-1]) / late.var()
    assert lag1 == pytest.approx(1 - THETA, abs=0.01)  # Gaussian noise would give 0


def test_param_noise_scale_shrinks_above_target_and_grows_below(module):
    assert module.adapt_param_noise(0.1, distance=0.3, target=0.2) < 0.1
    assert module.adapt_param_noise(0.1, distance=0.1, target=0.2) > 0.1
    std = 0.1
    for _ in range(2000):  # a policy whose action distance is 2.5 x the weight std settles at std = target / 2.5
        std = module.adapt_param_noise(std, distance=2.5 * std, target=0.2)
    assert std == pytest.approx(0.08, rel=0.02)


def weights(module, actor_params_or_module) -> dict:
    if module.__name__ == "ddpg_continuous_action":
        return {name: p.detach().numpy() for name, p in actor_params_or_module.named_parameters()}
    flat = jax.tree_util.tree_flatten_with_path(actor_params_or_module)[0]
    return {jax.tree_util.keystr(path): np.asarray(p) for path, p in flat}


def test_param_noise_perturbs_weights_by_std_and_leaves_layer_norm_alone(module):
    env = module.make_env("Pendulum-v1", seed=0)
    if module.__name__ == "ddpg_continuous_action":
        actor, perturbed = (module.Actor(env, layer_norm=True) for _ in range(2))
        module.perturb_actor(perturbed, actor, 0.05, np.random.default_rng(1))
    else:
        net = module.make_actor(env, layer_norm=True)
        actor = net.init(jax.random.PRNGKey(0), np.zeros(3, np.float32))
        perturbed = module.perturb_actor(actor, 0.05, np.random.default_rng(1))
    clean, noisy = weights(module, actor), weights(module, perturbed)
    assert any("ln" in name for name in clean)
    for name in clean:
        difference = noisy[name] - clean[name]
        if "ln" in name:
            np.testing.assert_array_equal(difference, 0)
        elif difference.size > 1000:
            assert difference.std() == pytest.approx(0.05, rel=0.05) and abs(difference.mean()) < 0.005


def run_globals(name, tmp_path, monkeypatch, *args) -> dict:
    return run_in_process(SCRIPTS[name], tmp_path, monkeypatch, "--env-id", "Pendulum-v1", *SHORT_RUN, *args)


def run_paper_preset(name, tmp_path, monkeypatch) -> dict:
    """A --paper run with one critic step and one actor step; the settings that are plain args checked on them."""
    run = run_globals(name, tmp_path, monkeypatch, "--paper", "--learning-starts", "497", "--total-timesteps", "499")
    args = run["args"]
    assert (args.batch_size, args.tau, args.exploration_noise_type, args.ou_theta, args.ou_sigma) == (
        64,
        1e-3,
        "ou",
        0.15,
        0.2,
    )
    return run


def test_paper_preset_builds_the_paper_networks_and_optimisers_torch(tmp_path, monkeypatch):
    run = run_paper_preset("torch", tmp_path, monkeypatch)
    actor, qf1 = run["actor"], run["qf1"]
    assert [actor.fc1.out_features, actor.fc2.out_features] == [400, 300]
    assert [qf1.fc1.in_features, qf1.fc1.out_features, qf1.fc2.in_features, qf1.fc2.out_features] == [3, 400, 401, 300]
    for layer in (actor.fc_mu, run["actor_target"].fc_mu):  # one Adam step of lr 1e-4 since (Algorithm 1's actor step)
        for tensor in (layer.weight, layer.bias):
            assert tensor.abs().max() <= 3e-3 + 1e-4 and tensor.abs().max() > 2e-3  # uniform in [-3e-3, 3e-3]
    assert qf1.fc3.weight.abs().max() <= 3e-3 + 1e-3  # one Adam step of lr 1e-3 since
    assert run["actor_optimizer"].param_groups[0]["lr"] == 1e-4
    assert run["actor_optimizer"].param_groups[0]["weight_decay"] == 0
    assert run["q_optimizer"].param_groups[0]["lr"] == 1e-3
    assert run["q_optimizer"].param_groups[0]["weight_decay"] == 1e-2


@pytest.mark.slow
def test_paper_preset_builds_the_paper_networks_and_optimisers_jax(tmp_path, monkeypatch):
    run = run_paper_preset("jax", tmp_path, monkeypatch)
    state = run["state"]
    shapes = jax.tree_util.tree_map(np.shape, state["qf1_params"])["params"]
    assert shapes["fc1"]["kernel"] == (3, 400) and shapes["fc2"]["kernel"] == (401, 300)
    actor_shapes = jax.tree_util.tree_map(np.shape, state["actor_params"])["params"]
    assert actor_shapes["fc1"]["kernel"] == (3, 400) and actor_shapes["fc2"]["kernel"] == (400, 300)
    for leaf in state["actor_params"]["params"]["fc_mu"].values():  # one Adam step of lr 1e-4 since
        assert 2e-3 < np.abs(leaf).max() <= 3e-3 + 1e-4
    # the optimisers, by what they do: a first Adam step moves each weight by about lr in the direction of -gradient;
    # with zero gradients, only the critic's weight decay (gradient 1e-2 * w) moves anything
    zero = jax.tree_util.tree_map(np.zeros_like, state["qf1_params"])
    updates, _ = run["q_optimizer"].update(zero, run["q_optimizer"].init(zero), state["qf1_params"])
    kernel, update = state["qf1_params"]["params"]["fc2"]["kernel"], updates["params"]["fc2"]["kernel"]
    decay = 1e-2 * kernel  # Adam's first step: -lr * g / (|g| + eps)
    np.testing.assert_allclose(update, -1e-3 * decay / (np.abs(decay) + 1e-8), rtol=1e-4, atol=1e-8)
    actor_zero = jax.tree_util.tree_map(np.zeros_like, state["actor_params"])
    updates, _ = run["actor_optimizer"].update(
        actor_zero, run["actor_optimizer"].init(actor_zero), state["actor_params"]
    )
    assert all(np.all(u == 0) for u in jax.tree_util.tree_leaves(updates))
    ones = jax.tree_util.tree_map(np.ones_like, state["actor_params"])
    updates, _ = run["actor_optimizer"].update(ones, run["actor_optimizer"].init(ones), state["actor_params"])
    np.testing.assert_allclose(updates["params"]["fc1"]["kernel"], -1e-4, rtol=1e-4)


# Lillicrap et al. 2016, section 7 and Algorithm 1, in the scripts' terms
PAPER_SETTINGS = {
    "hidden_sizes": (400, 300), "critic_action_layer": 2, "final_layer_init": 3e-3, "learning_rate": 1e-4,
    "critic_learning_rate": 1e-3, "critic_weight_decay": 1e-2, "batch_size": 64, "tau": 1e-3, "gamma": 0.99,
    "buffer_size": 1_000_000, "exploration_noise_type": "ou", "ou_theta": 0.15, "ou_sigma": 0.2,
    "policy_frequency": 1,  # Algorithm 1: critic, actor and both targets at every step
    "learning_starts": 0,  # Algorithm 1: the actor plus noise acts from the first step
}  # fmt: skip


def test_the_paper_preset_is_algorithm_1_in_every_setting_the_scripts_have(module, monkeypatch):
    monkeypatch.setattr(sys, "argv", [module.__file__, "--paper"])
    args, _ = module.parse_args()
    assert {name: getattr(args, name) for name in PAPER_SETTINGS} == PAPER_SETTINGS
    defaults = module.Args()
    others = [name for name in asdict(defaults) if name not in PAPER_SETTINGS and name != "paper"]
    assert {name: getattr(args, name) for name in others} == {name: getattr(defaults, name) for name in others}
    assert args.paper


@pytest.mark.slow
def test_param_noise_perturbs_a_layer_norm_actor_however_the_run_is_started(module, tmp_path, monkeypatch):
    # train() called from Python, without parse_args, and the saved model loaded back, both with LayerNorm
    monkeypatch.chdir(tmp_path)
    args = module.Args(env_id="Pendulum-v1", total_timesteps=300, learning_starts=100, batch_size=64,
                       eval_episodes=0, exploration_noise_type="param", actor_layer_norm=False)  # fmt: skip
    run = module.train(args)
    if "actor" in run:
        assert isinstance(run["actor"].ln1, torch.nn.LayerNorm)
    else:
        assert "ln1" in run["state"]["actor_params"]["params"]
    assert module.actor_layer_norm(args) and not module.actor_layer_norm(module.Args(exploration_noise_type="ou"))


def test_param_noise_perturbs_an_actor_on_the_device_of_its_weights():
    # on a GPU the noise drawn on the host must move to the weights' device; the "meta" device stands in for one
    import ddpg_continuous_action as ddpg

    actor = ddpg.Actor(ddpg.make_env("Pendulum-v1", 0), (8, 8), layer_norm=True).to("meta")
    perturbed = ddpg.Actor(ddpg.make_env("Pendulum-v1", 0), (8, 8), layer_norm=True).to("meta")
    ddpg.perturb_actor(perturbed, actor, 0.1, np.random.default_rng(0))
    assert all(param.device.type == "meta" for param in perturbed.parameters())


@pytest.mark.slow
def test_flags_given_beside_the_paper_preset_win(script, tmp_path, monkeypatch):
    args = run_in_process(
        script, tmp_path, monkeypatch, "--env-id", "Pendulum-v1", *SHORT_RUN, "--paper", "--tau", "0.02"
    )["args"]
    assert (args.tau, args.batch_size, args.hidden_sizes, args.critic_weight_decay) == (0.02, 64, (400, 300), 1e-2)


@pytest.mark.slow
def test_the_plain_command_keeps_the_defaults(script, tmp_path, monkeypatch):
    args = run_in_process(script, tmp_path, monkeypatch, "--env-id", "Pendulum-v1", *SHORT_RUN)["args"]
    assert (args.hidden_sizes, args.tau, args.exploration_noise_type, args.critic_action_layer) == (
        (256, 256),
        0.005,
        "gaussian",
        1,
    )
    assert (args.learning_rate, args.critic_learning_rate, args.critic_weight_decay, args.final_layer_init) == (
        3e-4,
        None,
        0.0,
        None,
    )


@pytest.mark.parametrize("noise", ["ou", "param"])
@pytest.mark.slow
def test_exploration_schemes_run_inside_asymmetric_bounds(script, tmp_path, noise):
    # the env raises on any action outside its bounds; param noise logs its adapted scale and needs LayerNorm
    args = (
        "--env-id",
        "tests.envs:AsymmetricBounds-v0",
        *SHORT_RUN,
        "--exploration-noise-type",
        noise,
        "--ou-sigma",
        "3",
    )
    run_script(script, tmp_path, *args)
    scalars = read_scalars(run_dirs(tmp_path)[0])
    if noise == "param":
        stds = [value for _, value in scalars["charts/param_noise_std"]]
        assert stds and all(0.05 < value < 0.2 for value in stds)  # adapted from 0.1 by factors of 1.01
        assert all(np.isfinite(value) and value > 0 for _, value in scalars["charts/param_noise_distance"])


@pytest.mark.slow
def test_layer_norm_switches(script, tmp_path, monkeypatch):
    run = run_in_process(
        script,
        tmp_path,
        monkeypatch,
        "--env-id",
        "Pendulum-v1",
        *SHORT_RUN,
        "--actor-layer-norm",
        "--critic-layer-norm",
    )
    if script == SCRIPTS["torch"]:
        assert all(isinstance(net.ln1, torch.nn.LayerNorm) for net in (run["actor"], run["qf1"], run["actor_target"]))
    else:
        assert all(
            "ln1" in run["state"][name]["params"] for name in ("actor_params", "qf1_params", "qf1_target_params")
        )


@pytest.mark.slow
def test_periodic_evaluation_and_probe_diagnostics(script, tmp_path):
    run_script(
        script,
        tmp_path,
        "--env-id",
        "Pendulum-v1",
        *SHORT_RUN,
        "--eval-frequency",
        "200",
        "--diagnostics-frequency",
        "100",
    )
    run_dir = run_dirs(tmp_path)[0]
    scalars = read_scalars(run_dir)
    assert [step for step, _ in scalars["eval/episodic_return"]] == [200, 400, 500]
    assert [step for step, _ in scalars["diagnostics/probe_q_mean"]] == [300, 400, 500]
    drift = [value for _, value in scalars["diagnostics/probe_action_drift"]]
    assert all(np.isfinite(drift)) and max(drift) > 0  # the policy learns, so its actions on the probes move
    assert [step for step, _ in scalars["losses/td_target"]] == [300, 400, 500]


@pytest.mark.slow
def test_under_the_paper_preset_the_probes_are_different_states(script, tmp_path):
    # --paper learns from the first step: the probes are taken once the buffer holds 256 states, not from its first
    run_script(script, tmp_path, "--env-id", "Pendulum-v1", "--paper", "--total-timesteps", "300",
               "--eval-episodes", "1", "--diagnostics-frequency", "300")  # fmt: skip
    events = EventAccumulator(str(run_dirs(tmp_path)[0]), size_guidance={"histograms": 0})
    events.Reload()
    for tag in ("diagnostics/probe_actions", "diagnostics/probe_q_values"):
        (histogram,) = events.Histograms(tag)
        assert histogram.step == 300 and histogram.histogram_value.min < histogram.histogram_value.max, tag
