"""Channel fingerprints and their information (Murphy, Dillavou & Bassett,
"Information fragments in VAE ensembles", TMLR 2025, arXiv 2405.21042).

A channel is one latent dimension with 1-D Gaussian posteriors
N(mu_k(x_i), exp(logvar_k(x_i))) over a fixed probe set x_1..x_N.  Its
fingerprint is the N x N matrix of Bhattacharyya coefficients
BC_k[i, j] = exp(-D_B(i, j)) between the posteriors of every probe pair.

Every estimator is a mean over probe points i of -log2(1/N sum_j prod BC[i, j])
for some product of coefficients.  The N x N x M distance tensor is never held
whole: rows i are processed in chunks (torch, float64).  Stability: every
Bhattacharyya distance is >= 0 and D[i, i] = 0, so the j = i term of every sum
is exactly 1 and also the largest; the max-shifted log-mean-exp is therefore
the plain log of the mean (shift 0), each inner sum is a (batched) matrix
product of coefficients, and no sum can underflow to 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

# Array helpers shared with similarity.py.

# A factor's 0/1 same-value matrix S becomes the distance -log(clip(S, FACTOR_FLOOR)),
# as in the reference code: coefficient 1 for equal labels, FACTOR_FLOOR otherwise.
FACTOR_FLOOR = 1e-10
# Chunk size: about this many float64 coefficients per (M x rows x N) block.
CHUNK_ELEMENTS = 1 << 23


def to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(array, dtype=np.float64))


def chunk_rows(n: int, per_row: int, chunk_elements: int = CHUNK_ELEMENTS) -> Iterator[slice]:
    """Slices of the n probe rows, each holding about ``chunk_elements // per_row`` rows.

    ``per_row``: floats held per probe row (e.g. max(M N, M M) for the pairwise pass).
    """
    step = max(1, chunk_elements // max(1, per_row))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def bhattacharyya_rows(mu: torch.Tensor, logvar: torch.Tensor, rows: slice) -> torch.Tensor:
    """(M, r, N) distances D_m[i, j] for i in ``rows``, per 1-D Gaussian channel m.

    D = (mu_i - mu_j)^2 / (8 S) + 1/2 [ln S - (ln s_i^2 + ln s_j^2) / 2],
    S = (s_i^2 + s_j^2) / 2.
    """
    mu_i, lv_i = mu[:, rows, None], logvar[:, rows, None]
    mu_j, lv_j = mu[:, None, :], logvar[:, None, :]
    mean_var = 0.5 * (torch.exp(lv_i) + torch.exp(lv_j))
    return 0.125 * (mu_i - mu_j) ** 2 / mean_var + 0.5 * (torch.log(mean_var) - 0.5 * (lv_i + lv_j))


def factor_coefficients(labels: torch.Tensor, rows: slice) -> torch.Tensor:
    """(K, r, N) coefficients exp(-(-log clip(S, floor))) of the K factors' same-value matrices."""
    same = (labels[:, rows, None] == labels[:, None, :]).to(torch.float64)
    distance = -torch.log(same.clamp_min(FACTOR_FLOOR))
    return torch.exp(-distance)


def neg_log2_mean(sums: torch.Tensor, n: int) -> torch.Tensor:
    """-log2(sum / n) elementwise."""
    return -(torch.log(sums) - math.log(n)) / math.log(2.0)


# Channels carrying less than this many bits are inactive (the paper's threshold).
ACTIVE_THRESHOLD_BITS = 0.01


@dataclass(frozen=True)
class FingerprintResult:
    info_bits: np.ndarray  # (M,) I(U;X) in bits
    self_joint_bits: np.ndarray  # (M,) I11: two independent draws of the same channel
    active: np.ndarray  # (M,) bool, info_bits >= threshold


def bhattacharyya_distances(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """(M, N, N) Bhattacharyya distances of each channel's posteriors over the probe set.

    D(i, j) = (mu_i - mu_j)^2 / (4 (s_i^2 + s_j^2)) + 1/2 ln((s_i^2 + s_j^2) / (2 s_i s_j)).
    ``mu``, ``logvar``: (M channels, N probe points), natural-log variances.
    Memory is M N^2 floats: for inspection of small sets, not for the estimators.
    """
    mu_t, lv_t = to_tensor(np.atleast_2d(mu)), to_tensor(np.atleast_2d(logvar))
    return bhattacharyya_rows(mu_t, lv_t, slice(0, mu_t.shape[1])).numpy()


def compute_fingerprint(
    mu: np.ndarray, logvar: np.ndarray, threshold_bits: float = ACTIVE_THRESHOLD_BITS
) -> FingerprintResult:
    """I(U;X) ~ -1/N sum_i log2(1/N sum_j BC_ij) per channel, in bits.

    The pairwise (Kolchinsky & Tracey) lower bound used by Murphy et al. 2025;
    capped at log2 N.  Also I11 (the same with BC^2), and the mask of channels
    with at least ``threshold_bits`` bits (paper: 0.01).  ``mu``, ``logvar``:
    (M channels, N probe points).
    """
    info, self_joint = _info_terms(to_tensor(mu), to_tensor(logvar))
    return FingerprintResult(info_bits=info, self_joint_bits=self_joint, active=info >= threshold_bits)


def _info_terms(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(I, I11) per channel, bits."""
    m, n = mu.shape
    info = torch.zeros(m, dtype=torch.float64)
    self_joint = torch.zeros(m, dtype=torch.float64)
    for rows in chunk_rows(n, m * n):
        coeff = torch.exp(-bhattacharyya_rows(mu, logvar, rows))  # (M, r, N)
        info += neg_log2_mean(coeff.sum(-1), n).sum(-1)
        self_joint += neg_log2_mean((coeff * coeff).sum(-1), n).sum(-1)
    return (info / n).numpy(), (self_joint / n).numpy()
