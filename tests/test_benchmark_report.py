"""benchmark/report.py on event files written here with known numbers."""

import contextlib
import csv
import io
import json
import math
import shutil
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import scipy.stats
from rliable import library, metrics
from tensorboardX import SummaryWriter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmark"))
import report  # noqa: E402

TORCH, JAX = "ddpg_continuous_action", "ddpg_continuous_action_jax"
EVAL_FINALS = {TORCH: [0.0, 100.0, 200.0, 1000.0], JAX: [50.0] * 4}
FAST = ["--bootstrap-reps", "200"]
ALL = report.ALL_ENVS


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


def write_sweep(sweep: Path, eval_finals: dict) -> str:
    """Runs of every (script, env_id) with these final evaluation returns, seeds 1, 2, ...; training episodes
    return the same in every script and env (step / 10 + seed)."""
    for (script, env_id), finals in eval_finals.items():
        for seed, final in enumerate(finals, start=1):
            write_run(sweep, script, env_id, seed, final)
    return str(sweep)


def read_csv(path: Path) -> list:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture
def results(tmp_path) -> tuple:
    sweep = write_sweep(tmp_path / "sweep", {(script, "Fake-v0"): finals for script, finals in EVAL_FINALS.items()})
    (tmp_path / "sweep" / TORCH / "Fake-v0" / "seed9").mkdir()
    (tmp_path / "sweep" / TORCH / "Fake-v0" / "seed9" / "failed").write_text("exit code 1\n")
    assert report.main([sweep, "--out", str(tmp_path / "out"), *FAST]) == 0
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


def test_the_interval_beside_the_iqm_is_the_range_of_the_seeds_and_says_so(results):
    """No confidence interval is claimed: the seeds' [min, max], named so in the table and the figures (with 3
    seeds, a 95% percentile bootstrap of the IQM gives exactly this range)."""
    out, rows = results
    torch_eval, jax_eval = rows[("PyTorch", "eval")], rows[("JAX", "eval")]
    assert (float(torch_eval["min"]), float(torch_eval["max"])) == (0.0, 1000.0)
    assert float(jax_eval["min"]) == float(jax_eval["max"]) == 50.0
    assert "| mean +- sample std | IQM | range of the seeds [min, max] |" in (out / "results.md").read_text()
    assert "CI" not in (out / "results.md").read_text()
    resamples = np.random.default_rng(0).choice([3.0, 1.0, 2.0], (4000, 3))
    percentiles = np.percentile([report.iqm(resample) for resample in resamples], [2.5, 97.5])
    assert percentiles.tolist() == [1.0, 3.0]  # the percentile bootstrap's "95% CI" of 3 seeds: their min and max
    assert "min, max" in report.BAND


def test_iqm_trims_a_quarter_at_each_end():
    assert report.iqm(np.array([1.0, 2.0, 3.0])) == pytest.approx(2.0)
    assert report.iqm(np.array([0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 1e6])) == pytest.approx(35.0)


def test_table_and_one_readable_plot_per_env(results):
    out, _ = results
    table = (out / "results.md").read_text()
    assert "| Fake-v0 | PyTorch | eval | 4 | 1,000 | 325.0 +- 457.3 | 150.0 | [0.0, 1000.0] |" in table
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
    assert [(int(r["seed"]), float(r["final_return"])) for r in runs] == list(enumerate(EVAL_FINALS[TORCH], 1))


@pytest.fixture(scope="module")
def comparison(tmp_path_factory) -> tuple:
    """PyTorch clearly ahead on Ahead-v0 and behind on Behind-v0 (4 seeds each), equal under the train protocol,
    and alone on Alone-v0."""
    high, low = [100.0, 110.0, 120.0, 130.0], [0.0, 10.0, 20.0, 30.0]
    tmp_path = tmp_path_factory.mktemp("comparison")
    finals = {(TORCH, "Ahead-v0"): high, (JAX, "Ahead-v0"): low, (TORCH, "Behind-v0"): low, (JAX, "Behind-v0"): high}
    sweep = write_sweep(tmp_path / "sweep", {**finals, (TORCH, "Alone-v0"): high})
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert report.main([sweep, "--out", str(tmp_path / "out"), *FAST]) == 0
    rows = {(r["env_id"], r["protocol"]): r for r in read_csv(tmp_path / "out" / "comparison.csv")}
    return rows, (tmp_path / "out" / "comparison.md").read_text(), printed.getvalue()


def test_a_clear_difference_between_the_scripts_is_found_in_its_direction(comparison):
    rows, table, printed = comparison
    # 4 runs above 4 others: P = 1, and 2 of the 70 splits of 8 runs are as extreme (two-sided p = 0.029)
    ahead = "PyTorch better than JAX: P(PyTorch > JAX) = 1.00 [1.00, 1.00], p = 0.0286"
    assert rows[("Ahead-v0", "eval")]["verdict"] == ahead and rows[("Ahead-v0", "eval")]["direction"] == "1"
    assert float(rows[("Ahead-v0", "eval")]["iqm_difference"]) == pytest.approx(100.0)
    assert rows[("Behind-v0", "eval")]["verdict"].startswith("PyTorch worse than JAX: P(PyTorch > JAX) = 0.00 [")
    assert float(rows[("Behind-v0", "eval")]["iqm_difference_high"]) < 0
    assert ahead in table and ahead in printed


def test_identical_groups_are_no_difference(comparison):
    rows, _, _ = comparison
    for env_id in ("Ahead-v0", "Behind-v0"):
        train = rows[(env_id, "train")]
        assert train["verdict"] == "no difference found" and float(train["probability_of_improvement"]) == 0.5


def test_an_env_with_one_script_only_is_listed_as_not_compared(comparison):
    rows, table, _ = comparison
    assert rows[("Alone-v0", "eval")]["verdict"] == "not compared: no JAX runs"
    assert "| Alone-v0 | eval | 4 vs 0 |" in table
    # the aggregate rows first, eval before train, then the envs compared, then the rest
    assert list(rows)[:4] == [(ALL, "eval"), (ALL, "train"), ("Ahead-v0", "eval"), ("Ahead-v0", "train")]


def test_the_scripts_aggregate_row_averages_over_the_envs_both_have(comparison):
    rows, table, _ = comparison
    ahead_and_behind = rows[(ALL, "eval")]  # P = 1 on Ahead-v0 and 0 on Behind-v0; Alone-v0 left out
    assert float(ahead_and_behind["probability_of_improvement"]) == 0.5
    assert ahead_and_behind["verdict"] == "no difference found" and ahead_and_behind["iqm_difference"] == ""
    assert "| all envs | eval | 8 vs 8 | 0.50 [" in table


def test_three_runs_above_three_others_are_no_two_sided_difference():
    """The bootstrap interval of 3 runs all above 3 others is [1, 1], but 2 of the 20 splits of 6 runs are as
    extreme: p = 0.1, no difference. One-sided (the regression question) p = 0.05 suffices."""
    above, below = {("Env-v0", "eval"): np.array([4.0, 5.0, 6.0])}, {("Env-v0", "eval"): np.array([1.0, 2.0, 3.0])}
    aggregate, row = report.compare_groups(above, below, report.SCRIPT_COLUMNS, "X", "Y", "two-sided", reps=200)
    assert (row["probability_low"], row["permutation_p"], row["verdict"]) == (1.0, 0.1, "no difference found")
    assert aggregate == {**row, "env_id": ALL}  # over one env, the aggregate is that env's comparison
    _, row = report.compare_groups(below, above, report.SCRIPT_COLUMNS, "X", "Y", "less", reps=200)
    assert row["verdict"] == "X worse than Y: P(X > Y) = 0.00 [0.00, 0.00], p = 0.05"


@pytest.mark.parametrize(
    "new_finals, exit_code", [([0.0, 10.0, 20.0], 1), ([100.0, 110.0, 120.0], 0), ([200.0] * 3, 0)]
)
def test_regression_report_fails_on_a_worse_sweep_only(tmp_path, new_finals, exit_code):
    baseline = write_sweep(tmp_path / "baseline", {(TORCH, "Fake-v0"): [100.0, 110.0, 120.0]})
    new = write_sweep(tmp_path / "new", {(TORCH, "Fake-v0"): new_finals})
    assert report.main([new, "--baseline", baseline, "--out", str(tmp_path / "out"), *FAST]) == exit_code
    rows = {(r["env_id"], r["protocol"]): r["verdict"] for r in read_csv(tmp_path / "out" / "regression.csv")}
    worse = "NEW worse than baseline: P(NEW > baseline) = 0.00 [0.00, 0.00], p = 0.05"
    for env_id in (ALL, "Fake-v0"):  # over one env, the aggregate is that env's comparison
        assert rows[(env_id, "eval")] == (worse if exit_code else "no difference found")
        assert rows[(env_id, "train")] == "no difference found"
    assert (worse in (tmp_path / "out" / "regression.md").read_text()) == bool(exit_code)


def test_regression_report_lists_what_only_one_sweep_has(tmp_path):
    baseline = write_sweep(tmp_path / "baseline", {(TORCH, "Fake-v0"): [1.0, 2.0, 3.0], (TORCH, "Gone-v0"): [1.0]})
    new = write_sweep(tmp_path / "new", {(TORCH, "Fake-v0"): [1.0, 2.0, 3.0], (JAX, "Fake-v0"): [1.0, 2.0]})
    assert report.main([new, "--baseline", baseline, "--out", str(tmp_path / "out"), *FAST]) == 0
    rows = {(r["env_id"], r["script"], r["protocol"]): r for r in read_csv(tmp_path / "out" / "regression.csv")}
    assert rows[("Fake-v0", "PyTorch", "eval")]["verdict"] == "no difference found"
    for protocol in ("eval", "train"):
        assert rows[("Fake-v0", "JAX", protocol)]["verdict"] == "not compared: no baseline runs"
        assert rows[("Gone-v0", "PyTorch", protocol)]["verdict"] == "not compared: no NEW runs"
    assert "| Gone-v0 | PyTorch | eval | 0 vs 1 |" in (tmp_path / "out" / "regression.md").read_text()


def test_regression_against_an_empty_baseline_is_one_clear_line(tmp_path, capsys):
    new = write_sweep(tmp_path / "new", {(TORCH, "Fake-v0"): [1.0]})
    assert report.main([new, "--baseline", str(tmp_path / "none"), "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().out.startswith(f"error: no finished runs under {tmp_path / 'none'}")


def test_calibration_false_positives_with_three_seeds():
    """Under no difference, the bootstrap interval alone excludes 0.5 in over 10% of pairs of 3 runs (every complete
    separation, 1 in 10, and more); with the permutation test, two-sided never, one-sided in 1 of 20."""
    null, shifted = report.calibrate(pairs=400, seeds=(3,), shifts=(0.0, 3.0), reps=100)
    assert null["interval"] > 0.1 and null["comparison"] == 0.0 and 0.02 < null["regression"] < 0.09
    assert shifted["regression"] > 0.5


ENVS = ("A-v0", "B-v0", "C-v0", "D-v0")
BASELINE = [100.0, 110.0, 120.0]


def regression(tmp_path: Path, new_finals: dict, baseline_finals: dict) -> tuple:
    """The regression report of a sweep with these final evaluation returns against a baseline sweep: its exit
    code, its rows by (env_id, script, protocol) and its table. Training returns are the same in both sweeps."""
    baseline, new = write_sweep(tmp_path / "baseline", baseline_finals), write_sweep(tmp_path / "new", new_finals)
    with contextlib.redirect_stdout(io.StringIO()):
        exit_code = report.main([new, "--baseline", baseline, "--out", str(tmp_path / "out"), *FAST])
    rows = {(r["env_id"], r["script"], r["protocol"]): r for r in read_csv(tmp_path / "out" / "regression.csv")}
    return exit_code, rows, (tmp_path / "out" / "regression.md").read_text()


def test_the_gate_fails_a_sweep_worse_on_every_env(tmp_path):
    """3 runs below 3 others on each of 4 envs: P = 0, and of the 20^4 = 160,000 arrangements of the runs within
    envs only the observed one is as extreme, so the Monte-Carlo test gives its smallest p, 1 / (9,999 + 1)."""
    exit_code, rows, table = regression(
        tmp_path, {(TORCH, env): [0.0, 10.0, 20.0] for env in ENVS}, {(TORCH, env): BASELINE for env in ENVS}
    )
    assert exit_code == 1
    worse = "NEW worse than baseline: P(NEW > baseline) = 0.00 [0.00, 0.00], p = 0.0001"
    assert rows[(ALL, "PyTorch", "eval")]["verdict"] == worse
    assert rows[(ALL, "PyTorch", "train")]["verdict"] == "no difference found"
    assert f"| all envs | PyTorch | eval | 12 vs 12 | 0.00 [0.00, 0.00] |  | 0.0001 | {worse} |" in table
    assert 'The gate (the exit code) is decided by the "all envs" rows only' in table


def test_the_gate_passes_a_sweep_equal_to_its_baseline(tmp_path):
    finals = {(script, env): BASELINE for script in (TORCH, JAX) for env in ENVS}
    exit_code, rows, _ = regression(tmp_path, finals, finals)
    assert exit_code == 0
    assert len(rows) == 2 * 2 * (1 + len(ENVS))  # 2 scripts x 2 protocols, over all envs and per env
    assert {r["verdict"] for r in rows.values()} == {"no difference found"}
    assert {float(r["probability_of_improvement"]) for r in rows.values()} == {0.5}


def test_the_gate_passes_a_sweep_worse_on_one_env_of_four_which_its_row_shows(tmp_path):
    """A-v0 a little worse (3 runs just below 3 others: the per-env row finds NEW worse, p = 0.05), the other
    envs unchanged: P = (0 + 3 x 0.5) / 4 = 0.375 over all envs, no difference found, the gate passes."""
    new = {(TORCH, env): [97.0, 98.0, 99.0] if env == "A-v0" else BASELINE for env in ENVS}
    exit_code, rows, _ = regression(tmp_path, new, {(TORCH, env): BASELINE for env in ENVS})
    assert rows[("A-v0", "PyTorch", "eval")]["verdict"] == (
        "NEW worse than baseline: P(NEW > baseline) = 0.00 [0.00, 0.00], p = 0.05"
    )
    aggregate = rows[(ALL, "PyTorch", "eval")]
    assert float(aggregate["probability_of_improvement"]) == 0.375 and float(aggregate["permutation_p"]) > 0.05
    assert aggregate["verdict"] == "no difference found"
    assert exit_code == 0


def test_the_gate_takes_envs_with_unequal_seeds(tmp_path):
    """NEW's runs all below the baseline's on A-v0 (2 vs 3 seeds) and B-v0 (4 vs 2): P = 0. The exact test
    exchanges runs within each env: C(5, 2) x C(6, 4) = 150 arrangements, only the observed one as extreme."""
    new = {(TORCH, "A-v0"): [0.0, 10.0], (TORCH, "B-v0"): [0.0, 10.0, 20.0, 30.0]}
    exit_code, rows, table = regression(tmp_path, new, {(TORCH, "A-v0"): BASELINE, (TORCH, "B-v0"): BASELINE[:2]})
    assert exit_code == 1
    worse = "NEW worse than baseline: P(NEW > baseline) = 0.00 [0.00, 0.00], p = 0.00667"
    assert rows[(ALL, "PyTorch", "eval")]["verdict"] == worse
    assert f"| all envs | PyTorch | eval | 6 vs 5 | 0.00 [0.00, 0.00] |  | 0.00667 | {worse} |" in table
    assert rows[("A-v0", "PyTorch", "eval")]["permutation_p"] == "0.1"  # one env: 1 of C(5, 2) = 10


def test_the_aggregate_interval_is_rliables_and_the_test_of_one_env_scipys():
    """With as many runs in every env, rliable's stratified bootstrap of its aggregate P(X > Y) on runs x envs
    matrices gives the same point and interval (up to resampling noise); over one env the permutation test is
    scipy's exact one."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(-0.5, 1.0, (5, 4)), rng.normal(0.0, 1.0, (5, 4))
    np.random.seed(0)
    point, interval = library.get_interval_estimates(
        {"x-y": [x, y]}, lambda x, y: np.array([metrics.probability_of_improvement(x, y)]), reps=500
    )
    ours = report.aggregate_improvement(list(x.T), list(y.T), reps=500)
    assert ours["probability_of_improvement"] == pytest.approx(point["x-y"][0])
    np.testing.assert_allclose([ours["probability_low"], ours["probability_high"]], interval["x-y"][:, 0], atol=0.05)
    for alternative in ("less", "two-sided"):
        scipys = scipy.stats.permutation_test(
            (x[:, 0], y[:4, 1]), report.probability_of_improvement, alternative=alternative
        )
        assert report.permutation_p([x[:, 0]], [y[:4, 1]], alternative) == pytest.approx(scipys.pvalue)


def test_calibration_of_the_gate():
    """Under no difference the gate fails fewer pairs of 4-env sweeps than the per-env rows would; it finds a
    shift of 2 sd on every env nearly always."""
    null, shifted = report.calibrate_gate(pairs=150, seeds=(3,), shifts=(0.0, 2.0), reps=100)
    assert null["gate"] < 0.08 < null["any_env"] and shifted["gate"] > 0.9


# A study of 3 variants (gaussian, the baseline; ou; param) x 3 envs x 5 seeds, in two sweeps with variants under one
# directory (as benchmark/runs/quick holds short/, medium/ and long/): final evaluation returns ou > gaussian > param
# on every env, each group's 5 runs all above the next one's; training returns the same in every variant.
VARIANT_FINALS = {
    "gaussian": [100.0, 110.0, 120.0, 130.0, 140.0],
    "ou": [200.0, 210.0, 220.0, 230.0, 240.0],
    "param": [0.0, 10.0, 20.0, 30.0, 40.0],
}
STUDY = {"short": ("A-v0", "B-v0"), "long": ("C-v0",)}
DIVERGED = "exit code 3: error: diverged at step 1300: losses/qf1_loss is nan; see log.txt"


def write_variant_sweep(sweep: Path, finals: dict) -> str:
    """A sweep with variants: variants.json (in the order of `finals`, {(variant, script, env_id): final evaluation
    returns}) and each variant's tasks laid out as a sweep without variants, under OUT/{variant}/."""
    variants = list(dict.fromkeys(variant for variant, _, _ in finals))
    sweep.mkdir(parents=True, exist_ok=True)
    listed = [{"name": name, "args": ["--exploration-noise-type", name]} for name in variants]
    (sweep / "variants.json").write_text(json.dumps({"variants": listed}))
    for (variant, script, env_id), values in finals.items():
        write_sweep(sweep / variant, {(script, env_id): values})
    return str(sweep)


def variant_report(out: Path, study: Path, *options: str) -> tuple:
    """report.main on the study: its rows of variants.csv by (script, protocol, env_id, variant), and variants.md."""
    with contextlib.redirect_stdout(io.StringIO()):
        assert report.main([str(study), "--out", str(out), *FAST, *options]) == 0
    rows = {(r["script"], r["protocol"], r["env_id"], r["variant"]): r for r in read_csv(out / "variants.csv")}
    return rows, (out / "variants.md").read_text()


@pytest.fixture(scope="module")
def variant_study(tmp_path_factory) -> tuple:
    """The study's report, with a task of param on C-v0 that diverged (so 4 runs there) and a sixth gaussian run
    on A-v0 whose final evaluation is NaN: (its out directory, its rows, variants.md, the study directory)."""
    root = tmp_path_factory.mktemp("variants") / "study"
    for name, envs in STUDY.items():
        finals = {(v, TORCH, env): VARIANT_FINALS[v] for v in VARIANT_FINALS for env in envs}
        write_variant_sweep(root / name, finals)
    write_run(root / "short" / "gaussian", TORCH, "A-v0", 6, math.nan)
    diverged = root / "long" / "param" / TORCH / "C-v0" / "seed5"
    (diverged / "done").unlink()
    (diverged / "failed").write_text(DIVERGED + "\n")
    rows, table = variant_report(root.parent / "out", root)
    return root.parent / "out", rows, table, root


def test_a_better_variant_is_found_better_and_a_worse_one_worse_per_env_and_over_all_envs(variant_study):
    """5 runs above (or below) 5 others on every env. Over all envs p = 2 / (9,999 + 1), Holm p = 8 x 0.0002; per
    env p = 2 / 252 = 0.00794 (4 vs 5 runs: 2 / 126), which Holm lets pass once the two all-envs rows have:
    6 x 0.00794 = 0.0476."""
    _, rows, table, _ = variant_study
    for env_id in (ALL, "A-v0", "B-v0", "C-v0"):
        better, worse = rows[("PyTorch", "eval", env_id, "ou")], rows[("PyTorch", "eval", env_id, "param")]
        assert better["verdict"].startswith("ou better than gaussian: P(ou > gaussian) = 1.00 [1.00, 1.00], p = ")
        assert worse["verdict"].startswith("param worse than gaussian: P(param > gaussian) = 0.00 [0.00, 0.00]")
        assert (better["direction"], worse["direction"]) == ("1", "-1")
    assert rows[("PyTorch", "eval", ALL, "ou")]["verdict"].endswith("p = 0.0002, Holm p = 0.0016")
    assert rows[("PyTorch", "eval", "A-v0", "ou")]["verdict"].endswith("p = 0.00794, Holm p = 0.0476")
    assert float(rows[("PyTorch", "eval", "A-v0", "ou")]["iqm_difference"]) == pytest.approx(100.0)
    assert "| PyTorch | eval | all envs | ou | 15 vs 15 | 1.00 [1.00, 1.00] |  | 0.0002 | 0.0016 | ou better" in table


def test_equal_variants_are_found_alike(variant_study):
    """Training returns are the same in every variant (gaussian has a sixth run on A-v0: P a little below 0.5)."""
    _, rows, _, _ = variant_study
    train = [r for (_, protocol, _, _), r in rows.items() if protocol == "train"]
    assert len(train) == 8 and {r["verdict"] for r in train} == {"no difference found"}
    assert float(rows[("PyTorch", "train", "B-v0", "ou")]["probability_of_improvement"]) == 0.5


def test_the_table_says_how_many_comparisons_each_family_has_and_the_correction(variant_study):
    _, rows, table, _ = variant_study
    assert "one family (PyTorch eval: 8, PyTorch train: 8 comparisons" in table
    assert "Holm-Bonferroni" in table and "excludes 0.5 and Holm p <= 0.05" in table
    # the families one after the other, each with its all-envs rows first
    assert [key[1:] for key in rows][:3] == [("eval", ALL, "ou"), ("eval", ALL, "param"), ("eval", "A-v0", "ou")]
    assert {r["family_size"] for r in rows.values()} == {"8"}


def test_results_and_runs_show_the_variant(variant_study):
    out, _, _, _ = variant_study
    assert "| env | variant | script | protocol | seeds |" in (out / "results.md").read_text()
    assert "| C-v0 | param | PyTorch | eval | 4 | 1,000 | 15.0 +- 12.9 |" in (out / "results.md").read_text()
    runs = read_csv(out / "runs.csv")
    assert {r["variant"] for r in runs} == set(VARIANT_FINALS) and len(runs) == 3 * 3 * 5 * 2 - 2 + 1
    # PyTorch is compared with JAX variant by variant (here there are no JAX runs)
    assert "| A-v0 | ou | eval | 5 vs 0 |" in (out / "comparison.md").read_text()


def test_the_baseline_variant_can_be_chosen(tmp_path):
    """ou's 4 runs above gaussian's on one env (p = 2 / 70; a family of one comparison)."""
    finals = {("gaussian", TORCH, "A-v0"): [1.0, 2.0, 3.0, 4.0], ("ou", TORCH, "A-v0"): [5.0, 6.0, 7.0, 8.0]}
    study = write_variant_sweep(tmp_path / "study", finals)
    rows, table = variant_report(tmp_path / "out", study, "--baseline-variant", "ou")
    assert list(rows) == [("PyTorch", "eval", "A-v0", "gaussian"), ("PyTorch", "train", "A-v0", "gaussian")]
    assert rows[("PyTorch", "eval", "A-v0", "gaussian")]["verdict"] == (
        "gaussian worse than ou: P(gaussian > ou) = 0.00 [0.00, 0.00], p = 0.0286, Holm p = 0.0286"
    )
    assert "each variant against ou" in table
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        report.main([study, "--out", str(tmp_path / "other"), "--baseline-variant", "none-such"])


def study_rows(finals: dict) -> list:
    """final_returns' rows of a study, eval only: {(variant, env_id): final returns}."""
    return [
        {"env_id": env_id, "variant": variant, "script": "PyTorch", "protocol": "eval", "final_return": value}
        for (variant, env_id), values in finals.items()
        for value in values
    ]


def test_a_p_value_that_passes_alone_fails_under_the_correction():
    """v1's 5 runs all above the baseline's on one env of 3: p = 0.00794 alone, but Holm's first threshold in a
    family of 2 x (3 + 1) = 8 is 0.05 / 8, and no all-envs row passes before it: no difference found."""
    finals = {(v, env): [1.0, 2.0, 3.0, 4.0, 5.0] for v in ("v0", "v1", "v2") for env in ("A-v0", "B-v0", "C-v0")}
    finals["v1", "A-v0"] = [11.0, 12.0, 13.0, 14.0, 15.0]
    rows = report.compare_variants(study_rows(finals), ["v0", "v1", "v2"], "v0", reps=200)
    alone = next(r for r in rows if (r["env_id"], r["variant"]) == ("A-v0", "v1"))
    assert alone["permutation_p"] == pytest.approx(2 / 252) and alone["probability_low"] == 1.0
    assert report.direction({**alone, report.ADJUSTED: alone["permutation_p"]}) == 1  # uncorrected: better
    assert alone[report.ADJUSTED] == pytest.approx(8 * 2 / 252) and alone["verdict"] == "no difference found"
    assert len(rows) == 8 and {r["family_size"] for r in rows} == {8}


def test_a_study_of_one_env_has_no_all_envs_rows_to_count_twice():
    """Over one env the all-envs row is that env's comparison: it is left out, the family is k - 1 = 2 rows."""
    finals = {(variant, "A-v0"): [1.0, 2.0] for variant in ("v0", "v1", "v2")}
    rows = report.compare_variants(study_rows(finals), ["v0", "v1", "v2"], "v0", reps=50)
    assert [(r["env_id"], r["variant"], r["family_size"]) for r in rows] == [("A-v0", "v1", 2), ("A-v0", "v2", 2)]


def test_holm_adjusts_the_ith_smallest_by_m_minus_i_plus_1_and_keeps_the_order():
    adjusted = report.holm(np.array([0.04, 0.01, 0.03, 0.2]))
    np.testing.assert_allclose(adjusted, [0.09, 0.04, 0.09, 0.2])  # 4 x 0.01, max(3 x 0.03, .), max(2 x 0.04, .)


def test_the_variant_figures_are_pngs_with_a_note_on_the_runs_they_use(variant_study):
    """rliable needs as many runs in every env: param has 4 on C-v0, so every group's first 4 seeds."""
    out, _, table, _ = variant_study
    for name in (*report.FIGURES.values(), "A-v0.png", "C-v0.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert min(matplotlib.image.imread(out / name).shape[:2]) >= 250
    assert "aggregate_iqm.png (IQM, 95% stratified-bootstrap intervals)" in table
    assert "(train: 4 runs x 3 envs; eval: 4 runs x 3 envs)" in table and report.NORMALISATION in table


def test_the_curves_have_a_colour_per_variant_and_a_line_style_per_script():
    rows = [{"variant": v, "script": s} for v in ("gaussian", "ou") for s in ("PyTorch", "JAX")]
    styles = report.group_styles(rows)
    assert styles[("ou", "PyTorch")] == {"color": "C1", "linestyle": "-"}
    assert styles[("ou", "JAX")] == {"color": "C1", "linestyle": "--"}
    assert report.group_styles([{**r, "variant": ""} for r in rows])[("", "JAX")] == {"color": "C1", "linestyle": "-"}


def test_a_failed_task_and_a_nan_run_are_left_out_with_a_note(variant_study):
    """param on C-v0, seed 5, diverged (a `failed` marker): not in any table; gaussian's sixth run on A-v0 has a
    NaN final evaluation: left out of eval, kept in train."""
    out, rows, _, study = variant_study
    failed = f"- `{study / 'long' / 'param' / TORCH / 'C-v0' / 'seed5'}`: failed: {DIVERGED}"
    nan = f"- `{study / 'short' / 'gaussian' / TORCH / 'A-v0' / 'seed6'}`: final eval return is nan, not finite"
    for name in ("results.md", "comparison.md", "variants.md"):
        assert failed in (out / name).read_text() and nan in (out / name).read_text()
    seeds = {(r["variant"], r["env_id"], r["protocol"]): [] for r in read_csv(out / "runs.csv")}
    for r in read_csv(out / "runs.csv"):
        seeds[(r["variant"], r["env_id"], r["protocol"])].append(int(r["seed"]))
    assert seeds[("param", "C-v0", "eval")] == [1, 2, 3, 4] and seeds[("gaussian", "A-v0", "eval")] == [1, 2, 3, 4, 5]
    assert seeds[("gaussian", "A-v0", "train")] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(float(r["mean"])) for r in read_csv(out / "results.csv"))
    assert rows[("PyTorch", "eval", "C-v0", "param")]["x_seeds"] == "4"


def test_the_regression_report_notes_what_either_sweep_leaves_out(tmp_path):
    baseline = write_sweep(tmp_path / "baseline", {(TORCH, "Fake-v0"): [1.0, 2.0, math.nan]})
    new = write_sweep(tmp_path / "new", {(TORCH, "Fake-v0"): [1.0, 2.0, 3.0]})
    (tmp_path / "new" / TORCH / "Fake-v0" / "seed4").mkdir()
    (tmp_path / "new" / TORCH / "Fake-v0" / "seed4" / "failed").write_text(DIVERGED)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        report.main([new, "--baseline", baseline, "--out", str(tmp_path / "out"), *FAST])
    table = (tmp_path / "out" / "regression.md").read_text()
    assert f"`{tmp_path / 'new' / TORCH / 'Fake-v0' / 'seed4'}`: failed: {DIVERGED}" in table
    assert f"`{tmp_path / 'baseline' / TORCH / 'Fake-v0' / 'seed3'}`: final eval return is nan, not finite" in table
    assert "| Fake-v0 | PyTorch | eval | 3 vs 2 |" in table
    printed_line = f"not in the report: {tmp_path / 'new' / TORCH / 'Fake-v0' / 'seed4'} (failed: {DIVERGED})"
    assert printed_line in printed.getvalue()


def test_calibration_of_a_variant_study():
    """Holm never raises more false alarms than the uncorrected rule (its p-values are larger); a variant better
    by 3 sd on every env is found over all envs in (nearly) every study, with or without it."""
    rows = report.calibrate_variants(studies=8, seeds=(5,), shift=3.0, reps=200)
    by = {(r["setting"], r["correction"]): r for r in rows}
    assert {r["family"] for r in rows} == {8}
    for setting in report.study_settings(3, 3, 3.0):
        assert by[(setting, "Holm")]["false_alarm"] <= by[(setting, "none")]["false_alarm"]
    assert by[("v1 better by 3 sd on every env", "Holm")]["all_envs"] >= 0.85
    assert np.isnan(by[("no difference", "Holm")]["all_envs"])


def test_provenance_lists_each_runs_script_version_and_the_seeds(tmp_path):
    """provenance.md: the report's command, every version of the scripts that made the runs (a run resumed under
    another version counts under both; a task without versions.jsonl is unknown), which script ran in more than
    one, and the seeds of each group."""
    sweep = write_sweep(tmp_path / "sweep", {(TORCH, "Fake-v0"): [1.0, 2.0, 3.0, 4.0], (JAX, "Fake-v0"): [5.0, 6.0]})
    shutil.rmtree(tmp_path / "sweep" / TORCH / "Fake-v0" / "seed3")
    old, new = ({"script": f"{TORCH}.py", "sha256": sha, "commit": "c0ffee", "modified": False} for sha in "ab")
    for seed, attempts in ((1, [old]), (2, [old, new]), (4, [{**new, "modified": True}])):
        lines = "".join(json.dumps(attempt) + "\n" for attempt in attempts)
        (tmp_path / "sweep" / TORCH / "Fake-v0" / f"seed{seed}" / "versions.jsonl").write_text(lines)
    with contextlib.redirect_stdout(io.StringIO()):
        assert report.main([sweep, "--out", str(tmp_path / "out"), *FAST]) == 0
    provenance = (tmp_path / "out" / "provenance.md").read_text()
    assert f"`python benchmark/report.py {sweep} --out {tmp_path / 'out'} --bootstrap-reps 200`" in provenance
    # the JAX runs (one version each: unknown) are not flagged beside PyTorch's several
    assert "**More than one version of the PyTorch script made these runs**: compare" in provenance
    assert f"- {TORCH}.py at commit c0ffee (file sha256 a): 2 runs" in provenance
    assert f"- {TORCH}.py at commit c0ffee (file sha256 b): 1 run" in provenance
    assert f"- {TORCH}.py at commit c0ffee with uncommitted changes (file sha256 b): 1 run" in provenance
    assert "- unknown (no versions.jsonl: the sweep predates it): 2 runs" in provenance
    assert "| Fake-v0 | - | PyTorch | 1-2, 4 |" in provenance and "| Fake-v0 | - | JAX | 1-2 |" in provenance


def machine_start(step: int, host: str = "vm", extensions=("avx2", "avx512f", "fma"), framework=None) -> dict:
    """One start of a run as the scripts write it in machine.json (PyTorch's threads and versions by default)."""
    threads, versions = framework or ({"torch": 1, "torch_interop": 2}, {"torch": "2.13.0+cpu"})
    return {"start_step": step, "time": f"2026-12-07 19:{step % 60:02d}:00 +0000", "host": host, "cpu": "AMD EPYC",
            "vector_extensions": list(extensions), "cores_usable": 1, "cores": 2, "device": "cpu", "threads": threads,
            "thread_variables": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": None, "XLA_FLAGS": None},
            "versions": {"python": "3.11.7", "numpy": "2.4.6", "gymnasium": "1.4.0", "mujoco": "2.3.7", **versions}}


def write_machine(run_dir: Path, *starts: dict):
    (run_dir / "machine.json").write_text(json.dumps({"starts": list(starts)}, indent=1))


def test_provenance_lists_each_runs_machine_and_what_is_known_without_one(tmp_path):
    """provenance.md: each machine of the runs' machine.json (host, CPU and AVX-512 or AVX2 only, cores, threads and
    their variables, versions), a row per run naming its own (a run resumed elsewhere: each start's, said), "not
    recorded" for a run without one, and what its sweep's machine_note.txt says is known of such runs."""
    sweep = write_sweep(tmp_path / "sweep", {(TORCH, "Fake-v0"): [1.0, 2.0, 3.0], (JAX, "Fake-v0"): [4.0]})
    runs = {(run.script, run.seed): run.run_dir for run in report.find_runs(Path(sweep))}
    write_machine(runs[TORCH, 1], machine_start(0), machine_start(500))  # resumed on the same machine
    write_machine(runs[TORCH, 2], machine_start(0), machine_start(500, "other", ("avx2", "fma")))
    xla = ({"xla_intra_op": 1}, {"jax": "0.10.2", "jaxlib": "0.10.2", "flax": "0.12.8", "optax": "0.2.8"})
    write_machine(runs[JAX, 1], machine_start(0, framework=xla))
    (tmp_path / "sweep" / "machine_note.txt").write_text("Ran with --threads 1;\nversions not recorded.\n")
    with contextlib.redirect_stdout(io.StringIO()):
        assert report.main([sweep, "--out", str(tmp_path / "out"), *FAST]) == 0
    provenance = (tmp_path / "out" / "provenance.md").read_text()
    common = "1 of 2 cores usable; device cpu; threads {}; OMP_NUM_THREADS=`1`, MKL_NUM_THREADS unset, XLA_FLAGS unset"
    versions = "versions python 3.11.7, numpy 2.4.6, gymnasium 1.4.0, mujoco 2.3.7"
    torch = common.format("torch 1, torch_interop 2") + f"; {versions}, torch 2.13.0+cpu"
    assert f"- M1: host vm; CPU AMD EPYC, AVX-512 (avx512f); {torch}\n" in provenance
    assert f"- M2: host other; CPU AMD EPYC, AVX2, no AVX-512 (no avx512f); {torch}\n" in provenance
    jax = common.format("xla_intra_op 1") + f"; {versions}, jax 0.10.2, jaxlib 0.10.2, flax 0.12.8, optax 0.2.8"
    assert f"- M3: host vm; CPU AMD EPYC, AVX-512 (avx512f); {jax}\n" in provenance
    assert "| Fake-v0 | - | PyTorch | 1 | M1 (2 starts) |" in provenance
    assert "| Fake-v0 | - | PyTorch | 2 | M1 from step 0, M2 from step 500: **its starts differ**" in provenance
    assert "| Fake-v0 | - | PyTorch | 3 | not recorded (no machine.json) |" in provenance
    assert "| Fake-v0 | - | JAX | 1 | M3 |" in provenance
    assert "1 run without a readable machine.json: the machine is not recorded by the run itself" in provenance
    assert f"- the 1 of {sweep}: what is known of them, from its machine_note.txt: Ran with --threads 1; versions " \
           "not recorded." in provenance  # fmt: skip


def test_first_success_is_the_first_training_step_above_the_threshold_per_run(tmp_path):
    import first_success

    sweep = write_sweep(tmp_path / "sweep", {(TORCH, "Fake-v0"): [0.0, 0.0, 0.0, 0.0], (JAX, "Other-v0"): [0.0]})
    # training episodes return step / 10 + seed at steps 100, ..., 1000: above 92 from 1000 (seeds 1-2), 900 (3-4)
    rows = first_success.first_successes(Path(sweep), "Fake-v0", 92.0)
    assert [(row["seed"], row["first_step"]) for row in rows] == [(1, 1000), (2, 1000), (3, 900), (4, 900)]
    never = first_success.first_successes(Path(sweep), "Fake-v0", 200.0)
    assert [row["first_step"] for row in never] == [""] * 4
    assert first_success.summary(rows) == [f"{TORCH}: 4 of 4 runs, first at steps 900-1000"]
    assert first_success.main([sweep, "--env-id", "Missing-v0", "--threshold", "0", "--out", str(tmp_path / "x")]) == 1


def write_runs_csv(path: Path, finals: dict):
    """A runs.csv as report.py writes it: {(env, variant): final returns of seeds 1, 2, ...}, JAX, evaluations;
    without the variant column when no variant has a name (a sweep without variants)."""
    variants = any(variant for _, variant in finals)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["env_id", *["variant"] * variants, "script", "protocol", "seed", "steps", "final_return"])
        for (env_id, variant), returns in finals.items():
            for seed, final in enumerate(returns, 1):
                writer.writerow([env_id, *[variant] * variants, "JAX", "eval", seed, 1000, final])


def test_two_studies_are_compared_variant_by_variant(tmp_path):
    import compare_studies

    spread = np.arange(10.0)
    shifts = {"gaussian": 50, "param": 0}  # unlike each other, so that a variant compared with another would show
    raw = {(env, variant): spread + shift for env in ("A-v0", "B-v0") for variant, shift in shifts.items()}
    normalised = {**raw, ("A-v0", "param"): spread + 100, ("B-v0", "param"): spread + 100}  # gaussian as raw's
    write_runs_csv(tmp_path / "raw.csv", raw)
    write_runs_csv(tmp_path / "normalised.csv", normalised)
    out = tmp_path / "against_raw"
    with contextlib.redirect_stdout(io.StringIO()):
        compare_studies.main([str(tmp_path / "normalised.csv"), str(tmp_path / "raw.csv"), "--names", "norm", "raw",
                              "--out", str(out), *FAST])  # fmt: skip
    with open(out.with_suffix(".csv"), newline="") as f:
        rows = {(r["env_id"], r["variant"]): r for r in csv.DictReader(f)}
    for env in (ALL, "A-v0", "B-v0"):  # only param moved, and each row compares a variant with itself
        assert rows[(env, "param")]["verdict"].startswith("norm better than raw"), rows[(env, "param")]
        assert rows[(env, "gaussian")]["verdict"] == "no difference found"
    assert rows[("A-v0", "param")]["family_size"] == "6"  # one Holm family: 2 variants x (2 envs + all envs)
    assert "norm better than raw" in out.with_suffix(".md").read_text()


def test_two_sweeps_without_variants_are_compared_env_by_env(tmp_path):
    import compare_studies

    spread = np.arange(10.0)
    write_runs_csv(tmp_path / "defaults.csv", {("A-v0", ""): spread, ("B-v0", ""): spread})
    write_runs_csv(tmp_path / "settings.csv", {("A-v0", ""): spread + 100, ("B-v0", ""): spread})
    out = tmp_path / "against_defaults"
    with contextlib.redirect_stdout(io.StringIO()):
        compare_studies.main([str(tmp_path / "settings.csv"), str(tmp_path / "defaults.csv"), "--names", "settings",
                              "defaults", "--out", str(out), *FAST])  # fmt: skip
    with open(out.with_suffix(".csv"), newline="") as f:
        rows = {r["env_id"]: r for r in csv.DictReader(f)}
    assert "variant" not in rows["A-v0"]
    assert rows["A-v0"]["verdict"].startswith("settings better than defaults"), rows["A-v0"]
    assert rows["B-v0"]["verdict"] == "no difference found"
