"""Retrieval in a latent space: the dataset images nearest to a latent, for models without a
decoder (and for any model): what the latent "looks like" is shown by the encoded dataset
samples closest to it.

Distances are Euclidean on standardised latents, ``d(a, b) = || (a - b) / s ||_2`` with ``s``
the index's per-dim standard deviation. Standardising puts every dim on the same footing (an
encoder's dims come in arbitrary, unequal scales: a contrastive backbone's units, a VAE's
collapsed dims near zero), so one wide dim does not decide the neighbours alone; Euclidean
rather than cosine because the explorer moves one coordinate at a time, and a move of ``t`` sds
along a dim should change the distance by ``t``, whatever the latent's norm.
"""

from __future__ import annotations

import numpy as np

MIN_SCALE = 1e-8
"""Floor of a dim's standard deviation (a constant dim divides by this, not by zero)."""

QUERY_CHUNK = 256
"""Queries compared with the whole index at once (bounds the (queries, N) distance block)."""


def standardiser(latents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dim mean and standard deviation (floored at MIN_SCALE) of ``latents`` (N, D)."""
    latents = np.asarray(latents, dtype=np.float64)
    return latents.mean(axis=0), np.maximum(latents.std(axis=0), MIN_SCALE)


def standardise(latents: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(z - mean) / scale`` per dim, float64."""
    return (np.asarray(latents, dtype=np.float64) - mean) / scale


def nearest(index: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``index`` (N, D) nearest to each of ``queries`` (Q, D) in Euclidean
    distance: (positions (Q, k), distances (Q, k)), nearest first; ties go to the lower position.
    Squared distances are ``|q|^2 - 2 q.x + |x|^2``, in chunks of QUERY_CHUNK queries."""
    index, queries = np.asarray(index, dtype=np.float64), np.atleast_2d(np.asarray(queries, dtype=np.float64))
    if index.ndim != 2 or queries.shape[1] != index.shape[1]:
        raise ValueError(f"index {index.shape} and queries {queries.shape} must be (N, D) and (Q, D)")
    if not 1 <= k <= len(index):
        raise ValueError(f"k = {k}: the index has {len(index)} rows (1 <= k <= {len(index)})")
    norms = (index**2).sum(axis=1)
    positions, distances = [], []
    for start in range(0, len(queries), QUERY_CHUNK):
        chunk = queries[start : start + QUERY_CHUNK]
        squared = np.maximum((chunk**2).sum(axis=1, keepdims=True) - 2 * chunk @ index.T + norms, 0.0)
        order = np.argsort(squared, axis=1, kind="stable")[:, :k]  # stable: ties stay in position order
        positions.append(order)
        distances.append(np.sqrt(np.take_along_axis(squared, order, axis=1)))
    return np.concatenate(positions), np.concatenate(distances)


def sweep_queries(base: np.ndarray, dims: list[int], values: list[list[float]]) -> np.ndarray:
    """The latents of a traversal: row r sets dim ``dims[r]`` to each of ``values[r]``, the rest
    stays at ``base`` (D,); (rows * columns, D) row-major, as a decoded traversal grid."""
    columns = len(values[0])
    queries = np.tile(np.asarray(base, dtype=np.float64), (len(dims) * columns, 1))
    for row, (dim, sweep) in enumerate(zip(dims, values, strict=True)):
        queries[row * columns : (row + 1) * columns, dim] = sweep
    return queries
