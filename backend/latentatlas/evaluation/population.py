"""A population of latents seen at once: the principal plane of N encoded dataset samples.

PCA (scikit-learn) of the latents z (N, D): the plane of the two directions of largest variance,
coordinates (z - mean) W^T with W the 2 x D principal axes; a new latent z' lands at
(z' - mean) W^T, so an upload can be drawn in the same scatter."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA


def principal_plane(latents: np.ndarray) -> dict:
    """{"x", "y": coordinates (N,), "mean": (D,), "components": (2, D), "explained_variance_ratio": (2,)}
    of latents (N, D); a latent of fewer than 2 dims (or constant) keeps its coordinates at 0."""
    latents = np.asarray(latents, dtype=np.float64)
    n, dim = latents.shape
    components = np.zeros((2, dim))
    ratio = np.zeros(2)
    mean = latents.mean(axis=0) if n else np.zeros(dim)
    if n >= 2 and dim >= 1 and np.ptp(latents, axis=0).max() > 0:
        pca = PCA(n_components=min(2, dim, n), svd_solver="full").fit(latents)
        k = pca.n_components_
        components[:k], ratio[:k] = pca.components_, pca.explained_variance_ratio_
    coords = (latents - mean) @ components.T
    return {"x": coords[:, 0], "y": coords[:, 1], "mean": mean, "components": components, "explained_variance_ratio": ratio}
