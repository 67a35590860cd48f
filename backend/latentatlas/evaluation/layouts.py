"""Non-linear 2-D layouts of a population of latents, beside its principal plane
(:mod:`latentatlas.evaluation.population`): what the Embedding Projector offers.

- **UMAP** (McInnes, Healy & Melville 2018; ``umap-learn``): a fuzzy k-nearest-neighbour graph of
  the latents (``n_neighbors`` 15, Euclidean) laid out in 2-D by minimising the cross-entropy
  between its edge weights and those of the layout's, ``1 / (1 + a d^(2b))`` (``min_dist`` 0.1
  fixes a and b). Seeded: single-threaded and reproducible.
- **t-SNE** (van der Maaten & Hinton 2008; scikit-learn's Barnes-Hut): Gaussian affinities of
  perplexity 30 matched by Student-t ones in 2-D (KL divergence), PCA initialisation, learning
  rate ``max(N / 12 / 4, 50)`` ("auto"), 1,000 iterations.

Latents are standardised per dim first (zero mean, unit sd; a constant dim stays 0), so a dim's
scale does not decide the neighbourhoods. Both cost seconds to minutes on a CPU: at most
:data:`MAX_LAYOUT_POINTS` points.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

LayoutMethod = Literal["umap", "tsne"]
METHODS: tuple[LayoutMethod, ...] = ("umap", "tsne")
MAX_LAYOUT_POINTS = 20_000
"""UMAP of 20,000 points took 44 s and t-SNE of 5,000 29 s on this 2-core machine under load."""
UMAP_NEIGHBOURS, TSNE_PERPLEXITY = 15, 30.0
UMAP_PARAMS: dict[str, float | int | str] = {"n_neighbors": UMAP_NEIGHBOURS, "min_dist": 0.1, "metric": "euclidean"}
TSNE_PARAMS: dict[str, float | int | str] = {
    "perplexity": TSNE_PERPLEXITY,
    "init": "pca",
    "learning_rate": "auto",
    "max_iter": 1000,
}


def standardized(latents: np.ndarray) -> np.ndarray:
    """(z - mean) / sd per dim, a constant dim left at 0."""
    latents = np.asarray(latents, dtype=np.float64)
    sd = latents.std(axis=0)
    return (latents - latents.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def layout_2d(latents: np.ndarray, method: LayoutMethod, seed: int = 0) -> np.ndarray:
    """(N, 2) float32 coordinates of latents (N, D) by ``method`` (see the module doc), seeded."""
    if method not in METHODS:
        raise ValueError(f"unknown layout {method!r}: one of {', '.join(METHODS)}")
    n = len(latents)
    if not 3 <= n <= MAX_LAYOUT_POINTS:
        raise ValueError(f"a {method} layout needs 3 to {MAX_LAYOUT_POINTS:,} points, got {n:,}")
    x = standardized(latents).astype(np.float32)
    if method == "umap":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numba's and umap's deprecation and n_jobs notes
            import umap  # imported on use: numba compiles on first use

            params = UMAP_PARAMS | {"n_neighbors": min(UMAP_NEIGHBOURS, n - 1)}
            coords = umap.UMAP(n_components=2, random_state=seed, n_jobs=1, **params).fit_transform(x)
    else:
        from sklearn.manifold import TSNE

        params = TSNE_PARAMS | {"perplexity": min(TSNE_PERPLEXITY, (n - 1) / 3)}
        coords = TSNE(n_components=2, random_state=seed, **params).fit_transform(x)
    return np.asarray(coords, dtype=np.float32)
