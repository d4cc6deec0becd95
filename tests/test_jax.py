"""What only the JAX script has: its compiled functions."""

from tests.conftest import SCRIPTS, run_in_process


def test_update_steps_compile_once_and_never_again_during_training(tmp_path, monkeypatch):
    args = ("--env-id", "Pendulum-v1", "--total-timesteps", "1200", "--learning-starts", "300", "--eval-episodes", "1")
    periodic = ("--eval-frequency", "400", "--diagnostics-frequency", "200")
    run = run_in_process(SCRIPTS["jax"], tmp_path, monkeypatch, *args, *periodic, "--batch-size", "32")
    # 899 gradient steps, 900 acting steps, episode ends, evaluations, probes and a new batch every step: one
    # compiled update with the actor step and one without; the actor on one observation and on the probe batch
    assert run["update"]._cache_size() == 2
    assert run["actor_apply"]._cache_size() == 2
