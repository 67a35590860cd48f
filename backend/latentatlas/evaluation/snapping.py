"""Quantile snapping of continuous latents: the zoo's quantisation control (issue 22, item 3).

A continuous model's latents are snapped, dimension by dimension, to ``levels`` values learned
from its training rows, so that it can be scored as discrete as a quantised model's codes.
For a dimension with training values t (n of them, the protocol's train split) and any value v:

- edges e_j = the *higher* empirical quantile of t at j / levels, j = 1 .. levels - 1
  (``numpy.quantile(t, j / levels, method="higher")``: the order statistic t_(ceil(j (n - 1) / levels)),
  counting from 0, so always a training value; 20 distinct values give 10 levels of two);
- v is first clipped to [min t, max t], then its level is b = #{j : e_j <= v} (0 .. levels - 1;
  a value equal to an edge goes to the upper level);
- the snapped value is the mean of the training values whose level is b.

Every level reached this way holds at least one training value (level 0 holds min t when it is
below e_1; level b >= 1 holds e_b), so the snapped value is always defined; tied values always
share a level, and tied edges leave the levels between them empty (a dimension with many tied
values gets fewer than ``levels`` values); a constant dimension snaps to its constant. Distinct
levels give distinct, increasing values, so the snap is monotone and keeps each dimension's scale.
"""

from __future__ import annotations

import numpy as np

SNAP_LEVELS = 10


def quantile_snap(train: np.ndarray, latents: np.ndarray, levels: int = SNAP_LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """``latents`` (N, D) snapped with edges and level means from ``train`` (n, D) (the rule in the
    module doc): (snapped values (N, D) float64, level indices (N, D) int64)."""
    train, latents = np.asarray(train, dtype=np.float64), np.asarray(latents, dtype=np.float64)
    if train.ndim != 2 or latents.ndim != 2 or train.shape[1] != latents.shape[1] or len(train) == 0:
        raise ValueError(f"need train (n >= 1, D) and latents (N, D) with one D, got {train.shape} and {latents.shape}")
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    snapped = np.empty_like(latents)
    indices = np.empty(latents.shape, dtype=np.int64)
    for d in range(train.shape[1]):
        edges = np.quantile(train[:, d], np.arange(1, levels) / levels, method="higher")
        train_levels = np.searchsorted(edges, train[:, d], side="right")
        sums = np.bincount(train_levels, weights=train[:, d], minlength=levels)
        counts = np.bincount(train_levels, minlength=levels)
        means = np.divide(sums, counts, out=np.full(levels, np.nan), where=counts > 0)
        clipped = np.clip(latents[:, d], train[:, d].min(), train[:, d].max())
        indices[:, d] = np.searchsorted(edges, clipped, side="right")
        snapped[:, d] = means[indices[:, d]]
    return snapped, indices
