"""The GPU path, run for real where a GPU is visible, and skipped elsewhere (nothing in CI needs one): each script
for a few hundred steps with each noise type and --paper, on the GPU; a checkpoint and a resume into the same run;
--save-model and --load-model. With tests/test_same_run.py beside it on such a machine, it also checks that one
seed gives both scripts the same run on the GPU:

    python -m pytest tests/test_gpu.py tests/test_same_run.py
"""

import numpy as np
import pytest

from tests.conftest import SCRIPTS, loaded_mean, read_scalars, run_dirs, run_in_process, saved_model
from tests.conftest import stopped_and_resumed

RUN = ("--env-id", "Pendulum-v1", "--learning-starts", "200", "--batch-size", "64", "--eval-frequency", "200",
       "--eval-episodes", "2")  # fmt: skip


def gpu_here(name: str) -> bool:
    """Whether the script of this framework would run on a GPU here."""
    if name == "torch":
        import torch

        return torch.cuda.is_available()
    import jax

    return jax.default_backend() == "gpu"


@pytest.fixture(params=sorted(SCRIPTS))
def framework(request) -> str:
    if not gpu_here(request.param):
        pytest.skip(f"no GPU for the {request.param} script here")
    return request.param


def on_gpu(name: str, run: dict) -> bool:
    if name == "torch":
        return all(param.device.type == "cuda" for net in ("actor", "qf1") for param in run[net].parameters())
    kernel = run["state"]["actor_params"]["params"]["fc1"]["kernel"]
    return all(device.platform == "gpu" for device in kernel.devices())


@pytest.mark.parametrize("options", [("--exploration-noise-type", noise) for noise in ("gaussian", "ou", "param")]
                         + [("--paper",)])  # fmt: skip
def test_each_exploration_scheme_and_the_paper_preset_train_on_the_gpu(framework, tmp_path, monkeypatch, options):
    run = run_in_process(SCRIPTS[framework], tmp_path, monkeypatch, *RUN, "--total-timesteps", "600", *options)
    assert on_gpu(framework, run)
    scalars = read_scalars(run_dirs(tmp_path)[0])
    assert [step for step, _ in scalars["eval/episodic_return"]] == [200, 400, 600]
    assert all(np.isfinite(value) for tag in scalars for _, value in scalars[tag])


def test_a_checkpointed_run_resumes_and_its_saved_model_loads_on_the_gpu(framework, tmp_path):
    script, args = SCRIPTS[framework], (*RUN, "--checkpoint-frequency", "200", "--save-model")
    resumed, whole_dir = stopped_and_resumed(script, tmp_path, args, 400, 800)
    whole = read_scalars(whole_dir)
    # bit for bit on one device, where GPU kernels are deterministic (cuBLAS matrix products are)
    assert read_scalars(resumed)["eval/episodic_return"] == whole["eval/episodic_return"]
    assert read_scalars(resumed)["losses/qf1_loss"] == whole["losses/qf1_loss"]
    mean = loaded_mean(script, tmp_path, saved_model(resumed))
    assert mean == pytest.approx(whole["eval/episodic_return"][-1][1], abs=0.01)
