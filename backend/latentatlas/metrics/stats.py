"""Seed statistics of a score: mean, sd and a t-interval per group, Welch's t-test between two
groups, the paired t-test of two scores of the same runs, Holm's correction over several tests
(pure numpy/scipy over arrays of per-seed scores)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Summary:
    """n scores: mean, sample sd (ddof 1) and the ``confidence`` t-interval of the mean."""

    n: int
    mean: float
    sd: float
    low: float
    high: float


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b), its Welch t-interval, t, Welch-Satterthwaite df and the two-sided p."""

    diff: float
    low: float
    high: float
    t: float
    df: float
    p: float


def summarize(values: np.ndarray, confidence: float = 0.95) -> Summary:
    """mean +- t_{(1+c)/2, n-1} sd / sqrt(n) (Student's t-interval); n = 1 gives sd and bounds NaN."""
    x = np.asarray(values, dtype=np.float64)
    n, mean = x.size, float(x.mean())
    if n < 2:
        return Summary(n, mean, float("nan"), float("nan"), float("nan"))
    sd = float(x.std(ddof=1))
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * sd / np.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


def welch(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> Difference:
    """Welch's unequal-variance t-test of mean(a) - mean(b) (Welch 1947):
    se^2 = s_a^2/n_a + s_b^2/n_b, t = diff / se,
    df = se^4 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1)), interval diff +- t_{(1+c)/2, df} se.
    Identical constant groups give t = 0, p = 1 (equal) or t = +-inf, p = 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if min(a.size, b.size) < 2:
        raise ValueError(f"Welch's test needs at least 2 scores per group, got {a.size} and {b.size}")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = float(a.mean() - b.mean())
    se = np.sqrt(va + vb)
    if se == 0:
        return Difference(
            diff,
            diff,
            diff,
            0.0 if diff == 0 else float(np.sign(diff) * np.inf),
            float("nan"),
            1.0 if diff == 0 else 0.0,
        )
    df = float((va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)))
    t = diff / se
    half = stats.t.ppf((1 + confidence) / 2, df) * se
    return Difference(diff, diff - half, diff + half, float(t), df, float(2 * stats.t.sf(abs(t), df)))


def paired(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> Difference:
    """The paired t-test of mean(a - b) (Student 1908), a[i] and b[i] two scores of run i:
    d = a - b, se = sd(d) / sqrt(n), t = mean(d) / se, df = n - 1, interval mean(d) +- t_{(1+c)/2, df} se.
    Differences all equal give t = 0, p = 1 (all zero) or t = +-inf, p = 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a paired test needs two 1-D arrays of the same runs, got shapes {a.shape} and {b.shape}")
    if a.size < 2:
        raise ValueError(f"a paired test needs at least 2 runs, got {a.size}")
    d = a - b
    diff, df = float(d.mean()), float(d.size - 1)
    se = float(d.std(ddof=1) / np.sqrt(d.size))
    if se == 0:
        return Difference(
            diff, diff, diff, 0.0 if diff == 0 else float(np.sign(diff) * np.inf), df, 1.0 if diff == 0 else 0.0
        )
    t = diff / se
    half = stats.t.ppf((1 + confidence) / 2, df) * se
    return Difference(diff, diff - half, diff + half, float(t), df, float(2 * stats.t.sf(abs(t), df)))


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979): sorted p_(i) times (m - i), running max, capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p)
    adjusted = np.maximum.accumulate(p[order] * (p.size - np.arange(p.size)))
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out
