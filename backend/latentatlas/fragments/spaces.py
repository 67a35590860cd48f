"""Whole latent spaces: their information, NMI and VI between ensemble members, and fusion
(Murphy, Dillavou & Bassett, TMLR 2025, arXiv 2405.21042).

A member's whole latent space is a diagonal Gaussian posterior over its d channels, so its
Bhattacharyya distance between probe points i and j is the sum of its channels' distances,
D_s(i, j) = sum_k D_sk(i, j), and its coefficient BC_s = exp(-D_s) goes through the same
estimators as a channel (similarity.py): I_s, NMI(s, t) and VI(s, t) in bits.

Fusion (ensemble learning): a new representation F, a free diagonal Gaussian
N(mu_F(x_i), diag exp(logvar_F(x_i))) per probe point, is optimised (Adam) to maximise its
mean similarity to the members, exp(-VI(F, s)) (default) or NMI(F, s) averaged over s. As in
the paper's ensemble-learning code it starts by default from random, uninformative posteriors
(means N(0, 0.05^2), log-variances 0; ``init="random"``) and has that code's budget, 20,000
steps; it stops early once the objective's running maximum has gained less than ``tol``
(1e-3) over the last ``patience`` (1,000) steps. The objective is recorded every ``history_every`` steps to
show convergence. ``init="member"`` starts from the member most similar to the rest instead:
the NMI objective needs it, since from an uninformative start its ratio (below) keeps F under
the information floor and no iterate counts.

The NMI estimator is a ratio of information lower bounds; as F's information goes to zero
both shrink and the ratio can exceed 1, which an optimiser exploits (on a small ensemble it
drove F to 0.06 bits at "NMI" 1.8). So an iterate only counts while F carries at least the
least informative member's information and, under the NMI objective, every NMI(F, s) <= 1;
the best such iterate is returned. exp(-VI) has no ratio to game, so its iterates only need
the information floor.

Reported NMIs are clipped at 1. Between two spaces that both carry close to the estimator's cap
(log2 N bits) the lower bounds' bias can put the estimate slightly above 1 (up to 1.011 between
the shipped beta-VAE ensemble's fused space and its beta-1 members); the raw estimates are kept
(``FusionResult.member_nmi``) and the count above 1 is reported beside the clipped mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from latentatlas.fragments.fingerprint import CHUNK_ELEMENTS, coefficient_rows, to_tensor
from latentatlas.fragments.similarity import SimilarityResult, coefficient_pass, nmi_vi

FusionObjective = Literal["nmi", "exp_neg_vi"]
FusionInit = Literal["random", "member"]


def compute_space_similarity(
    mu: np.ndarray, logvar: np.ndarray, chunk_elements: int = CHUNK_ELEMENTS
) -> SimilarityResult:
    """Information (bits) of every whole latent space and NMI / VI between every pair (S x S).

    ``mu``, ``logvar``: (S spaces, d channels, N probe points)."""
    mu_t, lv_t = to_tensor(mu), to_tensor(logvar)
    spaces, dims, n = mu_t.shape
    flat_mu, flat_lv = mu_t.reshape(spaces * dims, n), lv_t.reshape(spaces * dims, n)

    channel_rows = coefficient_rows(flat_mu, flat_lv)

    def coefficients(rows: slice) -> torch.Tensor:  # BC_s = exp(-sum_k D_k) = prod_k BC_k
        channel = channel_rows(rows)
        return channel.view(channel.shape[0], spaces, dims, n).prod(dim=2)

    terms = coefficient_pass(
        coefficients, spaces, n, None, pairwise=True, chunk_elements=max(1, chunk_elements // dims)
    )
    nmi, vi = nmi_vi(terms["info"], terms["self_joint"], terms["info"], terms["self_joint"], terms["joint"])
    np.fill_diagonal(nmi, 1.0)
    np.fill_diagonal(vi, 0.0)
    return SimilarityResult(
        nmi=nmi, vi=vi, info_bits=terms["info"], self_joint_bits=terms["self_joint"], joint_bits=terms["joint"]
    )


FUSION_MAX_STEPS = 20_000  # the paper's ensemble-learning code (number_opt_steps)
FUSION_TOL, FUSION_PATIENCE, FUSION_HISTORY_EVERY = 1e-3, 1000, 50
FUSION_INIT_STD = 0.05  # the paper's code: means N(0, 0.05^2), log-variances 0


@dataclass(frozen=True)
class FusionResult:
    mu: np.ndarray  # (d, N) the fused representation's posterior means
    logvar: np.ndarray  # (d, N)
    info_bits: float  # I(F; X)
    mean_nmi: float  # mean over members of NMI(F, s) clipped at 1
    member_nmi: np.ndarray  # (S,) NMI(F, s) as estimated, unclipped (can exceed 1 near the cap)
    mean_vi: float  # mean VI(F, s), bits
    member_info_bits: np.ndarray  # (S,) I(s; X)
    member_mean_nmi: np.ndarray  # (S,) each member's mean NMI (clipped at 1) to the other members
    objective: FusionObjective
    init: FusionInit
    start_member: int | None  # with init="member": the member F started from
    steps: int  # Adam steps taken
    best_step: int  # the step of the returned iterate (-1: no iterate passed the guard; the last is returned)
    converged: bool  # stopped by the tolerance before the budget ran out
    history_every: int
    history: list[float] = field(default_factory=list)  # the objective at steps 0, k, 2k, ... and the last


class _SpaceCoefficients(torch.autograd.Function):
    """BC = exp(-sum_k D_k) (N, N) of one diagonal-Gaussian space (mu, logvar: (d, N)), with
    D_k = (mu_i - mu_j)^2 / (4 S) + 1/2 ln(S / 2) - (lv_i + lv_j) / 4, S = s_i^2 + s_j^2
    (fingerprint.bhattacharyya_rows). One (N, N) block per channel and the gradient by hand:
    with H = dL/dD = -BC dL/dBC, dL/dmu_i = sum_j (H_ij - H_ji) (mu_i - mu_j) / (2 S) and
    dL/dlv_i = s_i^2 sum_j (H_ij + H_ji) (1 / (2 S) - (mu_i - mu_j)^2 / (4 S^2))
    - sum_j (H_ij + H_ji) / 4; ten times faster on one core than autograd over (d, N, N)."""

    @staticmethod
    def forward(ctx: Any, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        n = mu.shape[1]
        total = torch.zeros(n, n, dtype=mu.dtype)
        pair_var, delta = torch.empty_like(total), torch.empty_like(total)  # reused: no (N, N) allocation per channel
        for k in range(mu.shape[0]):
            var = logvar[k].exp()
            torch.add(var[:, None], var[None, :], out=pair_var)
            torch.sub(mu[k][:, None], mu[k][None, :], out=delta)
            total.addcdiv_(delta.square_(), pair_var, value=0.25)
            total.add_(pair_var.mul_(0.5).log_(), alpha=0.5)
        lv_sum = logvar.sum(0)
        total.sub_(torch.add(lv_sum[:, None], lv_sum[None, :], out=pair_var).mul_(0.25))
        coefficients = total.neg_().exp_()
        ctx.save_for_backward(mu, logvar, coefficients)
        return coefficients

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar, coefficients = ctx.saved_tensors
        h = (grad * coefficients).neg_()
        grad_mu, grad_logvar = torch.empty_like(mu), torch.empty_like(logvar)
        inv, ratio, weighted = torch.empty_like(h), torch.empty_like(h), torch.empty_like(h)
        for k in range(mu.shape[0]):
            var = logvar[k].exp()
            torch.add(var[:, None], var[None, :], out=inv).reciprocal_()
            torch.sub(mu[k][:, None], mu[k][None, :], out=ratio).mul_(inv)  # (mu_i - mu_j) / S
            torch.mul(ratio, h, out=weighted)
            grad_mu[k] = 0.5 * (weighted.sum(1) - weighted.sum(0))
            curvature = ratio.square_().mul_(-0.25).add_(inv, alpha=0.5).mul_(h)
            grad_logvar[k] = var * (curvature.sum(1) + curvature.sum(0))
        grad_logvar -= 0.25 * (h.sum(1) + h.sum(0))
        return grad_mu, grad_logvar


def _log2_mean_rows(coefficients: torch.Tensor) -> torch.Tensor:
    """mean_i -log2(mean_j C[..., i, j]) over the last two axes."""
    n = coefficients.shape[-1]
    return -(torch.log(coefficients.sum(-1)) - math.log(n)).mean(-1) / math.log(2.0)


def _space_coefficients(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """BC (N, N) of one diagonal-Gaussian space (d, N), differentiable."""
    # torch leaves Function.apply unannotated (it returns what forward returns)
    coefficients: torch.Tensor = _SpaceCoefficients.apply(mu, logvar)  # type: ignore[no-untyped-call]
    return coefficients


def fuse_spaces(
    mu: np.ndarray,
    logvar: np.ndarray,
    objective: FusionObjective = "exp_neg_vi",
    init: FusionInit = "random",
    max_steps: int = FUSION_MAX_STEPS,
    lr: float = 0.05,
    seed: int = 0,
    tol: float = FUSION_TOL,
    patience: int = FUSION_PATIENCE,
    history_every: int = FUSION_HISTORY_EVERY,
) -> FusionResult:
    """Optimise a fused representation over the probe set from a seeded random start (see the
    module docstring); stop at ``max_steps`` or once the objective's running maximum gained
    less than ``tol`` over ``patience`` steps; return the best valid iterate.

    ``mu``, ``logvar``: the members' spaces (S, d, N); the fused space has d channels. The
    member coefficients are held as an (S, N, N) float32 tensor (120 MB for 30 members of a
    1,000-point probe set); the optimisation runs in float32, the reported numbers in float64.
    """
    members = compute_space_similarity(mu, logvar)
    spaces, dims, n = mu.shape
    off_diagonal = np.minimum(members.nmi, 1.0)
    np.fill_diagonal(off_diagonal, np.nan)
    member_mean_nmi = np.nanmean(off_diagonal, axis=1) if spaces > 1 else np.ones(1)

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bc = torch.stack(
            [
                _space_coefficients(torch.as_tensor(mu[s]).float(), torch.as_tensor(logvar[s]).float())
                for s in range(spaces)
            ]
        )
        info = torch.as_tensor(members.info_bits, dtype=torch.float32)
        self_joint = torch.as_tensor(members.self_joint_bits, dtype=torch.float32)
    start = int(np.nanargmax(member_mean_nmi)) if init == "member" else None
    if start is None:
        fused_mu = FUSION_INIT_STD * torch.randn((dims, n), generator=generator)
        fused_lv = torch.zeros((dims, n))
    else:
        fused_mu = torch.as_tensor(mu[start], dtype=torch.float32).clone()
        fused_mu += 0.01 * fused_mu.std(dim=1, keepdim=True) * torch.randn(fused_mu.shape, generator=generator)
        fused_lv = torch.as_tensor(logvar[start], dtype=torch.float32).clone()
    fused_mu.requires_grad_(True)
    fused_lv.requires_grad_(True)
    optimizer = torch.optim.Adam([fused_mu, fused_lv], lr=lr)
    info_floor = float(info.min())
    best_score, best_step = -math.inf, -1
    best_mu, best_lv = fused_mu.detach().clone(), fused_lv.detach().clone()
    history: list[float] = []
    best_any = -math.inf
    best_at_record: list[float] = []  # the objective's running maximum at each recorded step
    window = max(1, patience // history_every)
    converged = False
    step = 0
    for step in range(max_steps + 1):
        coeff = _space_coefficients(fused_mu, fused_lv)
        info_f, self_f = _log2_mean_rows(coeff), _log2_mean_rows(coeff * coeff)
        joint = -(torch.log(torch.einsum("ij,sij->si", coeff, bc)) - math.log(n)).mean(-1) / math.log(2.0)  # (S,)
        nmi = (info_f + info - joint) / torch.sqrt(((2 * info_f - self_f) * (2 * info - self_joint)).clamp_min(1e-12))
        score = nmi.mean() if objective == "nmi" else torch.exp(-(2 * joint - self_f - self_joint)).mean()
        value = float(score.detach())
        valid = float(info_f.detach()) >= info_floor and (objective != "nmi" or bool((nmi.detach() <= 1 + 1e-6).all()))
        best_any = max(best_any, value)
        if valid and value > best_score:
            best_score, best_step = value, step
            best_mu, best_lv = fused_mu.detach().clone(), fused_lv.detach().clone()
        if step % history_every == 0 or step == max_steps:
            history.append(value)
            best_at_record.append(best_any)
            if len(best_at_record) > window and best_at_record[-1] - best_at_record[-1 - window] < tol:
                converged = step < max_steps
                break
        if step == max_steps:
            break  # the last iterate is scored, not stepped
        optimizer.zero_grad()
        (-score).backward()
        optimizer.step()
        with torch.no_grad():
            fused_lv.clamp_(-20.0, 5.0)
    if best_step < 0:  # no iterate passed the guard: return the last one
        best_mu, best_lv = fused_mu.detach().clone(), fused_lv.detach().clone()

    fused_mu_np, fused_lv_np = best_mu.double().numpy(), best_lv.double().numpy()
    together = compute_space_similarity(
        np.concatenate([mu, fused_mu_np[None]]), np.concatenate([logvar, fused_lv_np[None]])
    )
    return FusionResult(
        mu=fused_mu_np,
        logvar=fused_lv_np,
        info_bits=float(together.info_bits[-1]),
        mean_nmi=float(np.mean(np.minimum(together.nmi[-1, :-1], 1.0))),
        member_nmi=together.nmi[-1, :-1].copy(),
        mean_vi=float(np.mean(together.vi[-1, :-1])),
        member_info_bits=members.info_bits,
        member_mean_nmi=member_mean_nmi,
        objective=objective,
        init=init,
        start_member=start,
        steps=step,
        best_step=best_step,
        converged=converged,
        history_every=history_every,
        history=history,
    )
