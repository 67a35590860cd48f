"""Naming latent dims by intervention (latentatlas.evaluation.intervention): the plan changes one
factor at a time around seeded bases, and the scores find the factor that moves each dim."""

from __future__ import annotations

import numpy as np
import pytest

from latentatlas.evaluation.intervention import (
    evenly_spaced_levels,
    intervention_plan,
    intervention_scores,
    name_dims,
)

SIZES = (3, 10, 40)


def test_levels_span_each_factor_evenly():
    assert evenly_spaced_levels(4, 6).tolist() == [0, 1, 2, 3]
    levels = evenly_spaced_levels(40, 6)
    assert len(levels) == 6 and levels[0] == 0 and levels[-1] == 39 and np.all(np.diff(levels) > 0)


def test_the_plan_changes_one_factor_at_a_time_and_is_seeded():
    plan = intervention_plan(SIZES, bases=4, per_factor=6, seed=7)
    per_base = sum(min(size, 6) for size in SIZES)
    assert plan.factors.shape == (4 * per_base, len(SIZES))
    assert np.all(plan.factors < np.asarray(SIZES)) and np.all(plan.factors >= 0)
    for b in range(4):
        for k in range(len(SIZES)):
            group = plan.factors[(plan.base == b) & (plan.factor == k)]
            others = np.delete(group, k, axis=1)
            assert np.all(others == others[0]), "only factor k may change within a group"
            assert len(np.unique(group[:, k])) == min(SIZES[k], 6)
    again = intervention_plan(SIZES, bases=4, per_factor=6, seed=7)
    assert np.array_equal(again.factors, plan.factors)
    assert not np.array_equal(intervention_plan(SIZES, bases=4, per_factor=6, seed=8).factors, plan.factors)
    with pytest.raises(ValueError):
        intervention_plan(SIZES, bases=0)


def test_scores_name_the_dim_after_the_factor_that_moves_it():
    plan = intervention_plan(SIZES, bases=3, per_factor=6, seed=0)
    f = plan.factors.astype(np.float64)
    rng = np.random.default_rng(0)
    latents = np.stack(
        [
            f[:, 1] / 9,  # follows factor 1
            f[:, 0] / 2 + 0.01 * rng.normal(size=len(f)),  # follows factor 0, a little noise
            np.full(len(f), 0.3),  # moves with nothing
            f[:, 0] / 2 + f[:, 1] / 9 + f[:, 2] / 39,  # shared by all three: no single factor
        ],
        axis=1,
    )
    scores = intervention_scores(latents, plan, latent_std=np.array([0.3, 0.4, 0.0, 0.5]))
    assert scores.shape == (4, len(SIZES)) and np.all(scores >= 0)
    assert scores[2].sum() == 0
    assert name_dims(scores, ["a", "b", "c"]) == ["b", "a", None, None]
    # the same latents with a larger sd per dim score less, in proportion
    halved = intervention_scores(latents, plan, latent_std=np.array([0.6, 0.8, 1.0, 1.0]))
    np.testing.assert_allclose(halved[:2], scores[:2] / 4)


def test_inactive_dims_are_never_named_however_they_score():
    """An inactive dim (posterior collapsed to the prior) divided by its tiny sd would score as if it
    followed a factor; the rule leaves it unnamed and names the active dims as before."""
    plan = intervention_plan(SIZES, bases=3, per_factor=6, seed=0)
    f = plan.factors.astype(np.float64)
    jitter = 1e-3 * f[:, 2] / 39  # an inactive dim's leak of factor 2, tiny
    latents = np.stack([f[:, 1] / 9, jitter], axis=1)
    scores = intervention_scores(latents, plan, latent_std=np.array([0.3, 1e-3]))
    assert name_dims(scores, ["a", "b", "c"]) == ["b", "c"]  # by the scores alone, the inactive dim is named
    assert name_dims(scores, ["a", "b", "c"], active=[True, False]) == ["b", None]
