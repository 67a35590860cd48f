"""Whole latent spaces: their information, NMI and VI between ensemble members, and fusion
(Murphy, Dillavou & Bassett, TMLR 2025, arXiv 2405.21042).

A member's whole latent space is a diagonal Gaussian posterior over its d channels, so its
Bhattacharyya distance between probe points i and j is the sum of its channels' distances,
D_s(i, j) = sum_k D_sk(i, j), and its coefficient BC_s = exp(-D_s) goes through the same
estimators as a channel (similarity.py): I_s, NMI(s, t) and VI(s, t) in bits.

Fusion (ensemble learning): a new representation F, a free diagonal Gaussian
N(mu_F(x_i), diag exp(logvar_F(x_i))) per probe point, is optimised (Adam) to maximise its
mean similarity to the members, exp(-VI(F, s)) (default) or NMI(F, s) averaged over s. It
starts at the member most similar to the rest and is reported beside the best single member.

The NMI estimator is a ratio of information lower bounds; as F's information goes to zero
both shrink and the ratio can exceed 1, which an optimiser exploits (on a small ensemble it
drove F to 0.06 bits at "NMI" 1.8). So an iterate only counts while F carries at least the
least informative member's information and every NMI(F, s) <= 1; the best such iterate is
returned. exp(-VI) has no ratio and does not need the guard, but gets it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from latentatlas.fragments.fingerprint import CHUNK_ELEMENTS, bhattacharyya_rows, to_tensor
from latentatlas.fragments.similarity import SimilarityResult, coefficient_pass, nmi_vi

FusionObjective = Literal["nmi", "exp_neg_vi"]


def compute_space_similarity(mu: np.ndarray, logvar: np.ndarray, chunk_elements: int = CHUNK_ELEMENTS) -> SimilarityResult:
    """Information (bits) of every whole latent space and NMI / VI between every pair (S x S).

    ``mu``, ``logvar``: (S spaces, d channels, N probe points)."""
    mu_t, lv_t = to_tensor(mu), to_tensor(logvar)
    spaces, dims, n = mu_t.shape
    flat_mu, flat_lv = mu_t.reshape(spaces * dims, n), lv_t.reshape(spaces * dims, n)

    def coefficients(rows: slice) -> torch.Tensor:
        distances = bhattacharyya_rows(flat_mu, flat_lv, rows)
        return torch.exp(-distances.view(spaces, dims, *distances.shape[1:]).sum(dim=1))

    terms = coefficient_pass(coefficients, spaces, n, None, pairwise=True, chunk_elements=max(1, chunk_elements // dims))
    nmi, vi = nmi_vi(terms["info"], terms["self_joint"], terms["info"], terms["self_joint"], terms["joint"])
    np.fill_diagonal(nmi, 1.0)
    np.fill_diagonal(vi, 0.0)
    return SimilarityResult(nmi=nmi, vi=vi, info_bits=terms["info"], self_joint_bits=terms["self_joint"], joint_bits=terms["joint"])


@dataclass(frozen=True)
class FusionResult:
    mu: np.ndarray  # (d, N) the fused representation's posterior means
    logvar: np.ndarray  # (d, N)
    info_bits: float  # I(F; X)
    mean_nmi: float  # mean NMI(F, s) over members
    mean_vi: float  # mean VI(F, s), bits
    start_member: int  # the member F started from (highest mean NMI to the others)
    member_info_bits: np.ndarray  # (S,) I(s; X)
    member_mean_nmi: np.ndarray  # (S,) each member's mean NMI to the other members
    objective: FusionObjective
    history: list[float] = field(default_factory=list)  # the objective every 10 steps (the result: its best valid iterate)


def _log2_mean_rows(coefficients: torch.Tensor) -> torch.Tensor:
    """mean_i -log2(mean_j C[..., i, j]) over the last two axes."""
    n = coefficients.shape[-1]
    return -(torch.log(coefficients.sum(-1)) - math.log(n)).mean(-1) / math.log(2.0)


def _space_coefficients(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """BC (N, N) of one diagonal-Gaussian space (d, N), differentiable."""
    return torch.exp(-bhattacharyya_rows(mu, logvar, slice(0, mu.shape[1])).sum(dim=0))


def fuse_spaces(
    mu: np.ndarray,
    logvar: np.ndarray,
    objective: FusionObjective = "exp_neg_vi",
    steps: int = 300,
    lr: float = 0.05,
    seed: int = 0,
) -> FusionResult:
    """Optimise a fused representation over the probe set (see the module docstring).

    ``mu``, ``logvar``: the members' spaces (S, d, N); the fused space has d channels. The
    member coefficients are held as an (S, N, N) float32 tensor (120 MB for 30 members of a
    1,000-point probe set); the optimisation runs in float32, the reported numbers in float64.
    """
    members = compute_space_similarity(mu, logvar)
    spaces, dims, n = mu.shape
    off_diagonal = members.nmi.copy()
    np.fill_diagonal(off_diagonal, np.nan)
    member_mean_nmi = np.nanmean(off_diagonal, axis=1) if spaces > 1 else np.ones(1)
    start = int(np.nanargmax(member_mean_nmi))

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bc = torch.stack([_space_coefficients(torch.as_tensor(mu[s]).float(), torch.as_tensor(logvar[s]).float()) for s in range(spaces)])
        info = torch.as_tensor(members.info_bits, dtype=torch.float32)
        self_joint = torch.as_tensor(members.self_joint_bits, dtype=torch.float32)
    fused_mu = torch.as_tensor(mu[start], dtype=torch.float32).clone()
    fused_mu += 0.01 * fused_mu.std(dim=1, keepdim=True) * torch.randn(fused_mu.shape, generator=generator)
    fused_mu.requires_grad_(True)
    fused_lv = torch.as_tensor(logvar[start], dtype=torch.float32).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([fused_mu, fused_lv], lr=lr)
    info_floor = float(info.min())
    best = (-math.inf, fused_mu.detach().clone(), fused_lv.detach().clone())
    history = []
    for step in range(steps + 1):
        coeff = _space_coefficients(fused_mu, fused_lv)
        info_f, self_f = _log2_mean_rows(coeff), _log2_mean_rows(coeff * coeff)
        joint = _log2_mean_rows(coeff.unsqueeze(0) * bc)  # (S,)
        nmi = (info_f + info - joint) / torch.sqrt(((2 * info_f - self_f) * (2 * info - self_joint)).clamp_min(1e-12))
        score = nmi.mean() if objective == "nmi" else torch.exp(-(2 * joint - self_f - self_joint)).mean()
        valid = float(info_f.detach()) >= info_floor and bool((nmi.detach() <= 1 + 1e-6).all())
        if valid and float(score.detach()) > best[0]:
            best = (float(score.detach()), fused_mu.detach().clone(), fused_lv.detach().clone())
        if step % 10 == 0 or step == steps:
            history.append(float(score.detach()))
        if step == steps:
            break  # the last iterate is scored, not stepped
        optimizer.zero_grad()
        (-score).backward()
        optimizer.step()
        with torch.no_grad():
            fused_lv.clamp_(-20.0, 5.0)

    fused_mu_np, fused_lv_np = best[1].double().numpy(), best[2].double().numpy()
    together = compute_space_similarity(np.concatenate([mu, fused_mu_np[None]]), np.concatenate([logvar, fused_lv_np[None]]))
    return FusionResult(
        mu=fused_mu_np,
        logvar=fused_lv_np,
        info_bits=float(together.info_bits[-1]),
        mean_nmi=float(np.mean(together.nmi[-1, :-1])),
        mean_vi=float(np.mean(together.vi[-1, :-1])),
        start_member=start,
        member_info_bits=members.info_bits,
        member_mean_nmi=member_mean_nmi,
        objective=objective,
        history=history,
    )
