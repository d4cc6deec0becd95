"""Our final returns beside the published ones, for benchmark/report.py: reference.md and reference.csv, written for
a sweep without variants that holds both scripts, a row per env that benchmark/reference_results.csv (the project's
reference table, each value with its source and statistic) has, in that table's shape: every column one statistic,
which its header names and the legend under the table defines. Below it, ours tested against each published value
that gives a spread (Welch's t-test from the two sides' means, sample stds and seeds, Holm over the table)."""

import csv
import math
from pathlib import Path

import numpy as np
from scipy import stats

from report_runs import FINAL_SHARE, LABELS, LAST_EPISODES, LAST_EPISODES_KEY, has_variants, read_run
from report_stats import ALPHA, holm
from report_tables import left_out_note, write_csv

REFERENCE_FILE = Path(__file__).with_name("reference_results.csv")
LAST_100 = "train_last_100"  # the statistic of CleanRL's published training returns (openrlbenchmark's)
# each statistic of the table: its name in a column header, and what it is, in words to check against a source
STATISTICS = {
    LAST_100: (
        f"train, last {LAST_EPISODES} episodes",
        f"per run the mean return of its last {LAST_EPISODES} training episodes (exploration noise on; all of them "
        f"when it has fewer), then the mean +- population std (numpy.std, ddof=0) over seeds: openrlbenchmark's "
        f"statistic, that of CleanRL's table",
    ),
    "train": (
        f"train, last {FINAL_SHARE:.0%} of steps",
        f"per run the mean return of the training episodes (exploration noise on) that ended in the last "
        f"{FINAL_SHARE:.0%} of its steps, then the mean +- sample std (ddof=1) over seeds: the train return of this "
        f"report's results.md and comparison.md; no published value here is this statistic",
    ),
    "eval": (
        "final eval",
        "per run its last deterministic evaluation (noise-free actor, the mean of its episodes), then the mean +- "
        "sample std (ddof=1) over seeds",
    ),
    "best_eval": (
        "best eval",
        "the max over training of the mean over seeds of the deterministic evaluations (one number, no std): "
        "Fujimoto et al.'s Table 1 statistic (his over 10 seeds; the max of the noisier mean of fewer seeds runs "
        "higher)",
    ),
}
OURS = "this sweep"  # the source of our cells
SEEDS = 3  # the seeds of a reference sweep (benchmark/ddpg.sh's SEEDS): a cell of fewer says how many it has
SAMPLE = 1  # the ddof of a sample std, which Welch's test takes


def read_reference(path: Path = REFERENCE_FILE) -> list:
    """The published values, a row each: env, our_env (the env this project runs for it), label (the column),
    protocol (the statistic: a key of STATISTICS), mean, std and std_ddof (None where the source gives no std;
    std_ddof 0 for a population std, 1 for a sample std), seeds, steps, source and note."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        if bool(r["std"]) != bool(r["std_ddof"]):
            raise ValueError(f"{path}: {r['env']}, {r['label']}: a std needs its ddof (0 population, 1 sample)")
    return [
        {**r, "mean": float(r["mean"]), "std": float(r["std"]) if r["std"] else None,
         "std_ddof": int(r["std_ddof"]) if r["std_ddof"] else None, "seeds": int(r["seeds"]), "steps": int(r["steps"])}
        for r in rows
    ]  # fmt: skip


def has_reference(per_run: list) -> bool:
    """Whether a report compares with the published values: its runs have no variants (a sweep of one script, or a
    sweep still under way, gets the columns of the scripts it has)."""
    return not has_variants(per_run) and bool(set(LABELS.values()) & {r["script"] for r in per_run})


def sample_std(std: float, ddof: int, seeds: int) -> float:
    """The sample std (ddof=1) of `seeds` values from their std with another ddof: std * sqrt((n - ddof) / (n - 1));
    a population std (ddof=0) times sqrt(n / (n - 1))."""
    return std * math.sqrt((seeds - ddof) / (seeds - SAMPLE))


def last_episodes_rows(per_run: list) -> tuple:
    """Per env and script, in summarise's shape, protocol LAST_100: the mean and population std over seeds of each
    run's mean of its last 100 training episodes; and {"task", "reason"} of each run left out because that mean is
    not finite."""
    rows, left_out = [], []
    for env_id, script in dict.fromkeys((r["env_id"], r["script"]) for r in per_run if r["protocol"] == "train"):
        group = [r for r in per_run if (r["env_id"], r["script"], r["protocol"]) == (env_id, script, "train")]
        values = np.array([r[LAST_EPISODES_KEY] for r in group])
        for r in (r for r, value in zip(group, values) if not math.isfinite(value)):
            reason = f"the mean of its last {LAST_EPISODES} training episodes is not finite"
            left_out.append({"task": str(Path(r["run_dir"]).parents[1]), "reason": reason})
        if finite := values[np.isfinite(values)].tolist():
            rows.append({"env_id": env_id, "script": script, "protocol": LAST_100, "seeds": len(finite),
                         "steps": group[0]["steps"], "mean": float(np.mean(finite)), "std": float(np.std(finite)),
                         "std_ddof": 0})  # fmt: skip
    return rows, left_out


def best_evals(per_run: list) -> list:
    """Per env and script, Fujimoto's statistic of its runs: the highest, over the evaluation steps that all its
    runs have, of their mean evaluation return. A row each in summarise's shape, protocol best_eval, without a std
    (one number of all the seeds, not a mean over them)."""
    rows = []
    for env_id, script in dict.fromkeys((r["env_id"], r["script"]) for r in per_run if r["protocol"] == "eval"):
        group = [r for r in per_run if (r["env_id"], r["script"], r["protocol"]) == (env_id, script, "eval")]
        curves = [dict(zip(*read_run(Path(r["run_dir"]))["eval"])) for r in group]
        steps = sorted(set.intersection(*(set(curve) for curve in curves)))
        if not steps:  # e.g. sweeps of other evaluation frequencies reported together: no common curve
            continue
        means = [np.mean([curve[step] for curve in curves]) for step in steps]
        rows.append({"env_id": env_id, "script": script, "protocol": "best_eval", "seeds": len(group),
                     "steps": group[0]["steps"], "mean": float(max(means)), "std": None, "std_ddof": None})  # fmt: skip
    return rows


def reference_cells(summary: list, published: list) -> list:
    """The cells of the reference table, in its row order: per env that both the sweep (summarise's rows,
    best_evals' and last_episodes_rows') and the published values have, per statistic, ours of each script (its
    mean, std, the std's ddof, and seeds) and the published ones."""
    published_env = {p["our_env"]: p["env"] for p in published}
    cells = []
    for env_id in dict.fromkeys(r["env_id"] for r in summary if r["env_id"] in published_env):
        row = {"env_id": env_id, "published_env": published_env[env_id]}
        for protocol in STATISTICS:
            ours = {r["script"]: r for r in summary if (r["env_id"], r["protocol"]) == (env_id, protocol)}
            cells += [
                {**row, "column": f"ours {script}", "protocol": protocol, "source": OURS,
                 **{key: ours[script][key] for key in ("mean", "std", "seeds", "steps")},
                 "std_ddof": ours[script].get("std_ddof", None if ours[script]["std"] is None else SAMPLE)}
                for script in LABELS.values() if script in ours
            ]  # fmt: skip
            cells += [
                {**row, "column": p["label"], "protocol": protocol,
                 **{key: p[key] for key in ("source", "mean", "std", "seeds", "steps", "std_ddof", "note")}}
                for p in published if (p["our_env"], p["protocol"]) == (env_id, protocol)
            ]  # fmt: skip
    return cells


def reference_columns(cells: list, published: list) -> list:
    """(column, protocol) of the table, by statistic in STATISTICS' order (the training returns, the final eval
    returns, the best); ours first, then the published columns in the order of the published values; only those
    with a cell."""
    present = {(c["column"], c["protocol"]) for c in cells}
    names = [*(f"ours {script}" for script in LABELS.values()), *dict.fromkeys(p["label"] for p in published)]
    return [(name, protocol) for protocol in STATISTICS for name in names if (name, protocol) in present]


def cell_text(cell: dict | None, seeds: int) -> str:
    """A cell as the reference table shows it: mean +- std, the number of seeds of ours when below `seeds`."""
    if cell is None:
        return "-"
    spread = f" +- {cell['std']:.0f}" if cell["std"] is not None and cell["seeds"] > 1 else ""
    fewer = f" (n={cell['seeds']})" if cell["source"] == OURS and cell["seeds"] < seeds else ""
    return f"{cell['mean']:.0f}{spread}{fewer}"


def reference_caption(seeds: int, cells: list) -> str:
    """How our numbers are computed, above the reference table."""
    curves = ", ".join(f"{env_id}.png" for env_id in dict.fromkeys(c["env_id"] for c in cells))
    return (
        f"Final returns, ours beside the published ones ({REFERENCE_FILE.name}, sources below the table). Numbers "
        f"are comparable only under one statistic, which each column names in brackets (the statistics under the "
        f"table), at the steps shown; ours {seeds} seeds a cell unless it says (n=k). Only finished runs count (a "
        f"`done` marker): runs still going, failed or stopped are not in it, nor a run whose value under that "
        f"statistic is not finite. Learning curves (the mean over seeds, shaded the range of the seeds [min, "
        f"max]): {curves}."
    )


def statistics_legend(columns: list) -> str:
    """Under the reference table: what each statistic of its columns is."""
    named = dict.fromkeys(protocol for _, protocol in columns)
    return "\nStatistics:\n\n" + "".join(f"- {STATISTICS[p][0]}: {STATISTICS[p][1]}.\n" for p in named)


def published_notes(columns: list, cells: list) -> str:
    """Below the reference table: the source of each published column, then the notes on its envs' values."""
    sources = {(c["column"], c["protocol"]): c["source"] for c in cells if c["source"] != OURS}
    lines = [f"- {name} ({STATISTICS[protocol][0]}): {sources[name, protocol]}" for name, protocol in columns
             if (name, protocol) in sources]  # fmt: skip
    lines += dict.fromkeys(f"- {c['env_id']}: {c['note']}" for c in cells if c.get("note"))
    return "\nPublished values:\n\n" + "\n".join(lines) + "\n"


def reference_table(cells: list, published: list) -> str:
    """reference.md's caption and table, a row per env and a column per source and statistic, what each statistic
    is, and the sources and notes of the published values."""
    columns = reference_columns(cells, published)
    seeds = max(SEEDS, *(c["seeds"] for c in cells if c["source"] == OURS))
    by_key = {(c["env_id"], c["column"], c["protocol"]): c for c in cells}
    headers = ["env", "steps (ours)", *(f"{name} ({STATISTICS[protocol][0]})" for name, protocol in columns)]
    lines = [reference_caption(seeds, cells), "", "| " + " | ".join(headers) + " |", "| --- " * len(headers) + "|"]
    for env_id, published_env in dict.fromkeys((c["env_id"], c["published_env"]) for c in cells):
        env = env_id if env_id == published_env else f"{env_id} (published: {published_env})"
        steps = max(c["steps"] for c in cells if c["env_id"] == env_id and c["source"] == OURS)
        texts = [cell_text(by_key.get((env_id, *column)), seeds) for column in columns]
        lines.append("| " + " | ".join([env, f"{steps:,}", *texts]) + " |")
    return "\n".join(lines) + "\n" + statistics_legend(columns) + published_notes(columns, cells)


def welch(ours: dict, published: dict) -> dict:
    """Ours minus the published mean, its 95% Welch t-interval and the two-sided p of Welch's t-test, from each
    side's mean, sample std and seeds (all that a published value gives: its runs are not at hand). It assumes
    returns roughly normal over seeds; with 3 seeds a side it finds only large differences, and the interval says
    how large."""
    ours_var, published_var = ours["std"] ** 2 / ours["seeds"], published["std"] ** 2 / published["seeds"]
    error = math.sqrt(ours_var + published_var)
    df = (ours_var + published_var) ** 2 / (
        ours_var**2 / (ours["seeds"] - 1) + published_var**2 / (published["seeds"] - 1)
    )
    difference = ours["mean"] - published["mean"]
    half_width = stats.t.ppf(1 - ALPHA / 2, df) * error
    return {"difference": difference, "low": difference - half_width, "high": difference + half_width,
            "p": float(2 * stats.t.sf(abs(difference) / error, df))}  # fmt: skip


def with_sample_std(cell: dict) -> dict:
    """A cell as Welch's test takes it: its std made the sample std of its seeds (a population std, as CleanRL's
    published ones and ours beside them, times sqrt(n / (n - 1)))."""
    return {**cell, "std": sample_std(cell["std"], cell["std_ddof"], cell["seeds"])}


def agreement(cells: list) -> list:
    """Each of our cells against each published cell of its env and statistic that has a spread (a std over 2 or
    more seeds): Welch's test (welch) on the two sides' sample stds, Holm-adjusted over all the tests, and a
    verdict; a row with the reason where ours cannot be tested (one seed, or no spread on either side)."""
    rows = []
    spread = [c for c in cells if c["source"] != OURS and c["std"] is not None and c["seeds"] > 1]
    for ours in (c for c in cells if c["source"] == OURS):
        for published in (c for c in spread if (c["env_id"], c["protocol"]) == (ours["env_id"], ours["protocol"])):
            row = {"env_id": ours["env_id"], "protocol": ours["protocol"], "ours": ours["column"],
                   "published": published["column"], "ours_seeds": ours["seeds"],
                   "published_seeds": published["seeds"]}  # fmt: skip
            if ours["seeds"] < 2:
                rows.append({**row, "verdict": f"not tested: {ours['seeds']} seed of ours, no spread"})
                continue
            sides = with_sample_std(ours), with_sample_std(published)
            row.update(ours_sample_std=sides[0]["std"], published_sample_std=sides[1]["std"])
            if sides[0]["std"] == 0 and sides[1]["std"] == 0:
                rows.append({**row, "verdict": "not tested: no spread on either side"})
            else:
                rows.append({**row, **welch(*sides)})
    tested = [r for r in rows if "p" in r]
    for row, adjusted in zip(tested, holm(np.array([r["p"] for r in tested]))):
        found = adjusted <= ALPHA
        row.update(holm_p=adjusted, verdict=("ours higher" if row["difference"] > 0 else "ours lower") if found
                   else "no difference found")  # fmt: skip
    return rows


def agreement_table(rows: list) -> str:
    """Below the reference table: agreement's rows, with how they are computed."""
    tested = sum("p" in r for r in rows)
    lines = [
        "", f"Ours against each published value that gives a spread (its std and seeds), per env and statistic: ours "
        f"minus the published mean, its 95% Welch t-interval and the p of Welch's t-test (two-sided, from each "
        f"side's mean, sample std and seeds: the published runs are not at hand; it assumes returns roughly normal "
        f"over seeds), Holm-adjusted over all the tests of this table ({tested}). A population std (CleanRL's, and "
        f"ours beside them) is made the sample std of its n seeds, times sqrt(n / (n - 1)), before the test. A "
        f"verdict needs Holm p <= {ALPHA}. With 3 seeds a side only large differences can be found: the interval "
        f"says how large a one the seeds leave open. Published values without a spread are compared by value only, "
        f"in the table above.", "",
        "| env | statistic | ours | published | ours - published | 95% Welch t-interval | p | Holm p | verdict |",
        "| --- " * 9 + "|",
    ]  # fmt: skip
    for r in rows:
        numbers = (f"{r['difference']:+.0f} | [{r['low']:+.0f}, {r['high']:+.0f}] | {r['p']:.3f} | {r['holm_p']:.3f}"
                   if "p" in r else " |  |  | ")  # fmt: skip
        names = f"{r['env_id']} | {STATISTICS[r['protocol']][0]} | {r['ours']} | {r['published']}"
        lines.append(f"| {names} | {numbers} | {r['verdict']} |")
    return "\n".join(lines) + "\n"


def write_reference(out: Path, summary: list, per_run: list, left_out: list):
    """reference.md and reference.csv (a row per cell), with ours tested against the published spreads
    (reference_tests.csv), when the sweep has an env of the published values; the tables on the terminal."""
    published = read_reference()
    last_episodes, not_finite = last_episodes_rows(per_run)
    cells = reference_cells(summary + last_episodes + best_evals(per_run), published)
    if not cells:
        return
    tests = agreement(cells)
    table = reference_table(cells, published) + (agreement_table(tests) if tests else "")
    (out / "reference.md").write_text(table + left_out_note([*left_out, *not_finite]))
    write_csv(out / "reference.csv", cells)
    if tests:
        write_csv(out / "reference_tests.csv", tests)
    print(table)
