"""Our final returns beside the published ones, for benchmark/report.py: reference.md and reference.csv, written for
a sweep without variants that holds both scripts, a row per env that benchmark/reference_results.csv (the project's
reference table, each value with its source) has, in that table's shape: every column one protocol. Below it, ours
tested against each published value that gives a spread (Welch's t-test from the two sides' means, stds and seeds,
Holm over the table)."""

import csv
import math
from pathlib import Path

import numpy as np
from scipy import stats

from report_runs import FINAL_SHARE, LABELS, has_variants, read_run
from report_stats import ALPHA, holm
from report_tables import left_out_note, write_csv

REFERENCE_FILE = Path(__file__).with_name("reference_results.csv")
# what a column header says of its protocol; best_eval is the statistic of Fujimoto et al.'s Table 1
RETURNS = {"train": "train return", "eval": "eval return", "best_eval": "best eval return"}
OURS = "this sweep"  # the source of our cells
SEEDS = 3  # the seeds of a reference sweep (benchmark/ddpg.sh's SEEDS): a cell of fewer says how many it has


def read_reference(path: Path = REFERENCE_FILE) -> list:
    """The published values, a row each: env, our_env (the env this project runs in its place), label (the column),
    protocol, mean, std (None where the source gives none), seeds, steps, source and note."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return [
        {**r, "mean": float(r["mean"]), "std": float(r["std"]) if r["std"] else None, "seeds": int(r["seeds"]),
         "steps": int(r["steps"])}
        for r in rows
    ]  # fmt: skip


def has_reference(per_run: list) -> bool:
    """Whether a report compares with the published values: its runs have no variants (a sweep of one script, or a
    sweep still under way, gets the columns of the scripts it has)."""
    return not has_variants(per_run) and bool(set(LABELS.values()) & {r["script"] for r in per_run})


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
                     "steps": group[0]["steps"], "mean": float(max(means)), "std": None})  # fmt: skip
    return rows


def reference_cells(summary: list, published: list) -> list:
    """The cells of the reference table, in its row order: per env that both the sweep (summarise's rows, and
    best_evals') and the published values have, per protocol, ours of each script (its mean, std and seeds over
    seeds) and the published ones."""
    published_env = {p["our_env"]: p["env"] for p in published}
    cells = []
    for env_id in dict.fromkeys(r["env_id"] for r in summary if r["env_id"] in published_env):
        row = {"env_id": env_id, "published_env": published_env[env_id]}
        for protocol in RETURNS:
            ours = {r["script"]: r for r in summary if (r["env_id"], r["protocol"]) == (env_id, protocol)}
            cells += [
                {**row, "column": f"ours {script}", "protocol": protocol, "source": OURS,
                 **{key: ours[script][key] for key in ("mean", "std", "seeds", "steps")}}
                for script in LABELS.values() if script in ours
            ]  # fmt: skip
            cells += [
                {**row, "column": p["label"], "protocol": protocol,
                 **{key: p[key] for key in ("source", "mean", "std", "seeds", "steps", "note")}}
                for p in published if (p["our_env"], p["protocol"]) == (env_id, protocol)
            ]  # fmt: skip
    return cells


def reference_columns(cells: list, published: list) -> list:
    """(column, protocol) of the table: the train returns, then the final eval returns, then the best; ours first,
    then the published columns in the order of the published values; only those with a cell."""
    present = {(c["column"], c["protocol"]) for c in cells}
    names = [*(f"ours {script}" for script in LABELS.values()), *dict.fromkeys(p["label"] for p in published)]
    return [(name, protocol) for protocol in RETURNS for name in names if (name, protocol) in present]


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
        f"are comparable only under one protocol, which each column names. Ours, per run: train return, the mean "
        f"return of the training episodes (with exploration noise) that ended in the last {FINAL_SHARE:.0%} of its "
        f"steps; eval return, its last deterministic evaluation (noise-free actor, the mean of its episodes); at the "
        f"steps shown. Then mean +- sample std over seeds, {seeds} seeds a cell unless it says (n=k). Best eval "
        f"return, Fujimoto et al.'s statistic: the highest, over the evaluations during training, of their mean over "
        f"seeds (one number, no std; the max of noisy evaluations, so above the final one, and the more so the "
        f"fewer the seeds averaged). Only finished "
        f"runs count (a `done` marker): runs still going, failed or stopped are not in it, nor a run whose final "
        f"return under that protocol is not finite. A published number may be another statistic of its runs than "
        f"ours, the value at the end of training: its source says which. Learning curves (mean over seeds, 95% "
        f"bootstrap band): {curves}."
    )


def published_notes(columns: list, cells: list) -> str:
    """Below the reference table: the source of each published column, then the notes on its envs' values."""
    sources = {(c["column"], c["protocol"]): c["source"] for c in cells if c["source"] != OURS}
    lines = [f"- {name} ({RETURNS[protocol]}): {sources[name, protocol]}" for name, protocol in columns
             if (name, protocol) in sources]  # fmt: skip
    lines += dict.fromkeys(f"- {c['env_id']}: {c['note']}" for c in cells if c.get("note"))
    return "\nPublished values:\n\n" + "\n".join(lines) + "\n"


def reference_table(cells: list, published: list) -> str:
    """reference.md's caption and table, a row per env and a column per source and protocol, and the sources and
    notes of the published values."""
    columns = reference_columns(cells, published)
    seeds = max(SEEDS, *(c["seeds"] for c in cells if c["source"] == OURS))
    by_key = {(c["env_id"], c["column"], c["protocol"]): c for c in cells}
    headers = ["env", "steps (ours)", *(f"{name} ({RETURNS[protocol]})" for name, protocol in columns)]
    lines = [reference_caption(seeds, cells), "", "| " + " | ".join(headers) + " |", "| --- " * len(headers) + "|"]
    for env_id, published_env in dict.fromkeys((c["env_id"], c["published_env"]) for c in cells):
        env = env_id if env_id == published_env else f"{env_id} (published: {published_env})"
        steps = max(c["steps"] for c in cells if c["env_id"] == env_id and c["source"] == OURS)
        texts = [cell_text(by_key.get((env_id, *column)), seeds) for column in columns]
        lines.append("| " + " | ".join([env, f"{steps:,}", *texts]) + " |")
    return "\n".join(lines) + "\n" + published_notes(columns, cells)


def welch(ours: dict, published: dict) -> dict:
    """Ours minus the published mean, its 95% interval and the two-sided p of Welch's t-test, from each side's mean,
    sample std and seeds (all that a published value gives: its runs are not at hand). It assumes returns roughly
    normal over seeds; with 3 seeds a side it finds only large differences, and the interval says how large."""
    ours_var, published_var = ours["std"] ** 2 / ours["seeds"], published["std"] ** 2 / published["seeds"]
    error = math.sqrt(ours_var + published_var)
    df = (ours_var + published_var) ** 2 / (
        ours_var**2 / (ours["seeds"] - 1) + published_var**2 / (published["seeds"] - 1)
    )
    difference = ours["mean"] - published["mean"]
    half_width = stats.t.ppf(1 - ALPHA / 2, df) * error
    return {"difference": difference, "low": difference - half_width, "high": difference + half_width,
            "p": float(2 * stats.t.sf(abs(difference) / error, df))}  # fmt: skip


def agreement(cells: list) -> list:
    """Each of our cells against each published cell of its env and protocol that has a spread (a std over 2 or
    more seeds): Welch's test (welch), Holm-adjusted over all the tests, and a verdict; a row with the reason where
    ours cannot be tested (one seed, or no spread on either side)."""
    rows = []
    spread = [c for c in cells if c["source"] != OURS and c["std"] is not None and c["seeds"] > 1]
    for ours in (c for c in cells if c["source"] == OURS):
        for published in (c for c in spread if (c["env_id"], c["protocol"]) == (ours["env_id"], ours["protocol"])):
            row = {"env_id": ours["env_id"], "protocol": ours["protocol"], "ours": ours["column"],
                   "published": published["column"], "ours_seeds": ours["seeds"]}  # fmt: skip
            if ours["seeds"] < 2:
                rows.append({**row, "verdict": f"not tested: {ours['seeds']} seed of ours, no spread"})
            elif ours["std"] == 0 and published["std"] == 0:
                rows.append({**row, "verdict": "not tested: no spread on either side"})
            else:
                rows.append({**row, **welch(ours, published)})
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
        "", f"Ours against each published value that gives a spread (its std and seeds), per env and protocol: ours "
        f"minus the published mean, its 95% interval and the p of Welch's t-test (two-sided, from each side's mean, "
        f"std and seeds: the published runs are not at hand; it assumes returns roughly normal over seeds), "
        f"Holm-adjusted over all the tests of this table ({tested}). A verdict needs Holm p <= {ALPHA}. With 3 seeds "
        f"a side only large differences can be found: the interval says how large a one the seeds leave open. "
        f"Published values without a spread are compared by value only, in the table above.", "",
        "| env | protocol | ours | published | ours - published | 95% interval | p | Holm p | verdict |",
        "| --- " * 9 + "|",
    ]  # fmt: skip
    for r in rows:
        numbers = (f"{r['difference']:+.0f} | [{r['low']:+.0f}, {r['high']:+.0f}] | {r['p']:.3f} | {r['holm_p']:.3f}"
                   if "p" in r else " |  |  | ")  # fmt: skip
        names = f"{r['env_id']} | {r['protocol']} | {r['ours']} | {r['published']}"
        lines.append(f"| {names} | {numbers} | {r['verdict']} |")
    return "\n".join(lines) + "\n"


def write_reference(out: Path, summary: list, per_run: list, left_out: list):
    """reference.md and reference.csv (a row per cell), with ours tested against the published spreads
    (reference_tests.csv), when the sweep has an env of the published values; the tables on the terminal."""
    published = read_reference()
    cells = reference_cells(summary + best_evals(per_run), published)
    if not cells:
        return
    tests = agreement(cells)
    table = reference_table(cells, published) + (agreement_table(tests) if tests else "")
    (out / "reference.md").write_text(table + left_out_note(left_out))
    write_csv(out / "reference.csv", cells)
    if tests:
        write_csv(out / "reference_tests.csv", tests)
    print(table)
