"""Whole runs of the scripts, as a user starts them: metrics, progress output, determinism, bad input."""

import fcntl
import math
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time

import pytest

from tests.conftest import SHORT_RUN, TAGS, read_scalars, read_text_tags, run_dirs, run_script, script_env


@pytest.mark.parametrize(
    "env_id",
    [
        "Pendulum-v1",  # the quick check's end-to-end run of each script
        pytest.param("InvertedPendulum-v4", marks=pytest.mark.slow),
        pytest.param("Humanoid-v4", marks=pytest.mark.slow),
        pytest.param("tests.envs:AsymmetricBounds-v0", marks=pytest.mark.slow),
    ],  # [-2, 2], [-3, 3], [-0.4, 0.4], asymmetric
)
def test_short_run_writes_every_metric_finite(script, tmp_path, env_id):
    # a wide exploration noise pushes actions against the bounds; the asymmetric env fails on any action outside them
    run_script(script, tmp_path, "--env-id", env_id, *SHORT_RUN, "--exploration-noise", "3")
    (run_dir,) = run_dirs(tmp_path)
    assert run_dir.name.startswith(env_id + "__")
    scalars = read_scalars(run_dir)
    for tag in TAGS:
        assert scalars.get(tag), f"{tag} missing"
        assert all(math.isfinite(value) for _, value in scalars[tag]), f"{tag}: {scalars[tag]}"
    assert [step for step, _ in scalars["losses/qf1_loss"]] == [300, 400, 500]
    assert [step for step, _ in scalars["eval/episodic_return"]] == [500]
    assert "hyperparameters/text_summary" in read_text_tags(run_dir)


def episode_log(script, cwd, seed: int) -> dict:
    run_script(script, cwd, "--env-id", "Pendulum-v1", "--seed", str(seed), *SHORT_RUN, "--total-timesteps", "700")
    scalars = read_scalars(run_dirs(cwd)[0])
    return {tag: scalars[tag] for tag in ("charts/episodic_return", "losses/qf1_loss", "eval/episodic_return")}


@pytest.mark.slow
def test_same_seed_gives_identical_returns_and_another_seed_does_not(script, tmp_path):
    first, second, other = (episode_log(script, tmp_path / name, seed) for name, seed in (("a", 3), ("b", 3), ("c", 4)))
    assert len(first["charts/episodic_return"]) == 3
    assert first == second
    assert first["charts/episodic_return"] != other["charts/episodic_return"]


@pytest.mark.slow
def test_plain_progress_lines_when_output_is_not_a_terminal(script, tmp_path):
    stdout = run_script(script, tmp_path, "--env-id", "Pendulum-v1", *SHORT_RUN).stdout
    lines = re.findall(r"^step (\d+)/500 \| \d+ steps/s \| episodic_return (\S+)$", stdout, re.MULTILINE)
    assert [int(step) for step, _ in lines] == list(range(5, 501, 5))
    assert lines[0][1] == "nan" and float(lines[-1][1]) < 0  # Pendulum's returns are negative


@pytest.mark.slow
def test_progress_bar_with_rate_and_return_on_a_terminal(script, tmp_path):
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a new pty is 0 columns wide
    process = subprocess.Popen(
        [sys.executable, str(script), "--env-id", "Pendulum-v1", *SHORT_RUN],
        cwd=tmp_path,
        env=script_env(script),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    screen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the run is over
            break
        if not chunk:
            break
        screen += chunk
    assert process.wait() == 0
    text = screen.decode(errors="replace")
    assert "500/500" in text and "step/s" in text and re.search(r"episodic_return=-\d+\.\d", text)
    assert "steps/s | episodic_return" not in text  # no plain lines on a terminal


@pytest.mark.slow
def test_an_existing_run_directory_is_never_overwritten(script, tmp_path):
    now = int(time.time())
    stem = f"Pendulum-v1__{script.stem}__1__"
    for second in range(now, now + 120):  # every name the run could pick in the next two minutes
        (tmp_path / "runs" / f"{stem}{second}").mkdir(parents=True)
        (tmp_path / "runs" / f"{stem}{second}" / "keep.txt").write_text("earlier run")
    result = run_script(script, tmp_path, "--env-id", "Pendulum-v1", *SHORT_RUN, check=False)
    assert result.returncode != 0 and "already exists" in result.stderr
    assert all((run_dir / "keep.txt").read_text() == "earlier run" for run_dir in run_dirs(tmp_path))
    assert all(os.listdir(run_dir) == ["keep.txt"] for run_dir in run_dirs(tmp_path))
