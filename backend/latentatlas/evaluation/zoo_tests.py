"""The zoo's tests over seeds, on arrays of per-seed scores: a member against its own null (paired,
one-sided), two variants' equivalence within a bound (TOST: two one-sided paired t-tests), and the
exact rank tests beside them (Wilcoxon signed-rank for paired differences, Wilcoxon rank-sum /
Mann-Whitney for two groups), whose verdicts need no t-approximation.

Every t-test here is Student's on the paired differences d (n pairs, mean m, sd s, se = s / sqrt n,
df = n - 1). The exact rank tests enumerate every sign flip (2^n) or every split of the pooled
ranks (C(n_a + n_b, n_a)) with average ranks for ties, so they stay exact with ties and small n;
with 5 seeds a one-sided signed-rank p is never below 1/32 and a two-sided rank-sum p never below
2/252, which is what a rank-based sensitivity column shows.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

MAX_EXACT_PAIRS = 16
"""Up to this many pairs the signed-rank test enumerates all 2^n sign flips (65,536)."""
MAX_EXACT_SPLITS = 100_000
"""Up to this many splits of the pooled ranks the rank-sum test enumerates them all."""


@dataclass(frozen=True)
class PairedTest:
    """A one-sided paired t-test of mean(d) > 0 with d = score - null: n, mean(d), the one-sided
    95 % lower bound of the mean, t, df, p; and the exact signed-rank p of the same hypothesis."""

    n: int
    diff: float
    low: float
    t: float
    df: int
    p: float
    p_rank: float


@dataclass(frozen=True)
class Equivalence:
    """TOST of |mean(d)| < bound for paired differences d = a - b (Schuirmann 1987): the two
    one-sided t-tests (mean(d) > -bound: ``p_lower``; mean(d) < bound: ``p_upper``), p = their
    larger one, the 90 % interval of mean(d) (inside +-bound exactly when p < 0.05), and the
    exact signed-rank TOST's p (the larger of the signed-rank tests of d + bound > 0 and
    d - bound < 0)."""

    n: int
    bound: float
    diff: float
    low: float
    high: float
    p_lower: float
    p_upper: float
    p: float
    p_rank: float


def _t_sf(t: float, df: int) -> float:
    """P(T > t), T ~ Student's t with df degrees of freedom; +-inf where the sd is 0."""
    return float(stats.t.sf(t, df))


def _mean_se(d: np.ndarray) -> tuple[float, float]:
    if d.size < 2:
        raise ValueError(f"a paired test needs at least 2 pairs, got {d.size}")
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))


def _t_statistic(mean: float, se: float) -> float:
    if se > 0:
        return mean / se
    return 0.0 if mean == 0 else float(np.sign(mean) * np.inf)


def signed_rank_p(d: np.ndarray, alternative: str = "greater") -> float:
    """Exact p of the Wilcoxon signed-rank test (Wilcoxon 1945) that d is centred above 0
    (``greater``), below (``less``) or away from it (``two-sided``): zeros dropped (Wilcoxon's
    rule), |d| ranked with average ranks for ties, W+ = the sum of the positive ranks, p the share of
    all 2^n sign flips with W+ at least (at most) the observed; two-sided: twice the smaller tail,
    at most 1. With no pair left, p = 1."""
    d = np.asarray(d, dtype=np.float64)
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    if d.size > MAX_EXACT_PAIRS:
        return float(stats.wilcoxon(d, alternative=alternative, method="asymptotic").pvalue)
    ranks = stats.rankdata(np.abs(d))
    observed = ranks[d > 0].sum()
    signs = np.array(list(itertools.product((0.0, 1.0), repeat=d.size)))
    totals = signs @ ranks
    upper = float(np.mean(totals >= observed - 1e-9))
    lower = float(np.mean(totals <= observed + 1e-9))
    return _tail(upper, lower, alternative)


def rank_sum_p(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided") -> float:
    """Exact p of the Wilcoxon rank-sum (Mann-Whitney) test that a is shifted above b
    (``greater``), below (``less``) or either way (``two-sided``): the pooled scores ranked with
    average ranks for ties, R = the sum of a's ranks, p the share of all splits of the pooled ranks
    into groups of a's and b's sizes with R at least (at most) the observed; two-sided: twice the
    smaller tail, at most 1."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if min(a.size, b.size) < 1:
        raise ValueError(f"a rank-sum test needs scores in both groups, got {a.size} and {b.size}")
    pooled = stats.rankdata(np.concatenate([a, b]))
    observed = pooled[: a.size].sum()
    if math.comb(a.size + b.size, a.size) > MAX_EXACT_SPLITS:
        return float(stats.mannwhitneyu(a, b, alternative=alternative, method="asymptotic").pvalue)
    totals = np.array([pooled[list(group)].sum() for group in itertools.combinations(range(pooled.size), a.size)])
    upper = float(np.mean(totals >= observed - 1e-9))
    lower = float(np.mean(totals <= observed + 1e-9))
    return _tail(upper, lower, alternative)


def _tail(upper: float, lower: float, alternative: str) -> float:
    if alternative == "greater":
        return upper
    if alternative == "less":
        return lower
    if alternative == "two-sided":
        return min(1.0, 2 * min(upper, lower))
    raise ValueError(f"alternative must be greater, less or two-sided, got {alternative!r}")


def against_null(scores: np.ndarray, nulls: np.ndarray) -> PairedTest:
    """Does a variant clear its null? d_s = score_s - null_s per seed s (each member's own
    shuffled-rows null mean); one-sided paired t-test of mean(d) > 0: t = m / se, p = P(T_{n-1} > t),
    lower bound m - t_{0.95, n-1} se; beside it the exact signed-rank p."""
    d = np.asarray(scores, dtype=np.float64) - np.asarray(nulls, dtype=np.float64)
    mean, se = _mean_se(d)
    df = d.size - 1
    t = _t_statistic(mean, se)
    low = mean - float(stats.t.ppf(0.95, df)) * se
    return PairedTest(d.size, mean, low, t, df, _t_sf(t, df), signed_rank_p(d, "greater"))


def equivalence(a: np.ndarray, b: np.ndarray, bound: float) -> Equivalence:
    """TOST over seed-matched pairs, d = a - b: p_lower = P(T_{n-1} > (m + bound) / se),
    p_upper = P(T_{n-1} < (m - bound) / se), p = max(p_lower, p_upper); the 90 % interval
    m +- t_{0.95, n-1} se. ``bound`` > 0, in the scores' units."""
    if not bound > 0:
        raise ValueError(f"an equivalence bound must be > 0, got {bound}")
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mean, se = _mean_se(d)
    df = d.size - 1
    p_lower = _t_sf(_t_statistic(mean + bound, se), df)
    p_upper = _t_sf(-_t_statistic(mean - bound, se), df)
    half = float(stats.t.ppf(0.95, df)) * se
    p_rank = max(signed_rank_p(d + bound, "greater"), signed_rank_p(d - bound, "less"))
    return Equivalence(d.size, bound, mean, mean - half, mean + half, p_lower, p_upper, max(p_lower, p_upper), p_rank)
