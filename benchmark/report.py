"""Turn a sweep's TensorBoard logs into a results table (markdown and CSV) and learning-curve plots, offline.

    python benchmark/report.py benchmark/runs/quick --out benchmark/results/quick

It reads every finished run below the sweep directory (a task directory with a `done` marker, see sweep.py;
the directory may hold several sweeps) and reports, per env and script (and variant), the final return under two
protocols:

- train: the mean episodic return of the training episodes (with exploration noise) that ended in the last
  10% of the run's steps;
- eval: the last deterministic evaluation (noise-free actor, the mean of its episodes; Fujimoto et al. 2018).

Over seeds: mean +- sample std, and the interquartile mean (IQM, the mean of the middle 50%) with a 95%
percentile-bootstrap confidence interval (resampling seeds, 10,000 resamples).

Left out, and listed with the reason at the end of every markdown file (and on the terminal): the tasks that
failed or stopped (their marker's text: the exit code, and for a run that diverged, exit code 3, the script's
error line), and a finished run under a protocol whose final return there is not finite (a NaN is never
averaged; the run stays in the other protocol if its return there is finite).

Variants: a sweep with named variants (e.g. exploration noise gaussian / ou / param) holds OUT/variants.json,
{"variants": [{"name": ..., "args": [...]}, ...]}, and its tasks in OUT/{variant}/{script}/{env_id}/seed{N}/.
Then every table and CSV has a variant column, the learning curves a line per variant x script (a colour per
variant, a line style per script), PyTorch is compared with JAX variant by variant, and variants.md and
variants.csv compare every variant with a baseline variant (--baseline-variant NAME; default the first in
variants.json) per script, protocol and env and over all envs, two-sided, with the machinery below.

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

A variant study makes many comparisons: with k variants and E envs, (k - 1) x (E + 1) per script and protocol
(8 for 3 variants x 3 envs; k - 1 for one env, whose all-envs row would only repeat its env's row), each with a
false-alarm rate of about 2.4% (5 seeds a side, two-sided), so the chance that one of them raises a false alarm
grows with their number. variants.md therefore corrects each family, the compared rows of one script and
protocol, by Holm-Bonferroni on their permutation p-values (the column Holm p; the verdict needs Holm p <= 0.05
and the interval excluding 0.5), and says under the table how many comparisons each family has. Holm holds a
family's chance of any false alarm at 5% whatever the dependence between its rows (an all-envs row shares its
runs with the per-env rows, and every variant is compared with the same baseline runs). One family per script
and protocol, because a table is read so (results are comparable only under one protocol) and a finding is
trusted when it holds under both protocols and in both scripts, the same algorithm; over the 4 tables of a report
the chance of a false alarm somewhere is then at most 4 x 5% (less: train and eval come from the same runs). A
family over all four would divide the level by 4 again, which costs much power (below) for protection the
reader gets anyway by asking for a finding in more than one table.

Beside the learning curves of a sweep with variants, rliable's figures per variant x script over all envs:
aggregate_iqm.png (the IQM with its 95% stratified-bootstrap interval, a panel per protocol) and
performance_profiles.png (the share of runs above each score, 95% band), on final returns normalised per env
and protocol, (return - min) / (max - min) over all runs of that env in the report, so 0 is the worst run of
that env and 1 the best (no reference scores are needed, but the scale depends on the runs reported together).
rliable's matrices need as many runs of every group in every env: the figures take the envs that every group has
and, in each, every group's first seeds, as many as the fewest any group has in any of them; variants.md says
how many.

The error rates of these rules, by simulation (9 minutes on 2 cores shared with a sweep; the variant study's
with --calibrate-variants, output in benchmark/results/calibration/):

    python benchmark/report.py --calibrate

Measured so, for groups drawn from one distribution: with 3 seeds a side the interval alone excludes 0.5 in 20%
of pairs, with the permutation test never (two-sided) or in 4.9% (one-sided); with 5 seeds, 8.2% alone and 2.4%
with the test (two-sided). The gate, on 4 envs with NEW shifted by the same amount on every env (500 simulated
pairs of sweeps a setting): with 3 seeds a side it fails 4.0% of unchanged sweeps, 19.6% of sweeps worse by
0.5 sd and 57.0% of sweeps worse by 1 sd; with 5 seeds, 3.2%, 34.0% and 84.0%. Any of the 4 per-env rows of
the same comparison finds an unchanged sweep worse in 17.8%. So a report's 4 gate decisions raise at least one
false alarm in about 15% (3 seeds) or 12% (5 seeds) of unchanged pull requests, at most (were they independent).

A variant study, simulated (python benchmark/report.py --calibrate-variants; 11 minutes on 2 shared cores; 1,000
studies a setting): 3 variants x 3 envs, one script and protocol, so one family of 8 comparisons. With 5 seeds a
side, 20.8% of studies without any difference raise a false alarm uncorrected, 0.7% with Holm. A variant better
by 1 sd on every env is found over all envs in 66.5% of studies uncorrected, 35.0% with Holm, and on a given env
in 19.6% and 0.0%; better by 1 sd on one env only, its row finds it in 21.3% and 0.0%. With Holm a per-env row
of 5 seeds a side is as good as undecidable: its smallest p, 2/252 = 0.0079, is above Holm's first two
thresholds (0.05/8, 0.05/7), so it can pass only after two other rows of its family have. With 10 seeds a side
(smallest p 0.0002): false alarms 27.5% uncorrected, 3.9% with Holm; 1 sd better on every env found over all
envs in 95.1% and 80.5%, on an env in 52.1% and 22.4%; on one env only, 52.1% and 20.0%. So a variant study
that wants per-env verdicts needs about 10 seeds; with 5 it gets the all-envs rows.
"""

import argparse
import csv
import itertools
import json
import math
import sys
import warnings
from pathlib import Path
from typing import NamedTuple

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from rliable import library, metrics, plot_utils  # noqa: E402
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
SWEEP_COLUMNS = ("env_id", "script", "protocol")  # a regression report's groups, and a variant comparison's
RUN_COLUMNS = ("env_id", "variant", "script", "protocol")  # what the rows of the results table tell apart
VARIANT_COLUMNS = ("script", "protocol", "env_id", "variant")  # a variant comparison's table: its families together
FAMILY_COLUMNS = ("script", "protocol")  # the rows of a variant comparison corrected together for multiplicity
ADJUSTED = "holm_p"  # a corrected comparison's p-value, which then decides its verdict
VERSIONS_FILE = "versions.jsonl"  # in a task directory: what each attempt of its run ran (sweep.py writes it)
VARIANTS_FILE = "variants.json"  # in a sweep with variants: {"variants": [{"name": ..., "args": [...]}, ...]}
UNFINISHED = ("failed", "stopped")  # the markers of the tasks a report leaves out, their text the reason
LINE_STYLES = ("-", "--", ":", "-.")  # one per script, when the colours tell the variants apart
TAUS = np.linspace(0.0, 1.0, 101)  # the thresholds of a performance profile, on normalised scores
FIGURES = {"iqm": "aggregate_iqm.png", "profile": "performance_profiles.png"}
NORMALISATION = (
    "final returns normalised per env and protocol: (return - min) / (max - min) over all runs of that env in this "
    "report (0: its worst run, 1: its best)"
)
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
VARIANT_CALIBRATION = {
    "false_alarm": "a false alarm in the family",
    "all_envs": "v1's all-envs row finds it better",
    "env": "v1's row of an env where it is better finds it",
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


class Run(NamedTuple):
    """A finished run: its task directory OUT/[{variant}/]{script}/{env_id}/seed{N}/ and its run directory."""

    variant: str  # "" in a sweep without variants
    script: str
    env_id: str
    seed: int
    task_dir: Path
    run_dir: Path


def variants_file(task_dir: Path) -> Path | None:
    """The variants.json of a task's sweep when the sweep has variants (OUT/{variant}/{script}/{env}/seed{N}/),
    else None. Per task, as a report may be given a directory that holds several sweeps."""
    if len(task_dir.parents) > 3 and (task_dir.parents[3] / VARIANTS_FILE).exists():
        return task_dir.parents[3] / VARIANTS_FILE
    return None


def find_runs(sweep: Path) -> list:
    """The Run of every finished task (a task directory with a `done` marker naming its run directory)."""
    runs = []
    for done in sorted(sweep.rglob("done")):
        task_dir = done.parent
        variant = task_dir.parents[2].name if variants_file(task_dir) else ""
        seed = int(task_dir.name[len("seed") :])
        run_dir = task_dir / "runs" / done.read_text().strip()
        runs.append(Run(variant, task_dir.parent.parent.name, task_dir.parent.name, seed, task_dir, run_dir))
    return runs


def unfinished_tasks(sweep: Path) -> list:
    """{"task", "reason"} of every task that failed or stopped, the reason the marker's text, its lines joined
    (sweep.py writes the exit code and, for a run that diverged, the script's error line; then where the log is)."""
    return [
        {"task": str(marker.parent), "reason": f"{name}: {'; '.join(marker.read_text().strip().splitlines())}"}
        for name in UNFINISHED
        for marker in sorted(sweep.rglob(name))
    ]


def variant_names(runs: list) -> list:
    """The variants of these runs, in the order of their sweeps' variants.json (the first one's first variant is
    the default baseline), then any other variant met."""
    files = sorted({variants_file(run.task_dir) for run in runs if run.variant})
    listed = [variant["name"] for file in files for variant in json.loads(file.read_text())["variants"]]
    return list(dict.fromkeys([*listed, *(run.variant for run in runs if run.variant)]))


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


def final_returns(runs: list, variants: list = ()) -> tuple:
    """One row per run and protocol: its final return (the raw data behind the table), ordered by env, variant
    (in `variants` order), script and seed; and {"task", "reason"} of each run and protocol left out because its
    final return is not finite (a NaN is never averaged)."""
    rows, left_out = [], []
    groups = sorted({(run.env_id, run.variant, run.script) for run in runs}, key=lambda g: group_rank(g, variants))
    for env_id, variant, script in groups:
        group = [(run, read_run(run.run_dir)) for run in runs if run[:3] == (variant, script, env_id)]
        total_steps = max(int(steps.max()) for _, data in group for steps, _ in data.values())
        for protocol in PROTOCOLS:
            for run, data in sorted(group, key=lambda item: item[0].seed):
                if protocol not in data:
                    continue
                final = final_return(protocol, *data[protocol], total_steps)
                if not math.isfinite(final):
                    reason = f"final {protocol} return is {final}, not finite"
                    left_out.append({"task": str(run.task_dir), "reason": reason})
                    continue
                label = LABELS.get(script, script)
                row = {"env_id": env_id, "variant": variant, "script": label, "protocol": protocol, "seed": run.seed}
                rows.append({**row, "steps": total_steps, "final_return": final, "run_dir": str(run.run_dir)})
    return rows, left_out


def group_rank(group: tuple, variants) -> tuple:
    """The order of (env_id, variant, script) groups: variants in their sweep's order (none first)."""
    env_id, variant, script = group
    return env_id, list(variants).index(variant) if variant in variants else -1, variant, script


def has_variants(rows: list) -> bool:
    return any(r["variant"] for r in rows)


def with_variant(columns: tuple, rows: list) -> tuple:
    """A comparison's group columns, with the variant after the env when the runs have variants: PyTorch is then
    compared with JAX, and a new sweep with its baseline, variant by variant."""
    return (columns[0], "variant", *columns[1:]) if has_variants(rows) else columns


def shown(rows: list) -> list:
    """Rows as written: without the variant column when no run has a variant (a sweep without variants' files are
    as they were before variants existed)."""
    return rows if has_variants(rows) else [{k: v for k, v in r.items() if k != "variant"} for r in rows]


def summarise(per_run: list) -> list:
    """One row per env x variant x script x protocol with the statistics over seeds."""
    rows = []
    for key in dict.fromkeys(tuple(r[c] for c in RUN_COLUMNS) for r in per_run):
        group = [r for r in per_run if tuple(r[c] for c in RUN_COLUMNS) == key]
        finals = np.array([r["final_return"] for r in group])
        low, high = bootstrap_ci(finals, iqm)
        rows.append({
            **dict(zip(RUN_COLUMNS, key)), "seeds": len(finals),
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
    """Learning curves of one env: a panel per protocol, a line per variant x script (mean over seeds, 95% CI
    band), of the runs in the table (a run left out of a protocol is left out of its panel too)."""
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
            ax.plot(grid, mean, label=f"{group_name(*group)} ({len(runs)} seeds)", **styles[group])
            ax.fill_between(grid, low, high, color=styles[group]["color"], alpha=0.12 if crowded else 0.2, linewidth=0)
        ax.set_title(TITLES[protocol], fontsize=10)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("episodic return")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7 if crowded else 9, loc="best")
    fig.suptitle(f"DDPG on {env_id}: mean over seeds, shaded 95% bootstrap CI", fontsize=11)
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


def write_csv(path: Path, rows: list):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(key for row in rows for key in row)))
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows: list) -> str:
    """The results table of summarise's rows, with a variant column when the runs have variants."""
    names = [c for c in RUN_COLUMNS if c in rows[0]]
    lines = [
        "| " + " | ".join(c.removesuffix("_id") for c in names) + " | seeds | steps | mean +- std | IQM [95% CI] |",
        "| --- " * (len(names) + 4) + "|",
    ]
    for r in rows:
        lines.append(
            "| " + " | ".join(str(r[c]) for c in names) + f" | {r['seeds']} | {r['steps']:,} "
            f"| {r['mean']:.1f} +- {r['std']:.1f} | {r['iqm']:.1f} [{r['iqm_ci_low']:.1f}, {r['iqm_ci_high']:.1f}] |"
        )
    return "\n".join(lines) + "\n"


def left_out_note(left_out: list) -> str:
    """The tasks and runs a report leaves out, and why, as a paragraph for the end of a markdown file."""
    if not left_out:
        return ""
    lines = "".join(f"- `{item['task']}`: {item['reason']}\n" for item in left_out)
    return f"\nLeft out of this report (not finished, or a final return that is not finite):\n\n{lines}"


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
    must exclude 0.5 and the permutation test agree at level ALPHA (its Holm-adjusted p in a corrected family)."""
    if stats.get(ADJUSTED, stats["permutation_p"]) > ALPHA:
        return 0
    return int(stats["probability_low"] > 0.5) - int(stats["probability_high"] < 0.5)


def verdict(stats: dict, x: str, y: str) -> str:
    if stats["direction"] == 0:
        return "no difference found"
    holm = f", Holm p = {stats[ADJUSTED]:.3g}" if ADJUSTED in stats else ""
    return (
        f"{x} {'better' if stats['direction'] > 0 else 'worse'} than {y}: "
        f"P({x} > {y}) = {stats['probability_of_improvement']:.2f} "
        f"[{stats['probability_low']:.2f}, {stats['probability_high']:.2f}], p = {stats['permutation_p']:.3g}{holm}"
    )


def decided(row: dict) -> dict:
    """A compared row with its direction and verdict, from its statistics (and its adjusted p, if any)."""
    row = {k: v for k, v in row.items() if k not in ("direction", "verdict")}
    row["direction"] = direction(row)
    return {**row, "verdict": verdict(row, row["x"], row["y"])}


def grouped_finals(per_run: list, columns: tuple) -> dict:
    """{values of `columns`: final returns over seeds}, from the rows of final_returns."""
    groups = {}
    for r in per_run:
        groups.setdefault(tuple(r[c] for c in columns), []).append(r["final_return"])
    return {key: np.array(finals) for key, finals in groups.items()}


def group_order(key: tuple) -> tuple:
    return key[:-1], COMPARED_PROTOCOLS.index(key[-1])


def compare_groups(
    x_groups: dict, y_groups: dict, columns: tuple, x: str, y: str, alternative: str, reps: int, one_env=None
):
    """A row per group (the first column is the env, the last the protocol) of X against the same group of Y,
    preceded by the aggregate rows: per group of the other columns, over the envs that both X and Y have
    (env_id ALL_ENVS, seeds summed over those envs), and followed by a row per group found on one side only, not
    compared. A row of one env has rliable's statistics with the IQM difference (`one_env`: bootstrap_comparison,
    unless a simulation swaps in a faster equivalent), one of several the aggregate P."""
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
        one = one_env or bootstrap_comparison
        stats = one(xs[0], ys[0], reps) if len(keys) == 1 else aggregate_improvement(xs, ys, reps)
        stats["permutation_p"] = permutation_p(xs, ys, alternative)
        rows.append(decided({**row, **stats}))
    return rows


def compare_scripts(per_run: list, columns: tuple, reps: int = COMPARISON_SAMPLES) -> list:
    """PyTorch against JAX per group of `columns` (env, protocol, and variant if any), two-sided."""
    x, y = LABELS.values()
    x_groups, y_groups = (grouped_finals([r for r in per_run if r["script"] == s], columns) for s in (x, y))
    return compare_groups(x_groups, y_groups, columns, x, y, "two-sided", reps)


def compare_sweeps(per_run: list, baseline_per_run: list, columns: tuple, reps: int = COMPARISON_SAMPLES) -> list:
    """A new sweep against a baseline sweep per group of `columns` (env, script, protocol, and variant if any),
    asking whether the new one is worse."""
    new, baseline = grouped_finals(per_run, columns), grouped_finals(baseline_per_run, columns)
    return compare_groups(new, baseline, columns, "NEW", "baseline", "less", reps)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values: the i-th smallest of m times (m - i + 1), made non-decreasing in that
    order, at most 1. Declaring the tests with an adjusted p <= ALPHA holds the chance of any false alarm among
    the m at ALPHA or below, whatever their dependence."""
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(len(p_values))
    steps = np.arange(len(p_values), 0, -1)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps * np.asarray(p_values)[order]))
    return adjusted


def corrected(rows: list) -> list:
    """The rows with, in each family (the compared rows of one FAMILY_COLUMNS group), the Holm-adjusted p-value
    ADJUSTED, the family's size, and the direction and verdict that the adjusted p decides."""
    families = {}
    for i, r in enumerate(rows):
        if "permutation_p" in r:
            families.setdefault(tuple(r[c] for c in FAMILY_COLUMNS), []).append(i)
    adjusted = {}  # by the row's position in `rows`
    for family in families.values():
        for i, p in zip(family, holm(np.array([rows[i]["permutation_p"] for i in family]))):
            adjusted[i] = decided({**rows[i], ADJUSTED: p, "family_size": len(family)})
    return [adjusted.get(i, r) for i, r in enumerate(rows)]


def compare_variants(per_run: list, variants: list, baseline: str, reps: int = COMPARISON_SAMPLES, one_env=None):
    """Every variant against the baseline variant per env, script and protocol and over all envs, two-sided, each
    family (script x protocol) corrected by Holm; rows ordered by family (scripts as in the results), the
    all-envs rows first, then by env and variant, the groups not compared last."""
    groups = {v: grouped_finals([r for r in per_run if r["variant"] == v], SWEEP_COLUMNS) for v in variants}
    rows = []
    for variant in (v for v in variants if v != baseline):
        compared = compare_groups(
            groups[variant], groups[baseline], SWEEP_COLUMNS, variant, baseline, "two-sided", reps, one_env
        )
        rows += [{"variant": variant, **row} for row in without_repeats(compared)]
    scripts = list(dict.fromkeys(r["script"] for r in per_run))

    def order(r: dict) -> tuple:
        family = scripts.index(r["script"]), COMPARED_PROTOCOLS.index(r["protocol"])
        return "permutation_p" not in r, *family, r["env_id"] != ALL_ENVS, r["env_id"], variants.index(r["variant"])

    return sorted(corrected(rows), key=order)


def without_repeats(rows: list) -> list:
    """compare_groups' rows without the all-envs rows over one env: the same comparison as that env's row, which
    would count twice in its family."""
    envs = {}
    for r in rows:
        if r["env_id"] != ALL_ENVS and "permutation_p" in r:
            envs[r["script"], r["protocol"]] = envs.get((r["script"], r["protocol"]), 0) + 1
    return [r for r in rows if r["env_id"] != ALL_ENVS or envs.get((r["script"], r["protocol"]), 0) > 1]


def family_note(rows: list, baseline: str) -> str:
    """Under a variant table: the families, their sizes and the correction."""
    sizes = {f"{r['script']} {r['protocol']}": r["family_size"] for r in rows if "family_size" in r}
    families = ", ".join(f"{name}: {size}" for name, size in sizes.items())
    return (
        f"\nMultiple comparisons: the compared rows of one script and protocol are one family ({families} "
        f"comparisons: each variant against {baseline}, per env and, given several, over all envs). Holm p: their "
        f"permutation p-values adjusted by Holm-Bonferroni within the family (the i-th smallest of m times "
        f"m - i + 1, kept non-decreasing), which holds the chance of any false alarm in a family at {ALPHA} or "
        f"below; the verdicts use it, so a p <= {ALPHA} alone may not suffice.\n"
    )


def comparison_table(rows: list, columns: tuple, x: str, y: str, test: str, note: str = "") -> str:
    """The markdown table of compare_groups' rows, with a Holm p column when they were corrected."""
    holm_column = ["Holm p"] if any(ADJUSTED in r for r in rows) else []
    headers = [*(c.removesuffix("_id") for c in columns), f"seeds {x} vs {y}", f"P({x} > {y}) [95% CI]"]
    lines = [
        (
            f"Final returns of {x} against {y} over seeds. P({x} > {y}): the probability that a run of {x} beats a "
            f"run of {y}, and the difference of the IQMs, each with a 95% stratified-bootstrap interval (rliable); "
            f"p: permutation test of P({x} > {y}) = 0.5, {test}. A difference is declared when the interval "
            f'excludes 0.5 and {(holm_column or ["p"])[0]} <= {ALPHA}. Rows "{ALL_ENVS}": P({x} > {y}) averaged '
            f"over the envs that both have (rliable's aggregate probability of improvement; seeds summed over those "
            f"envs), its interval resampling runs within each env, p exchanging runs within each env only.{note}"
        ),
        "",
        "| " + " | ".join([*headers, f"IQM {x} - {y} [95% CI]", "p", *holm_column, "verdict"]) + " |",
        "| --- " * (len(headers) + 3 + len(holm_column)) + "|",
    ]
    for r in rows:
        stats = ["", "", "", *("" for _ in holm_column)]
        if "permutation_p" in r:
            stats = [
                f"{r['probability_of_improvement']:.2f} [{r['probability_low']:.2f}, {r['probability_high']:.2f}]",
                f"{r['iqm_difference']:.1f} [{r['iqm_difference_low']:.1f}, {r['iqm_difference_high']:.1f}]"
                if "iqm_difference" in r
                else "",  # no IQM over envs: their returns are on different scales
                f"{r['permutation_p']:.3g}",
                *(f"{r[ADJUSTED]:.3g}" for _ in holm_column),
            ]
        cells = [*(str(r[c]) for c in columns), f"{r['x_seeds']} vs {r['y_seeds']}", *stats, r["verdict"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_comparison(path: Path, rows: list, columns: tuple, x: str, y: str, test: str, note="", end="", left_out=()):
    """`path`.md (the table, `end` and the note on what was left out) and `path`.csv; the table and `end` on the
    terminal (main lists what was left out once, last)."""
    table = comparison_table(rows, columns, x, y, test, note) + end
    path.with_suffix(".md").write_text(table + left_out_note(left_out))
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


def print_table(rows: list, plain: dict, shares: dict):
    """A calibration table in markdown on the terminal: the columns `plain` ({key: header}) as they are, numbers
    short, then the columns `shares` as percentages (blank where there was nothing to measure)."""

    def as_is(value) -> str:
        return f"{value:g}" if isinstance(value, int | float) else str(value)

    def share(value: float) -> str:
        return "" if math.isnan(value) else f"{value:.1%}"

    print("| " + " | ".join([*plain.values(), *shares.values()]) + " |")
    print("| --- " * (len(plain) + len(shares)) + "|")
    for r in rows:
        print("| " + " | ".join([*(as_is(r[key]) for key in plain), *(share(r[key]) for key in shares)]) + " |")


def print_calibration(pairs: int, reps: int, gate_pairs: int, comparisons: tuple = (12, 24), gates: int = 4):
    rows = calibrate(pairs, reps=reps)
    print(f"Share of {pairs:,} simulated pairs of groups, X from N(-shift, 1) and Y from N(0, 1), in which the")
    print(f"comparison declares a difference ({reps:,} bootstrap resamples; shift 0: the false-positive rate).\n")
    print_table(rows, {"seeds": "seeds a side", "shift": "shift (sd)"}, CALIBRATION_COLUMNS)
    print("\nThe chance that a regression report of K independent comparisons raises at least one false alarm:")
    for r in (r for r in rows if r["shift"] == 0):
        chances = ", ".join(f"K={k}: {1 - (1 - r['regression']) ** k:.0%}" for k in comparisons)
        print(f"{r['seeds']} seeds a side: {chances}")
    rows = calibrate_gate(gate_pairs, reps=reps)
    print(f"\nThe regression gate: share of {gate_pairs:,} simulated pairs of sweeps, NEW from N(-shift, 1) and the")
    print(f"baseline from N(0, 1) in each of {rows[0]['envs']} envs, in which the gate (the all-envs row) finds NEW")
    print(f"worse, and in which any per-env row does ({reps:,} bootstrap resamples, {PERMUTATIONS:,} permutations).\n")
    print_table(rows, {"envs": "envs", "seeds": "seeds a side", "shift": "shift (sd)"}, GATE_COLUMNS)
    print(f"\nThe chance that a regression report's {gates} gate comparisons (2 scripts x 2 protocols) raise at least")
    print("one false alarm, were they independent (train and eval come from the same runs, so it is less):")
    for r in (r for r in rows if r["shift"] == 0):
        print(f"{r['seeds']} seeds a side: {1 - (1 - r['gate']) ** gates:.0%}")


def simulated_study(rng: np.random.Generator, shifts: np.ndarray, seeds: int) -> list:
    """final_returns' rows of a simulated study, one script and protocol: variant v0 the baseline, variant v's
    runs on env e drawn from N(shifts[v, e], 1)."""
    return [
        {"env_id": f"env{e}", "variant": f"v{v}", "script": "PyTorch", "protocol": "eval", "final_return": value}
        for v, by_env in enumerate(shifts)
        for e, shift in enumerate(by_env)
        for value in rng.normal(shift, 1.0, seeds)
    ]


def vectorised_comparison(x: np.ndarray, y: np.ndarray, reps: int) -> dict:
    """One env's P(X > Y) with its interval, resampled as bootstrap_comparison's (rliable's) but vectorised, for
    simulations (without the IQM difference, which no verdict uses)."""
    return aggregate_improvement([x], [y], reps)


def study_outcomes(rows: list, shifts: np.ndarray, correct: bool) -> list:
    """Of one simulated study's compared rows: whether any declares a difference where there is none (or the
    wrong way), the share of the all-envs rows of better variants that find them better, and the share of the
    per-env rows where a variant is better that do (NaN where there are none)."""
    found = {"false_alarm": [], "all_envs": [], "env": []}
    for r in rows:
        v = int(r["variant"][1:])
        truth = np.sign(shifts[v].mean() if r["env_id"] == ALL_ENVS else shifts[v, int(r["env_id"][3:])])
        found_direction = direction(r if correct else {**r, ADJUSTED: r["permutation_p"]})
        found["false_alarm"].append(found_direction not in (0, truth))
        if truth > 0:
            found["all_envs" if r["env_id"] == ALL_ENVS else "env"].append(found_direction == 1)
    return [any(found["false_alarm"]), *(np.mean(found[c]) if found[c] else np.nan for c in ("all_envs", "env"))]


def study_settings(variants: int, envs: int, shift: float) -> dict:
    """{setting: variants x envs shifts}: no difference; v1 better by `shift` on every env; on the first only."""
    every, one = np.zeros((variants, envs)), np.zeros((variants, envs))
    every[1], one[1, 0] = shift, shift
    better = f"v1 better by {shift:g} sd on"
    return {"no difference": np.zeros((variants, envs)), f"{better} every env": every, f"{better} one env": one}


def calibrate_variants(studies=1000, variants=3, envs=3, seeds=(5, 10), shift=1.0, reps=COMPARISON_SAMPLES) -> list:
    """The share of `studies` simulated studies (variants x envs x seeds runs, one script and protocol: one
    family) in which a false alarm is raised, and the power to find a variant better by `shift` sd on every env
    or on the first env only, without correction and with Holm's: compare_variants on each, its one-env
    bootstrap vectorised (vectorised_comparison)."""
    names, results = [f"v{v}" for v in range(variants)], []
    for n in seeds:
        rng = np.random.default_rng(0)
        for setting, shifts in study_settings(variants, envs, shift).items():
            outcomes = np.zeros((2, studies, len(VARIANT_CALIBRATION)))  # without, with the correction
            for study in range(studies):
                rows = compare_variants(simulated_study(rng, shifts, n), names, names[0], reps, vectorised_comparison)
                compared = [r for r in rows if "permutation_p" in r]
                outcomes[:, study] = [study_outcomes(compared, shifts, correct) for correct in (False, True)]
            with warnings.catch_warnings():  # a setting without better variants has no power to measure
                warnings.simplefilter("ignore", RuntimeWarning)
                shares = np.nanmean(outcomes, axis=1)
            for correction, share in zip(("none", "Holm"), shares):
                row = {"seeds": n, "setting": setting, "correction": correction, "family": len(compared)}
                results.append({**row, **dict(zip(VARIANT_CALIBRATION, share))})
    return results


def smallest_p(n: int) -> float:
    """The smallest two-sided p-value of one env's permutation test, n runs a side (exact or Monte Carlo)."""
    arrangements = math.comb(2 * n, n)
    return 2 / arrangements if arrangements <= EXACT_ARRANGEMENTS else 2 / (PERMUTATIONS + 1)


def print_variant_calibration(studies: int, reps: int, seeds=(5, 10)):
    rows = calibrate_variants(studies, seeds=seeds, reps=reps)
    m = rows[0]["family"]
    print(f"Variant studies: share of {studies:,} simulated studies (3 variants, v0 the baseline, x 3 envs x SEEDS")
    print(f"runs a side; final returns from N(shift, 1); one script and protocol: one family of {m} two-sided")
    print(f"comparisons) with each outcome ({reps:,} bootstrap resamples, {PERMUTATIONS:,} permutations beyond")
    print(f"{EXACT_ARRANGEMENTS:,} arrangements). Power: the share of the rows where v1 is better that find it.\n")
    print_table(rows, {"seeds": "seeds a side", "setting": "setting", "correction": "correction"}, VARIANT_CALIBRATION)
    print(f"\nHolm compares the i-th smallest of the {m} p-values with {ALPHA} / ({m} - i + 1). The smallest two-sided")
    print("p-value of one env, and how many rows of its family must pass before a per-env row can:")
    for n in seeds:
        before = max(0, math.ceil(m - ALPHA / smallest_p(n) - TOLERANCE))
        print(f"{n} seeds a side: {smallest_p(n):.2g}, {before}")


def write_variants(per_run: list, variants: list, baseline: str, styles: dict, out: Path, reps: int, left_out: list):
    """variants.md and variants.csv, every variant against `baseline`, and rliable's figures of the variants."""
    compared = compare_variants(per_run, variants, baseline, reps)
    figures = aggregate_figures(per_run, styles, out, reps)
    end = family_note(compared, baseline) + (f"\n{figures}\n" if figures else "")
    write_comparison(out / "variants", compared, VARIANT_COLUMNS, "variant", baseline, "two-sided", "", end, left_out)


def run_versions(run: Run) -> list:
    """The versions of the script that a run ran, one per attempt (a resumed run has several): from its task's
    versions.jsonl, or ["unknown"] for a task that sweep.py ran before it recorded them."""
    path = run.task_dir / VERSIONS_FILE
    attempts = [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []
    if not attempts:
        return ["unknown (no versions.jsonl: the sweep predates it)"]
    return list(dict.fromkeys(version_text(attempt) for attempt in attempts))


def version_text(attempt: dict) -> str:
    where = f"at commit {attempt['commit']}" if attempt["commit"] else "outside git"
    changed = " with uncommitted changes" if attempt["modified"] else ""
    return f"{attempt['script']} {where}{changed} (file sha256 {attempt['sha256']})"


def seed_ranges(seeds: list) -> str:
    """1 2 3 5 -> "1-3, 5"."""
    ranges = []
    for seed in sorted(set(seeds)):
        if ranges and seed == ranges[-1][1] + 1:
            ranges[-1][1] = seed
        else:
            ranges.append([seed, seed])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def write_provenance(path: Path, runs: list, argv: list):
    """provenance.md: the command that made the report, the version of the scripts each run ran, the seeds."""
    versions = {}
    for run in runs:
        for version in run_versions(run):
            versions.setdefault(version, []).append(run)
    groups = {}
    for run in runs:
        groups.setdefault((run.variant, LABELS.get(run.script, run.script), run.env_id), []).append(run.seed)
    lines = [
        "# What these results come from",
        "",
        f"Report: `python benchmark/report.py {' '.join(argv)}`, on {len(runs)} finished runs.",
        "",
        "Scripts (what each run ran, as sweep.py recorded it when it started or resumed the run):",
        "",
        *(["**More than one version of the scripts made these runs**: compare them knowingly.", ""]
          if len(versions) > 1 else []),
        *(f"- {version}: {len(with_it)} run{'s' * (len(with_it) != 1)}" for version, with_it in versions.items()),
        "",
        "| " + " | ".join(RUN_COLUMNS[:3]) + " | seeds |",
        "|---|---|---|---|",
        *(f"| {env} | {variant or '-'} | {script} | {seed_ranges(seeds)} |" for (variant, script, env), seeds in
          sorted(groups.items(), key=lambda item: (item[0][2], item[0][0], item[0][1]))),
    ]
    path.write_text("\n".join(lines) + "\n")


def print_left_out(left_out: list):
    for item in left_out:
        print(f"not in the report: {item['task']} ({item['reason']})")


def no_runs(sweeps: list) -> int:
    print(f"error: no finished runs under {', '.join(map(str, sweeps))}; run a sweep first")
    return 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", type=Path, nargs="*", help="sweep directories (as given to sweep.py --out)")
    parser.add_argument("--out", type=Path, help="where the tables, CSV and plots go")
    parser.add_argument("--baseline", type=Path, help="a baseline sweep: also write the regression report against it")
    parser.add_argument(
        "--baseline-variant", help="the variant that the others are compared with (default: the first listed)"
    )
    parser.add_argument("--bootstrap-reps", type=int, default=COMPARISON_SAMPLES, help="resamples of a comparison")
    parser.add_argument("--calibrate", action="store_true", help="print the comparison's error rates (simulation)")
    parser.add_argument("--pairs", type=int, default=2000, help="pairs of groups that --calibrate simulates")
    parser.add_argument("--gate-pairs", type=int, default=500, help="pairs of sweeps per setting, for the gate")
    parser.add_argument(
        "--calibrate-variants", action="store_true", help="print a variant study's family-wise error rate and power"
    )
    parser.add_argument("--studies", type=int, default=1000, help="studies per setting, for --calibrate-variants")
    args = parser.parse_args(argv)
    if args.calibrate or args.calibrate_variants:
        if args.calibrate:
            print_calibration(args.pairs, args.bootstrap_reps, args.gate_pairs)
        if args.calibrate_variants:
            print_variant_calibration(args.studies, args.bootstrap_reps)
        return 0
    if not args.sweeps or args.out is None:
        parser.error("give the sweep directories and --out, or --calibrate")
    runs = [run for sweep in args.sweeps for run in find_runs(sweep)]
    if not runs:
        return no_runs(args.sweeps)
    baseline_runs = find_runs(args.baseline) if args.baseline else None
    if baseline_runs == []:
        return no_runs([args.baseline])
    variants = variant_names(runs)
    baseline_variant = args.baseline_variant or next(iter(variants), None)
    if baseline_variant not in [*variants, None]:
        parser.error(f"--baseline-variant {baseline_variant}: the variants are {', '.join(variants) or 'none'}")
    args.out.mkdir(parents=True, exist_ok=True)
    per_run, non_finite = final_returns(runs, variants)
    left_out = [*(task for sweep in args.sweeps for task in unfinished_tasks(sweep)), *non_finite]
    if not per_run:
        print_left_out(left_out)
        return no_runs(args.sweeps)
    rows, styles = summarise(per_run), group_styles(per_run)
    write_csv(args.out / "runs.csv", shown(per_run))
    write_csv(args.out / "results.csv", shown(rows))
    for env_id in sorted({r["env_id"] for r in per_run}):
        plot_env(env_id, per_run, styles, args.out / f"{env_id}.png")
    table = markdown_table(shown(rows))
    (args.out / "results.md").write_text(table + left_out_note(left_out))
    print(table)
    columns = with_variant(SCRIPT_COLUMNS, per_run)
    comparison = compare_scripts(per_run, columns, args.bootstrap_reps)
    write_comparison(args.out / "comparison", comparison, columns, *LABELS.values(), "two-sided", left_out=left_out)
    if len(variants) > 1:
        write_variants(per_run, variants, baseline_variant, styles, args.out, args.bootstrap_reps, left_out)
    regression = []
    if args.baseline:
        baseline_per_run, baseline_non_finite = final_returns(baseline_runs, variant_names(baseline_runs))
        columns = with_variant(SWEEP_COLUMNS, per_run + baseline_per_run)
        regression = compare_sweeps(per_run, baseline_per_run, columns, args.bootstrap_reps)
        test = "one-sided (NEW worse)"
        left_out += [*unfinished_tasks(args.baseline), *baseline_non_finite]
        write_comparison(args.out / "regression", regression, columns, "NEW", "baseline", test, GATE_NOTE, "", left_out)
    write_provenance(args.out / "provenance.md", runs, argv if argv is not None else sys.argv[1:])
    print(f"{len(runs)} runs; tables, CSV and plots in {args.out}")
    print_left_out(left_out)
    return gate(regression)


if __name__ == "__main__":
    raise SystemExit(main())
