"""The analysis the server shows beside a model, as pure functions: dims named after factors,
collapsed dims, the far-from-training verdict, the explained-entropy share, the log grid of C,
and the factor an ensemble hotspot follows."""

from __future__ import annotations

import numpy as np
import pytest

from latentatlas.evaluation.dim_names import COLLAPSED_POSTERIOR_SD, DIM_NAME_MIN_NMI, collapsed_dims, factor_dim_names
from latentatlas.evaluation.hotspot_factors import best_factor, hotspot_factor_means
from latentatlas.evaluation.novelty import FAR_BITS_PER_DIM, FAR_PSNR_DB, judge_novelty
from latentatlas.evaluation.ordered_latents import (
    CURVE_POINTS,
    explained_entropy_share,
    log_keep_grid,
    slider_keep_grid,
)

FACTORS = ["shape", "scale", "orientation", "posX", "posY"]


def test_a_dim_is_named_after_its_best_factor_only_when_informative_active_and_not_collapsed():
    rng = np.random.default_rng(0)
    nmi = rng.uniform(0, 0.5, size=(len(FACTORS), 40))
    active = rng.uniform(size=40) > 0.2
    scale = rng.uniform(0.1, 1.2, size=40)
    names = factor_dim_names(nmi, FACTORS, active, scale)
    assert len(names) == 40
    for d, name in enumerate(names):
        best = int(nmi[:, d].argmax())
        deserves = nmi[best, d] >= DIM_NAME_MIN_NMI and active[d] and scale[d] < COLLAPSED_POSTERIOR_SD
        assert (name is not None) == deserves
        if name is not None:
            assert name == (FACTORS[best], nmi[best, d])
    assert any(names) and not all(names)  # the draw exercises both verdicts


def test_dim_names_default_to_every_dim_active_and_none_collapsed_and_refuse_no_matrix():
    nmi = np.array([[DIM_NAME_MIN_NMI, DIM_NAME_MIN_NMI - 1e-9], [0.0, 0.0]])
    assert factor_dim_names(nmi, ["a", "b"]) == [("a", DIM_NAME_MIN_NMI), None]  # the threshold itself names
    with pytest.raises(ValueError, match="factors x dims"):
        factor_dim_names(np.zeros(3), ["a"])


def test_collapsed_dims_from_the_posterior_sd():
    scale = [0.0, COLLAPSED_POSTERIOR_SD - 1e-6, COLLAPSED_POSTERIOR_SD, 1.0]
    assert collapsed_dims(scale) == [False, False, True, True]


@pytest.mark.parametrize("margin", [-0.01, 0.01])
def test_judge_novelty_by_reconstruction_and_by_likelihood(margin):
    heldout = 25.0
    worse = margin < 0  # margin below the held-out PSNR minus the allowance: far
    assert judge_novelty(heldout - FAR_PSNR_DB + margin, heldout).far is worse
    bits = 2.0
    assert judge_novelty(40.0, heldout, bits + FAR_BITS_PER_DIM - margin, bits).far is worse
    # A rule with an unknown number does not judge.
    assert judge_novelty(0.0, None).far is False
    assert judge_novelty(None, 30.0).far is False  # no decoder: no reconstruction to judge
    assert judge_novelty(40.0, heldout, bits + 10, None).far is False


def test_an_exact_inverse_far_by_likelihood_is_not_promised_a_poor_reconstruction():
    """A flow reconstructs at its numerical limit, its held-out images too: far only by likelihood,
    and the verdict says so rather than 'expect a poor reconstruction'."""

    flow = judge_novelty(120.0, 120.0, 2.0 + FAR_BITS_PER_DIM + 0.5, 2.0)
    assert flow.far and flow.less_likely and not flow.worse_reconstruction
    assert "poor reconstruction" not in flow.verdict() and "likelihood" in flow.verdict()
    assert "poor reconstruction" in judge_novelty(10.0, 25.0).verdict()
    both = judge_novelty(10.0, 25.0, 5.0, 2.0)
    assert "poor reconstruction" in both.verdict() and "less likely" in both.verdict()
    assert judge_novelty(120.0, 120.0, 2.0, 2.0).verdict() == "."


def test_explained_entropy_share_counts_the_entropy_above_the_smallest():
    entropy = np.sort(np.random.default_rng(1).normal(0, 2, size=64))[::-1]  # differential: some negative
    share = explained_entropy_share(entropy)
    above = entropy - entropy.min()
    np.testing.assert_allclose(share, np.cumsum(above) / above.sum())
    assert np.all(np.diff(share) >= 0) and share[-1] == 1.0 and share[0] >= 0
    np.testing.assert_allclose(explained_entropy_share(np.full(8, -3.0)), np.arange(1, 9) / 8)  # equal: a ramp
    with pytest.raises(ValueError, match="finite"):
        explained_entropy_share(np.array([1.0, np.nan]))


@pytest.mark.parametrize("dim", [1, 2, 5, 12, 13, 64, 256, 12288, 100_000])
def test_log_keep_grid_is_log_spaced_distinct_and_spans_one_to_dim(dim):
    grid = log_keep_grid(dim, CURVE_POINTS)
    assert grid[0] == 1 and grid[-1] == dim and grid == sorted(set(grid)) and len(grid) <= CURVE_POINTS
    assert all(1 <= c <= dim for c in grid)
    targets = [dim ** (i / (CURVE_POINTS - 1)) for i in range(CURVE_POINTS)]
    assert all(min(abs(c - t) for c in grid) <= 0.5 for t in targets)  # every log-spaced point, rounded
    if dim >= 2**CURVE_POINTS:  # far apart on a log scale: no two round alike
        assert len(grid) == CURVE_POINTS


def test_hotspot_factor_means_ignore_missing_nmi():
    rng = np.random.default_rng(2)
    nmi = rng.uniform(size=(10, 3))
    nmi[[1, 4], 0] = np.nan
    nmi[:, 2] = np.nan  # a factor the analysis could not score
    channels = [1, 2, 4, 7]
    means = hotspot_factor_means(nmi, channels)
    assert means[0] == pytest.approx(nmi[[2, 7], 0].mean()) and means[1] == pytest.approx(nmi[channels, 1].mean())
    assert np.isnan(means[2])
    names = ["a", "b", "c"]
    assert best_factor(means, names) == (names[int(np.nanargmax(means))], pytest.approx(np.nanmax(means)))
    assert best_factor(np.full(3, np.nan), names) is None


def test_the_slider_grid_holds_the_curve_grid_and_the_cards_own_keeps():
    dim = 3072
    grid = slider_keep_grid(dim, [48, 192, 5000, 0])  # out-of-range card values are ignored
    assert set(log_keep_grid(dim, CURVE_POINTS)) <= set(grid) and {48, 192} <= set(grid)
    assert grid == sorted(set(grid)) and grid[0] == 1 and grid[-1] == dim and 5000 not in grid
