"""--track (Weights & Biases, offline) and --capture-video (headless mp4)."""

import pytest

from tests.conftest import SHORT_RUN, run_dirs, run_script

pytestmark = pytest.mark.slow  # W&B offline and video: not in the quick check


def test_track_logs_config_and_tensorboard_to_wandb_offline(script, tmp_path):
    run_script(script, tmp_path, "--env-id", "Pendulum-v1", *SHORT_RUN, "--track", WANDB_MODE="offline")
    (run_dir,) = run_dirs(tmp_path)
    (wandb_run,) = (tmp_path / "wandb").glob("offline-run-*")
    assert list((wandb_run / "files" / "runs" / run_dir.name).glob("events.out.tfevents.*"))  # synced event file
    (log,) = wandb_run.glob("run-*.wandb")
    records = log.read_bytes()
    for text in ("env_id", "Pendulum-v1", "learning_starts", "charts/episodic_return", "losses/qf1_loss"):
        assert text.encode() in records, f"{text} not in the W&B run"


@pytest.mark.parametrize("env_id", ["InvertedPendulum-v4", "Pendulum-v1"])  # MuJoCo (EGL) and pygame rendering
def test_capture_video_writes_mp4_files_headless(script, tmp_path, env_id):
    run_script(script, tmp_path, "--env-id", env_id, *SHORT_RUN, "--capture-video")
    (run_dir,) = run_dirs(tmp_path)
    videos = sorted((run_dir / "videos").glob("*.mp4"))
    assert videos and all(video.stat().st_size > 1000 for video in videos)
    assert (run_dir / "videos" / "rl-video-episode-0.mp4") in videos
