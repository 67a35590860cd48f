"""Paths through a latent space: the straight line between two latents, and the snap of
continuous latents to per-dimension codebooks (models with discrete codes, e.g. QLAE's latent
quantisation, Hsu et al. 2023), so that every point of a path is a latent the model can hold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def interpolate_linear(start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """(steps, D) points z_i = (1 - t_i) a + t_i b, t_i = i / (steps - 1): both ends included,
    evenly spaced (``steps`` >= 2; a and b of the same length D)."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    if start.shape != end.shape or start.ndim != 1:
        raise ValueError(f"the two latents must be vectors of one length, not {start.shape} and {end.shape}")
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps (its two ends), not {steps}")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return (1.0 - t) * start + t * end


def snap_to_codebooks(latents: np.ndarray, codebooks: Sequence[Sequence[float]]) -> np.ndarray:
    """(N, D) latents with each value of dim d replaced by the nearest value of codebook d
    (argmin |z_d - c|; a tie goes to the codebook's earlier value), as the quantiser does."""
    latents = np.asarray(latents, dtype=np.float64)
    if latents.ndim != 2 or latents.shape[1] != len(codebooks):
        raise ValueError(f"latents {latents.shape} need one codebook per dim, not {len(codebooks)}")
    snapped = np.empty_like(latents)
    for d, codebook in enumerate(codebooks):
        values = np.asarray(codebook, dtype=np.float64)
        snapped[:, d] = values[np.abs(latents[:, d, None] - values[None, :]).argmin(axis=1)]
    return snapped
