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
is 1 (to rounding) and also the largest; the max-shifted log-mean-exp is therefore
the plain log of the mean (shift 0), each inner sum is a (batched) matrix
product of coefficients, and no sum can underflow to 0.  Every sum lies in
[1, N], so a chunk's sums are multiplied and take one logarithm (rows_per_product).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

# Array helpers shared with similarity.py.

# A factor's 0/1 same-value matrix S becomes the distance -log(clip(S, FACTOR_FLOOR)),
# as in the reference code: coefficient 1 for equal labels, FACTOR_FLOOR otherwise.
FACTOR_FLOOR = 1e-10
# Chunk size: about this many float64 coefficients per (M x rows x N) block.
CHUNK_ELEMENTS = 1 << 23
# Elementwise work runs on blocks of about this many float64s (1 MB: a core's cache).
CACHE_ELEMENTS = 1 << 17


def to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(array, dtype=np.float64))


def chunk_rows(
    n: int, per_row: int, chunk_elements: int = CHUNK_ELEMENTS, max_rows: int | None = None
) -> Iterator[slice]:
    """Slices of the n probe rows, each holding about ``chunk_elements // per_row`` rows
    (and at most ``max_rows``).

    ``per_row``: floats held per probe row (e.g. max(M N, M M) for the pairwise pass).
    """
    step = max(1, chunk_elements // max(1, per_row))
    if max_rows is not None:
        step = max(1, min(step, max_rows))
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


def bhattacharyya_coefficients(
    mu: torch.Tensor, logvar: torch.Tensor, rows: slice, out: torch.Tensor | None = None
) -> torch.Tensor:
    """(r, M, N) coefficients BC_m[i, j] = exp(-D_m[i, j]) for i in ``rows`` (probe row first).

    The same D as bhattacharyya_rows, without its logarithm: with P = s_i^2 + s_j^2,
    BC = sqrt(2 s_i s_j / P) exp(-(mu_i - mu_j)^2 / (4 P)); agrees with exp(-D) to rounding.
    Computed a cache-sized block of channels at a time into reused buffers (memory traffic and
    page faults, not flops, bound it); ``out`` (at least r rows) is written and returned if given.
    """
    half_mu, neg_var, sd = 0.5 * mu, -torch.exp(logvar), torch.exp(0.5 * logvar)
    half_mu_i, neg_var_i, sd_i = (x[:, rows].T[:, :, None] for x in (half_mu, neg_var, -2.0 * sd))
    (m, n), r = mu.shape, half_mu_i.shape[0]
    out = torch.empty((r, m, n), dtype=mu.dtype) if out is None else out[:r]
    step = max(1, CACHE_ELEMENTS // (r * n))
    work = torch.empty((r, min(m, step), n), dtype=mu.dtype)
    for start in range(0, m, step):
        block = slice(start, min(m, start + step))
        coeff, inv = out[:, block], work[:, : block.stop - block.start]
        torch.add(neg_var_i[:, block], neg_var[None, block], out=inv).reciprocal_()  # -1 / P
        torch.sub(half_mu_i[:, block], half_mu[None, block], out=coeff)
        coeff.square_().mul_(inv).exp_()
        coeff.mul_(inv.mul_(sd_i[:, block]).mul_(sd[None, block]).sqrt_())
    return out


def coefficient_rows(mu: torch.Tensor, logvar: torch.Tensor) -> Callable[[slice], torch.Tensor]:
    """``rows -> bhattacharyya_coefficients(mu, logvar, rows)`` writing every chunk into one buffer
    (sized by the first, largest chunk): each result is valid until the next call."""
    buffer: list[torch.Tensor] = []

    def coefficients(rows: slice) -> torch.Tensor:
        if not buffer:
            buffer.append(torch.empty((rows.stop - rows.start, *mu.shape), dtype=mu.dtype))
        return bhattacharyya_coefficients(mu, logvar, rows, out=buffer[0])

    return coefficients


def factor_coefficients(labels: torch.Tensor, rows: slice) -> torch.Tensor:
    """(r, K, N) coefficients exp(-(-log clip(S, floor))) of the K factors' same-value matrices
    (1 for equal labels, FACTOR_FLOOR otherwise), probe row first."""
    same = labels[:, rows].T[:, :, None] == labels[None]
    return torch.where(same, 1.0, FACTOR_FLOOR).to(torch.float64)


def rows_per_product(n: int) -> int:
    """How many sums of n coefficients (each in [1, n]: the j = i term is 1, every term <= 1)
    can be multiplied before one logarithm without leaving float64's range: the estimators add
    log(prod_i s_i) = sum_i log(s_i), one logarithm per block of rows instead of per row."""
    return max(1, int(600 / math.log(max(n, 2))))


def neg_log2_mean_rows(sums: torch.Tensor, n: int) -> torch.Tensor:
    """sum_i -log2(sums[i, ...] / n) over the first axis (sums in [1, n], at most
    rows_per_product(n) rows), as one logarithm of their product."""
    return -(torch.log(sums.prod(0)) - sums.shape[0] * math.log(n)) / math.log(2.0)


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
    coefficients = coefficient_rows(mu, logvar)
    for rows in chunk_rows(n, m * n, max_rows=rows_per_product(n)):
        coeff = coefficients(rows)  # (r, M, N)
        info += neg_log2_mean_rows(coeff.sum(-1), n)
        self_joint += neg_log2_mean_rows(coeff.square_().sum(-1), n)
    return (info / n).numpy(), (self_joint / n).numpy()
