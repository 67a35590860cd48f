"""Summaries of ordered latents (EOFlow, :mod:`latentatlas.families.eoflow`): the cumulative
share of explained entropy, and the numbers of top latents C worth showing on a log scale."""

from __future__ import annotations

import math

import numpy as np

KEEP_GRID_POINTS = 12


def explained_entropy_share(entropy: np.ndarray) -> np.ndarray:
    """share_k = sum_{i<=k} (H_i - H_min) / sum_i (H_i - H_min), H_min the smallest entropy.

    Explained entropy is differential (it can be negative), so the share counts the entropy above
    the least informative latent; non-decreasing in [0, 1], ending at 1; a linear ramp k / D when
    all H_i are equal."""
    entropy = np.asarray(entropy, dtype=np.float64)
    if entropy.ndim != 1 or not entropy.size or not np.isfinite(entropy).all():
        raise ValueError("explained entropy must be a non-empty vector of finite values")
    above = np.clip(entropy - entropy.min(), 0, None)
    total = float(above.sum())
    share = np.cumsum(above) / total if total > 0 else np.arange(1, len(entropy) + 1) / len(entropy)
    share[-1] = 1.0
    return np.clip(share, 0, 1)


def log_keep_grid(dim: int, points: int = KEEP_GRID_POINTS) -> list[int]:
    """Up to ``points`` distinct integers in 1..dim evenly spaced on a log scale, 1 and dim
    included: round(dim^(i / (points - 1))) for i = 0 .. points - 1 (halves round up)."""
    if dim <= 1 or points <= 1:
        return [max(1, dim)]
    return sorted({math.floor(math.exp(math.log(dim) * i / (points - 1)) + 0.5) for i in range(points)})
