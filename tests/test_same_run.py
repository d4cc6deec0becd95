"""One seed, one run: both scripts start from the same weights and draw the same random numbers in the same order,
so a PyTorch run and a JAX run of one seed are the same run up to float rounding, until the rounding grows."""

import numpy as np
import pytest

import tests.envs  # noqa: F401  (registers the test envs)
from tests.conftest import SCRIPTS, read_scalars, run_dirs, run_in_process

# (torch's attribute, the JAX state's key) of each network
NETWORKS = (("actor", "actor_params"), ("qf1", "qf1_params"), ("actor_target", "actor_target_params"),
            ("qf1_target", "qf1_target_params"))  # fmt: skip
LAYERS = ("fc1", "fc2", "fc_mu", "fc3")


def weights(framework: str, run: dict) -> dict:
    """Every weight of the run's four networks by name, in Flax's layout (kernels are transposed Linear weights)."""
    found = {}
    for torch_name, jax_name in NETWORKS:
        if framework == "torch":
            network = run[torch_name]
            for layer in (name for name in LAYERS if hasattr(network, name)):
                found[f"{jax_name}.{layer}.kernel"] = getattr(network, layer).weight.detach().cpu().numpy().T
                found[f"{jax_name}.{layer}.bias"] = getattr(network, layer).bias.detach().cpu().numpy()
            for layer in (name for name in ("ln1", "ln2") if hasattr(getattr(network, name), "weight")):
                found[f"{jax_name}.{layer}.scale"] = getattr(network, layer).weight.detach().cpu().numpy()
                found[f"{jax_name}.{layer}.bias"] = getattr(network, layer).bias.detach().cpu().numpy()
        else:
            for layer, params in run["state"][jax_name]["params"].items():
                found |= {f"{jax_name}.{layer}.{key}": np.asarray(value) for key, value in params.items()}
    return found


def assert_agree(a: np.ndarray, b: np.ndarray, atol: float, name: str):
    """Equal to `atol` but for at most 0.1% of the weights: Adam's first step on a gradient near its epsilon turns
    rounding into up to twice the learning rate (3e-4) on those few (see test_parity)."""
    apart = np.abs(a - b) > atol
    assert apart.mean() <= 1e-3 and np.abs(a - b).max() <= 6e-4, f"{name}: {apart.sum()} of {apart.size} apart"


def both(tmp_path, monkeypatch, *args, **past_the_checks) -> dict:
    """Both scripts run in this process with the same arguments: what each run built, by framework."""
    for name in SCRIPTS:
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
    return {name: run_in_process(SCRIPTS[name], tmp_path / name, monkeypatch, *args, **past_the_checks)
            for name in sorted(SCRIPTS)}  # fmt: skip


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "Humanoid-v4", "tests.envs:AsymmetricBounds-v0"])
@pytest.mark.parametrize("options", [(), ("--paper",), ("--actor-layer-norm", "--critic-layer-norm")])
def test_one_seed_gives_both_scripts_the_same_initial_weights(tmp_path, monkeypatch, env_id, options):
    args = ("--env-id", env_id, "--seed", "5", "--total-timesteps", "3", "--learning-starts", "1", "--batch-size", "1")
    # 2 steps: the actor acts once, and no update runs (a run the command line refuses for that)
    args += ("--buffer-size", "10", "--eval-episodes", "0", *options)
    runs = both(tmp_path, monkeypatch, *args, total_timesteps=2)
    torch_weights, jax_weights = weights("torch", runs["torch"]), weights("jax", runs["jax"])
    assert torch_weights.keys() == jax_weights.keys()
    assert any(".ln1." in name for name in jax_weights) == bool(options and options[0] != "--paper")
    for name, value in jax_weights.items():
        np.testing.assert_array_equal(torch_weights[name], value, err_msg=name)  # value for value
    np.testing.assert_array_equal(jax_weights["actor_params.fc1.kernel"], jax_weights["actor_target_params.fc1.kernel"])
    (tmp_path / "other").mkdir()
    other_seed = run_in_process(SCRIPTS["jax"], tmp_path / "other", monkeypatch, *args[:3], "6", *args[4:],
                                total_timesteps=2)  # fmt: skip
    assert not np.array_equal(
        weights("jax", other_seed)["actor_params.fc1.kernel"], jax_weights["actor_params.fc1.kernel"]
    )


def test_the_first_update_is_the_same_in_both_scripts(tmp_path, monkeypatch):
    # one critic step, one actor step and the soft updates (steps_done 252 is even), from the same weights and batch
    args = ("--env-id", "Pendulum-v1", "--seed", "4", "--total-timesteps", "252", "--learning-starts", "250")
    runs = both(tmp_path, monkeypatch, *args, "--batch-size", "64", "--eval-episodes", "0")
    torch_weights, jax_weights = weights("torch", runs["torch"]), weights("jax", runs["jax"])
    for name, value in jax_weights.items():
        # the targets moved tau of an Adam step (~1.5e-6 for most weights): they must agree far closer than that
        assert_agree(torch_weights[name], value, 1e-7 if "target" in name else 1e-6, name)
    for network in ("actor", "qf1"):  # the targets did move: they started equal to the online networks
        online, target = jax_weights[f"{network}_params.fc2.kernel"], jax_weights[f"{network}_target_params.fc2.kernel"]
        assert np.abs(online - target).max() > 0


@pytest.mark.parametrize("noise", ["gaussian", "ou", "param", "gaussian, observations normalised, 3-step targets"])
@pytest.mark.slow
def test_same_seed_runs_agree_over_the_first_stretch_past_learning_starts(tmp_path, monkeypatch, noise):
    learning_starts, stretch = 150, 50  # an episode starts at step 200: param noise perturbs the actor anew there
    args = ("--env-id", "Pendulum-v1", "--seed", "4", "--total-timesteps", "300", "--learning-starts", "150")
    normalised_n_step = ("--normalize-observations", "--n-step", "3")
    options = normalised_n_step if "normalised" in noise else ("--exploration-noise-type", noise)
    runs = both(tmp_path, monkeypatch, *args, "--batch-size", "64", "--eval-episodes", "0", *options)
    torch_rb, jax_rb = runs["torch"]["rb"], runs["jax"]["rb"]
    for field in ("obs", "actions", "rewards", "next_obs", "terminations", "truncations"):
        torch_field, jax_field = getattr(torch_rb, field), getattr(jax_rb, field)
        np.testing.assert_array_equal(torch_field[:learning_starts], jax_field[:learning_starts], err_msg=field)
        past = slice(learning_starts, learning_starts + stretch)
        np.testing.assert_allclose(torch_field[past], jax_field[past], rtol=0, atol=1e-3, err_msg=field)
    torch_logs, jax_logs = (read_scalars(run_dirs(tmp_path / name)[0]) for name in ("torch", "jax"))
    tags = [tag for tag in torch_logs if tag.startswith("losses/") or tag.startswith("charts/param_noise")]
    assert len(tags) == (6 if noise == "param" else 4)
    for tag in tags:
        (step, torch_value), (jax_step, jax_value) = torch_logs[tag][0], jax_logs[tag][0]
        assert step == jax_step == 200
        # rounding moves the losses by ~1e-5 of their value by then; the perturbation distance, a sum over every
        # weight's noise through two forward passes, by ~1e-3 (another draw of the noise moves it by ~10%)
        assert jax_value == pytest.approx(torch_value, rel=1e-2 if "distance" in tag else 1e-3), tag
    if noise == "param":  # the scale adapts by factors of 1.01 as the distance is above or below 0.2: the same path
        assert torch_logs["charts/param_noise_std"] == jax_logs["charts/param_noise_std"]
