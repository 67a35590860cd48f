"""Shared discretisation and plug-in information estimates (nats).

Every metric that needs "the 20-bin mutual-information matrix" gets it from
here, so the discretisation and the contingency counting exist once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_BINS = 20
# Elements per temporary array when a computation is split into column blocks: 2 MiB of
# float64, small enough for the cache (measured fastest at D = 2048, N = 10 000).
_BLOCK_ELEMENTS = 1 << 18


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

    Edges are np.histogram's: e_i = i * w + lo, w = (hi - lo) / num_bins over
    the column's min..max (+-0.5 around a constant column); the index is
    np.digitize against the left edges, so values run 1..num_bins, as in
    disentanglement_lib's histogram discretizer.  All columns at once: the bin
    floor((z - lo) / w) is moved by one where rounding put z on the wrong side
    of the exact edges.  Returns the smallest unsigned dtype holding num_bins.
    """
    lo, hi = z.min(axis=0), z.max(axis=0)
    constant = lo == hi
    lo, hi = np.where(constant, lo - 0.5, lo), np.where(constant, hi + 0.5, hi)
    width = (hi - lo) / num_bins  # np.linspace's step, so i * width + lo is its i-th edge bit for bit
    out = np.empty(z.shape, dtype=np.min_scalar_type(num_bins))
    columns_per_block = max(1, _BLOCK_ELEMENTS // max(1, z.shape[0]))
    for start in range(0, z.shape[1], columns_per_block):
        cols = slice(start, start + columns_per_block)
        block, block_lo, block_width = z[:, cols], lo[cols], width[cols]
        bin_of = np.clip(np.floor((block - block_lo) / block_width), 0, num_bins - 1)
        bin_of -= block < bin_of * block_width + block_lo
        bin_of += (bin_of < num_bins - 1) & (block >= (bin_of + 1) * block_width + block_lo)
        out[:, cols] = bin_of + 1
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


def mutual_info_matrix(a: np.ndarray, a_card: np.ndarray, b: np.ndarray, b_card: np.ndarray) -> np.ndarray:
    """Plug-in MI (nats) between every column of ``a`` and every column of ``b``.

    ``a`` (N, Da) and ``b`` (N, Db) hold codes 0..card-1.  One np.bincount
    builds the contingency tables of a block of columns of ``a`` against every
    column of ``b`` (blocks keep the index array near _BLOCK_ELEMENTS).
    Returns (Da, Db).
    """
    n_rows, n_b = b.shape
    a_max, b_max = int(a_card.max()), int(b_card.max())
    cells = a_max * b_max
    b_part = b.astype(np.intp) + np.arange(n_b) * cells  # (N, Db): table offset + b code
    per_block = max(1, min(_BLOCK_ELEMENTS // max(1, n_rows * n_b), _BLOCK_ELEMENTS // (n_b * cells)))
    out = np.empty((a.shape[1], n_b))
    for start in range(0, a.shape[1], per_block):
        block = a[:, start : start + per_block].astype(np.intp)
        n_block = block.shape[1]
        a_part = block * b_max + np.arange(n_block) * (n_b * cells)  # (N, L): block offset + a row
        flat = (a_part[:, :, None] + b_part[:, None, :]).ravel()
        joint = np.bincount(flat, minlength=n_block * n_b * cells)
        out[start : start + n_block] = _mi_from_counts(joint.reshape(n_block, n_b, a_max, b_max).astype(np.float64))
    return out


def entropies(codes: np.ndarray, cards: np.ndarray) -> np.ndarray:
    """Plug-in entropy (nats) of every column of ``codes`` (N, D)."""
    out = np.empty(codes.shape[1])
    for j in range(codes.shape[1]):
        p = np.bincount(codes[:, j], minlength=int(cards[j])) / codes.shape[0]
        p = p[p > 0]
        out[j] = -np.sum(p * np.log(p))
    return out


def histogram_mutual_info(z: np.ndarray, y: np.ndarray, num_bins: int = NUM_BINS) -> DiscreteInfo:
    """MI between 20-bin-discretised latents ``z`` (N, D) and factors ``y`` (N, K)."""
    bins = histogram_discretize(z, num_bins)
    y_codes, y_cards = encode_columns(y)
    mi = mutual_info_matrix(bins, np.full(z.shape[1], num_bins + 1), y_codes, y_cards)
    return DiscreteInfo(mutual_info=mi, factor_entropy=entropies(y_codes, y_cards))
