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


_MAX_CHANNELS_PER_LOG = 4


def _channels_per_log(logvar: torch.Tensor) -> int:
    """How many channels' S = s_i^2 + s_j^2, each within [2 min s^2, 2 max s^2], can be
    multiplied before one log without leaving the dtype's normal range (a log costs about
    seven multiplications); at most four. Fusion clamps its log-variances to [-20, 5], so its
    float32 products take four channels."""
    widest = (float(logvar.abs().max()) if logvar.numel() else 0.0) + math.log(2.0)
    return max(1, min(_MAX_CHANNELS_PER_LOG, int(-math.log(torch.finfo(logvar.dtype).tiny) / widest)))


class _Workspace:
    """The (N, N) buffers of one space's coefficients and their gradient, allocated once: on this
    machine a fresh 4 MB tensor costs about 1 ms of page faults, more than the arithmetic on it,
    and a fusion step needed about fifteen of them."""

    def __init__(self, n: int, dtype: torch.dtype, coefficients: torch.Tensor | None = None) -> None:
        self.coefficients = torch.empty(n, n, dtype=dtype) if coefficients is None else coefficients
        self.first, self.second, self.third = (torch.empty(n, n, dtype=dtype) for _ in range(3))


def _coefficients(mu: torch.Tensor, logvar: torch.Tensor, work: _Workspace) -> torch.Tensor:
    """BC = exp(-sum_k D_k) (N, N) of one diagonal-Gaussian space (mu, logvar: (d, N)), with
    D_k = (mu_i - mu_j)^2 / (4 S) + 1/2 ln(S / 2) - (lv_i + lv_j) / 4, S = s_i^2 + s_j^2
    (fingerprint.bhattacharyya_rows), one (N, N) pass per channel and the ln S of up to four
    channels summed as one log of their product; written into ``work.coefficients``."""
    total, pair_var, delta, pair_var_product = work.coefficients.zero_(), work.first, work.second, work.third
    group = _channels_per_log(logvar)
    for first in range(0, mu.shape[0], group):
        for k in range(first, min(first + group, mu.shape[0])):
            var = logvar[k].exp()
            torch.add(var[:, None], var[None, :], out=pair_var)
            if k == first:
                pair_var_product.copy_(pair_var)
            else:
                pair_var_product.mul_(pair_var)
            torch.sub(mu[k][:, None], mu[k][None, :], out=delta)
            total.addcdiv_(delta.square_(), pair_var, value=0.25)
        total.add_(pair_var_product.log_(), alpha=0.5)
    lv_sum = logvar.sum(0).mul_(0.25).add_(0.25 * mu.shape[0] * math.log(2.0))  # sum_k (lv_k + ln 2) / 4
    total.sub_(torch.add(lv_sum[:, None], lv_sum[None, :], out=pair_var))
    return total.neg_().exp_()


def _coefficient_gradient(
    mu: torch.Tensor, logvar: torch.Tensor, work: _Workspace, grad: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/dmu, dL/dlogvar (d, N) from dL/dBC (``grad``, (N, N), overwritten) and the coefficients
    in ``work``. BC is symmetric, so with H = dL/dD = -BC dL/dBC only H_s = (H + H^T) / 2 counts:
    dL/dmu_i = sum_j H_s,ij (mu_i - mu_j) / S and
    dL/dlv_i = 2 s_i^2 sum_j H_s,ij (1 / (2 S) - (mu_i - mu_j)^2 / (4 S^2)) - sum_j H_s,ij / 2."""
    h = grad.mul_(work.coefficients).neg_()
    h_sym = torch.add(h, h.t(), out=work.first).mul_(0.5)
    inv, ratio, weighted = work.second, work.third, h
    grad_mu, grad_logvar = torch.empty_like(mu), torch.empty_like(logvar)
    for k in range(mu.shape[0]):
        var = logvar[k].exp()
        torch.add(var[:, None], var[None, :], out=inv).reciprocal_()
        torch.sub(mu[k][:, None], mu[k][None, :], out=ratio).mul_(inv)  # (mu_i - mu_j) / S
        grad_mu[k] = torch.mul(ratio, h_sym, out=weighted).sum(1)
        curvature = ratio.mul_(weighted).mul_(-0.25).addcmul_(inv, h_sym, value=0.5)  # H_s (1/(2S) - ratio^2/4)
        grad_logvar[k] = 2 * var * curvature.sum(1)
    grad_logvar -= 0.5 * h_sym.sum(1)
    return grad_mu, grad_logvar


class _SpaceCoefficients(torch.autograd.Function):
    """BC (N, N) of one diagonal-Gaussian space (``_coefficients``) with its gradient by hand
    (``_coefficient_gradient``): ten times faster on one core than autograd over (d, N, N)."""

    @staticmethod
    def forward(ctx: Any, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        coefficients = _coefficients(mu, logvar, _Workspace(mu.shape[1], mu.dtype))
        ctx.save_for_backward(mu, logvar, coefficients)
        return coefficients

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar, coefficients = ctx.saved_tensors
        return _coefficient_gradient(mu, logvar, _Workspace(mu.shape[1], mu.dtype, coefficients), grad.clone())


def _space_coefficients(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """BC (N, N) of one diagonal-Gaussian space (d, N), differentiable."""
    # torch leaves Function.apply unannotated (it returns what forward returns)
    coefficients: torch.Tensor = _SpaceCoefficients.apply(mu, logvar)  # type: ignore[no-untyped-call]
    return coefficients


def _log2_mean(row_sums: torch.Tensor, n: int) -> torch.Tensor:
    """mean_i -log2(row_sums_i / n) over the last axis."""
    return -(torch.log(row_sums) - math.log(n)).mean(-1) / math.log(2.0)


@dataclass
class _FusionTerms:
    """One iterate's objective and the estimates it is made of (bits)."""

    score: float
    info_bits: float  # I(F; X)
    nmi: torch.Tensor  # (S,) NMI(F, s)


class _FusionStep:
    """The fusion objective and its gradient for an iterate (mu, logvar) of the fused space F.

    With C = BC_F and B_s the members' coefficients, the objective depends on C only through
    three sets of row sums: r_i = sum_j C_ij (I_F), q_i = sum_j C_ij^2 (F's self-joint) and
    J_si = sum_j C_ij B_sij (the joint with each member). The objective's derivatives in these
    sums are taken by autograd (vectors), then dL/dC_ij = dL/dr_i + 2 C_ij dL/dq_i
    + sum_s dL/dJ_si B_sij, the last as one batched product over i reading B in place, and
    ``_coefficient_gradient`` takes it to (mu, logvar). Every (N, N) buffer is allocated once."""

    def __init__(
        self, members: torch.Tensor, info: torch.Tensor, self_joint: torch.Tensor, objective: FusionObjective
    ) -> None:
        self.members, self.info, self.self_joint, self.objective = members, info, self_joint, objective
        n = members.shape[-1]
        self.work = _Workspace(n, members.dtype)
        self.grad = torch.empty(n, n, dtype=members.dtype)

    def __call__(
        self, mu: torch.Tensor, logvar: torch.Tensor, with_gradient: bool
    ) -> tuple[_FusionTerms, tuple[torch.Tensor, torch.Tensor] | None]:
        """The objective at (mu, logvar) and, when asked, the gradient of its negative."""
        n = mu.shape[1]
        coefficients = _coefficients(mu, logvar, self.work)
        row = coefficients.sum(1).requires_grad_(True)
        row_squares = torch.mul(coefficients, coefficients, out=self.work.first).sum(1).requires_grad_(True)
        joint_rows = torch.einsum("ij,sij->si", coefficients, self.members).requires_grad_(True)
        with torch.enable_grad():
            info_f, self_f, joint = _log2_mean(row, n), _log2_mean(row_squares, n), _log2_mean(joint_rows, n)
            nmi = (info_f + self.info - joint) / torch.sqrt(
                ((2 * info_f - self_f) * (2 * self.info - self.self_joint)).clamp_min(1e-12)
            )
            score = nmi.mean() if self.objective == "nmi" else torch.exp(-(2 * joint - self_f - self.self_joint)).mean()
            terms = _FusionTerms(float(score.detach()), float(info_f.detach()), nmi.detach())
            if not with_gradient:
                return terms, None
            # exp(-VI) does not depend on r: its derivative there is 0
            d_row, d_squares, d_joint = torch.autograd.grad(
                -score, (row, row_squares, joint_rows), allow_unused=True, materialize_grads=True
            )
        # dL/dC_ij: sum_s dL/dJ_si B_sij, one (1, S) x (S, N) product per i, then the row sums' terms
        torch.bmm(d_joint.t().contiguous().unsqueeze(1), self.members.transpose(0, 1), out=self.grad.view(n, 1, n))
        grad = self.grad.addcmul_(coefficients, d_squares[:, None], value=2.0).add_(d_row[:, None])
        return terms, _coefficient_gradient(mu, logvar, self.work, grad)


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
    optimizer = torch.optim.Adam([fused_mu, fused_lv], lr=lr)
    fusion_step = _FusionStep(bc, info, self_joint, objective)
    info_floor = float(info.min())
    best_score, best_step = -math.inf, -1
    best_mu, best_lv = fused_mu.clone(), fused_lv.clone()
    history: list[float] = []
    best_any = -math.inf
    best_at_record: list[float] = []  # the objective's running maximum at each recorded step
    window = max(1, patience // history_every)
    converged = False
    step = 0
    for step in range(max_steps + 1):
        terms, gradient = fusion_step(fused_mu, fused_lv, with_gradient=step < max_steps)
        value = terms.score
        valid = terms.info_bits >= info_floor and (objective != "nmi" or bool((terms.nmi <= 1 + 1e-6).all()))
        best_any = max(best_any, value)
        if valid and value > best_score:
            best_score, best_step = value, step
            best_mu, best_lv = fused_mu.clone(), fused_lv.clone()
        if step % history_every == 0 or step == max_steps:
            history.append(value)
            best_at_record.append(best_any)
            if len(best_at_record) > window and best_at_record[-1] - best_at_record[-1 - window] < tol:
                converged = step < max_steps
                break
        if gradient is None:
            break  # the last iterate is scored, not stepped
        fused_mu.grad, fused_lv.grad = gradient
        optimizer.step()
        fused_lv.clamp_(-20.0, 5.0)
    if best_step < 0:  # no iterate passed the guard: return the last one
        best_mu, best_lv = fused_mu.clone(), fused_lv.clone()

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
