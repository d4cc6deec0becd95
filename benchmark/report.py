"""Turn a sweep's TensorBoard logs into a results table (markdown and CSV) and learning-curve plots, offline.

    python benchmark/report.py benchmark/runs/quick --out benchmark/results/quick

It reads every finished run below the sweep directory (a task directory with a `done` marker, see sweep.py)
and reports, per env and script, the final return under two protocols:

- train: the mean episodic return of the training episodes (with exploration noise) that ended in the last
  10% of the run's steps;
- eval: the last deterministic evaluation (noise-free actor, the mean of its episodes; Fujimoto et al. 2018).

Over seeds: mean +- sample std, and the interquartile mean (IQM, the mean of the middle 50%) with a 95%
percentile-bootstrap confidence interval (resampling seeds, 10,000 resamples).
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
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

LABELS = {"ddpg_continuous_action": "PyTorch", "ddpg_continuous_action_jax": "JAX"}
PROTOCOLS = {"train": "charts/episodic_return", "eval": "eval/episodic_return"}
TITLES = {"train": "training episodes (with exploration noise)", "eval": "deterministic evaluation (no noise)"}
FINAL_SHARE = 0.1  # the train protocol averages the episodes of the last 10% of steps
CURVE_POINTS = 50
BOOTSTRAP_SAMPLES = 10_000


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
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", type=Path, nargs="+", help="sweep directories (as given to sweep.py --out)")
    parser.add_argument("--out", type=Path, required=True, help="where the table, CSV and plots go")
    args = parser.parse_args(argv)
    runs = [run for sweep in args.sweeps for run in find_runs(sweep)]
    failed = sorted(str(marker.parent) for sweep in args.sweeps for marker in sweep.rglob("failed"))
    if not runs:
        print(f"error: no finished runs under {', '.join(map(str, args.sweeps))}; run a sweep first")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    per_run = final_returns(runs)
    rows = summarise(per_run)
    write_csv(args.out / "runs.csv", per_run)
    write_csv(args.out / "results.csv", rows)
    (args.out / "results.md").write_text(markdown_table(rows))
    for env_id in sorted({env for _, env, _, _ in runs}):
        plot_env(env_id, runs, args.out / f"{env_id}.png")
    print(markdown_table(rows))
    print(f"{len(runs)} runs; table, CSV and plots in {args.out}")
    for task_dir in failed:
        print(f"not in the report, failed: {task_dir} (see its log.txt)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
