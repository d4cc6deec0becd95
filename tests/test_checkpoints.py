"""Runs that stop and go on: checkpoints, a polite stop on a signal or Ctrl-C, exact resume, the bad input around
them, and the faults that must not lose work: divergence, two processes on one run, an old checkpoint."""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import flax
import flax.serialization
import flax.traverse_util
import gymnasium
import jax
import mujoco
import numpy as np
import optax
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboardX import SummaryWriter

from tests.conftest import CHECKPOINTED as SHORT
from tests.conftest import (
    SCRIPTS,
    TAGS,
    loaded_mean,
    read_scalars,
    run_dirs,
    run_script,
    saved_model,
    script_env,
    stopped_and_resumed,
)

pytestmark = pytest.mark.slow  # whole runs stopped and resumed: minutes; not in the quick check

STOPPED = 75  # the scripts' exit code after a polite stop
EPISODE = 200  # Pendulum-v1's time limit: its episodes end at multiples of 200 steps
LONG = (
    "--env-id", "Pendulum-v1", "--total-timesteps", "3000", "--learning-starts", "500", "--batch-size", "64",
    "--eval-frequency", "500", "--eval-episodes", "2", "--diagnostics-frequency", "500", "--save-model",
    "--checkpoint-frequency", "400",
)  # fmt: skip


def final_weights(run_dir) -> dict:
    """The actor's and the critic's weights of a run's saved model, as numpy arrays."""
    model = saved_model(run_dir)
    if model.suffix == ".pt":
        saved = torch.load(model)
        return {f"{net}.{name}": value.numpy() for net in ("actor", "qf1") for name, value in saved[net].items()}
    saved = flax.traverse_util.flatten_dict(flax.serialization.msgpack_restore(model.read_bytes()), sep=".")
    return {name: np.asarray(value) for name, value in saved.items() if name.startswith(("actor.", "qf1."))}


def outcome(run_dir) -> tuple:
    """What a run leaves that must not depend on whether it stopped: every logged value at every step (but the
    wall-clock rate, whose steps must match all the same) and the final weights."""
    scalars = read_scalars(run_dir)
    scalars["charts/SPS"] = [step for step, _ in scalars["charts/SPS"]]
    return scalars, final_weights(run_dir)


def assert_same_run(resumed_dir, uninterrupted_dir):
    (scalars, weights), (expected_scalars, expected_weights) = outcome(resumed_dir), outcome(uninterrupted_dir)
    assert scalars.keys() == expected_scalars.keys()
    for tag in expected_scalars:
        assert scalars[tag] == expected_scalars[tag], tag  # each step once, with the very same value
    assert weights.keys() == expected_weights.keys()
    for name in expected_weights:
        np.testing.assert_array_equal(weights[name], expected_weights[name], err_msg=name)


@pytest.fixture(scope="module", params=sorted(SCRIPTS))
def uninterrupted(request, tmp_path_factory) -> tuple:
    """Each script, and the run directory of its LONG run never stopped."""
    script = SCRIPTS[request.param]
    cwd = tmp_path_factory.mktemp(f"uninterrupted_{request.param}")
    run_script(script, cwd, *LONG, "--seed", "3")
    return script, run_dirs(cwd)[0]


def start(script, cwd, *args) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(script), *args]
    return subprocess.Popen(
        command, cwd=cwd, env=script_env(script), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def run_until(process: subprocess.Popen, step: int) -> int:
    """Read the run's progress lines until it reports `step` or more; return the step it reported."""
    for line in process.stdout:
        if (match := re.match(r"step (\d+)/", line)) and int(match.group(1)) >= step:
            return int(match.group(1))
    raise AssertionError(f"the run ended before step {step} (exit code {process.wait()})")


# 1150: the stop comes at the episode end at 1200, no evaluation due before; 1401 (the progress line of 1410): an
# evaluation falls due at 1500, before the episode end at 1600, and is deferred to the resumed run
@pytest.mark.parametrize("signal_step", [1150, 1401])
def test_a_run_stopped_by_sigterm_mid_episode_resumes_into_the_same_run(uninterrupted, tmp_path, signal_step):
    script, expected = uninterrupted
    process = start(script, tmp_path, *LONG, "--seed", "3")
    seen = run_until(process, signal_step)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == STOPPED, output
    stopped_at = int(re.search(r"stopped at step (\d+)", output).group(1))
    assert stopped_at % EPISODE == 0 and seen < stopped_at <= seen + EPISODE  # at the first episode end after it
    (run_dir,) = run_dirs(tmp_path)
    evaluated = [step for step, _ in read_scalars(run_dir)["eval/episodic_return"]]
    assert evaluated == list(range(500, seen - seen % 500 + 1, 500))  # none while the stop was pending

    resumed = run_script(script, tmp_path, "--resume", str(run_dir)).stdout
    assert f"resuming {run_dir} at step {stopped_at} of 3000" in resumed
    first_step = int(re.search(r"^step (\d+)/3000 \|", resumed, re.MULTILINE).group(1))
    assert stopped_at < first_step <= stopped_at + 30  # the progress output goes on from where the run stopped
    assert run_dirs(tmp_path) == [run_dir]
    assert_same_run(run_dir, expected)


def test_a_run_killed_after_a_periodic_checkpoint_resumes_into_the_same_run(uninterrupted, tmp_path):
    script, expected = uninterrupted
    process = start(script, tmp_path, *LONG, "--seed", "3")
    run_until(process, 2150)  # past the checkpoint at step 2000
    process.kill()
    process.wait()
    (run_dir,) = run_dirs(tmp_path)
    # what a killed run may have flushed after its checkpoint, made certain: the resumed log must not show it
    with SummaryWriter(str(run_dir)) as writer:
        for step in range(2001, 2400):
            for tag in TAGS:
                writer.add_scalar(tag, 1e9, step)
    run_script(script, tmp_path, "--resume", str(run_dir))
    assert_same_run(run_dir, expected)


@pytest.fixture(params=sorted(SCRIPTS))
def finished(request, finished_runs) -> tuple:
    """Each script, and its finished SHORT run of 500 steps whose last checkpoint is at step 400."""
    return SCRIPTS[request.param], finished_runs[request.param]


def copy_run(run_dir, destination):
    """A copy of a run directory under destination/runs/, to resume or spoil without touching the original."""
    return shutil.copytree(run_dir, destination / "runs" / run_dir.name)


# 2: as written before the buffer's truncations (--n-step); 1: also before the device, deferred evaluations and obs
# statistics
@pytest.mark.parametrize("format_version", [2, 1])
def test_a_finished_run_trained_further_is_the_longer_run(finished, tmp_path, format_version):
    script, run_dir = finished
    further = copy_run(run_dir, tmp_path / "further")
    if format_version == 1:
        set_format_version(further, 1)
    run_script(script, tmp_path / "further", "--resume", str(further), "--total-timesteps", "900")
    run_script(script, tmp_path / "longer", *SHORT, "--total-timesteps", "900")
    assert_same_run(further, run_dirs(tmp_path / "longer")[0])


def test_a_run_with_the_research_options_resumes_into_the_same_run_and_its_saved_model_evaluates_the_same(
    script, tmp_path
):
    """Normalised observations (statistics and their count) and 3-step targets (windows stop at the truncation at
    the stop, step 400) in one run, to share its minutes."""
    args = (*SHORT, "--eval-frequency", "200", "--normalize-observations", "--n-step", "3")
    resumed, whole = stopped_and_resumed(script, tmp_path, args, 400, 800)
    assert_same_run(resumed, whole)  # every logged value and the final weights
    mean = loaded_mean(script, tmp_path, saved_model(resumed))
    assert mean == pytest.approx(read_scalars(resumed)["eval/episodic_return"][-1][1], abs=0.01)


def snapshot(run_dir) -> dict:
    """Every file of a run directory with a hash of its content."""
    return {
        str(path.relative_to(run_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(run_dir.rglob("*"))
        if path.is_file()
    }


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def remove_checkpoint(run_dir):
    for checkpoint in run_dir.glob("checkpoint.*"):
        checkpoint.unlink()


@pytest.mark.parametrize(
    "spoil, flags, message",
    [
        (None, ["--env-id", "InvertedPendulum-v4"], "--env-id InvertedPendulum-v4 differs from the run's Pendulum-v1"),
        (None, ["--seed", "7"], "--seed 7 differs from the run's 1"),
        (None, ["--tau", "0.01"], "--tau 0.01 differs from the run's 0.005"),
        (None, ["--total-timesteps", "300"], "the run is at step 400 already"),
        (truncate, [], "is truncated or corrupt"),
        (flip_a_byte, [], "is truncated or corrupt"),
        (remove_checkpoint, [], "no checkpoint there"),
    ],
)
def test_bad_resume_gets_one_clear_line_and_leaves_the_run_as_it_was(finished, tmp_path, spoil, flags, message):
    script, run_dir = finished
    copy = copy_run(run_dir, tmp_path)
    if spoil is not None:
        spoil(next(copy.glob("checkpoint.*")) if spoil is not remove_checkpoint else copy)
    before = snapshot(copy)
    result = run_script(script, tmp_path, "--resume", str(copy), *flags, check=False)
    assert result.returncode not in (0, STOPPED)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --resume {copy}") and message in lines[0], result.stderr
    assert snapshot(copy) == before


def test_resuming_a_directory_that_does_not_exist_or_of_the_other_script(finished, tmp_path):
    script, run_dir = finished
    missing = run_script(script, tmp_path, "--resume", str(tmp_path / "no" / "such" / "run"), check=False)
    assert missing.returncode != 0 and "no such run directory" in missing.stderr
    other = SCRIPTS["jax"] if script == SCRIPTS["torch"] else SCRIPTS["torch"]
    copy = copy_run(run_dir, tmp_path)
    before = snapshot(copy)
    result = run_script(other, tmp_path, "--resume", str(copy), check=False)
    assert result.returncode != 0 and f"resume it with {script.name}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and snapshot(copy) == before


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one_and_the_run_goes_on_later(finished, tmp_path):
    script, run_dir = finished
    copy = copy_run(run_dir, tmp_path)
    (checkpoint,) = copy.glob("checkpoint.*")
    before = checkpoint.read_bytes()
    spill = checkpoint.with_name(checkpoint.name + ".tmp")
    spill.symlink_to("/dev/full")  # every write there fails as on a full disk (ENOSPC)
    result = run_script(script, tmp_path, "--resume", str(copy), "--total-timesteps", "900", check=False)
    assert result.returncode not in (0, STOPPED)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write a checkpoint at step 600"), result.stderr
    assert f"the previous checkpoint is intact: free space, then --resume {copy}" in lines[0]
    assert checkpoint.read_bytes() == before and not spill.exists() and not spill.is_symlink()

    run_script(script, tmp_path, "--resume", str(copy), "--total-timesteps", "900")  # space again: it goes on
    run_script(script, tmp_path / "longer", *SHORT, "--total-timesteps", "900")
    assert_same_run(copy, run_dirs(tmp_path / "longer")[0])


def test_a_saved_model_is_evaluated_on_its_runs_own_evaluation_states(uninterrupted, tmp_path):
    script, run_dir = uninterrupted  # trained with --seed 3, evaluated at its end on seed 3's evaluation states
    mean = loaded_mean(script, tmp_path, saved_model(run_dir))  # --seed: the default, 1
    assert mean == pytest.approx(read_scalars(run_dir)["eval/episodic_return"][-1][1], abs=0.01)


STOPS = ["signal", "divergence", "signal in the last episode", "second ctrl-c", "checkpoint write fails"]


@pytest.mark.parametrize("stop", STOPS)
def test_a_run_that_stops_finishes_its_wandb_run_with_its_exit_code(module, tmp_path, monkeypatch, stop):
    calls = []
    wandb_run = SimpleNamespace(id="run-id", mark_preempting=lambda: calls.append("mark_preempting"),
                                finish=lambda exit_code=None: calls.append(("finish", exit_code)))  # fmt: skip
    monkeypatch.setitem(sys.modules, "wandb", SimpleNamespace(init=lambda **kwargs: wandb_run))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.chdir(tmp_path)
    log_losses, replace = module.log_losses, os.replace

    def log_losses_then_stop(run, step, *losses):  # called at every step once learning has started
        log_losses(run, step, *losses)
        if step == {"signal": 300, "signal in the last episode": 450}.get(stop):
            signal.raise_signal(signal.SIGTERM)  # the run stops at the next episode end, 400 or the last step, 600
        if step == 300 and stop == "divergence":
            module.log_finite(run, step, {"losses/qf1_loss": float("nan")})
        if step == 300 and stop == "second ctrl-c":
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)  # stops at once

    def full_disk(source, destination):
        if "checkpoint" in str(destination):
            raise OSError(28, "No space left on device")
        replace(source, destination)

    monkeypatch.setattr(module, "log_losses", log_losses_then_stop)
    if stop == "checkpoint write fails":
        monkeypatch.setattr(module.os, "replace", full_disk)
    monkeypatch.setattr(sys, "argv", [module.__file__, "--env-id", "Pendulum-v1", "--total-timesteps", "600",
                                      "--learning-starts", "250", "--batch-size", "64", "--eval-frequency", "250",
                                      "--eval-episodes", "1", "--checkpoint-frequency", "200", "--track"])  # fmt: skip
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)}
    try:
        if stop == "signal in the last episode":
            module.main()  # the run is over at that episode end: it ends as usual, its evaluations all done
            assert calls == [("finish", None)] and checkpoint_step(run_dirs(tmp_path)[0]) == 600
            evaluated = [step for step, _ in read_scalars(run_dirs(tmp_path)[0])["eval/episodic_return"]]
            assert evaluated == [250, 500, 600]  # 500 deferred while the stop was pending, then done at the end
            return
        with pytest.raises(SystemExit) as stopped:
            module.main()
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    expected = {"signal": ["mark_preempting", ("finish", STOPPED)], "divergence": [("finish", DIVERGED)],
                "second ctrl-c": [("finish", INTERRUPTED)],
                "checkpoint write fails": [("finish", 1)]}[stop]  # fmt: skip
    assert stopped.value.code == expected[-1][1] and calls == expected


def test_tracked_run_resumes_the_same_wandb_run(script, tmp_path):
    run_script(script, tmp_path, *SHORT, "--total-timesteps", "500", "--track")
    (run_dir,) = run_dirs(tmp_path)
    run_script(script, tmp_path, "--resume", str(run_dir), "--total-timesteps", "700", "--track")
    ids = {path.name.rsplit("-", 1)[1] for path in (tmp_path / "wandb").glob("offline-run-*")}
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 2 and len(ids) == 1


def test_checkpoints_off_writes_none(script, tmp_path):
    run_script(script, tmp_path, *SHORT, "--total-timesteps", "500", "--checkpoint-frequency", "0")
    assert not list(run_dirs(tmp_path)[0].glob("checkpoint*"))
    assert os.listdir(tmp_path / "runs")


# a machine other than the tests' (conftest holds them to one thread): two threads, set as a Slurm job would
TWO_THREADS = {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2",
               "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2"}  # fmt: skip


@pytest.fixture
def resumed_elsewhere(finished, tmp_path) -> tuple:
    """A copy of a finished run (checkpoint at 400) resumed to 700 with two threads, the diagnostics off and, for the
    PyTorch script, its flags that choose how it computes but not what (the device stays the CPU)."""
    script, run_dir = finished
    copy = copy_run(run_dir, tmp_path)  # its checkpoint holds the probe states, drawn at step 256
    args = ("--resume", str(copy), "--total-timesteps", "700", "--diagnostics-frequency", "0")
    args += ("--no-cuda", "--no-torch-deterministic") if script == SCRIPTS["torch"] else ()
    run_script(script, tmp_path, *args, **TWO_THREADS)
    return script, copy


def test_a_resumed_run_may_turn_the_diagnostics_and_the_device_flags_off(resumed_elsewhere):
    script, copy = resumed_elsewhere
    assert max(step for step, _ in read_scalars(copy)["losses/qf1_loss"]) == 700


def test_a_run_records_its_machine_at_each_start(resumed_elsewhere):
    script, run_dir = resumed_elsewhere
    first, resumed = json.loads((run_dir / "machine.json").read_text())["starts"]
    assert (first["start_step"], resumed["start_step"]) == (0, 400)
    variables = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")
    assert first["thread_variables"] == {name: os.environ.get(name) for name in variables}  # as the tests run
    assert resumed["thread_variables"] == TWO_THREADS
    cores = len(os.sched_getaffinity(0))
    if script.stem.endswith("jax"):
        versions = {"jax": jax.__version__, "flax": flax.__version__, "optax": optax.__version__}
        given = re.search(r"intra_op_parallelism_threads=(\d+)", os.environ.get("XLA_FLAGS", ""))
        assert first["threads"] == {"xla_intra_op": int(given.group(1)) if given else cores}
        assert resumed["threads"] == {"xla_intra_op": 2}
    else:
        versions = {"torch": torch.__version__}
        assert first["threads"]["torch"] == torch.get_num_threads() and resumed["threads"]["torch"] == 2
    versions |= {"numpy": np.__version__, "gymnasium": gymnasium.__version__, "mujoco": mujoco.__version__}
    assert resumed["versions"].items() >= versions.items()
    with open("/proc/cpuinfo") as cpuinfo:
        flags = set(re.search(r"^flags\s*:(.*)$", cpuinfo.read(), re.MULTILINE).group(1).split())
    assert "avx2" not in flags or "avx2" in resumed["vector_extensions"]
    assert set(resumed["vector_extensions"]) <= flags
    assert (resumed["host"], resumed["cores_usable"], resumed["device"]) == (socket.gethostname(), cores, "cpu")
    events = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    events.Reload()
    assert [event.step for event in events.Tensors("machine/text_summary")] == [0, 400]


# The faults a researcher and a cluster produce: a diverged run, two processes on one run, Ctrl-C, an old checkpoint.
DIVERGED, INTERRUPTED = 3, 130  # the scripts' exit codes for them
BLOW_UP = ("--learning-rate", "1e30", "--critic-learning-rate", "1e30")


def checkpoint_step(run_dir) -> int:
    """The step of the checkpoint in a run directory, either script's."""
    if (run_dir / "checkpoint.pt").exists():
        return torch.load(run_dir / "checkpoint.pt", weights_only=True)["step"]
    return json.loads(str(np.load(run_dir / "checkpoint.npz")["meta"]))["step"]


def error_line(result) -> str:
    """The one line a refused or failed run prints, and nothing else (no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-3000:]
    return lines[0]


def test_a_diverged_run_stops_at_the_next_loss_log_with_one_line(script, tmp_path):
    result = run_script(script, tmp_path, "--env-id", "Pendulum-v1", *SHORT[2:], "--total-timesteps", "600",
                        *BLOW_UP, check=False)  # fmt: skip
    assert result.returncode == DIVERGED
    line = error_line(result)
    assert re.fullmatch(r"error: diverged at step 300: losses/\w+ is (nan|inf|-inf).*--learning-rate.*", line), line
    scalars = read_scalars(run_dirs(tmp_path)[0])  # the log is readable, and ends where the run stopped
    assert max(step for step, _ in scalars["losses/qf1_loss"]) == 300 and "eval/episodic_return" not in scalars


def test_a_checkpoint_is_never_written_with_non_finite_weights(script, tmp_path):
    # episodes of 150 steps: checkpoints at 150 and 300; the weights blow up from step 412, before the episode end at
    # 450 and the loss log at 500: the checkpoint due at 450 is not written, the one of step 300 stays
    args = ("--env-id", "tests.envs:Pendulum150-v0", "--checkpoint-frequency", "100", "--learning-starts", "410",
            "--total-timesteps", "600", "--batch-size", "64", *BLOW_UP)  # fmt: skip
    result = run_script(script, tmp_path, *args, check=False)
    assert result.returncode == DIVERGED
    assert error_line(result).startswith("error: diverged at step 450: the networks' weights are not finite")
    assert checkpoint_step(run_dirs(tmp_path)[0]) == 300


def opened_logs(run_dir) -> list:
    """The event files a process opened when it started on the run (the JAX script's files opened at checkpoints end
    in their step)."""
    return sorted(path for path in run_dir.glob("events.out.tfevents.*") if not re.search(r"\.\d{12}$", path.name))


def test_a_second_process_on_a_run_is_refused_and_a_killed_one_leaves_no_lock(finished, tmp_path):
    script, run_dir = finished
    copy = copy_run(run_dir, tmp_path)
    first = start(script, tmp_path, "--resume", str(copy), "--total-timesteps", "20000")  # a minute or more
    run_until(first, 600)  # it holds the lock, and has written its log and a checkpoint
    events = opened_logs(copy)
    second = run_script(script, tmp_path, "--resume", str(copy), "--total-timesteps", "20000", check=False)
    assert second.returncode not in (0, STOPPED)
    assert re.fullmatch(rf"error: {re.escape(str(copy))} is in use by \S+ pid {first.pid}; .*", error_line(second))
    assert opened_logs(copy) == events  # the refused process opened no log
    first.kill()  # SIGKILL: no handler runs, the kernel releases the lock
    first.wait()
    step = checkpoint_step(copy)
    run_script(script, tmp_path, "--resume", str(copy), "--total-timesteps", str(step + 200))
    assert checkpoint_step(copy) == step + 200


def test_ctrl_c_with_checkpoints_stops_at_the_episode_end_like_sigterm(finished, tmp_path):
    script, run_dir = finished
    copy = copy_run(run_dir, tmp_path)
    process = start(script, tmp_path, "--resume", str(copy), "--total-timesteps", "3000")
    seen = run_until(process, 620)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == STOPPED and "Traceback" not in output, output
    stopped = re.search(r"stopped at step (\d+) \(signal 2\), checkpoint saved; go on with: .* --resume", output)
    stopped_at = int(stopped.group(1))
    assert stopped_at % EPISODE == 0 and seen < stopped_at <= seen + EPISODE and checkpoint_step(copy) == stopped_at


def test_a_second_ctrl_c_stops_at_once_and_leaves_the_last_checkpoint(finished, tmp_path):
    script, run_dir = finished
    copy = copy_run(run_dir, tmp_path)
    process = start(script, tmp_path, "--resume", str(copy), "--total-timesteps", "3000")
    run_until(process, 620)  # past the checkpoint at 600, 180 steps before the next episode end
    before = snapshot(copy)["checkpoint." + ("npz" if "jax" in script.name else "pt")]
    process.send_signal(signal.SIGINT)
    time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == INTERRUPTED and "Traceback" not in output, output
    assert "stopped at once by Ctrl-C" in output
    after = snapshot(copy)
    assert after["checkpoint." + ("npz" if "jax" in script.name else "pt")] == before
    assert not [name for name in after if name.endswith(".tmp")]


def test_ctrl_c_without_checkpoints_stops_after_the_step_with_the_log_complete(script, tmp_path):
    process = start(script, tmp_path, "--env-id", "Pendulum-v1", "--total-timesteps", "10000", "--learning-starts",
                    "250", "--batch-size", "64", "--eval-episodes", "0")  # fmt: skip
    run_until(process, 600)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == INTERRUPTED and "Traceback" not in output, output
    stopped_at = int(re.search(r"^stopped at step (\d+) by Ctrl-C;", output, re.MULTILINE).group(1))
    scalars = read_scalars(run_dirs(tmp_path)[0])
    assert stopped_at - 100 < max(step for step, _ in scalars["losses/qf1_loss"]) <= stopped_at


@pytest.mark.parametrize("version", [None, 4])  # None: a checkpoint written before they recorded their format
def test_a_checkpoint_of_another_format_is_refused_in_one_line(finished, tmp_path, version):
    script, run_dir = finished
    copy = copy_run(run_dir, tmp_path)
    set_format_version(copy, version)
    before = snapshot(copy)
    result = run_script(script, tmp_path, "--resume", str(copy), "--total-timesteps", "900", check=False)
    assert result.returncode not in (0, STOPPED) and snapshot(copy) == before
    line = error_line(result)
    assert f"written by {script.name if version else 'this script'} of checkpoint format {version or 0}" in line
    assert "this script reads formats 1 to 3" in line


# what format 2 added to checkpoints: a checkpoint of format 1 holds none of it
FORMAT_2_KEYS = ("device", "deferred_evaluations", "deferred_evaluation_steps", "obs_mean", "obs_var", "obs_count")


def set_format_version(run_dir, version):
    """Rewrite a run's checkpoint with another format version (None: without one, as before versions; 2: without
    the buffer's truncations, which format 3 added; 1: also without what format 2 added)."""

    def changed(meta: dict) -> dict:
        del meta["format_version"]
        if version is None:
            del meta["script"]
        else:
            meta["format_version"] = version
        if version == 1:
            meta = {key: value for key, value in meta.items() if key not in FORMAT_2_KEYS}
        return meta

    before_truncations = version in (1, 2)
    if (run_dir / "checkpoint.pt").exists():
        checkpoint = changed(torch.load(run_dir / "checkpoint.pt", weights_only=True))
        if before_truncations:
            del checkpoint["buffer"]["truncations"]
        torch.save(checkpoint, run_dir / "checkpoint.pt")
    else:
        arrays = dict(np.load(run_dir / "checkpoint.npz"))
        meta = json.dumps(changed(json.loads(str(arrays.pop("meta")))))
        if before_truncations:
            del arrays["buffer.truncations"]
        np.savez(run_dir / "checkpoint.npz", meta=meta, **arrays)
