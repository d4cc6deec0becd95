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
when that interval excludes 0.5 and an exact permutation test of P(X > Y) = 0.5 agrees at the 5% level;
otherwise the verdict is "no difference found". Two-sided, this cannot happen with 3 seeds a side (the smallest
p-value is 2/20 = 0.1): it takes 4. The error rates of this rule, by simulation (7 minutes on 2 cores):

    python benchmark/report.py --calibrate

Measured so, for groups drawn from one distribution: with 3 seeds a side the interval alone excludes 0.5 in 20%
of pairs, with the permutation test never (two-sided) or in 4.9% (one-sided); with 5 seeds, 8.2% alone and 2.4%
with the test (two-sided).

Regression report: compare a new sweep with a baseline sweep, per env x script x protocol, asking whether the
new one is worse (the same statistics, the permutation test one-sided: possible from 3 seeds a side). It writes
regression.md and regression.csv, lists the groups present on one side only as not compared, and exits with 1
when any comparison finds the new sweep worse, 0 otherwise (a pull request's gate). Each comparison raises a
false alarm in about 5% of cases, so a report of 12 independent comparisons raises at least one in about 45%:

    python benchmark/report.py benchmark/runs/new --baseline benchmark/runs/ddpg --out benchmark/results/new
"""

import argparse
import csv
import warnings
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402
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
SCRIPT_COLUMNS = ("env_id", "protocol")  # a script comparison's groups
SWEEP_COLUMNS = ("env_id", "script", "protocol")  # a regression report's groups
CALIBRATION_COLUMNS = {
    "interval": "interval excludes 0.5",
    "comparison": "and two-sided p <= 0.05 (script comparison)",
    "interval_below": "interval below 0.5",
    "regression": "and one-sided p <= 0.05 (regression gate)",
}


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
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
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


def permutation_p(x: np.ndarray, y: np.ndarray, alternative: str) -> float:
    """p-value of the exact permutation test of P(X > Y) = 0.5, "two-sided" or "less" (X worse)."""
    test = scipy.stats.permutation_test(
        (x, y), probability_of_improvement, permutation_type="independent", alternative=alternative
    )
    return float(test.pvalue)


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


def compare_groups(x_groups: dict, y_groups: dict, columns: tuple, x: str, y: str, alternative: str, reps: int):
    """A row per group (the last column is the protocol) of X against the same group of Y, then a row per group
    found on one side only, not compared."""
    compared, not_compared = [], []
    for key in sorted(x_groups.keys() | y_groups.keys(), key=lambda k: (k[:-1], COMPARED_PROTOCOLS.index(k[-1]))):
        x_finals, y_finals = x_groups.get(key, []), y_groups.get(key, [])
        row = {**dict(zip(columns, key)), "x": x, "y": y, "x_seeds": len(x_finals), "y_seeds": len(y_finals)}
        if len(x_finals) and len(y_finals):
            stats = bootstrap_comparison(x_finals, y_finals, reps)
            stats["permutation_p"] = permutation_p(x_finals, y_finals, alternative)
            stats["direction"] = direction(stats)
            compared.append({**row, **stats, "verdict": verdict(stats, x, y)})
        else:
            not_compared.append({**row, "verdict": f"not compared: no {y if len(x_finals) else x} runs"})
    return compared + not_compared


def compare_scripts(per_run: list, reps: int = COMPARISON_SAMPLES) -> list:
    """PyTorch against JAX per env and protocol, two-sided."""
    x, y = LABELS.values()
    x_groups, y_groups = (grouped_finals([r for r in per_run if r["script"] == s], SCRIPT_COLUMNS) for s in (x, y))
    return compare_groups(x_groups, y_groups, SCRIPT_COLUMNS, x, y, "two-sided", reps)


def compare_sweeps(per_run: list, baseline_per_run: list, reps: int = COMPARISON_SAMPLES) -> list:
    """A new sweep against a baseline sweep per env, script and protocol, asking whether the new one is worse."""
    new, baseline = grouped_finals(per_run, SWEEP_COLUMNS), grouped_finals(baseline_per_run, SWEEP_COLUMNS)
    return compare_groups(new, baseline, SWEEP_COLUMNS, "NEW", "baseline", "less", reps)


def comparison_table(rows: list, columns: tuple, x: str, y: str, test: str) -> str:
    headers = [*(c.removesuffix("_id") for c in columns), f"seeds {x} vs {y}", f"P({x} > {y}) [95% CI]"]
    lines = [
        (
            f"Final returns of {x} against {y} over seeds. P({x} > {y}): the probability that a run of {x} beats a "
            f"run of {y}, and the difference of the IQMs, each with a 95% stratified-bootstrap interval (rliable); "
            f"p: exact permutation test of P({x} > {y}) = 0.5, {test}. A difference is declared when the interval "
            f"excludes 0.5 and p <= {ALPHA}."
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
                f"{r['iqm_difference']:.1f} [{r['iqm_difference_low']:.1f}, {r['iqm_difference_high']:.1f}]",
                f"{r['permutation_p']:.3g}",
            ]
        cells = [*(str(r[c]) for c in columns), f"{r['x_seeds']} vs {r['y_seeds']}", *stats, r["verdict"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_comparison(path: Path, rows: list, columns: tuple, x: str, y: str, test: str):
    """`path`.md and `path`.csv, and the table on the terminal."""
    table = comparison_table(rows, columns, x, y, test)
    path.with_suffix(".md").write_text(table)
    write_csv(path.with_suffix(".csv"), rows)
    print(table)


def calibration_verdicts(n: int, x_ranks: tuple, reps: int) -> np.ndarray:
    """The verdicts of CALIBRATION_COLUMNS when X holds these ranks among 2n pooled returns (Y the others)."""
    x, y = np.array(x_ranks, dtype=float), np.setdiff1d(np.arange(2 * n), x_ranks).astype(float)
    stats = bootstrap_comparison(x, y, reps)
    low, high = stats["probability_low"], stats["probability_high"]
    two_sided = direction({**stats, "permutation_p": permutation_p(x, y, "two-sided")})
    one_sided = direction({**stats, "permutation_p": permutation_p(x, y, "less")})
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


def print_calibration(pairs: int, reps: int, comparisons: tuple = (12, 24)):
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
    args = parser.parse_args(argv)
    if args.calibrate:
        print_calibration(args.pairs, args.bootstrap_reps)
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
        write_comparison(args.out / "regression", regression, SWEEP_COLUMNS, "NEW", "baseline", "one-sided (NEW worse)")
    print(f"{len(runs)} runs; tables, CSV and plots in {args.out}")
    for task_dir in failed:
        print(f"not in the report, failed: {task_dir} (see its log.txt)")
    return int(any(r.get("direction") == -1 for r in regression))


if __name__ == "__main__":
    raise SystemExit(main())
