"""Statistics of final returns over seeds, for benchmark/report.py: the IQM,
rliable's probability of improvement P(X > Y) with its stratified bootstrap (of one env, or averaged over envs),
the stratified permutation test, Holm-Bonferroni, and the rule that declares a difference (direction)."""

import itertools
import math

import numpy as np
from rliable import library, metrics

COMPARISON_SAMPLES = 2_000  # rliable's bootstrap computes the metrics once per resample in Python: ~1 s a comparison
ALPHA = 0.05  # the level at which a comparison declares a difference
EXACT_ARRANGEMENTS = 20_000  # up to this many arrangements of the runs, the permutation test tries them all
PERMUTATIONS = 9_999  # otherwise it draws this many (fixed seed)
TOLERANCE = 1e-9  # a statistic within this of the observed one counts as equal
ADJUSTED = "holm_p"  # a corrected comparison's p-value, which then decides its verdict


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: drop the lowest and highest quarter (rounded down) and average the rest."""
    values = np.sort(values)
    cut = int(0.25 * len(values))
    return float(values[cut : len(values) - cut].mean())


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


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values: the i-th smallest of m times (m - i + 1), made non-decreasing in that
    order, at most 1. Declaring the tests with an adjusted p <= ALPHA holds the chance of any false alarm among
    the m at ALPHA or below, whatever their dependence."""
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(len(p_values))
    steps = np.arange(len(p_values), 0, -1)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps * np.asarray(p_values)[order]))
    return adjusted
