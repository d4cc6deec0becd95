"""benchmark/report.py's reference table (reference.md, reference.csv): the published values as SPEC.md gives them,
and ours computed here from fake runs with known returns."""

import contextlib
import io
import itertools
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from tensorboardX import SummaryWriter

from tests.test_benchmark_report import FAST, JAX, TORCH, read_csv, write_sweep, write_variant_sweep

import report  # noqa: E402  (benchmark/ is on the path once tests.test_benchmark_report is imported)
import report_reference  # noqa: E402
import report_runs  # noqa: E402
from report_runs import LABELS  # noqa: E402

# SPEC.md, "Reference results (1M steps, returns, 3 seeds)": its rows as written there, and its columns
SPEC_ROWS = """
| HalfCheetah-v4 | 10374 +- 157 | 8639 +- 1954 | 8577 | 3306 |
| Walker2d-v4 | 1240 +- 390 | 1427 +- 105 | 3098 | 1844 |
| Hopper-v4 | 1577 +- 819 | 1209 +- 659 | 1860 | 2020 |
| InvertedPendulum-v4 | 643 +- 70 | 804 +- 88 | 1000 | - |
| Humanoid-v4 | 1700 +- 694 | 1514 +- 249 | - | - |
| Pusher-v4 | -77 +- 39 | -39 +- 4 | - | - |
"""
# CleanRL's columns: per run the mean of its last 100 training episodes, mean +- population std over seeds
# (openrlbenchmark's); Fujimoto's: the max over training of the evaluations' mean over trials (his Table 1), his
# column "DDPG" being OpenAI Baselines' DDPG
SPEC_COLUMNS = (
    ("CleanRL PyTorch", "train_last_100"), ("CleanRL JAX", "train_last_100"),
    ('Fujimoto "OurDDPG"', "best_eval"), ('Fujimoto "DDPG" = OpenAI Baselines', "best_eval"),
)  # fmt: skip
# the fake sweep's final evaluation returns, seeds 1, 2, ...: JAX has 2 seeds on HalfCheetah, 1 on Pusher
EVAL_FINALS = {
    (TORCH, "HalfCheetah-v4"): [1000.0, 2000.0, 3500.0], (JAX, "HalfCheetah-v4"): [500.0, 900.0],
    (TORCH, "Pusher-v4"): [-50.0, -40.0, -20.0], (JAX, "Pusher-v4"): [-25.0],
    (TORCH, "Fake-v0"): [1.0, 2.0, 3.0], (JAX, "Fake-v0"): [1.0, 2.0, 3.0],
}  # fmt: skip
PROTOCOLS = ("train_last_100", "train", "eval", "best_eval")  # the reference table's statistics, in its order


def spec_cells() -> dict:
    """{(env, label, protocol): (mean, std or None)} of SPEC_ROWS, without its empty cells ("-")."""
    cells = {}
    for line in SPEC_ROWS.strip().splitlines():
        env, *values = [cell.strip() for cell in line.strip("|").split("|")]
        for (label, protocol), value in zip(SPEC_COLUMNS, values, strict=True):
            if value != "-":
                mean, _, std = value.partition(" +- ")
                cells[env, label, protocol] = (float(mean), float(std) if std else None)
    return cells


def test_the_published_values_are_the_spec_table_each_with_its_source():
    published = report_reference.read_reference()
    assert {(p["env"], p["label"], p["protocol"]): (p["mean"], p["std"]) for p in published} == spec_cells()
    for p in published:
        cleanrl = p["label"].startswith("CleanRL")
        assert ("ddpg_continuous_action" in p["source"]) == cleanrl and p["seeds"] == (3 if cleanrl else 10)
        assert cleanrl or ("arXiv:1802.09477" in p["source"] and "v1" in p["note"])
        assert p["our_env"] == p["env"] and p["steps"] == 1_000_000  # Pusher-v4 too: run with mujoco 2.3.7
        # CleanRL's +- is numpy.std over its 3 seeds (openrlbenchmark's), a population std
        assert (p["std_ddof"], "last 100 training episodes" in p["source"]) == ((0, True) if cleanrl else (None, False))
    assert all("mujoco 2.3.7" in p["note"] for p in published if p["env"] == "Pusher-v4")
    baselines = [p for p in published if p["label"] == 'Fujimoto "DDPG" = OpenAI Baselines']
    assert baselines and all("OpenAI Baselines' DDPG" in p["source"] for p in baselines)
    assert not any("Lillicrap" in p["label"] + p["source"] for p in published)


def final_values(seed: int, eval_final: float) -> dict:
    """A fake run's final returns, from what tests.test_benchmark_report.write_run logs: training episodes at
    steps 100, 200, ..., 1000 returning step / 10 + seed (the last 100 episodes: all 10 of them; the last 10% of
    1000 steps: those at 900 and 1000), and the evaluation at step 1000 last."""
    return {"train_last_100": np.mean([step / 10 + seed for step in range(100, 1001, 100)]),
            "train": np.mean([900 / 10 + seed, 1000 / 10 + seed]), "eval": eval_final}  # fmt: skip


def expected(script: str, env_id: str, protocol: str) -> tuple:
    """Ours for one cell, computed here: the mean and std of the runs' final values (population std for the last
    100 episodes, as openrlbenchmark's; else sample std), and their number; for best_eval, the higher of the two
    evaluations' means over seeds (-5 at step 500, the finals at 1000), no std."""
    finals = EVAL_FINALS[script, env_id]
    if protocol == "best_eval":
        return max(-5.0, np.mean(finals)), None, len(finals)
    values = [final_values(seed, final)[protocol] for seed, final in enumerate(finals, 1)]
    ddof = 0 if protocol == "train_last_100" else 1
    return np.mean(values), np.std(values, ddof=ddof) if len(values) > 1 else 0.0, len(values)


@pytest.fixture(scope="module")
def reference_out(tmp_path_factory) -> Path:
    """The report of a sweep of both scripts on HalfCheetah-v4, Pusher-v4 and Fake-v0 (no published values)."""
    tmp_path = tmp_path_factory.mktemp("reference")
    sweep = write_sweep(tmp_path / "sweep", EVAL_FINALS)
    with contextlib.redirect_stdout(io.StringIO()):
        assert report.main([sweep, "--out", str(tmp_path / "out"), *FAST]) == 0
    return tmp_path / "out"


@pytest.fixture(scope="module")
def reference(reference_out) -> tuple:
    """That report's reference.csv rows by (env, column, protocol), and its reference.md."""
    rows = {(r["env_id"], r["column"], r["protocol"]): r for r in read_csv(reference_out / "reference.csv")}
    return rows, (reference_out / "reference.md").read_text()


def test_ours_are_the_mean_and_std_over_seeds_of_each_runs_final_value(reference):
    rows, _ = reference
    for (script, env_id), protocol in itertools.product(EVAL_FINALS, PROTOCOLS):
        if env_id != "Fake-v0":
            row = rows[env_id, f"ours {LABELS[script]}", protocol]
            mean, std, seeds = expected(script, env_id, protocol)
            assert (float(row["mean"]), int(row["seeds"])) == pytest.approx((mean, seeds))
            assert row["std"] == "" if std is None else float(row["std"]) == pytest.approx(std)
    assert float(rows["Pusher-v4", "CleanRL JAX", "train_last_100"]["mean"]) == -39.0


def test_the_table_has_a_row_per_env_with_published_values_and_names_each_protocol(reference):
    rows, table = reference
    assert {env_id for env_id, _, _ in rows} == {"HalfCheetah-v4", "Pusher-v4"}
    lines = [line for line in table.split("Statistics:")[0].splitlines() if line.startswith("| ")]
    headers = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert headers[:2] == ["env", "steps (ours)"]
    names = "train, last 100 episodes|train, last 10% of steps|final eval|best eval"
    assert all(re.fullmatch(rf".+ \(({names})\)", header) for header in headers[2:])
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| HalfCheetah-v4", "| Pusher-v4"]
    # each statistic defined under the table, in words to check against its source
    legend = table.split("Statistics:")[1].split("Published values:")[0]
    assert "- train, last 100 episodes: per run the mean return of its last 100 training episodes" in legend
    assert "mean +- population std (numpy.std, ddof=0) over seeds: openrlbenchmark's statistic" in legend
    assert "- best eval: the max over training of the mean over seeds of the deterministic evaluations" in legend
    assert "Fujimoto et al.'s Table 1 statistic" in legend and "no published value here is this statistic" in legend
    assert "Walker2d-v4" not in table and "Fake-v0" not in table  # not in the sweep; no published values


def cell(script: str, env_id: str, protocol: str) -> str:
    """A cell of ours as the table should show it: mean +- std, and (n=k) below the 3 seeds of the others."""
    mean, std, seeds = expected(script, env_id, protocol)
    return f"{mean:.0f}" + (f" +- {std:.0f}" if std is not None and seeds > 1 else "") + (
        f" (n={seeds})" if seeds < 3 else ""
    )


def test_the_cells_show_ours_with_the_seeds_of_those_not_all_in_beside_the_published(reference):
    _, table = reference
    cheetah = [cell(script, "HalfCheetah-v4", protocol) for protocol in PROTOCOLS for script in LABELS]
    assert f"| HalfCheetah-v4 | 1,000 | {' | '.join(cheetah[:2])} | 10374 +- 157 | 8639 +- 1954 | " in table
    assert f"| {' | '.join(cheetah[2:])} | 8577 | 3306 |" in table
    assert "(n=2)" in cheetah[1] and "(n=" not in cheetah[0]
    assert cheetah[:2] == ["57 +- 1", "56 +- 0 (n=2)"]  # all 10 episodes: 55 + seed; population std
    assert cheetah[6:] == ["2167", "700 (n=2)"]  # best eval: one number over the seeds, never a std
    pusher = [cell(script, "Pusher-v4", protocol) for protocol in PROTOCOLS for script in LABELS]
    assert f"| {' | '.join(pusher[:2])} | -77 +- 39 | -39 +- 4 | {' | '.join(pusher[2:])} | - | - |" in table
    assert pusher[1] == "56 (n=1)" and pusher[3] == "96 (n=1)"  # one run: no std
    assert pusher[6:] == ["-5", "-5 (n=1)"]  # the evaluations at step 500 beat the final ones
    assert "3 seeds a cell unless it says (n=k)" in table and "HalfCheetah-v4.png, Pusher-v4.png" in table
    assert "shaded the range of the seeds [min, max]" in table


@pytest.mark.parametrize("variants", [False, True])
def test_a_sweep_of_one_script_gets_its_columns_and_a_sweep_of_variants_no_table(tmp_path, variants):
    """PyTorch alone (a sweep under way, or of one script); or both scripts, as variants."""
    finals = {(TORCH, "HalfCheetah-v4"): [1.0, 2.0]}
    if variants:
        finals = {(variant, script, "HalfCheetah-v4"): [1.0, 2.0] for variant in ("ou", "param") for script in LABELS}
    sweep = write_variant_sweep(tmp_path / "sweep", finals) if variants else write_sweep(tmp_path / "sweep", finals)
    with contextlib.redirect_stdout(io.StringIO()):
        assert report.main([sweep, "--out", str(tmp_path / "out"), *FAST]) == 0
    assert (tmp_path / "out" / "results.md").exists()
    if variants:
        assert not (tmp_path / "out" / "reference.md").exists()
    else:
        table = (tmp_path / "out" / "reference.md").read_text()
        assert f"ours {LABELS[TORCH]}" in table and f"ours {LABELS[JAX]}" not in table
        assert "(n=2)" in table  # 2 seeds of a reference sweep's 3 so far


def test_the_best_eval_is_the_highest_mean_over_seeds_not_the_mean_of_each_seeds_highest(tmp_path):
    """Two seeds that peak at different evaluations: Fujimoto's statistic is 50 here, each seed's best 100. Two runs
    evaluated at no common step have none."""
    from torch.utils.tensorboard import SummaryWriter

    per_run = []
    runs = {("Hopper-v4", 1): {500: 100.0, 1000: 0.0}, ("Hopper-v4", 2): {500: 0.0, 1000: 100.0},
            ("Walker2d-v4", 1): {500: 1.0, 1000: 1.0}, ("Walker2d-v4", 2): {700: 1.0, 1400: 1.0}}  # fmt: skip
    for (env_id, seed), evaluations in runs.items():
        run_dir = tmp_path / f"{env_id}-{seed}"
        with SummaryWriter(str(run_dir)) as writer:
            for step, value in evaluations.items():
                writer.add_scalar("eval/episodic_return", value, step)
        row = {"env_id": env_id, "script": "PyTorch", "seed": seed, "steps": 1000, "run_dir": str(run_dir)}
        per_run += [{**row, "protocol": "eval", "final_return": 0.0}, {**row, "protocol": "train"}]
    [best] = report_reference.best_evals(per_run)
    assert (best["env_id"], best["script"], best["seeds"]) == ("Hopper-v4", "PyTorch", 2)
    assert (best["mean"], best["std"]) == (50.0, None)


def test_ours_are_tested_against_each_published_spread_with_welch_and_holm(reference_out, reference):
    """reference_tests.csv: each of ours with 2 or more seeds against each published value with a std of its env and
    statistic (CleanRL's last 100 training episodes), its p as scipy's Welch test gives it from our runs' values
    (their sample std) and the published mean and std made a sample std (times sqrt(n / (n - 1))), Holm over the
    table; the verdict follows the Holm p. One seed of ours is listed, not tested."""
    rows, table = reference
    tests = {(r["env_id"], r["ours"], r["published"]): r for r in read_csv(reference_out / "reference_tests.csv")}
    cleanrl = ("CleanRL PyTorch", "CleanRL JAX")
    assert set(tests) == {(env_id, f"ours {LABELS[script]}", label) for script, env_id in EVAL_FINALS
                          if env_id != "Fake-v0" for label in cleanrl}  # fmt: skip
    assert tests["Pusher-v4", "ours JAX", "CleanRL JAX"]["verdict"] == "not tested: 1 seed of ours, no spread"
    tested = [r for r in tests.values() if r["p"]]
    assert len(tested) == 6 and f"Holm-adjusted over all the tests of this table ({len(tested)})" in table
    for r in tested:
        assert r["protocol"] == "train_last_100"
        script = TORCH if r["ours"] == f"ours {LABELS[TORCH]}" else JAX
        finals = EVAL_FINALS[script, r["env_id"]]
        ours = [final_values(seed, final)["train_last_100"] for seed, final in enumerate(finals, 1)]
        published = rows[r["env_id"], r["published"], "train_last_100"]
        n, published_std = int(published["seeds"]), float(published["std"]) * np.sqrt(3 / 2)
        assert float(r["published_sample_std"]) == pytest.approx(published_std)
        assert float(r["ours_sample_std"]) == pytest.approx(np.std(ours, ddof=1))
        welch = scipy.stats.ttest_ind_from_stats(
            np.mean(ours), np.std(ours, ddof=1), len(ours), float(published["mean"]), published_std, n, equal_var=False
        )
        assert float(r["p"]) == pytest.approx(welch.pvalue)
        assert float(r["low"]) < float(r["difference"]) < float(r["high"])
        direction = "ours lower" if float(r["difference"]) < 0 else "ours higher"
        assert r["verdict"] == (direction if float(r["holm_p"]) <= 0.05 else "no difference found")
    p_values = sorted(float(r["p"]) for r in tested)
    assert min(float(r["holm_p"]) for r in tested) == pytest.approx(min(1.0, 6 * p_values[0]))
    assert tests["HalfCheetah-v4", "ours PyTorch", "CleanRL PyTorch"]["verdict"] == "ours lower"  # 57 vs 10374
    assert "| HalfCheetah-v4 | train, last 100 episodes | ours PyTorch | CleanRL PyTorch | " in table


def test_a_population_std_is_made_a_sample_std_before_welchs_test():
    """CleanRL's +- is numpy.std over 3 seeds (ddof=0): Welch's test takes the sample std, sqrt(3 / 2) times it, on
    both sides (ours beside it is a population std too); a sample std stays as it is."""
    values = np.array([1.0, 2.0, 4.0])
    assert report_reference.sample_std(np.std(values), 0, 3) == pytest.approx(np.std(values, ddof=1))
    assert report_reference.sample_std(157.0, 0, 3) == pytest.approx(157.0 * np.sqrt(1.5))
    assert report_reference.sample_std(5.0, 1, 4) == 5.0
    cell = {"env_id": "HalfCheetah-v4", "protocol": "train_last_100", "steps": 1_000_000}
    ours = {**cell, "column": "ours PyTorch", "source": report_reference.OURS, "mean": values.mean(),
            "std": np.std(values), "std_ddof": 0, "seeds": 3}  # fmt: skip
    published = {**cell, "column": "CleanRL PyTorch", "source": "docs", "mean": 10.0, "std": 1.0, "std_ddof": 0,
                 "seeds": 3}  # fmt: skip
    [row] = report_reference.agreement([ours, published])
    converted = scipy.stats.ttest_ind_from_stats(values.mean(), np.std(values, ddof=1), 3, 10.0, np.sqrt(1.5), 3,
                                                 equal_var=False)  # fmt: skip
    as_given = scipy.stats.ttest_ind_from_stats(values.mean(), np.std(values), 3, 10.0, 1.0, 3, equal_var=False)
    assert row["p"] == pytest.approx(converted.pvalue) and row["p"] != pytest.approx(as_given.pvalue)


def write_dense_run(sweep: Path, script: str, seed: int):
    """A finished 10,000-step HalfCheetah-v4 run with an episode every 5 steps (Hopper and Walker2d end hundreds in
    their last 10% of steps): its last 100 episodes return 1000 + seed, the 101 before them in the last 10% of
    steps (9000-9500) seed, as every earlier one; an evaluation at 10,000."""
    task_dir = sweep / script / "HalfCheetah-v4" / f"seed{seed}"
    name = f"HalfCheetah-v4__{script}__{seed}__0"
    with SummaryWriter(str(task_dir / "runs" / name)) as writer:
        for step in range(5, 10_001, 5):
            writer.add_scalar("charts/episodic_return", (1000.0 if step > 9500 else 0.0) + seed, step)
        writer.add_scalar("eval/episodic_return", 1.0, 10_000)
    (task_dir / "done").write_text(name + "\n")


def test_the_published_training_returns_are_beside_our_last_100_episodes_not_our_last_10_percent(tmp_path):
    """Where a run's last 10% of steps hold more than 100 episodes, the two statistics differ: beside CleanRL's
    values stands the mean of each run's last 100 episodes (1000 + seed here), never that of the last 10% of steps
    (seed + 1000 x 100 / 201), which stays beside it under its own name."""
    for script, seed in itertools.product(LABELS, (1, 2, 3)):
        write_dense_run(tmp_path / "sweep", script, seed)
    with contextlib.redirect_stdout(io.StringIO()):
        assert report.main([str(tmp_path / "sweep"), "--out", str(tmp_path / "out"), *FAST]) == 0
    rows = {(r["column"], r["protocol"]): r for r in read_csv(tmp_path / "out" / "reference.csv")}
    last_100, last_share = rows["ours PyTorch", "train_last_100"], rows["ours PyTorch", "train"]
    assert float(last_100["mean"]) == pytest.approx(1002.0)
    assert float(last_100["std"]) == pytest.approx(np.std([1001.0, 1002.0, 1003.0]))  # population, as CleanRL's
    assert float(last_share["mean"]) == pytest.approx(2.0 + 1000.0 * 100 / 201)
    runs = [r for r in read_csv(tmp_path / "out" / "runs.csv") if r["protocol"] == "train"]
    assert [float(r["last_100_episodes"]) for r in runs] == [1001.0, 1002.0, 1003.0] * 2
    tests = read_csv(tmp_path / "out" / "reference_tests.csv")
    assert {(r["protocol"], r["ours"], r["published"]) for r in tests} == {
        ("train_last_100", f"ours {label}", f"CleanRL {published}") for label in LABELS.values()
        for published in ("PyTorch", "JAX")
    }  # fmt: skip
    difference = next(r for r in tests if (r["ours"], r["published"]) == ("ours PyTorch", "CleanRL PyTorch"))
    assert float(difference["difference"]) == pytest.approx(1002.0 - 10374.0)


def test_last_episodes_are_taken_in_the_order_they_ended_and_all_of_them_when_fewer():
    steps, returns = np.array([300, 100, 200, 200]), np.array([3.0, 1.0, 2.0, 5.0])
    assert report_runs.last_episodes_mean(steps, returns, 2) == 4.0  # step 300 and the second at step 200
    assert report_runs.last_episodes_mean(steps, returns) == pytest.approx(11.0 / 4)


def test_welchs_interval_covers_the_true_difference_95_percent_of_the_time_at_3_seeds_a_side():
    """Normal returns, 3 seeds a side, unequal spreads: the interval holds the true difference in ~95% of the
    samples and the test says p <= 0.05 exactly when the interval leaves out 0."""
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(4000):
        ours, published = rng.normal(100.0, 10.0, 3), rng.normal(80.0, 40.0, 3)
        summaries = ({"mean": x.mean(), "std": x.std(ddof=1), "seeds": 3} for x in (ours, published))
        result = report_reference.welch(*summaries)
        covered += result["low"] <= 20.0 <= result["high"]
        assert (result["p"] <= 0.05) == (not result["low"] <= 0.0 <= result["high"])
    assert 0.935 <= covered / 4000 <= 0.965
