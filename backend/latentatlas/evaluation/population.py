"""A population of latents seen at once: the principal plane of N encoded dataset samples.

PCA (scikit-learn) of the latents z (N, D): the plane of the two directions of largest variance,
coordinates (z - mean) W^T with W the 2 x D principal axes; a new latent z' lands at
(z' - mean) W^T, so an upload can be drawn in the same scatter."""

from __future__ import annotations

import numpy as np


def principal_plane(latents: np.ndarray) -> dict:
    """{"x", "y": coordinates (N,), "mean": (D,), "components": (2, D), "explained_variance_ratio": (2,)}
    of latents (N, D); a latent of fewer than 2 dims (or constant) keeps its coordinates at 0."""
    latents = np.asarray(latents, dtype=np.float64)
    n, dim = latents.shape
    components = np.zeros((2, dim))
    ratio = np.zeros(2)
    mean = latents.mean(axis=0) if n else np.zeros(dim)
    if n >= 2 and dim >= 1 and np.ptp(latents, axis=0).max() > 0:
        from sklearn.decomposition import PCA  # imported on use: scikit-learn takes seconds to import

        pca = PCA(n_components=min(2, dim, n), svd_solver="full").fit(latents)
        k = pca.n_components_
        components[:k], ratio[:k] = pca.components_, pca.explained_variance_ratio_
    coords = (latents - mean) @ components.T
    return {
        "x": coords[:, 0],
        "y": coords[:, 1],
        "mean": mean,
        "components": components,
        "explained_variance_ratio": ratio,
    }


def gaussian_kl_per_dim(mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Average KL(q(z_d|x) || N(0, 1)) per dim in nats, over N posteriors N(mean, scale^2) (N, D):
    1/2 (mu^2 + s^2 - 1 - log s^2), the information a beta-VAE dim pays for (Higgins et al. 2017)."""
    mean, scale = np.asarray(mean, dtype=np.float64), np.maximum(np.asarray(scale, dtype=np.float64), 1e-12)
    return (0.5 * (mean**2 + scale**2 - 1.0 - 2.0 * np.log(scale))).mean(axis=0)


def code_entropy_per_dim(codes: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Entropy in bits of each dim's code usage over N encodings (N, D): what a deterministic
    quantised latent can carry about the data, H(z_d) = I(x; z_d)."""
    codes = np.asarray(codes, dtype=np.int64)
    entropies = []
    for d, size in enumerate(sizes):
        p = np.bincount(codes[:, d], minlength=size) / max(len(codes), 1)
        p = p[p > 0]
        entropies.append(float(-(p * np.log2(p)).sum()))
    return np.asarray(entropies)
