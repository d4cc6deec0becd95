"""benchmark/observation_floor.py: each floor scales a barely varying dimension as its formula says, and the
script's run over an env writes a row per seed and floor."""

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmark"))
import observation_floor  # noqa: E402


def test_a_spike_in_a_barely_varying_dimension_hits_the_clip_under_the_scripts_floor_only():
    frames = np.zeros((100, 2))
    frames[:, 0] = np.tile([-1.0, 1.0], 50)  # std 1
    frames[:, 1] = np.tile([-0.01, 0.01], 50)  # std 0.01: under the Baselines floor's 0.1
    frames[0, 1] = 0.3  # 30 stds from the mean by the scripts' floor, 3 by Baselines'
    obs_rms = observation_floor.ddpg.observation_statistics((2,), (frames.mean(axis=0), frames.var(axis=0), 100))
    scripts = observation_floor.measure(frames, obs_rms, "scripts", clip=5.0)
    baselines = observation_floor.measure(frames, obs_rms, "baselines", clip=5.0)
    assert scripts["frames_at_clip"] == pytest.approx(0.01) and baselines["frames_at_clip"] == 0
    assert scripts["dims_std_under_0.1"] == baselines["dims_std_under_0.1"] == 1
    assert scripts["smallest_nonzero_std"] == pytest.approx(frames[:, 1].std())


def test_a_run_writes_a_row_per_seed_and_floor_and_their_summary(tmp_path):
    observation_floor.main(["--out", str(tmp_path), "--envs", "Pendulum-v1", "--seeds", "2", "--steps", "300"])
    with open(tmp_path / "observation_floor.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = [(seed, floor) for seed in "12" for floor in ("scripts", "baselines")]
    assert [(row["seed"], row["floor"]) for row in rows] == expected
    assert all(0 <= float(row["frames_at_clip"]) <= 1 and row["dims"] == "3" for row in rows)
    assert (tmp_path / "observation_floor.md").read_text().count("| Pendulum-v1 |") == 2
