"""Which generative factor each latent dim follows, by intervention (pure array math).

From a few random base cells of the factor grid, change one factor at a time over evenly spaced
levels, encode the images and see which dims move. With z_{b,k,j} the latent of base b with
factor k at its j-th level, the score of dim d for factor k is the within-group variance of
z_d, in units of z_d's variance over the data, averaged over the bases:

    S[d, k] = 1/B sum_b Var_j(z_{b,k,j,d}) / sd_d^2

A dim is named after its largest-scoring factor k* when S[d, k*] >= MIN_SCORE and k* accounts
for at least MIN_SHARE of the dim's total score, and the dim is active (an inactive dim, e.g. one
whose posterior collapsed to the prior, is never named: divided by its tiny sd_d^2 any jitter would
look like a factor); otherwise it stays unnamed. This is the
intervention view of disentanglement of Higgins et al. (2017) and Suter et al. (2019): a dim
follows a factor when changing that factor alone moves it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SCORE = 0.05
MIN_SHARE = 0.5


@dataclass(frozen=True)
class InterventionPlan:
    """The cells to encode: ``factors`` (J, K) level indices, and per row the base (``base``, J)
    and the factor that was changed (``factor``, J)."""

    factors: np.ndarray
    base: np.ndarray
    factor: np.ndarray
    bases: int


def evenly_spaced_levels(size: int, most: int) -> np.ndarray:
    """Every level of a factor of ``size`` levels when it has at most ``most``, else ``most``
    levels evenly spaced from the first to the last (rounded)."""
    if size <= most:
        return np.arange(size)
    return np.round(np.arange(most) * (size - 1) / (most - 1)).astype(np.int64)


def intervention_plan(
    factor_sizes: list[int] | tuple[int, ...], bases: int = 4, per_factor: int = 6, seed: int = 0
) -> InterventionPlan:
    """``bases`` seeded random base cells; for each, each factor in turn set to its evenly
    spaced levels (``per_factor`` at most), the others kept."""
    if bases < 1 or per_factor < 2:
        raise ValueError(f"bases must be >= 1 and per_factor >= 2 (got {bases}, {per_factor})")
    sizes = np.asarray(factor_sizes, dtype=np.int64)
    rng = np.random.default_rng(seed)
    rows, base_of, factor_of = [], [], []
    for b in range(bases):
        cell = rng.integers(0, sizes)
        for k, size in enumerate(sizes):
            for level in evenly_spaced_levels(int(size), per_factor):
                changed = cell.copy()
                changed[k] = level
                rows.append(changed)
                base_of.append(b)
                factor_of.append(k)
    return InterventionPlan(np.stack(rows), np.asarray(base_of), np.asarray(factor_of), bases)


def intervention_scores(
    latents: np.ndarray, plan: InterventionPlan, latent_std: np.ndarray | None = None
) -> np.ndarray:
    """S (D, K): the variance of each dim while only factor k changes, in units of the dim's
    variance (``latent_std``: its sd over the data; 1 where missing or not positive), averaged
    over the bases."""
    latents = np.asarray(latents, dtype=np.float64)
    dims = latents.shape[1]
    factors = plan.factors.shape[1]
    sd = np.ones(dims) if latent_std is None else np.asarray(latent_std, dtype=np.float64)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    scores = np.zeros((dims, factors))
    for k in range(factors):
        for b in range(plan.bases):
            group = latents[(plan.factor == k) & (plan.base == b)]
            if len(group):
                scores[:, k] += group.var(axis=0) / sd**2 / plan.bases
    return scores


def name_dims(
    scores: np.ndarray,
    factor_names: list[str],
    active: list[bool] | None = None,
    min_score: float = MIN_SCORE,
    min_share: float = MIN_SHARE,
) -> list[str | None]:
    """Each dim's factor: the best-scoring one when the dim is active (``active``, D: default all),
    scores at least ``min_score`` and holds at least ``min_share`` of the dim's total score; None otherwise."""
    rows = np.asarray(scores, dtype=np.float64)
    active = [True] * len(rows) if active is None else list(active)
    names: list[str | None] = []
    for row, on in zip(rows, active, strict=True):
        total = row.sum()
        best = int(row.argmax())
        named = on and total > 0 and row[best] >= min_score and row[best] / total >= min_share
        names.append(factor_names[best] if named else None)
    return names
