"""DDPG learns Pendulum-v1, and the model it saves evaluates to the same returns when loaded back."""

import re

import pytest

from tests.conftest import read_scalars, run_dirs, run_script


def eval_returns(stdout: str) -> list:
    """The returns of the last evaluation the output reports."""
    *_, last = re.findall(r"eval episodic returns \[([^\]]*)\]", stdout)
    return [float(x) for x in last.split(",")]


@pytest.mark.slow
def test_pendulum_learns_and_the_saved_model_evaluates_the_same(script, tmp_path):
    args = ("--env-id", "Pendulum-v1", "--total-timesteps", "15000", "--learning-starts", "1000", "--save-model")
    trained = run_script(script, tmp_path, *args)
    (run_dir,) = run_dirs(tmp_path)
    evaluations = read_scalars(run_dir)["eval/episodic_return"]  # every 5,000 steps, the default
    assert [step for step, _ in evaluations] == [5000, 10000, 15000]
    eval_return = evaluations[-1][1]
    assert eval_return >= -300, f"deterministic evaluation mean {eval_return:.1f} after 15k steps"

    model = re.search(r"model saved to (\S+);", trained.stdout).group(1)
    loaded = run_script(script, tmp_path, "--load-model", model)
    assert eval_returns(loaded.stdout) == eval_returns(trained.stdout)
    assert sum(eval_returns(loaded.stdout)) / 10 == pytest.approx(eval_return, abs=0.01)
