"""Summaries of ordered latents (EOFlow, :mod:`latentatlas.families.eoflow`): the cumulative
share of explained entropy, and the numbers of top latents C worth showing on a log scale."""

from __future__ import annotations

import math

import numpy as np

# The app's C slider has this many log-spaced positions, its PSNR-against-C curves this many points.
SLIDER_POINTS = 240
CURVE_POINTS = 16


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


def log_keep_grid(dim: int, points: int) -> list[int]:
    """Up to ``points`` distinct integers in 1..dim evenly spaced on a log scale, 1 and dim
    included: round(dim^(i / (points - 1))) for i = 0 .. points - 1 (halves round up)."""
    if dim <= 1 or points <= 1:
        return [max(1, dim)]
    return sorted({math.floor(math.exp(math.log(dim) * i / (points - 1)) + 0.5) for i in range(points)})


def slider_keep_grid(dim: int, card_keeps: list[int]) -> list[int]:
    """The C values a top-C slider offers: SLIDER_POINTS log-spaced ones, the CURVE_POINTS of the
    curves, and the C values of the card's own truncation curve (so its points can be revisited)."""
    kept = {c for c in card_keeps if isinstance(c, int) and 1 <= c <= dim}
    return sorted(set(log_keep_grid(dim, SLIDER_POINTS)) | set(log_keep_grid(dim, CURVE_POINTS)) | kept)
