import dataclasses
import importlib
import re
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# One thread per process, this one's and every run's it starts (before torch or jax is imported): the suite runs a
# pytest-xdist worker per core, and PyTorch's OpenMP threads slow to a crawl when more of them than cores spin (a
# learning test took 285 s instead of 59 with its default two threads beside another worker)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """One JAX compilation cache for the whole suite, in a private directory of this session (the cache runs what it
    holds, so never a shared one): the JAX runs the tests start compile the same small functions again and again, and
    XLA's compiled code is the same whether it comes from the cache or not. Set before any worker or run starts, so
    each inherits it; a user's runs are untouched."""
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # the controller's, or the user's own
        os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="ddpg-tests-jax-cache-")
        config.add_cleanup(lambda: shutil.rmtree(os.environ.pop("JAX_COMPILATION_CACHE_DIR"), ignore_errors=True))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # every function, however quick
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")


SCRIPTS = {"torch": ROOT / "ddpg_continuous_action.py", "jax": ROOT / "ddpg_continuous_action_jax.py"}
TAGS = (
    "charts/episodic_return",
    "charts/episodic_length",
    "charts/SPS",
    "losses/qf1_loss",
    "losses/qf1_values",
    "losses/actor_loss",
    "losses/td_target",
    "eval/episodic_return",
)


@pytest.fixture(params=sorted(SCRIPTS))
def script(request) -> Path:
    """Each script's path: a test that takes it runs once per script."""
    return SCRIPTS[request.param]


@pytest.fixture(params=sorted(SCRIPTS))
def module(request):
    """Each script imported as a module (importing it has no side effects)."""
    return importlib.import_module(SCRIPTS[request.param].stem)


def script_env(script: Optional[Path] = None, **extra) -> dict:
    """The environment a run of `script` gets: the repo on the path (for the test envs in tests/envs.py), no W&B
    network, and for the JAX script no torch (tests/jax_only); `extra` adds variables, or removes those it gives as
    None."""
    path = [str(ROOT / "tests" / "jax_only"), str(ROOT)] if script == SCRIPTS["jax"] else [str(ROOT)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "WANDB_MODE": "offline", **extra}
    return {name: value for name, value in env.items() if value is not None}


def run_script(script: Path, cwd: Path, *args: str, check: bool = True, **extra_env) -> subprocess.CompletedProcess:
    """Run a script as a user would, in `cwd` (where it writes runs/), and return what it printed."""
    cwd.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(script), *args]
    result = subprocess.run(command, cwd=cwd, env=script_env(script, **extra_env), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{script.name} {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def run_in_process(script: Path, cwd: Path, monkeypatch, *args: str, **past_the_checks) -> dict:
    """Train with a script's own `parse_args` and `train` in this process, as its __main__ does, and return what the
    run built (networks, optimisers, buffer, ...) and its args, to look at them. `past_the_checks`: settings
    changed after parse_args has checked the arguments, for a run the command line refuses (one without an update,
    to look at the initial networks)."""
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    monkeypatch.syspath_prepend(str(ROOT))
    ddpg = runpy.run_path(str(script))  # the module's functions, without running its __main__
    args, checkpoint = ddpg["parse_args"]()
    args = dataclasses.replace(args, **past_the_checks)
    return {**ddpg["train"](args, checkpoint), "args": args}


def run_dirs(cwd: Path) -> list:
    return sorted((cwd / "runs").iterdir())


def saved_model(run_dir: Path) -> Path:
    """The model a run saved with --save-model (not its checkpoint)."""
    (model,) = [path for path in run_dir.glob("ddpg_continuous_action*") if path.suffix in (".pt", ".msgpack")]
    return model


def loaded_mean(script: Path, cwd: Path, model: Path, episodes: int = 2) -> float:
    """The mean return that --load-model prints for a saved model."""
    loaded = run_script(script, cwd, "--load-model", str(model), "--eval-episodes", str(episodes)).stdout
    return float(re.search(r"^mean (\S+) \+-", loaded, re.MULTILINE).group(1))


def stopped_and_resumed(script: Path, cwd: Path, args: tuple, stop_at: int, total: int) -> tuple:
    """A run of `total` steps never stopped, and the same run trained to `stop_at` then resumed to `total`: their
    run directories (args must make checkpoints)."""
    run_script(script, cwd / "whole", *args, "--total-timesteps", str(total))
    run_script(script, cwd / "resumed", *args, "--total-timesteps", str(stop_at))
    (resumed,) = run_dirs(cwd / "resumed")
    run_script(script, cwd / "resumed", "--resume", str(resumed), "--total-timesteps", str(total))
    return resumed, run_dirs(cwd / "whole")[0]


def read_scalars(run_dir: Path) -> dict:
    """Every scalar a run wrote to TensorBoard, read back from its event files: {tag: [(step, value), ...]}."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def read_text_tags(run_dir: Path) -> list:
    events = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    events.Reload()
    return events.Tags()["tensors"]


# a run that learns for a few hundred steps and evaluates briefly: seconds, on any env
SHORT_RUN = ("--total-timesteps", "500", "--learning-starts", "250", "--batch-size", "64", "--eval-episodes", "2")
# Pendulum (episodes of 200 steps) with a checkpoint every 200 steps and the model saved; --total-timesteps to add
CHECKPOINTED = (
    "--env-id", "Pendulum-v1", "--learning-starts", "250", "--batch-size", "64", "--eval-episodes", "2",
    "--save-model", "--checkpoint-frequency", "200",
)  # fmt: skip


@pytest.fixture(scope="session")
def finished_runs(tmp_path_factory) -> dict:
    """The run directory of a finished CHECKPOINTED run of 500 steps (last checkpoint at 400) of each script."""
    runs = {}
    for name, script in SCRIPTS.items():
        cwd = tmp_path_factory.mktemp(f"finished_{name}")
        run_script(script, cwd, *CHECKPOINTED, "--total-timesteps", "500")
        (runs[name],) = run_dirs(cwd)
    return runs
