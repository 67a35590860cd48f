"""A population of latents seen at once: its principal directions and plane.

PCA (scikit-learn) of the latents z (N, D): the unit directions v_k of largest variance, with
their variances (the sd along v_k is the square root) and their share of the total variance;
the plane of the first two places the latents at (z - mean) W^T with W the 2 x D principal axes,
and a new latent z' at (z' - mean) W^T, so an upload can be drawn in the same scatter."""

from __future__ import annotations

import numpy as np

EXACT_SVD_DIMS = 256
"""Latents of up to this many dims are decomposed exactly (full SVD); wider ones (an ordered flow's,
the image's size) by seeded randomized SVD (Halko et al. 2011), which finds the top directions of
N x D in O(N D count) instead of O(N D min(N, D))."""
NOISE_VARIANCE_SHARE = 1e-12
"""A direction with less than this share of the variance found is rounding noise: left out."""


def principal_directions(latents: np.ndarray, count: int) -> dict:
    """{"mean": (D,), "components": (count, D) unit rows, "explained_variance": (count,),
    "explained_variance_ratio": (count,)} of latents (N, D), directions ordered by variance
    (scikit-learn's sign convention; exact up to EXACT_SVD_DIMS dims); where fewer than ``count``
    directions exist (min(N, D), constant latents, or directions of noise variance) the rest are zero rows with zero variance."""
    latents = np.asarray(latents, dtype=np.float64)
    n, dim = latents.shape
    components = np.zeros((count, dim))
    variance, ratio = np.zeros(count), np.zeros(count)
    mean = latents.mean(axis=0) if n else np.zeros(dim)
    if n >= 2 and dim >= 1 and np.ptp(latents, axis=0).max() > 0:
        from sklearn.decomposition import PCA  # imported on use: scikit-learn takes seconds to import

        solver = "full" if dim <= EXACT_SVD_DIMS else "randomized"
        pca = PCA(n_components=min(count, dim, n), svd_solver=solver, random_state=0).fit(latents)
        # directions whose variance is rounding noise (a line's second one) count as absent
        k = int((pca.explained_variance_ > NOISE_VARIANCE_SHARE * pca.explained_variance_.sum()).sum())
        components[:k], variance[:k], ratio[:k] = (
            pca.components_[:k],
            pca.explained_variance_[:k],
            pca.explained_variance_ratio_[:k],
        )
    return {"mean": mean, "components": components, "explained_variance": variance, "explained_variance_ratio": ratio}


def principal_plane(latents: np.ndarray) -> dict:
    """{"x", "y": coordinates (N,), "mean": (D,), "components": (2, D), "explained_variance_ratio": (2,)}
    of latents (N, D); a latent of fewer than 2 dims (or constant) keeps its coordinates at 0."""
    latents = np.asarray(latents, dtype=np.float64)
    pca = principal_directions(latents, 2)
    coords = (latents - pca["mean"]) @ pca["components"].T
    return {
        "x": coords[:, 0],
        "y": coords[:, 1],
        "mean": pca["mean"],
        "components": pca["components"],
        "explained_variance_ratio": pca["explained_variance_ratio"],
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
