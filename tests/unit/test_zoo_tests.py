"""The zoo's tests over seeds against scipy: the paired one-sided test against a member's own null
(ttest_1samp / ttest_rel with alternative=), TOST as two one-sided t-tests, the exact signed-rank
and rank-sum tests (wilcoxon / mannwhitneyu, exact), on fixed numbers; Holm by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from latentatlas.evaluation.zoo_tests import against_null, equivalence, rank_sum_p, signed_rank_p
from latentatlas.metrics.stats import holm

SCORES = np.array([0.41, 0.52, 0.38, 0.47, 0.60])
NULLS = np.array([0.36, 0.40, 0.39, 0.33, 0.45])
OTHER = np.array([0.43, 0.50, 0.35, 0.49, 0.57])


def test_against_null_is_scipys_one_sided_paired_t_test():
    test = against_null(SCORES, NULLS)
    paired = stats.ttest_rel(SCORES, NULLS, alternative="greater")
    one_sample = stats.ttest_1samp(SCORES - NULLS, 0.0, alternative="greater")
    assert test.p == pytest.approx(paired.pvalue, rel=1e-12) == pytest.approx(one_sample.pvalue, rel=1e-12)
    assert (test.t, test.df, test.n) == (pytest.approx(paired.statistic), 4, 5)
    assert test.diff == pytest.approx((SCORES - NULLS).mean())
    low = stats.ttest_1samp(SCORES - NULLS, 0.0, alternative="greater").confidence_interval(0.95).low
    assert test.low == pytest.approx(low, rel=1e-12)
    assert test.p_rank == pytest.approx(stats.wilcoxon(SCORES - NULLS, alternative="greater", method="exact").pvalue)


def test_a_score_below_its_null_does_not_clear_it():
    test = against_null(NULLS, SCORES)
    assert test.diff < 0 and test.p > 0.9 and test.p_rank > 0.9


def test_tost_is_two_one_sided_scipy_t_tests_and_its_90_interval():
    bound = 0.05
    d = SCORES - OTHER
    test = equivalence(SCORES, OTHER, bound)
    lower = stats.ttest_1samp(d, -bound, alternative="greater").pvalue
    upper = stats.ttest_1samp(d, bound, alternative="less").pvalue
    assert (test.p_lower, test.p_upper) == (pytest.approx(lower, rel=1e-12), pytest.approx(upper, rel=1e-12))
    assert test.p == max(test.p_lower, test.p_upper)
    interval = stats.ttest_1samp(d, 0.0).confidence_interval(0.90)
    assert (test.low, test.high) == (pytest.approx(interval.low), pytest.approx(interval.high))
    # p < 0.05 exactly when the 90 % interval lies inside the bounds
    for b in (0.01, 0.03, 0.05, 0.2):
        t = equivalence(SCORES, OTHER, b)
        assert (t.p < 0.05) == (-b < t.low and t.high < b)
    rank = max(
        stats.wilcoxon(d + bound, alternative="greater", method="exact").pvalue,
        stats.wilcoxon(d - bound, alternative="less", method="exact").pvalue,
    )
    assert test.p_rank == pytest.approx(rank)
    with pytest.raises(ValueError, match="bound"):
        equivalence(SCORES, OTHER, 0.0)


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_signed_rank_is_scipys_exact_wilcoxon(alternative):
    rng = np.random.default_rng(3)
    for n in (3, 5, 8):
        d = rng.normal(0.1, 0.2, n)
        expected = stats.wilcoxon(d, alternative=alternative, method="exact").pvalue
        assert signed_rank_p(d, alternative) == pytest.approx(expected, rel=1e-12)


def test_signed_rank_floor_with_five_seeds():
    """Five positive differences: the smallest one-sided p five pairs can give, 1/32."""
    assert signed_rank_p(np.array([0.1, 0.2, 0.3, 0.4, 0.5])) == 1 / 32
    assert signed_rank_p(np.zeros(4)) == 1.0


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_rank_sum_is_scipys_exact_mann_whitney(alternative):
    expected = stats.mannwhitneyu(SCORES, NULLS, alternative=alternative, method="exact").pvalue
    assert rank_sum_p(SCORES, NULLS, alternative) == pytest.approx(expected, rel=1e-12)
    assert rank_sum_p(np.array([5.0, 6, 7, 8, 9]), np.array([0.0, 1, 2, 3, 4])) == pytest.approx(2 / 252)


def test_holm_by_hand():
    """p sorted 0.001 < 0.01 < 0.02 < 0.04 (m = 4): times 4, 3, 2, 1 = 0.004, 0.03, 0.04, 0.04."""
    adjusted = holm(np.array([0.04, 0.001, 0.02, 0.01]))
    assert adjusted.tolist() == pytest.approx([0.04, 0.004, 0.04, 0.03])
