"""What only the JAX script has: its compiled functions."""

from tests.conftest import SCRIPTS, run_in_process


def test_update_steps_compile_once_and_never_again_during_training(tmp_path, monkeypatch):
    args = ("--env-id", "Pendulum-v1", "--total-timesteps", "1200", "--learning-starts", "300", "--eval-episodes", "1")
    run = run_in_process(SCRIPTS["jax"], tmp_path, monkeypatch, *args, "--batch-size", "32")
    # 899 gradient steps, 900 exploring actions, episode ends and a resampled batch every step: still one compiled
    # version of the update with the actor step and one without, and one of the exploration
    assert run["update"]._cache_size() == 2
    assert run["explore"]._cache_size() == 1
