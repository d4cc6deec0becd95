"""The tables of benchmark/report.py: the final returns over seeds per group (results.md and .csv, runs.csv),
the comparison tables with their notes, and what a report leaves out."""

import csv
from pathlib import Path

import numpy as np

from report_compare import ALL_ENVS
from report_runs import has_variants
from report_stats import ADJUSTED, ALPHA, iqm

RUN_COLUMNS = ("env_id", "variant", "script", "protocol")  # what the rows of the results table tell apart
GATE_NOTE = (
    f' The gate (the exit code) is decided by the "{ALL_ENVS}" rows only, one per script and protocol: it fails '
    "when one finds NEW worse. The per-env rows are information: each raises a false alarm in about 5% of cases, "
    "so among many one often does."
)


def shown(rows: list) -> list:
    """Rows as written: without the variant column when no run has a variant (a sweep without variants' files are
    as they were before variants existed)."""
    return rows if has_variants(rows) else [{k: v for k, v in r.items() if k != "variant"} for r in rows]


def summarise(per_run: list) -> list:
    """One row per env x variant x script x protocol with the statistics over seeds: mean, sample std, IQM, and the
    range of the seeds [min, max] (with 3 seeds, all that a percentile bootstrap of the IQM would give: its 95%
    interval is exactly [min, max])."""
    rows = []
    for key in dict.fromkeys(tuple(r[c] for c in RUN_COLUMNS) for r in per_run):
        group = [r for r in per_run if tuple(r[c] for c in RUN_COLUMNS) == key]
        finals = np.array([r["final_return"] for r in group])
        rows.append({
            **dict(zip(RUN_COLUMNS, key)), "seeds": len(finals),
            "steps": group[0]["steps"], "mean": finals.mean(), "std": finals.std(ddof=1) if len(finals) > 1 else 0.0,
            "iqm": iqm(finals), "min": finals.min(), "max": finals.max(),
        })  # fmt: skip
    return rows


def write_csv(path: Path, rows: list):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(key for row in rows for key in row)))
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows: list) -> str:
    """The results table of summarise's rows, with a variant column when the runs have variants."""
    names = [c for c in RUN_COLUMNS if c in rows[0]]
    lines = [
        "| " + " | ".join(c.removesuffix("_id") for c in names)
        + " | seeds | steps | mean +- sample std | IQM | range of the seeds [min, max] |",
        "| --- " * (len(names) + 5) + "|",
    ]
    for r in rows:
        lines.append(
            "| " + " | ".join(str(r[c]) for c in names) + f" | {r['seeds']} | {r['steps']:,} "
            f"| {r['mean']:.1f} +- {r['std']:.1f} | {r['iqm']:.1f} | [{r['min']:.1f}, {r['max']:.1f}] |"
        )
    return "\n".join(lines) + "\n"


def left_out_note(left_out: list) -> str:
    """The tasks and runs a report leaves out, and why, as a paragraph for the end of a markdown file."""
    if not left_out:
        return ""
    lines = "".join(f"- `{item['task']}`: {item['reason']}\n" for item in left_out)
    return f"\nLeft out of this report (not finished, or a final return that is not finite):\n\n{lines}"


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
    interval = "[95% stratified-bootstrap interval]"
    headers = [*(c.removesuffix("_id") for c in columns), f"seeds {x} vs {y}", f"P({x} > {y}) {interval}"]
    lines = [
        (
            f"Final returns of {x} against {y} over seeds. P({x} > {y}): the probability that a run of {x} beats a "
            f"run of {y}, and the difference of the IQMs, each with a 95% stratified-bootstrap interval (rliable; with "
            f"few seeds too narrow: 3 runs all above 3 others give P [1.00, 1.00], so the test must agree); "
            f"p: permutation test of P({x} > {y}) = 0.5, {test}. A difference is declared when the interval "
            f'excludes 0.5 and {(holm_column or ["p"])[0]} <= {ALPHA}. Rows "{ALL_ENVS}": P({x} > {y}) averaged '
            f"over the envs that both have (rliable's aggregate probability of improvement; seeds summed over those "
            f"envs), its interval resampling runs within each env, p exchanging runs within each env only.{note}"
        ),
        "",
        "| " + " | ".join([*headers, f"IQM {x} - {y} {interval}", "p", *holm_column, "verdict"]) + " |",
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


def print_left_out(left_out: list):
    for item in left_out:
        print(f"not in the report: {item['task']} ({item['reason']})")
