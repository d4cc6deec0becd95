"""benchmark/report.py on event files written here with known numbers."""

import csv
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from tensorboardX import SummaryWriter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmark"))
import report  # noqa: E402

EVAL_FINALS = {"ddpg_continuous_action": [0.0, 100.0, 200.0, 1000.0], "ddpg_continuous_action_jax": [50.0] * 4}


def write_run(sweep: Path, script: str, env_id: str, seed: int, eval_final: float):
    """A finished task: training episodes every 100 steps returning step / 10 + seed, evaluations every 500."""
    task_dir = sweep / script / env_id / f"seed{seed}"
    writer = SummaryWriter(str(task_dir / "runs" / f"{env_id}__{script}__{seed}__0"))
    for step in range(100, 1001, 100):
        writer.add_scalar("charts/episodic_return", step / 10 + seed, step)
    writer.add_scalar("eval/episodic_return", -5.0, 500)
    writer.add_scalar("eval/episodic_return", eval_final, 1000)
    writer.close()
    (task_dir / "done").write_text(f"{env_id}__{script}__{seed}__0\n")


@pytest.fixture
def results(tmp_path) -> tuple:
    sweep = tmp_path / "sweep"
    for script, finals in EVAL_FINALS.items():
        for seed, final in enumerate(finals, start=1):
            write_run(sweep, script, "Fake-v0", seed, final)
    (sweep / "ddpg_continuous_action" / "Fake-v0" / "seed9").mkdir()
    (sweep / "ddpg_continuous_action" / "Fake-v0" / "seed9" / "failed").write_text("exit code 1\n")
    assert report.main([str(sweep), "--out", str(tmp_path / "out")]) == 0
    with open(tmp_path / "out" / "results.csv") as f:
        rows = {(row["script"], row["protocol"]): row for row in csv.DictReader(f)}
    return tmp_path / "out", rows


def test_final_returns_over_seeds_mean_std_and_iqm(results):
    _, rows = results
    torch_eval = rows[("PyTorch", "eval")]
    assert int(torch_eval["seeds"]) == 4 and int(torch_eval["steps"]) == 1000
    assert float(torch_eval["mean"]) == pytest.approx(325.0)
    assert float(torch_eval["std"]) == pytest.approx(np.std([0, 100, 200, 1000], ddof=1))
    assert float(torch_eval["iqm"]) == pytest.approx(150.0)  # the middle two of four: 100 and 200
    # train: the episodes of the last 10% of steps (900 and 1000) return 90 + seed and 100 + seed
    torch_train = rows[("PyTorch", "train")]
    assert float(torch_train["mean"]) == pytest.approx(97.5) and float(torch_train["iqm"]) == pytest.approx(97.5)


def test_bootstrap_interval_brackets_the_iqm_and_collapses_without_spread(results):
    _, rows = results
    torch_eval, jax_eval = rows[("PyTorch", "eval")], rows[("JAX", "eval")]
    assert 0.0 <= float(torch_eval["iqm_ci_low"]) < 150.0 < float(torch_eval["iqm_ci_high"]) <= 1000.0
    assert float(jax_eval["iqm_ci_low"]) == float(jax_eval["iqm_ci_high"]) == 50.0


def test_iqm_trims_a_quarter_at_each_end():
    assert report.iqm(np.array([1.0, 2.0, 3.0])) == pytest.approx(2.0)
    assert report.iqm(np.array([0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 1e6])) == pytest.approx(35.0)


def test_table_and_one_readable_plot_per_env(results):
    out, _ = results
    table = (out / "results.md").read_text()
    assert "| Fake-v0 | PyTorch | eval | 4 | 1,000 | 325.0 +- 457.3 | 150.0 [" in table
    image = matplotlib.image.imread(out / "Fake-v0.png")
    assert image.shape[1] >= 1000 and image.shape[0] >= 400  # two panels, legible at README width


def test_curves_put_returns_on_a_common_grid():
    steps, returns = np.array([100, 300, 350]), np.array([1.0, 3.0, 5.0])
    grid = np.array([200.0, 400.0, 600.0])
    np.testing.assert_allclose(report.curve("train", steps, returns, grid), [1.0, 4.0, 4.0])
    np.testing.assert_allclose(report.curve("eval", steps, returns, grid), [1.0, 5.0, 5.0])


def test_no_finished_runs_is_one_clear_line(tmp_path, capsys):
    assert report.main([str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().out.startswith("error: no finished runs")


def test_raw_final_returns_per_run(results):
    out, _ = results
    with open(out / "runs.csv") as f:
        runs = [row for row in csv.DictReader(f) if (row["script"], row["protocol"]) == ("PyTorch", "eval")]
    assert [(int(r["seed"]), float(r["final_return"])) for r in runs] == list(
        enumerate(EVAL_FINALS["ddpg_continuous_action"], 1)
    )
