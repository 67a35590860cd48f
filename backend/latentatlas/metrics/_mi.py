"""Shared discretisation and plug-in information estimates (nats).

Every metric that needs "the 20-bin mutual-information matrix" gets it from
here, so the discretisation and the contingency counting exist once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_BINS = 20


@dataclass(frozen=True)
class DiscreteInfo:
    """Plug-in MI between discretised latents and factors, and factor entropies.

    mutual_info: (D, K) nats, rows = latents, columns = factors.
    factor_entropy: (K,) nats.
    """

    mutual_info: np.ndarray
    factor_entropy: np.ndarray


def histogram_discretize(z: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Bin each latent column into ``num_bins`` equal-width bins.

    Edges are np.histogram's (min..max of the column); the index is
    np.digitize against the left edges, so values run 1..num_bins, as in
    disentanglement_lib's histogram discretizer.
    """
    out = np.empty(z.shape, dtype=np.intp)
    for j in range(z.shape[1]):
        left_edges = np.histogram_bin_edges(z[:, j], num_bins)[:-1]
        out[:, j] = np.digitize(z[:, j], left_edges)
    return out


def encode_columns(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relabel every column to 0..n_j-1 by sorted unique value.

    Returns the codes (N, D) and each column's number of distinct values (D,).
    """
    codes = np.empty(a.shape, dtype=np.intp)
    cards = np.empty(a.shape[1], dtype=np.intp)
    for j in range(a.shape[1]):
        values, codes[:, j] = np.unique(a[:, j], return_inverse=True)
        cards[j] = values.size
    return codes, cards


def _mi_from_counts(joint: np.ndarray) -> np.ndarray:
    """Plug-in MI of each contingency table in ``joint`` (..., A, B)."""
    n = joint.sum(axis=(-2, -1), keepdims=True)
    row = joint.sum(axis=-1, keepdims=True)
    col = joint.sum(axis=-2, keepdims=True)
    nz = joint > 0
    safe = np.where(nz, joint, 1.0)
    ratio = safe * n / np.where(nz, row * col, 1.0)
    terms = np.where(nz, joint / n * np.log(ratio), 0.0)
    mi: np.ndarray = np.clip(terms.sum(axis=(-2, -1)), 0.0, None)
    return mi


def mutual_info_matrix(
    a: np.ndarray, a_card: np.ndarray, b: np.ndarray, b_card: np.ndarray
) -> np.ndarray:
    """Plug-in MI (nats) between every column of ``a`` and every column of ``b``.

    ``a`` (N, Da) and ``b`` (N, Db) hold codes 0..card-1.  One np.bincount per
    column of ``a`` builds all of its Db contingency tables at once.
    Returns (Da, Db).
    """
    n_b = b.shape[1]
    b_max = int(b_card.max())
    b_offsets = np.arange(n_b) * b_max
    out = np.empty((a.shape[1], n_b))
    for j in range(a.shape[1]):
        a_max = int(a_card[j])
        flat = (b_offsets * a_max)[None, :] + a[:, j, None] * b_max + b
        joint = np.bincount(flat.ravel(), minlength=n_b * a_max * b_max)
        out[j] = _mi_from_counts(joint.reshape(n_b, a_max, b_max).astype(np.float64))
    return out


def entropies(codes: np.ndarray, cards: np.ndarray) -> np.ndarray:
    """Plug-in entropy (nats) of every column of ``codes`` (N, D)."""
    out = np.empty(codes.shape[1])
    for j in range(codes.shape[1]):
        p = np.bincount(codes[:, j], minlength=int(cards[j])) / codes.shape[0]
        p = p[p > 0]
        out[j] = -np.sum(p * np.log(p))
    return out


def histogram_mutual_info(
    z: np.ndarray, y: np.ndarray, num_bins: int = NUM_BINS
) -> DiscreteInfo:
    """MI between 20-bin-discretised latents ``z`` (N, D) and factors ``y`` (N, K)."""
    bins = histogram_discretize(z, num_bins)
    y_codes, y_cards = encode_columns(y)
    mi = mutual_info_matrix(bins, np.full(z.shape[1], num_bins + 1), y_codes, y_cards)
    return DiscreteInfo(mutual_info=mi, factor_entropy=entropies(y_codes, y_cards))
