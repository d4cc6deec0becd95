"""Comparisons of groups of runs, for benchmark/report.py, a row each with its verdict: PyTorch against JAX, a
sweep against a baseline sweep (and the gate, the exit code, from its all-envs rows), and every variant against
the baseline variant, each family corrected by Holm. The statistics are report_stats'."""

import numpy as np

from report_runs import LABELS, has_variants
from report_stats import (
    ADJUSTED,
    COMPARISON_SAMPLES,
    aggregate_improvement,
    bootstrap_comparison,
    direction,
    holm,
    permutation_p,
)

COMPARED_PROTOCOLS = ("eval", "train")  # the order of the comparison rows
ALL_ENVS = "all envs"  # the env of an aggregate row, over the envs that both sides have
SCRIPT_COLUMNS = ("env_id", "protocol")  # a script comparison's groups
SWEEP_COLUMNS = ("env_id", "script", "protocol")  # a regression report's groups, and a variant comparison's
VARIANT_COLUMNS = ("script", "protocol", "env_id", "variant")  # a variant comparison's table: its families together
FAMILY_COLUMNS = ("script", "protocol")  # the rows of a variant comparison corrected together for multiplicity


def with_variant(columns: tuple, rows: list) -> tuple:
    """A comparison's group columns, with the variant after the env when the runs have variants: PyTorch is then
    compared with JAX, and a new sweep with its baseline, variant by variant."""
    return (columns[0], "variant", *columns[1:]) if has_variants(rows) else columns


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


def gate(regression: list) -> int:
    """The exit code of a regression report: 1 when an aggregate row (one per script and protocol) finds the new
    sweep worse, 0 otherwise. The per-env rows do not count."""
    return int(any(r["env_id"] == ALL_ENVS and r.get("direction") == -1 for r in regression))
