"""--normalize-observations: running statistics of every observation the training env returns and of nothing else,
the networks fed normalised and clipped observations while the buffer keeps them raw, and the statistics part of
the run's state (checkpoints, the saved model, evaluation)."""

import shutil
from pathlib import Path

import flax.serialization
import numpy as np
import pytest
import torch

from tests.conftest import SCRIPTS, run_in_process, run_script, saved_model

EPISODE = 200  # Pendulum-v1's episodes
NORMALIZED = ("--env-id", "Pendulum-v1", "--learning-starts", "250", "--batch-size", "64", "--eval-frequency", "200",
              "--eval-episodes", "2", "--normalize-observations")  # fmt: skip


def returned_observations(rb, steps: int) -> np.ndarray:
    """Every observation the training env returned, in order, rebuilt from the buffer: each episode's first (from its
    reset), then the next observation of every step."""
    first = [[rb.obs[step]] if step % EPISODE == 0 else [] for step in range(steps)]
    return np.array([obs for step in range(steps) for obs in (*first[step], rb.next_obs[step])], dtype=np.float64)


def test_the_statistics_are_those_of_every_observation_the_training_env_returned(script, tmp_path, monkeypatch):
    # evaluations every 200 steps and 350 replayed batches on the way: none of them may count
    run = run_in_process(script, tmp_path, monkeypatch, *NORMALIZED, "--total-timesteps", "600", "--save-model")
    observations = returned_observations(run["rb"], 600)
    assert run["obs_rms"].count == len(observations) == 603
    model = saved_model(Path(run["run_dir"]))  # the count as both scripts save it: float64 (float32 ends at 2^24)
    if model.suffix == ".pt":
        assert torch.load(model, weights_only=True)["obs_count"].dtype == torch.float64
    else:
        assert np.asarray(flax.serialization.msgpack_restore(model.read_bytes())["obs_count"]).dtype == np.float64
    np.testing.assert_allclose(run["obs_rms"].mean, observations.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(run["obs_rms"].var, observations.var(axis=0), rtol=1e-10, atol=1e-12)
    assert np.abs(run["rb"].obs[:600]).max() > 5  # the buffer holds them raw (Pendulum's velocity reaches 8)


def test_observations_are_normalised_and_clipped_as_the_networks_see_them(module):
    obs_rms = module.observation_statistics((2,))
    for obs in ([0.0, 10.0], [2.0, 10.0], [4.0, 10.0]):  # mean (2, 10), var (8/3, 0)
        module.count_observation(obs_rms, np.array(obs, np.float32))
    seen = module.normalize_obs(np.array([[2.0 + np.sqrt(8 / 3), 10.0], [100.0, -3.0]], np.float32), obs_rms, 5.0)
    np.testing.assert_allclose(seen, [[1.0, 0.0], [5.0, -5.0]], rtol=1e-6)  # a constant dimension stays finite
    assert seen.dtype == np.float32
    batch = (np.ones((1, 2)), "actions", "rewards", np.zeros((1, 2)), "terminations")
    assert module.normalize_batch(batch, None, 5.0) is batch  # off: the very arrays, so no number changes
    assert module.normalize_obs(batch[0], None, 5.0) is batch[0]
    obs, actions, _, next_obs, _ = module.normalize_batch(batch, obs_rms, 0.5)
    np.testing.assert_allclose(obs, [[-0.5, -0.5]])  # (1 - 2) / 1.63 and (1 - 10) / 1e-4, clipped to 0.5
    np.testing.assert_allclose(next_obs, [[-0.5, -0.5]])  # (0 - 2) / 1.63 and (0 - 10) / 1e-4, clipped
    assert actions == "actions"


def without_the_option(model_path):
    """Rewrite a saved model as one written before --normalize-observations existed: its args without the option's
    fields (and, the option off, no statistics)."""
    if model_path.suffix == ".pt":
        saved = torch.load(model_path, weights_only=True)
        saved["args"] = {key: value for key, value in saved["args"].items() if key not in OPTION_FIELDS}
        torch.save(saved, model_path)
    else:
        saved = flax.serialization.msgpack_restore(model_path.read_bytes())
        saved["args"] = {key: value for key, value in saved["args"].items() if key not in OPTION_FIELDS}
        model_path.write_bytes(flax.serialization.msgpack_serialize(saved))


OPTION_FIELDS = ("normalize_observations", "observation_clip", "n_step")  # a model's args before these options


@pytest.mark.slow
def test_a_model_saved_before_the_options_existed_loads_as_before(finished_runs, tmp_path):
    for name, run_dir in finished_runs.items():
        model = saved_model(run_dir)
        old = shutil.copy(model, tmp_path / model.name)
        without_the_option(Path(old))
        script = SCRIPTS[name]
        expected = run_script(script, tmp_path, "--load-model", str(model), "--eval-episodes", "2").stdout
        assert run_script(script, tmp_path, "--load-model", str(old), "--eval-episodes", "2").stdout == expected
