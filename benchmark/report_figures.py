"""The figures of benchmark/report.py: the learning curves of each env (a panel per protocol, a line per
variant x script: the mean over seeds, shaded the range of the seeds [min, max]) and, for a sweep with variants,
rliable's aggregate IQM and performance profiles on final returns normalised per env."""

import warnings
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from rliable import library, metrics, plot_utils  # noqa: E402

from report_runs import PROTOCOLS, has_variants, read_run  # noqa: E402

TITLES = {"train": "training episodes (with exploration noise)", "eval": "deterministic evaluation (no noise)"}
CURVE_POINTS = 50
BAND = "line: mean over seeds; shaded: [min, max] of the seeds"  # the legend's title: what the band is
LINE_STYLES = ("-", "--", ":", "-.")  # one per script, when the colours tell the variants apart
TAUS = np.linspace(0.0, 1.0, 101)  # the thresholds of a performance profile, on normalised scores
FIGURES = {"iqm": "aggregate_iqm.png", "profile": "performance_profiles.png"}
NORMALISATION = (
    "final returns normalised per env and protocol: (return - min) / (max - min) over all runs of that env in this "
    "report (0: its worst run, 1: its best)"
)


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


def mean_band(curves: np.ndarray) -> tuple:
    """Mean over seeds per grid point, and the range of the seeds there [min, max]: what the tables give beside
    their IQM (with 3 seeds a 95% percentile bootstrap of the mean is exactly this range, so none is claimed)."""
    with warnings.catch_warnings():  # grid points before a run's first episode or evaluation are NaN: no line there
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(curves, axis=0), np.nanmin(curves, axis=0), np.nanmax(curves, axis=0)


def group_name(variant: str, script: str) -> str:
    """A curve's or a figure row's name: the variant (if any) and the script."""
    return ", ".join(part for part in (variant, script) if part)


def group_styles(per_run: list) -> dict:
    """{(variant, script): line colour and style}, the same in every figure: with variants a colour per variant
    and a line style per script, so that 3 variants x 2 scripts stay readable; without, a colour per script."""
    groups = list(dict.fromkeys((r["variant"], r["script"]) for r in per_run))
    variants, scripts = list(dict.fromkeys(v for v, _ in groups)), list(dict.fromkeys(s for _, s in groups))
    styles = {}
    for variant, script in groups:
        colour = variants.index(variant) if has_variants(per_run) else scripts.index(script)
        style = LINE_STYLES[scripts.index(script) % len(LINE_STYLES)] if has_variants(per_run) else "-"
        styles[variant, script] = {"color": f"C{colour % 10}", "linestyle": style}
    return styles


def plot_env(env_id: str, per_run: list, styles: dict, path: Path):
    """Learning curves of one env: a panel per protocol, a line per variant x script (mean over seeds, shaded the
    range of the seeds [min, max]), of the runs in the table (a run left out of a protocol is left out of its panel
    too)."""
    rows = [r for r in per_run if r["env_id"] == env_id]
    data = {run_dir: read_run(Path(run_dir)) for run_dir in dict.fromkeys(r["run_dir"] for r in rows)}
    protocols = [p for p in PROTOCOLS if any(r["protocol"] == p for r in rows)]
    total_steps = max(r["steps"] for r in rows)
    evaluations = [data[r["run_dir"]]["eval"][0] for r in rows if r["protocol"] == "eval"]
    grids = {
        "train": np.linspace(total_steps / CURVE_POINTS, total_steps, CURVE_POINTS),
        "eval": np.unique(np.concatenate(evaluations or [[]])),
    }
    crowded = len(styles) > 4  # lighter bands and a smaller legend, so that 3 variants x 2 scripts stay readable
    fig, axes = plt.subplots(1, len(protocols), figsize=(5.5 * len(protocols), 4), squeeze=False)
    for ax, protocol in zip(axes[0], protocols):
        grid, lines = grids[protocol], [r for r in rows if r["protocol"] == protocol]
        for group in dict.fromkeys((r["variant"], r["script"]) for r in lines):
            runs = [data[r["run_dir"]][protocol] for r in lines if (r["variant"], r["script"]) == group]
            mean, low, high = mean_band(np.array([curve(protocol, *run, grid) for run in runs]))
            seeds = f"{len(runs)} seed{'s' * (len(runs) != 1)}"
            ax.plot(grid, mean, label=f"{group_name(*group)} ({seeds})", **styles[group])
            ax.fill_between(grid, low, high, color=styles[group]["color"], alpha=0.12 if crowded else 0.2, linewidth=0)
        ax.set_title(TITLES[protocol], fontsize=10)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("episodic return")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7 if crowded else 9, loc="best", title=BAND, title_fontsize=7 if crowded else 8)
    fig.suptitle(f"DDPG on {env_id}: mean over seeds, shaded the range of the seeds [min, max]", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def score_matrices(per_run: list, protocol: str) -> tuple:
    """{(variant, script): runs x envs matrix of normalised final returns} under one protocol, for rliable, whose
    matrices need as many runs in every cell: the envs that every group has, and in each the first n seeds of
    every group, n the fewest any group has in any of those envs. Also those envs and n."""
    rows = [r for r in per_run if r["protocol"] == protocol]
    scores = {}  # {group: {env: normalised final returns, by seed}}
    for env_id in sorted({r["env_id"] for r in rows}):
        finals = [r["final_return"] for r in rows if r["env_id"] == env_id]
        low, span = min(finals), max(finals) - min(finals)
        for r in (r for r in rows if r["env_id"] == env_id):
            score = (r["final_return"] - low) / span if span > 0 else 0.5  # one value only: the middle
            scores.setdefault((r["variant"], r["script"]), {}).setdefault(env_id, []).append(score)
    envs = sorted(set.intersection(*(set(by_env) for by_env in scores.values()))) if scores else []
    n = min((len(scores[group][env_id]) for group in scores for env_id in envs), default=0)
    return {group: np.array([by_env[env_id][:n] for env_id in envs]).T for group, by_env in scores.items()}, envs, n


def aggregate_figures(per_run: list, styles: dict, out: Path, reps: int) -> str:
    """rliable's figures of the groups (variant x script) over all envs, when there are two or more to compare:
    FIGURES["iqm"] and FIGURES["profile"]. Returns the note that says what they show, "" when there is nothing to
    compare."""
    protocols = [p for p in PROTOCOLS if any(r["protocol"] == p for r in per_run)]
    matrices = {protocol: score_matrices(per_run, protocol) for protocol in protocols}
    groups = [g for g in styles if all(g in matrices[p][0] and matrices[p][2] > 0 for p in protocols)]
    if len(groups) < 2:
        return ""
    scores = {p: {group_name(*g): matrices[p][0][g] for g in groups} for p in protocols}
    named_styles = {group_name(*g): styles[g] for g in groups}
    shapes = "; ".join(f"{p}: {matrices[p][2]} runs x {len(matrices[p][1])} envs" for p in protocols)
    plot_profiles(scores, named_styles, out / FIGURES["profile"], reps, shapes)
    plot_iqms(scores, named_styles, out / FIGURES["iqm"], reps, shapes)
    return (
        f"{FIGURES['iqm']} (IQM, 95% stratified-bootstrap intervals) and {FIGURES['profile']} (performance "
        f"profiles), per variant x script: {NORMALISATION}. rliable needs as many runs of every group in every env: "
        f"the figures take the envs that all groups have and, in each, every group's first seeds, as many as the "
        f"fewest any group has in any of them ({shapes}); other runs are in the tables only."
    )


def plot_profiles(scores: dict, styles: dict, path: Path, reps: int, shapes: str):
    """Performance profiles (the share of runs above each normalised score, 95% stratified-bootstrap band), a
    panel per protocol; `scores`: {protocol: {group name: runs x envs matrix}}."""
    fig, axes = plt.subplots(1, len(scores), figsize=(5.5 * len(scores), 4), squeeze=False)
    for ax, (protocol, by_group) in zip(axes[0], scores.items()):
        np.random.seed(0)  # rliable's bootstrap draws from NumPy's global generator
        profiles, bands = library.create_performance_profile(by_group, TAUS, reps=reps)
        plot_utils.plot_performance_profiles(
            profiles, TAUS, performance_profile_cis=bands, ax=ax, colors={n: s["color"] for n, s in styles.items()},
            linestyles={n: s["linestyle"] for n, s in styles.items()}, xlabel="normalised final return (tau)",
            ylabel="share of runs above tau", labelsize="medium", ticklabelsize="medium",
        )
        ax.set_title(TITLES[protocol], fontsize=10)
        ax.legend(fontsize=8, loc="lower left")
    save_figure(fig, path, f"Performance profiles, 95% stratified-bootstrap bands: {shapes}")


def plot_iqms(scores: dict, styles: dict, path: Path, reps: int, shapes: str):
    """The IQM of each group's normalised final returns over all envs with its 95% stratified-bootstrap interval
    (rliable's interval estimates), a panel per protocol; `scores` as plot_profiles'."""
    points, intervals = {name: [] for name in styles}, {name: [] for name in styles}
    for by_group in scores.values():
        np.random.seed(0)
        point, interval = library.get_interval_estimates(by_group, aggregate_iqm, reps=reps)
        for name in styles:
            points[name].append(point[name][0])
            intervals[name].append(interval[name][:, 0])
    fig, axes = plot_utils.plot_interval_estimates(
        {name: np.array(p) for name, p in points.items()}, {name: np.array(i).T for name, i in intervals.items()},
        [TITLES[protocol] for protocol in scores], algorithms=list(styles),
        colors={n: s["color"] for n, s in styles.items()}, subfigure_width=5.5, row_height=0.8,
        xlabel="IQM of normalised final return",
    )
    for ax in np.atleast_1d(axes):
        ax.title.set_fontsize(10)
        ax.tick_params(labelsize=9)
        ax.set_xlim(0.0, 1.0)  # one scale in every panel: the normalised one
    save_figure(fig, path, f"IQM, 95% stratified-bootstrap intervals: {shapes}")


def aggregate_iqm(scores: np.ndarray) -> np.ndarray:
    return np.array([metrics.aggregate_iqm(scores)])


def save_figure(fig, path: Path, title: str):
    fig.suptitle(f"{title}\n{NORMALISATION}", fontsize=9, y=1.0, va="bottom")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
