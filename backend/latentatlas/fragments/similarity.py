"""Pairwise similarity of channels: generalised NMI and variation of information
(Murphy, Dillavou & Bassett, TMLR 2025, arXiv 2405.21042).

With BC_k the fingerprint of channel k (see fingerprint.py) and, in bits,

    I_k  = -1/N sum_i log2(1/N sum_j BC_k[i, j])
    I_kk = the same with BC_k^2                 (two independent draws of k)
    I_kl = the same with BC_k * BC_l            (joint information of k and l)

    NMI(k, l) = (I_k + I_l - I_kl) / sqrt((2 I_k - I_kk)(2 I_l - I_ll))
    VI(k, l)  = 2 I_kl - I_kk - I_ll

A channel with no information (2 I_k - I_kk <= NO_INFORMATION_BITS: a constant channel)
shares none with anything: its NMI is defined as 0 (the ratio would be 0/0 or x/0, inf),
its VI with channel l is 2 I_l - I_ll. NMI is therefore always finite.

The estimate is a ratio of bound-based information terms, so it can leave [0, 1] (slightly below 0
for nearly independent channels, above 1 near the estimator's cap): it is stored as estimated and
served clipped to [0, 1], the clipped values counted (:mod:`latentatlas.evaluation.nmi_clip`).

A ground-truth factor enters as a channel whose coefficient is 1 for probe
points with the same label and 1e-10 otherwise (the reference code's
-log(clip(S, 1e-10)) distance).  All I_kl come from one pass over probe rows:
for each row i the M x N coefficient block B_i gives sum_j BC_k BC_l = B_i B_i^T,
a batched matrix product (M^2 N^2 multiply-adds, halved by symmetry; O(chunk) memory).
That product is the exact computation's floor: float64 throughput bounds the whole pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from latentatlas.fragments.fingerprint import (
    CHUNK_ELEMENTS,
    chunk_rows,
    coefficient_rows,
    factor_coefficients,
    neg_log2_mean_rows,
    rows_per_product,
    to_tensor,
)

NO_INFORMATION_BITS = 1e-9
"""A channel whose 2 I_k - I_kk (the NMI denominator's factor, bits) is at most this carries no
information; its NMI with anything is 0."""


@dataclass(frozen=True)
class SimilarityResult:
    nmi: np.ndarray  # (M, M) generalised NMI; diagonal 1
    vi: np.ndarray  # (M, M) variation of information, bits; diagonal 0
    info_bits: np.ndarray  # (M,) I_k
    self_joint_bits: np.ndarray  # (M,) I_kk
    joint_bits: np.ndarray  # (M, M) I_kl


@dataclass(frozen=True)
class FactorSimilarityResult:
    nmi: np.ndarray  # (M, K) channel k against factor f
    vi: np.ndarray  # (M, K) bits
    info_bits: np.ndarray  # (M,) channel information
    factor_info_bits: np.ndarray  # (K,) I_f (about the label entropy)
    factor_self_joint_bits: np.ndarray  # (K,) I_ff


def compute_similarity(mu: np.ndarray, logvar: np.ndarray, chunk_elements: int = CHUNK_ELEMENTS) -> SimilarityResult:
    """NMI and VI of every pair of channels (M x M), from one chunked pass.

    NMI(k, l) = (I_k + I_l - I_kl) / sqrt((2 I_k - I_kk)(2 I_l - I_ll)),
    VI(k, l) = 2 I_kl - I_kk - I_ll, in bits (Murphy, Dillavou & Bassett 2025).
    ``mu``, ``logvar``: (M channels, N probe points).  A channel against an
    exact copy gives NMI 1 and VI 0.  A channel with no information has NMI 0
    with every other channel (see NO_INFORMATION_BITS); the diagonal is 1.
    ``chunk_elements`` bounds the floats held per chunk of probe rows.
    """
    terms = _pass(to_tensor(mu), to_tensor(logvar), None, pairwise=True, chunk_elements=chunk_elements)
    info, self_joint, joint = terms["info"], terms["self_joint"], terms["joint"]
    nmi, vi = nmi_vi(info, self_joint, info, self_joint, joint)
    np.fill_diagonal(nmi, 1.0)
    np.fill_diagonal(vi, 0.0)
    return SimilarityResult(nmi=nmi, vi=vi, info_bits=info, self_joint_bits=self_joint, joint_bits=joint)


def compute_factor_similarity(mu: np.ndarray, logvar: np.ndarray, y: np.ndarray) -> FactorSimilarityResult:
    """NMI and VI (bits) of every channel with every ground-truth factor (M x K).

    Factor f is the hard clustering of the probe set by its label y[:, f]; its
    coefficient is 1 for equal labels and 1e-10 otherwise, and it goes through
    the same formulas as a channel (Murphy, Dillavou & Bassett 2025).
    ``y``: (N, K) integer labels of the probe points.
    """
    terms = _pass(to_tensor(mu), to_tensor(logvar), _labels(y), pairwise=False)
    nmi, vi = nmi_vi(
        terms["info"], terms["self_joint"], terms["factor_info"], terms["factor_self_joint"], terms["factor_joint"]
    )
    return FactorSimilarityResult(
        nmi=nmi,
        vi=vi,
        info_bits=terms["info"],
        factor_info_bits=terms["factor_info"],
        factor_self_joint_bits=terms["factor_self_joint"],
    )


def nmi_vi(
    info1: np.ndarray, self1: np.ndarray, info2: np.ndarray, self2: np.ndarray, joint: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(NMI, VI) from the information terms: rows index set 1, columns set 2. NMI is 0 where
    either side carries no information (2 I - I_self <= NO_INFORMATION_BITS), never inf or NaN."""
    numerator = info1[:, None] + info2[None, :] - joint
    spread1, spread2 = 2 * info1 - self1, 2 * info2 - self2
    informative = (spread1 > NO_INFORMATION_BITS)[:, None] & (spread2 > NO_INFORMATION_BITS)[None, :]
    denominator = np.sqrt(np.where(informative, spread1[:, None] * spread2[None, :], 1.0))
    nmi = np.where(informative, numerator / denominator, 0.0)
    vi = 2 * joint - self1[:, None] - self2[None, :]
    return nmi, vi


def all_terms(mu: np.ndarray, logvar: np.ndarray, y: np.ndarray | None) -> dict[str, np.ndarray]:
    """Every information term (channels pairwise, and against factors if ``y``) in one pass."""
    return _pass(to_tensor(mu), to_tensor(logvar), None if y is None else _labels(y), pairwise=True)


def _labels(y: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(np.asarray(y).T, dtype=np.int64))  # (K, N)


def _pass(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    labels: torch.Tensor | None,
    pairwise: bool,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> dict[str, np.ndarray]:
    """Every term for 1-D Gaussian channels (M, N)."""
    m, n = mu.shape
    return coefficient_pass(coefficient_rows(mu, logvar), m, n, labels, pairwise, chunk_elements)


PAIR_BLOCK = 128
"""Channels per block of the pairwise product: only blocks on and above the diagonal are
multiplied (I_kl is symmetric), about half the flops of the full M x M product."""


def coefficient_pass(
    coefficients: Callable[[slice], torch.Tensor],
    m: int,
    n: int,
    labels: torch.Tensor | None,
    pairwise: bool,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> dict[str, np.ndarray]:
    """Accumulate sum_i -log2(mean_j ...) of every term over chunks of probe rows, for M
    fingerprints given by ``coefficients(rows) -> (r, M, N)`` Bhattacharyya coefficients.

    Every sum lies in [1, N] (its j = i term is 1), so a chunk's sums are multiplied and
    take one logarithm (fingerprint.rows_per_product); I_kl = I_lk is computed for the
    channel blocks on and above the diagonal and mirrored."""
    k = 0 if labels is None else labels.shape[0]

    def zeros(*shape: int) -> torch.Tensor:
        return torch.zeros(shape, dtype=torch.float64)

    acc = {"info": zeros(m), "self_joint": zeros(m)}
    if pairwise:
        acc["joint"] = zeros(m, m)
    if labels is not None:
        acc.update(factor_info=zeros(k), factor_self_joint=zeros(k), factor_joint=zeros(m, k))
    per_row = (m + k) * n + min(m, PAIR_BLOCK) ** 2 + m * k
    blocks = [slice(start, min(m, start + PAIR_BLOCK)) for start in range(0, m, PAIR_BLOCK)]
    for rows in chunk_rows(n, per_row, chunk_elements, max_rows=rows_per_product(n)):
        coeff = coefficients(rows)  # (r, M, N)
        acc["info"] += neg_log2_mean_rows(coeff.sum(-1), n)
        if pairwise:
            for a, left in enumerate(blocks):
                for right in blocks[a:]:
                    joint = torch.bmm(coeff[:, left], coeff[:, right].transpose(1, 2))  # sum_j BC_k BC_l
                    acc["joint"][left, right] += neg_log2_mean_rows(joint, n)
                    if left == right:
                        acc["self_joint"][left] += neg_log2_mean_rows(torch.diagonal(joint, dim1=1, dim2=2), n)
        else:
            acc["self_joint"] += neg_log2_mean_rows((coeff * coeff).sum(-1), n)
        if labels is not None:
            fcoeff = factor_coefficients(labels, rows)  # (r, K, N)
            acc["factor_info"] += neg_log2_mean_rows(fcoeff.sum(-1), n)
            acc["factor_self_joint"] += neg_log2_mean_rows((fcoeff * fcoeff).sum(-1), n)
            acc["factor_joint"] += neg_log2_mean_rows(torch.bmm(coeff, fcoeff.transpose(1, 2)), n)  # (r, M, K)
    if pairwise:
        acc["joint"] = torch.triu(acc["joint"]) + torch.triu(acc["joint"], diagonal=1).T
    return {name: (value / n).numpy() for name, value in acc.items()}
