"""Correlated factors for training: one pair of a grid's factors drawn jointly, the rest uniform.

The correlation of Traeuble et al. (2021), "On Disentangled Representations Learned from
Correlated Data", as Roth et al. (2023, HFS) use it: with each factor's index scaled to [0, 1]
(c = k / (size - 1)), the pair (A, B) is drawn from

    p(c_A, c_B) proportional to exp(-(c_A - c_B)^2 / (2 sigma^2))

over the grid of A x B (a Gaussian band around the diagonal, truncated to the grid; small sigma:
strongly correlated, large sigma: nearly independent), every other factor uniform and independent.
Training draws from it; evaluation keeps the uncorrelated grid. Pure and seeded: every draw
comes from the numpy Generator passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentatlas.data.base import FactorDataset


@dataclass(frozen=True)
class CorrelatedPair:
    """Factors ``first`` and ``second`` (indices into the grid's factors), drawn with width ``sigma``."""

    first: int
    second: int
    sigma: float

    def __post_init__(self) -> None:
        if self.first == self.second:
            raise ValueError(f"a factor cannot be correlated with itself (factor {self.first})")
        if not self.sigma > 0:
            raise ValueError(f"the correlation sigma must be positive, got {self.sigma}")


def parse_correlated_pair(text: str, factor_names: tuple[str, ...], sigma: float) -> CorrelatedPair:
    """``"A,B"`` (factor names or indices, e.g. ``"scale,posX"`` or ``"1,3"``) -> a CorrelatedPair;
    a ValueError naming what is wrong otherwise."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"--correlate takes two factors as A,B; got {text!r}")
    indices = []
    for part in parts:
        if part in factor_names:
            indices.append(factor_names.index(part))
        elif part.isdigit() and int(part) < len(factor_names):
            indices.append(int(part))
        else:
            raise ValueError(f"unknown factor {part!r}; this dataset's factors: {', '.join(factor_names) or 'none'}")
    return CorrelatedPair(indices[0], indices[1], sigma)


def scaled_grid(size: int) -> np.ndarray:
    """A factor's indices scaled to [0, 1]: k / (size - 1) (a one-value factor: 0)."""
    return np.arange(size) / max(size - 1, 1)


def pair_probabilities(first_size: int, second_size: int, sigma: float) -> np.ndarray:
    """p(k_A, k_B) (first_size, second_size), summing to 1: exp(-(c_A - c_B)^2 / (2 sigma^2)) normalised."""
    gap = scaled_grid(first_size)[:, None] - scaled_grid(second_size)[None, :]
    weights = np.exp(-np.square(gap) / (2 * sigma**2))
    return weights / weights.sum()


def sample_correlated_factors(
    factor_sizes: tuple[int, ...], pair: CorrelatedPair, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Factor indices (n, K): the pair from :func:`pair_probabilities`, every other factor uniform."""
    for index in (pair.first, pair.second):
        if not 0 <= index < len(factor_sizes):
            raise ValueError(f"factor {index} is out of range for {len(factor_sizes)} factors")
    factors = np.stack([rng.integers(0, size, size=n) for size in factor_sizes], axis=1)
    first_size, second_size = factor_sizes[pair.first], factor_sizes[pair.second]
    table = pair_probabilities(first_size, second_size, pair.sigma)
    flat = rng.choice(first_size * second_size, size=n, p=table.ravel())
    factors[:, pair.first], factors[:, pair.second] = np.divmod(flat, second_size)
    return factors


def sample_correlated_train_indices(
    dataset: FactorDataset, pair: CorrelatedPair, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Training indices (n,) with correlated factors, redrawing any that are held out (as
    ``ImageDataset.sample_train_indices`` does for the uniform draw)."""
    out = dataset.factors_to_index(sample_correlated_factors(dataset.factor_sizes, pair, n, rng))
    bad = np.isin(out, dataset.holdout_indices)
    while bad.any():
        redraw = sample_correlated_factors(dataset.factor_sizes, pair, int(bad.sum()), rng)
        out[bad] = dataset.factors_to_index(redraw)
        bad = np.isin(out, dataset.holdout_indices)
    return out
