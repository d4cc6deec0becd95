"""The error rates of benchmark/report.py's comparisons, by simulation (report.py --calibrate and
--calibrate-variants): how often a comparison of two groups, the regression gate and a variant study's
Holm-corrected family declare a difference when there is none, and how often they find one that there is."""

import math
import warnings

import numpy as np

from report_compare import ALL_ENVS, compare_variants
from report_stats import (
    ADJUSTED,
    ALPHA,
    COMPARISON_SAMPLES,
    EXACT_ARRANGEMENTS,
    PERMUTATIONS,
    TOLERANCE,
    aggregate_improvement,
    bootstrap_comparison,
    direction,
    permutation_p,
)

CALIBRATION_COLUMNS = {
    "interval": "interval excludes 0.5",
    "comparison": "and two-sided p <= 0.05 (script comparison)",
    "interval_below": "interval below 0.5",
    "regression": "and one-sided p <= 0.05 (regression gate)",
}
GATE_COLUMNS = {"gate": "gate: the all-envs row finds NEW worse", "any_env": "a per-env row finds NEW worse"}
VARIANT_CALIBRATION = {
    "false_alarm": "a false alarm in the family",
    "all_envs": "v1's all-envs row finds it better",
    "env": "v1's row of an env where it is better finds it",
}


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
