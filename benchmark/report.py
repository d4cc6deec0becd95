"""Turn a sweep's TensorBoard logs into a results table (markdown and CSV) and learning-curve plots, offline.

    python benchmark/report.py benchmark/runs/quick --out benchmark/results/quick

It reads every finished run below the sweep directory (a task directory with a `done` marker, see sweep.py)
and reports, per env and script, the final return under two protocols:

- train: the mean episodic return of the training episodes (with exploration noise) that ended in the last
  10% of the run's steps;
- eval: the last deterministic evaluation (noise-free actor, the mean of its episodes; Fujimoto et al. 2018).

Over seeds: mean +- sample std, and the interquartile mean (IQM, the mean of the middle 50%) with a 95%
percentile-bootstrap confidence interval (resampling seeds, 10,000 resamples).

It also compares the PyTorch script with the JAX script per env and protocol (comparison.md, comparison.csv),
with rliable (Agarwal et al. 2021, arXiv:2108.13264): the probability of improvement P(PyTorch > JAX) (the
chance that a run of one beats a run of the other) and the difference of IQMs, each with a 95% stratified
bootstrap interval (resampling each group's seeds, --bootstrap-reps resamples). A percentile bootstrap over 3
seeds is overconfident (3 runs all above 3 others give the interval [1, 1]), so a difference is declared only
when that interval excludes 0.5 and a permutation test of P(X > Y) = 0.5 (exact up to 8 seeds a side) agrees
at the 5% level; otherwise the verdict is "no difference found". Two-sided, this cannot happen with 3
seeds a side (the smallest p-value is 2/20 = 0.1): it takes 4.

Both comparisons also have an "all envs" row per script (regression report) and protocol: the aggregate
probability of improvement of Agarwal et al., P(X > Y) averaged over the envs that both sides have, with a
stratified bootstrap interval (each side's runs resampled within each env) and a stratified permutation test
(runs exchanged between the sides within each env only; exact up to 20,000 arrangements, the product over envs
of C(n_x + n_y, n_x), otherwise 9,999 random ones with a fixed seed), under the same rule. rliable computes
these on runs x envs matrices, which need as many runs in every env; here the point estimate is rliable's
per-env P(X > Y), averaged, and the bootstrap resamples as rliable's does (each side's runs with replacement,
env by env) but with NumPy, so that envs may have different numbers of seeds. There is no IQM difference over
envs: their returns are on different scales.

Regression report: compare a new sweep with a baseline sweep, per env x script x protocol and over all envs per
script x protocol, asking whether the new one is worse (the permutation tests one-sided: possible from 3 seeds
a side). It writes regression.md and regression.csv, lists the groups present on one side only as not
compared, and exits with 1 when an "all envs" row finds the new sweep worse, 0 otherwise (a pull request's
gate): 4 decisions (2 scripts x 2 protocols), however many envs. The per-env rows stay in the report as
information but do not decide: each raises a false alarm in about 5% of cases, so among the 12 to 24 of a sweep
one does in 45-70% of reports.

    python benchmark/report.py benchmark/runs/new --baseline benchmark/runs/ddpg --out benchmark/results/new

The error rates of these rules, by simulation (9 minutes on 2 cores shared with a sweep):

    python benchmark/report.py --calibrate

Measured so, for groups drawn from one distribution: with 3 seeds a side the interval alone excludes 0.5 in 20%
of pairs, with the permutation test never (two-sided) or in 4.9% (one-sided); with 5 seeds, 8.2% alone and 2.4%
with the test (two-sided). The gate, on 4 envs with NEW shifted by the same amount on every env (500 simulated
pairs of sweeps a setting): with 3 seeds a side it fails 4.0% of unchanged sweeps, 19.6% of sweeps worse by
0.5 sd and 57.0% of sweeps worse by 1 sd; with 5 seeds, 3.2%, 34.0% and 84.0%. Any of the 4 per-env rows of
the same comparison finds an unchanged sweep worse in 17.8%. So a report's 4 gate decisions raise at least one
false alarm in about 15% (3 seeds) or 12% (5 seeds) of unchanged pull requests, at most (were they independent).
"""

import argparse
import csv
import itertools
import math
import warnings
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from rliable import library, metrics  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

LABELS = {"ddpg_continuous_action": "PyTorch", "ddpg_continuous_action_jax": "JAX"}
PROTOCOLS = {"train": "charts/episodic_return", "eval": "eval/episodic_return"}
TITLES = {"train": "training episodes (with exploration noise)", "eval": "deterministic evaluation (no noise)"}
FINAL_SHARE = 0.1  # the train protocol averages the episodes of the last 10% of steps
CURVE_POINTS = 50
BOOTSTRAP_SAMPLES = 10_000
COMPARISON_SAMPLES = 2_000  # rliable's bootstrap computes the metrics once per resample in Python: ~1 s a comparison
COMPARED_PROTOCOLS = ("eval", "train")  # the order of the comparison rows
ALPHA = 0.05  # the level at which a comparison declares a difference
ALL_ENVS = "all envs"  # the env of an aggregate row, over the envs that both sides have
EXACT_ARRANGEMENTS = 20_000  # up to this many arrangements of the runs, the permutation test tries them all
PERMUTATIONS = 9_999  # otherwise it draws this many (fixed seed)
TOLERANCE = 1e-9  # a statistic within this of the observed one counts as equal
SCRIPT_COLUMNS = ("env_id", "protocol")  # a script comparison's groups
SWEEP_COLUMNS = ("env_id", "script", "protocol")  # a regression report's groups
CALIBRATION_COLUMNS = {
    "interval": "interval excludes 0.5",
    "comparison": "and two-sided p <= 0.05 (script comparison)",
    "interval_below": "interval below 0.5",
    "regression": "and one-sided p <= 0.05 (regression gate)",
}
GATE_NOTE = (
    f' The gate (the exit code) is decided by the "{ALL_ENVS}" rows only, one per script and protocol: it fails '
    "when one finds NEW worse. The per-env rows are information: each raises a false alarm in about 5% of cases, "
    "so among many one often does."
)
GATE_COLUMNS = {"gate": "gate: the all-envs row finds NEW worse", "any_env": "a per-env row finds NEW worse"}


def read_run(run_dir: Path) -> dict:
    """{protocol: (steps, returns)} of one run, from its event files."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    tags = events.Tags()["scalars"]
    return {
        protocol: (np.array([e.step for e in events.Scalars(tag)]), np.array([e.value for e in events.Scalars(tag)]))
        for protocol, tag in PROTOCOLS.items()
        if tag in tags
    }


def find_runs(sweep: Path) -> list:
    """(script, env_id, seed, run_dir) of every finished run: task directories OUT/[...]/{script}/{env}/seed{N}/."""
    runs = []
    for done in sorted(sweep.rglob("done")):
        task_dir = done.parent
        run_dir = task_dir / "runs" / done.read_text().strip()
        runs.append((task_dir.parent.parent.name, task_dir.parent.name, int(task_dir.name[len("seed") :]), run_dir))
    return runs


def final_return(protocol: str, steps: np.ndarray, returns: np.ndarray, total_steps: int) -> float:
    if protocol == "eval":
        return float(returns[np.argmax(steps)])
    late = steps >= (1 - FINAL_SHARE) * total_steps
    return float(returns[late].mean() if late.any() else returns[np.argmax(steps)])


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: drop the lowest and highest quarter (rounded down) and average the rest."""
    values = np.sort(values)
    cut = int(0.25 * len(values))
    return float(values[cut : len(values) - cut].mean())


def bootstrap_ci(values: np.ndarray, statistic, seed: int = 0) -> tuple:
    """95% percentile-bootstrap confidence interval of `statistic` over resampled seeds."""
    rng = np.random.default_rng(seed)
    resamples = rng.choice(values, size=(BOOTSTRAP_SAMPLES, len(values)), replace=True)
    estimates = np.array([statistic(sample) for sample in resamples])
    low, high = np.percentile(estimates, [2.5, 97.5])
    return float(low), float(high)


def final_returns(runs: list) -> list:
    """One row per run and protocol: its final return (the raw data behind the table)."""
    rows = []
    for env_id, script in sorted({(env, script) for script, env, _, _ in runs}):
        group = [(seed, run_dir, read_run(run_dir)) for s, env, seed, run_dir in runs if (s, env) == (script, env_id)]
        total_steps = max(int(steps.max()) for _, _, run in group for steps, _ in run.values())
        for protocol in PROTOCOLS:
            for seed, run_dir, run in sorted(group, key=lambda item: item[0]):
                if protocol in run:
                    final = final_return(protocol, *run[protocol], total_steps)
                    label = LABELS.get(script, script)
                    row = {"env_id": env_id, "script": label, "protocol": protocol, "seed": seed, "steps": total_steps}
                    rows.append({**row, "final_return": final, "run_dir": str(run_dir)})
    return rows


def summarise(per_run: list) -> list:
    """One row per env x script x protocol with the statistics over seeds."""
    rows = []
    for env_id, script, protocol in dict.fromkeys((r["env_id"], r["script"], r["protocol"]) for r in per_run):
        group = [r for r in per_run if (r["env_id"], r["script"], r["protocol"]) == (env_id, script, protocol)]
        finals = np.array([r["final_return"] for r in group])
        low, high = bootstrap_ci(finals, iqm)
        rows.append({
            "env_id": env_id, "script": script, "protocol": protocol, "seeds": len(finals),
            "steps": group[0]["steps"], "mean": finals.mean(), "std": finals.std(ddof=1) if len(finals) > 1 else 0.0,
            "iqm": iqm(finals), "iqm_ci_low": low, "iqm_ci_high": high,
        })  # fmt: skip
    return rows


def curve(protocol: str, steps: np.ndarray, returns: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A run's return on a common grid of env steps: for training episodes the mean of those ending in each
    grid interval (carried forward through empty ones), for evaluations the latest evaluation at that step."""
    order = np.argsort(steps)
    steps, returns = steps[order], returns[order]
    values = np.full(len(grid), np.nan)
    for i, (start, end) in enumerate(zip(np.concatenate([[-1], grid[:-1]]), grid)):
        if protocol == "train" and ((steps > start) & (steps <= end)).any():
            values[i] = returns[(steps > start) & (steps <= end)].mean()
        elif protocol == "eval" and (steps <= end).any():
            values[i] = returns[steps <= end][-1]
        elif i > 0:
            values[i] = values[i - 1]
    return values


def mean_band(curves: np.ndarray, seed: int = 0) -> tuple:
    """Mean over seeds per grid point, and its 95% bootstrap confidence band."""
    rng = np.random.default_rng(seed)
    resamples = rng.integers(0, len(curves), size=(1000, len(curves)))
    with warnings.catch_warnings():  # grid points before a run's first episode or evaluation are NaN: no line there
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(curves[resamples], axis=1)
        return np.nanmean(curves, axis=0), np.nanpercentile(means, 2.5, axis=0), np.nanpercentile(means, 97.5, axis=0)


def plot_env(env_id: str, runs: list, path: Path):
    """Learning curves of one env: a panel per protocol, a line per script (mean over seeds, 95% CI band)."""
    data = {(script, seed): read_run(run_dir) for script, env, seed, run_dir in runs if env == env_id}
    protocols = [p for p in PROTOCOLS if any(p in run for run in data.values())]
    total_steps = max(int(steps.max()) for run in data.values() for steps, _ in run.values())
    grids = {
        "train": np.linspace(total_steps / CURVE_POINTS, total_steps, CURVE_POINTS),
        "eval": np.unique(np.concatenate([run["eval"][0] for run in data.values() if "eval" in run] or [[]])),
    }
    fig, axes = plt.subplots(1, len(protocols), figsize=(5.5 * len(protocols), 4), squeeze=False)
    for ax, protocol in zip(axes[0], protocols):
        grid = grids[protocol]
        for script in sorted({script for script, _ in data}):
            curves = np.array(
                [
                    curve(protocol, *run[protocol], grid)
                    for (s, _), run in data.items()
                    if s == script and protocol in run
                ]
            )
            if len(curves) == 0:
                continue
            mean, low, high = mean_band(curves)
            label = f"{LABELS.get(script, script)} ({len(curves)} seeds)"
            (line,) = ax.plot(grid, mean, label=label)
            ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_title(TITLES[protocol], fontsize=10)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("episodic return")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9, loc="best")
    fig.suptitle(f"DDPG on {env_id}: mean over seeds, shaded 95% bootstrap CI", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_csv(path: Path, rows: list):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(key for row in rows for key in row)))
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows: list) -> str:
    lines = [
        "| env | script | protocol | seeds | steps | mean +- std | IQM [95% CI] |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['env_id']} | {r['script']} | {r['protocol']} | {r['seeds']} | {r['steps']:,} "
            f"| {r['mean']:.1f} +- {r['std']:.1f} | {r['iqm']:.1f} [{r['iqm_ci_low']:.1f}, {r['iqm_ci_high']:.1f}] |"
        )
    return "\n".join(lines) + "\n"


def improvement_and_iqm_difference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) and IQM(X) - IQM(Y) of two (runs x 1) score matrices, with rliable's metrics."""
    return np.array([metrics.probability_of_improvement(x, y), metrics.aggregate_iqm(x) - metrics.aggregate_iqm(y)])


def bootstrap_comparison(x: np.ndarray, y: np.ndarray, reps: int = COMPARISON_SAMPLES, seed: int = 0) -> dict:
    """P(X > Y) and IQM(X) - IQM(Y) of final returns over seeds, each with its 95% stratified-bootstrap interval."""
    np.random.seed(seed)  # rliable's bootstrap draws from NumPy's global generator
    points, intervals = library.get_interval_estimates(
        {"x-y": [x[:, None], y[:, None]]}, improvement_and_iqm_difference, reps=reps
    )
    (probability, difference), (low, high) = points["x-y"], intervals["x-y"]
    return {
        "probability_of_improvement": probability, "probability_low": low[0], "probability_high": high[0],
        "iqm_difference": difference, "iqm_difference_low": low[1], "iqm_difference_high": high[1],
    }  # fmt: skip


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """rliable's P(X > Y) of two groups of final returns (1-d arrays)."""
    return metrics.probability_of_improvement(x[:, None], y[:, None])


def improvements(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) of each row of x against the same row of y (resamples or arrangements of two groups' runs): the
    share of pairs of runs in which X's is higher, a tie counting half, as rliable's (scipy's Mann-Whitney U)."""
    return 0.5 + 0.5 * np.sign(x[..., :, None] - y[..., None, :]).mean(axis=(-2, -1))


def aggregate_improvement(xs: list, ys: list, reps: int = COMPARISON_SAMPLES, seed: int = 0) -> dict:
    """rliable's P(X > Y) averaged over envs (xs[e], ys[e]: the final returns of env e), and its 95% stratified-
    bootstrap interval: each resample draws, with replacement, X's runs and Y's runs within each env, as rliable's
    get_interval_estimates does for a runs x envs matrix. Done here, so that envs may have different numbers of
    runs (a matrix may not), and vectorised (a resample costs microseconds, not a millisecond)."""
    rng = np.random.default_rng(seed)
    resamples = [improvements(rng.choice(x, (reps, len(x))), rng.choice(y, (reps, len(y)))) for x, y in zip(xs, ys)]
    low, high = np.percentile(np.mean(resamples, axis=0), [2.5, 97.5])
    point = np.mean([probability_of_improvement(x, y) for x, y in zip(xs, ys)])
    return {"probability_of_improvement": point, "probability_low": low, "probability_high": high}


def permutation_p(xs: list, ys: list, alternative: str) -> float:
    """p-value of the permutation test of P(X > Y) averaged over envs = 0.5 (xs[e], ys[e]: the final returns of env
    e; one env: of P(X > Y) = 0.5), "two-sided" or "less" (X worse). Runs are exchanged between X and Y within each
    env only (stratified). Exact when the arrangements, the product over envs of C(n_x + n_y, n_x), are at most
    EXACT_ARRANGEMENTS; otherwise PERMUTATIONS random ones (fixed seed) and the observed one (Monte Carlo), as
    scipy.stats.permutation_test does."""
    rng = np.random.default_rng(0)
    exact = math.prod(math.comb(len(x) + len(y), len(x)) for x, y in zip(xs, ys)) <= EXACT_ARRANGEMENTS
    per_env = []  # P(X > Y) of each arrangement of each env's runs
    for x, y in zip(xs, ys):
        pooled, runs = np.concatenate([x, y]), range(len(x) + len(y))
        if exact:
            orders = np.array([[*c, *sorted(set(runs) - set(c))] for c in itertools.combinations(runs, len(x))])
        else:
            orders = rng.permuted(np.tile(runs, (PERMUTATIONS, 1)), axis=1)
        per_env.append(improvements(pooled[orders[:, : len(x)]], pooled[orders[:, len(x) :]]))
    null = sum(np.ix_(*per_env)).ravel() / len(per_env) if exact else np.mean(per_env, axis=0)
    observed, added = np.mean([improvements(x, y) for x, y in zip(xs, ys)]), int(not exact)
    less = (np.sum(null <= observed + TOLERANCE) + added) / (len(null) + added)
    greater = (np.sum(null >= observed - TOLERANCE) + added) / (len(null) + added)
    return float(less if alternative == "less" else min(1.0, 2 * min(less, greater)))


def direction(stats: dict) -> int:
    """1 when X is found better than Y, -1 when worse, 0 when no difference is found: the 95% interval of P(X > Y)
    must exclude 0.5 and the permutation test agree at level ALPHA."""
    if stats["permutation_p"] > ALPHA:
        return 0
    return int(stats["probability_low"] > 0.5) - int(stats["probability_high"] < 0.5)


def verdict(stats: dict, x: str, y: str) -> str:
    if stats["direction"] == 0:
        return "no difference found"
    return (
        f"{x} {'better' if stats['direction'] > 0 else 'worse'} than {y}: "
        f"P({x} > {y}) = {stats['probability_of_improvement']:.2f} "
        f"[{stats['probability_low']:.2f}, {stats['probability_high']:.2f}], p = {stats['permutation_p']:.3g}"
    )


def grouped_finals(per_run: list, columns: tuple) -> dict:
    """{values of `columns`: final returns over seeds}, from the rows of final_returns."""
    groups = {}
    for r in per_run:
        groups.setdefault(tuple(r[c] for c in columns), []).append(r["final_return"])
    return {key: np.array(finals) for key, finals in groups.items()}


def group_order(key: tuple) -> tuple:
    return key[:-1], COMPARED_PROTOCOLS.index(key[-1])


def compare_groups(x_groups: dict, y_groups: dict, columns: tuple, x: str, y: str, alternative: str, reps: int):
    """A row per group (the first column is the env, the last the protocol) of X against the same group of Y,
    preceded by the aggregate rows: per group of the other columns, over the envs that both X and Y have
    (env_id ALL_ENVS, seeds summed over those envs), and followed by a row per group found on one side only, not
    compared. A row of one env has rliable's statistics with the IQM difference, one of several the aggregate P."""
    common = sorted(x_groups.keys() & y_groups.keys(), key=group_order)
    one_side = sorted(x_groups.keys() ^ y_groups.keys(), key=group_order)
    aggregates = {}  # the envs of each aggregate row, in the rows' order
    for key in sorted(common, key=lambda k: group_order(k[1:])):
        aggregates.setdefault((ALL_ENVS, *key[1:]), []).append(key)
    rows = []
    for key, keys in [*aggregates.items(), *((k, [k]) for k in common + one_side)]:
        xs, ys = [x_groups.get(k, []) for k in keys], [y_groups.get(k, []) for k in keys]
        row = {**dict(zip(columns, key)), "x": x, "y": y, "x_seeds": sum(map(len, xs)), "y_seeds": sum(map(len, ys))}
        if key in one_side:
            rows.append({**row, "verdict": f"not compared: no {y if row['x_seeds'] else x} runs"})
            continue
        stats = bootstrap_comparison(xs[0], ys[0], reps) if len(keys) == 1 else aggregate_improvement(xs, ys, reps)
        stats["permutation_p"] = permutation_p(xs, ys, alternative)
        stats["direction"] = direction(stats)
        rows.append({**row, **stats, "verdict": verdict(stats, x, y)})
    return rows


def compare_scripts(per_run: list, reps: int = COMPARISON_SAMPLES) -> list:
    """PyTorch against JAX per env and protocol, two-sided."""
    x, y = LABELS.values()
    x_groups, y_groups = (grouped_finals([r for r in per_run if r["script"] == s], SCRIPT_COLUMNS) for s in (x, y))
    return compare_groups(x_groups, y_groups, SCRIPT_COLUMNS, x, y, "two-sided", reps)


def compare_sweeps(per_run: list, baseline_per_run: list, reps: int = COMPARISON_SAMPLES) -> list:
    """A new sweep against a baseline sweep per env, script and protocol, asking whether the new one is worse."""
    new, baseline = grouped_finals(per_run, SWEEP_COLUMNS), grouped_finals(baseline_per_run, SWEEP_COLUMNS)
    return compare_groups(new, baseline, SWEEP_COLUMNS, "NEW", "baseline", "less", reps)


def comparison_table(rows: list, columns: tuple, x: str, y: str, test: str, note: str = "") -> str:
    headers = [*(c.removesuffix("_id") for c in columns), f"seeds {x} vs {y}", f"P({x} > {y}) [95% CI]"]
    lines = [
        (
            f"Final returns of {x} against {y} over seeds. P({x} > {y}): the probability that a run of {x} beats a "
            f"run of {y}, and the difference of the IQMs, each with a 95% stratified-bootstrap interval (rliable); "
            f"p: permutation test of P({x} > {y}) = 0.5, {test}. A difference is declared when the interval "
            f'excludes 0.5 and p <= {ALPHA}. Rows "{ALL_ENVS}": P({x} > {y}) averaged over the envs that both '
            f"have (rliable's aggregate probability of improvement; seeds summed over those envs), its interval "
            f"resampling runs within each env, p exchanging runs within each env only.{note}"
        ),
        "",
        "| " + " | ".join([*headers, f"IQM {x} - {y} [95% CI]", "p", "verdict"]) + " |",
        "| --- " * (len(headers) + 3) + "|",
    ]
    for r in rows:
        stats = ["", "", ""]
        if "permutation_p" in r:
            stats = [
                f"{r['probability_of_improvement']:.2f} [{r['probability_low']:.2f}, {r['probability_high']:.2f}]",
                f"{r['iqm_difference']:.1f} [{r['iqm_difference_low']:.1f}, {r['iqm_difference_high']:.1f}]"
                if "iqm_difference" in r
                else "",  # no IQM over envs: their returns are on different scales
                f"{r['permutation_p']:.3g}",
            ]
        cells = [*(str(r[c]) for c in columns), f"{r['x_seeds']} vs {r['y_seeds']}", *stats, r["verdict"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_comparison(path: Path, rows: list, columns: tuple, x: str, y: str, test: str, note: str = ""):
    """`path`.md and `path`.csv, and the table on the terminal."""
    table = comparison_table(rows, columns, x, y, test, note)
    path.with_suffix(".md").write_text(table)
    write_csv(path.with_suffix(".csv"), rows)
    print(table)


def gate(regression: list) -> int:
    """The exit code of a regression report: 1 when an aggregate row (one per script and protocol) finds the new
    sweep worse, 0 otherwise. The per-env rows do not count."""
    return int(any(r["env_id"] == ALL_ENVS and r.get("direction") == -1 for r in regression))


def calibration_verdicts(n: int, x_ranks: tuple, reps: int) -> np.ndarray:
    """The verdicts of CALIBRATION_COLUMNS when X holds these ranks among 2n pooled returns (Y the others)."""
    x, y = np.array(x_ranks, dtype=float), np.setdiff1d(np.arange(2 * n), x_ranks).astype(float)
    stats = bootstrap_comparison(x, y, reps)
    low, high = stats["probability_low"], stats["probability_high"]
    two_sided = direction({**stats, "permutation_p": permutation_p([x], [y], "two-sided")})
    one_sided = direction({**stats, "permutation_p": permutation_p([x], [y], "less")})
    return np.array([not low <= 0.5 <= high, two_sided != 0, high < 0.5, one_sided < 0])


def calibrate(pairs: int = 2000, seeds: tuple = (3, 5), shifts: tuple = (0.0, 1.0, 2.0), reps=COMPARISON_SAMPLES):
    """The share of `pairs` simulated pairs of groups of `seeds` runs, X drawn from N(-shift, 1) and Y from N(0, 1),
    in which each verdict of CALIBRATION_COLUMNS declares a difference. P(X > Y), its bootstrap and the permutation
    test depend only on the order of the pooled returns, so each order (20 for 3 vs 3, 252 for 5 vs 5) is compared
    once, on its ranks."""
    rng = np.random.default_rng(0)
    rows = []
    for n in seeds:
        verdicts = {}  # by the ranks of X among the pooled returns
        for shift in shifts:
            found = np.zeros(len(CALIBRATION_COLUMNS))
            for _ in range(pairs):
                pooled = np.concatenate([rng.normal(-shift, 1.0, n), rng.normal(0.0, 1.0, n)])
                x_ranks = tuple(np.sort(np.argsort(np.argsort(pooled))[:n]).tolist())
                if x_ranks not in verdicts:
                    verdicts[x_ranks] = calibration_verdicts(n, x_ranks, reps)
                found += verdicts[x_ranks]
            rows.append({"seeds": n, "shift": shift, **dict(zip(CALIBRATION_COLUMNS, found / pairs))})
    return rows


def finds_worse(xs: list, ys: list, reps: int) -> bool:
    """Whether the aggregate comparison of X with Y (xs[e], ys[e]: the final returns of env e) finds X worse."""
    stats = aggregate_improvement(xs, ys, reps)
    return direction({**stats, "permutation_p": permutation_p(xs, ys, "less")}) < 0


def calibrate_gate(pairs: int = 500, envs: int = 4, seeds=(3, 5), shifts=(0.0, 0.5, 1.0), reps=COMPARISON_SAMPLES):
    """The share of `pairs` simulated pairs of sweeps of `envs` envs x `seeds` runs a side, NEW drawn from
    N(-shift, 1) and the baseline from N(0, 1) in every env, in which the gate (the aggregate row) finds NEW worse,
    and in which any of the per-env rows does (each with the aggregate's bootstrap over one env: rliable's
    resampling, vectorised)."""
    rng = np.random.default_rng(0)
    rows = []
    for n in seeds:
        for shift in shifts:
            found = np.zeros(len(GATE_COLUMNS))
            for _ in range(pairs):
                new, baseline = rng.normal(-shift, 1.0, (envs, n)), rng.normal(0.0, 1.0, (envs, n))
                per_env = any(finds_worse([x], [y], reps) for x, y in zip(new, baseline))
                found += [finds_worse(list(new), list(baseline), reps), per_env]
            rows.append({"envs": envs, "seeds": n, "shift": shift, **dict(zip(GATE_COLUMNS, found / pairs))})
    return rows


def print_calibration(pairs: int, reps: int, gate_pairs: int, comparisons: tuple = (12, 24), gates: int = 4):
    rows = calibrate(pairs, reps=reps)
    print(f"Share of {pairs:,} simulated pairs of groups, X from N(-shift, 1) and Y from N(0, 1), in which the")
    print(f"comparison declares a difference ({reps:,} bootstrap resamples; shift 0: the false-positive rate).\n")
    print("| seeds a side | shift (sd) | " + " | ".join(CALIBRATION_COLUMNS.values()) + " |")
    print("| --- " * (2 + len(CALIBRATION_COLUMNS)) + "|")
    for r in rows:
        print(f"| {r['seeds']} | {r['shift']:g} | " + " | ".join(f"{r[c]:.1%}" for c in CALIBRATION_COLUMNS) + " |")
    print("\nThe chance that a regression report of K independent comparisons raises at least one false alarm:")
    for r in (r for r in rows if r["shift"] == 0):
        chances = ", ".join(f"K={k}: {1 - (1 - r['regression']) ** k:.0%}" for k in comparisons)
        print(f"{r['seeds']} seeds a side: {chances}")
    rows = calibrate_gate(gate_pairs, reps=reps)
    print(f"\nThe regression gate: share of {gate_pairs:,} simulated pairs of sweeps, NEW from N(-shift, 1) and the")
    print(f"baseline from N(0, 1) in each of {rows[0]['envs']} envs, in which the gate (the all-envs row) finds NEW")
    print(f"worse, and in which any per-env row does ({reps:,} bootstrap resamples, {PERMUTATIONS:,} permutations).\n")
    print("| envs | seeds a side | shift (sd) | " + " | ".join(GATE_COLUMNS.values()) + " |")
    print("| --- " * (3 + len(GATE_COLUMNS)) + "|")
    for r in rows:
        cells = " | ".join(f"{r[c]:.1%}" for c in GATE_COLUMNS)
        print(f"| {r['envs']} | {r['seeds']} | {r['shift']:g} | {cells} |")
    print(f"\nThe chance that a regression report's {gates} gate comparisons (2 scripts x 2 protocols) raise at least")
    print("one false alarm, were they independent (train and eval come from the same runs, so it is less):")
    for r in (r for r in rows if r["shift"] == 0):
        print(f"{r['seeds']} seeds a side: {1 - (1 - r['gate']) ** gates:.0%}")


def no_runs(sweeps: list) -> int:
    print(f"error: no finished runs under {', '.join(map(str, sweeps))}; run a sweep first")
    return 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", type=Path, nargs="*", help="sweep directories (as given to sweep.py --out)")
    parser.add_argument("--out", type=Path, help="where the tables, CSV and plots go")
    parser.add_argument("--baseline", type=Path, help="a baseline sweep: also write the regression report against it")
    parser.add_argument("--bootstrap-reps", type=int, default=COMPARISON_SAMPLES, help="resamples of a comparison")
    parser.add_argument("--calibrate", action="store_true", help="print the comparison's error rates (simulation)")
    parser.add_argument("--pairs", type=int, default=2000, help="pairs of groups that --calibrate simulates")
    parser.add_argument("--gate-pairs", type=int, default=500, help="pairs of sweeps per setting, for the gate")
    args = parser.parse_args(argv)
    if args.calibrate:
        print_calibration(args.pairs, args.bootstrap_reps, args.gate_pairs)
        return 0
    if not args.sweeps or args.out is None:
        parser.error("give the sweep directories and --out, or --calibrate")
    runs = [run for sweep in args.sweeps for run in find_runs(sweep)]
    failed = sorted(str(marker.parent) for sweep in args.sweeps for marker in sweep.rglob("failed"))
    if not runs:
        return no_runs(args.sweeps)
    baseline_runs = find_runs(args.baseline) if args.baseline else None
    if baseline_runs == []:
        return no_runs([args.baseline])
    args.out.mkdir(parents=True, exist_ok=True)
    per_run = final_returns(runs)
    rows = summarise(per_run)
    write_csv(args.out / "runs.csv", per_run)
    write_csv(args.out / "results.csv", rows)
    (args.out / "results.md").write_text(markdown_table(rows))
    for env_id in sorted({env for _, env, _, _ in runs}):
        plot_env(env_id, runs, args.out / f"{env_id}.png")
    print(markdown_table(rows))
    comparison = compare_scripts(per_run, args.bootstrap_reps)
    write_comparison(args.out / "comparison", comparison, SCRIPT_COLUMNS, *LABELS.values(), "two-sided")
    regression = []
    if args.baseline:
        regression = compare_sweeps(per_run, final_returns(baseline_runs), args.bootstrap_reps)
        test = "one-sided (NEW worse)"
        write_comparison(args.out / "regression", regression, SWEEP_COLUMNS, "NEW", "baseline", test, GATE_NOTE)
    print(f"{len(runs)} runs; tables, CSV and plots in {args.out}")
    for task_dir in failed:
        print(f"not in the report, failed: {task_dir} (see its log.txt)")
    return gate(regression)


if __name__ == "__main__":
    raise SystemExit(main())
