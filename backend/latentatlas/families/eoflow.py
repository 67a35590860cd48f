"""EOFlow: an entropy-ordered normalizing flow (Galperin & Koethe, arXiv 2602.06940, 2026).

A flow f maps an image x to a latent z = f(x) of the same size D = C*S*S with a standard normal
base; g = f^-1 decodes. Training minimises, per sample (see the project's method note),

    NLL   = 1/2 |z|^2 + D/2 log 2 pi - log |det J_f(x~)|
    l_i   = 1/2 z_i^2 + 1/2 log 2 pi + log |dg/dz_i|          (explained entropy of latent i)
    MTC   = sum_i l_i - NLL  >= 0                              (0 iff g's Jacobian columns are orthogonal)
    loss  = [(1 - lambda_mtc) NLL + lambda_mtc sum_i l_i] / D  (+ optional top-C reconstruction)

on noise-augmented inputs x~. The column norms |dg/dz_i| come from the stochastic estimator:
every sample of a batch draws one dimension (balanced over dimensions), one forward-mode JVP
of g gives that Jacobian column, and the per-dimension means are reweighted by 1 / M_i (M_i
= the samples that drew dimension i). The per-dimension constant 1/2 log 2 pi makes
sum_i l_i - NLL exactly the MTC (Hadamard's inequality), so H_i = E[l_i] add up.

After training (:meth:`EOFlow.finalize`), H_i is estimated afresh on held-out images that no
evaluation scores (the dataset's validation half): E[1/2 z_i^2] on ``order_images`` of them and
E[log|dg/dz_i|] exactly, from every Jacobian column, on the first ``order_jacobian_images``;
both are unbiased sample means, so each H_i comes with a standard error.
:meth:`EOFlow.fix_ordering` then sorts the latents by H_i (descending) into a stored
permutation, so latent 0 is the most important; :meth:`EOFlow.truncate` keeps the top C (the
others set to the prior mode 0) for top-C decoding. The training-time estimates above only
drive the gradient; they are never used to order.

Choices not fixed by public text (documented, configurable in :class:`EOFlowConfig`):
pixels are dequantised as (255 x + u) / 256, u ~ U(0, 1) in training and u = 1/2 otherwise;
the noise sigma is added after the pre-processing (``affine``: y = x - 1/2, so sigma is in
pixel units; ``logit``: logit units); the per-dimension weights lambda_i of the note are 0;
``config.latent_dim`` equals the latent size C*S*S (the config validates it); with
``flow_principal`` (default) the image flow ends in a principal rotation fitted to data and a
per-latent ActNorm, so that training starts from PCA's top-C truncation (see
:class:`~latentatlas.nets.flows.PrincipalRotation`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch.func import jvp

from latentatlas.families.base import (
    Encoding,
    ExactLikelihood,
    LatentModel,
    OrderedLatents,
    PriorSampling,
)
from latentatlas.families.configs import EOFlowConfig
from latentatlas.nets.flows import ActNorm, Affine, FlowSequence, Logit, PrincipalRotation, image_flow

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def balanced_directions(
    batch: int, dim: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One latent index per sample, as balanced as the batch allows, and the per-sample weights.

    Indices: a random permutation of ``arange(dim)`` repeated to cover the batch (so the counts
    M_i differ by at most one). Weights w_b = D / (n_drawn * M_{k_b}), n_drawn the number of
    distinct indices drawn: sum_b w_b a_{k_b}(b) estimates sum_i E[a_i] -- per drawn dimension
    the mean over its samples, rescaled by D / n_drawn when the batch is smaller than D.
    """
    reps = -(-batch // dim)
    pool = torch.cat([torch.randperm(dim, generator=generator) for _ in range(reps)])[:batch]
    order = torch.randperm(batch, generator=generator)
    dims = pool[order]
    counts = torch.bincount(dims, minlength=dim)
    drawn = int((counts > 0).sum())
    weights = dim / (drawn * counts[dims].float())
    return dims.to(device), weights.to(device)


def jacobian_column_log_norms(
    decode: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, dims: torch.Tensor
) -> torch.Tensor:
    """log |dg/dz_k| for each sample b and its own index k = dims[b]: one batched forward-mode JVP.

    Differentiable with respect to ``z`` and the parameters ``decode`` closes over.
    """
    tangent = F.one_hot(dims, z.shape[1]).to(z.dtype)
    column = jvp(decode, (z,), (tangent,))[1]
    return 0.5 * torch.log(column.flatten(1).square().sum(dim=1).clamp_min(1e-30))


def exact_jacobian_column_log_norms(
    decode: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, batch: int = 256
) -> torch.Tensor:
    """log |dg/dz_i| for every sample and every dimension, (N, D), detached: N x D JVPs, run
    ``batch`` (sample, dimension) pairs at a time, so memory is bounded by one decode of
    ``batch`` latents whatever N and D are."""
    n, d = z.shape
    pairs = torch.arange(n * d, device=z.device)
    out = torch.empty(n * d, dtype=z.dtype, device=z.device)
    with torch.no_grad():
        for chunk in pairs.split(batch):
            out[chunk] = jacobian_column_log_norms(decode, z[chunk // d], chunk % d)
    return out.view(n, d)


@dataclass(frozen=True)
class EntropyEstimate:
    """Per-latent explained entropy H_i in nats and its standard error, (D,) each."""

    mean: torch.Tensor
    se: torch.Tensor


def eoflow_terms(
    z: torch.Tensor,
    logdet: torch.Tensor,
    decode: Callable[[torch.Tensor], torch.Tensor],
    lambda_mtc: float,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """The EOFlow objective for latents ``z = f(x~)`` (N, D) with ``logdet = log|det J_f(x~)|`` (N,).

    Returns the batch means ``nll``, ``sum_l`` (estimated sum_i l_i), ``mtc`` and ``loss``
    (all per sample, not yet divided by D).
    """
    n, d = z.shape
    nll = 0.5 * z.square().sum(dim=1) + d * HALF_LOG_2PI - logdet
    dims, weights = balanced_directions(n, d, generator, z.device)
    log_norms = jacobian_column_log_norms(decode, z, dims)
    # sum_i E[l_i]: the quadratic part is exact for every dimension, the log-norm part estimated.
    sum_l = 0.5 * z.square().sum(dim=1).mean() + d * HALF_LOG_2PI + (weights * log_norms).sum()
    nll = nll.mean()
    loss = (1 - lambda_mtc) * nll + lambda_mtc * sum_l if lambda_mtc else nll
    return {"nll": nll, "sum_l": sum_l, "mtc": sum_l - nll, "loss": loss}


class EOFlow(LatentModel, OrderedLatents, ExactLikelihood, PriorSampling):
    """Entropy-ordered flow on images (N, C, S, S) in [0, 1]; latent (N, C*S*S), ordered, with a
    standard normal prior and an exact likelihood.

    Pipeline: dequantisation centring (255 x + 1/2) / 256 -> ``affine`` or ``logit``
    pre-processing -> :func:`~latentatlas.nets.flows.image_flow` -> entropy-order permutation.
    """

    config: EOFlowConfig
    order: torch.Tensor
    inverse_order: torch.Tensor
    entropy: torch.Tensor
    entropy_se: torch.Tensor

    def __init__(self, config: EOFlowConfig) -> None:
        super().__init__(config)
        net = config.net
        self.dim = net.channels * net.image_size**2
        alpha = config.flow_logit_alpha
        pre = Logit(alpha) if config.flow_preprocess == "logit" else Affine(1.0, 0.5)
        # x_c = (255 x + 1/2) / 256 = (x + 1/510) * 255/256
        self.pre = FlowSequence([Affine(255 / 256, -0.5 / 255), pre])
        body = image_flow(
            net.channels,
            net.image_size,
            config.flow_levels,
            config.flow_blocks,
            config.flow_hidden,
            config.flow_clamp,
            config.flow_seed,
        )
        principal = [PrincipalRotation(self.dim), ActNorm(self.dim)] if config.flow_principal else []
        self.flow = FlowSequence([body, *principal])
        self.register_buffer("order", torch.arange(self.dim))  # public latent k = native latent order[k]
        self.register_buffer("inverse_order", torch.arange(self.dim))
        # Explained entropy per latent and its standard error (native order), set by fix_ordering.
        self.register_buffer("entropy", torch.zeros(self.dim))
        self.register_buffer("entropy_se", torch.zeros(self.dim))

    @property
    def init_samples(self) -> int:
        """Enough images for a well-conditioned D x D covariance (with ``flow_principal``)."""
        return min(16_384, max(2_048, 4 * self.dim)) if self.config.flow_principal else 0

    @torch.no_grad()
    def initialize(self, images: torch.Tensor, chunk: int = 512) -> None:
        """Data-dependent start (with ``flow_principal``): the image flow's ActNorms from the
        first chunk (Glow), then the principal rotation from every image's features and the
        last ActNorm to whiten them. The couplings start as the identity, so the untrained
        flow's top-C decode is PCA's reconstruction in the (per-channel normalised) pixel space."""
        if not self.config.flow_principal:
            return
        body, rotation, whiten = cast(tuple[FlowSequence, PrincipalRotation, ActNorm], tuple(self.flow.flows))
        features = []
        for part in images.split(chunk):
            part = part + (torch.rand_like(part) - 0.5) / 255
            y, _ = self.pre(part)
            if self.config.noise_sigma > 0:
                y = y + self.config.noise_sigma * torch.randn_like(y)
            features.append(body(y)[0])
        variances = rotation.fit(torch.cat(features))
        whiten.loc.zero_()
        whiten.log_scale.copy_(-0.5 * torch.log(variances + 1e-8))
        whiten.initialized.fill_(True)

    # -- the map and its inverse ----------------------------------------------------------

    def forward_native(self, images: torch.Tensor, noise: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(z in native order, log|det J|) of images; in training mode with uniform dequantisation
        (and the configured noise when ``noise``)."""
        if self.training:
            images = images + (torch.rand_like(images) - 0.5) / 255
        y, logdet_pre = self.pre(images)
        if noise and self.config.noise_sigma > 0:
            y = y + self.config.noise_sigma * torch.randn_like(y)
        z, logdet = self.flow(y)
        return z, logdet_pre + logdet

    def decode_native(self, z: torch.Tensor) -> torch.Tensor:
        """g: native-order latents -> images in pixel units (not clamped; exact inverse)."""
        return self.pre.inverse(self.flow.inverse(z))

    def encode(self, images: torch.Tensor) -> Encoding:
        z, _ = self.forward_native(images)
        return Encoding(z[:, self.order])

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decode_native(latents[:, self.inverse_order]).clamp(0, 1)

    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        return torch.logit(self.decode(latents), eps=1e-6)

    def bits_per_dim(self, images: torch.Tensor) -> torch.Tensor:
        """-log2 p(x) / D of 8-bit images (N,), the dequantised density on [0, 1]^D rescaled to
        [0, 256)^D; centred dequantisation in eval mode."""
        z, logdet = self.forward_native(images)
        nll = 0.5 * z.square().sum(dim=1) + self.dim * HALF_LOG_2PI - logdet
        return (nll / self.dim + math.log(256)) / math.log(2)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.dim, generator=generator).to(self.order.device)

    def truncate(self, latents: torch.Tensor, keep: int) -> torch.Tensor:
        """Keep the top ``keep`` ordered latents; set the rest to the base mode 0 (``truncation_fill``)."""
        out = latents.clone()
        out[:, max(0, keep) :] = self.config.truncation_fill
        return out

    # -- training ---------------------------------------------------------------------------

    def loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        z, logdet = self.forward_native(images, noise=True)
        terms = eoflow_terms(z, logdet, self.decode_native, cfg.lambda_mtc)
        total = terms["loss"] / self.dim
        nll = terms["nll"].item()
        parts = {
            "nll": nll,
            # bits per dimension of the 8-bit data (the dequantised density on [0, 1]^D rescaled to [0, 256)^D)
            "bpd": (nll / self.dim + math.log(256)) / math.log(2),
            "mtc": terms["mtc"].item() / self.dim,
        }
        if cfg.recon_weight > 0:
            core = self.truncate(z[:, self.order], cfg.core_size)
            recon = F.mse_loss(self.decode_native(core[:, self.inverse_order]), images)
            total = total + cfg.recon_weight * recon
            parts["recon"] = recon.item()
        parts["loss"] = total.item()
        return total, parts

    # -- explained entropy and ordering -------------------------------------------------------

    def explained_entropy(self) -> torch.Tensor:
        """Per-latent explained entropy H_i (nats), (D,), in the public (ordered) index order: the
        held-out estimate that fixed the order (zeros before training ends)."""
        return self.entropy[self.order]

    def explained_entropy_se(self) -> torch.Tensor:
        """The standard errors of :meth:`explained_entropy`, (D,), public order."""
        return self.entropy_se[self.order]

    def estimate_explained_entropy(
        self, images: torch.Tensor, jacobian_images: int | None = None, batch: int = 256
    ) -> EntropyEstimate:
        """H_i = E[1/2 z_i^2] + 1/2 log 2 pi + E[log|dg/dz_i|] on ``images``, public order.

        The quadratic mean is over every image; the log-norm mean over the first
        ``jacobian_images`` (default: all), each with all D Jacobian columns (exact, D JVPs an
        image, ``batch`` at a time). The two means come from nested samples but are taken as
        independent for the standard error, sqrt(var_q / N + var_l / J). Eval mode (centred
        dequantisation, no noise)."""
        jacobian_images = len(images) if jacobian_images is None else min(jacobian_images, len(images))
        if jacobian_images < 2:
            raise ValueError(
                f"a standard error needs at least 2 images, got {len(images)} ({jacobian_images} with Jacobians)"
            )
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                z = torch.cat([self.forward_native(part)[0] for part in images.split(batch)])
            log_norms = exact_jacobian_column_log_norms(self.decode_native, z[:jacobian_images], batch)
        finally:
            self.train(was_training)
        quad = 0.5 * z.double().square()
        log_norms = log_norms.double()
        mean = quad.mean(dim=0) + HALF_LOG_2PI + log_norms.mean(dim=0)
        variance = quad.var(dim=0) / len(z) + log_norms.var(dim=0) / jacobian_images
        return EntropyEstimate(mean[self.order].float(), variance.sqrt()[self.order].float())

    @torch.no_grad()
    def finalize(
        self, sample_images: Callable[[int], torch.Tensor], validation_images: Callable[[int], torch.Tensor]
    ) -> None:
        """Order the latents by explained entropy estimated on validation images (module docstring);
        on training images when the dataset holds out fewer than 2 for validation."""
        images = validation_images(self.config.order_images)
        if len(images) < 2:
            images = sample_images(self.config.order_images)
        images = images.to(self.order.device)
        self.fix_ordering(self.estimate_explained_entropy(images, self.config.order_jacobian_images))

    @torch.no_grad()
    def fix_ordering(self, estimate: EntropyEstimate) -> torch.Tensor:
        """Keep ``estimate`` (public order, as :meth:`estimate_explained_entropy` returns it) and
        re-order the latents by it, descending; returns the new order."""
        mean, se = estimate.mean.to(self.order.device), estimate.se.to(self.order.device)
        if mean.shape != (self.dim,) or se.shape != (self.dim,):
            raise ValueError(
                f"expected {self.dim} entropies and standard errors, got shapes {tuple(mean.shape)}, {tuple(se.shape)}"
            )
        self.entropy[self.order] = mean
        self.entropy_se[self.order] = se
        self.order.copy_(self.order[torch.argsort(mean, descending=True, stable=True)])
        self.inverse_order.copy_(torch.argsort(self.order))
        return self.order.clone()


__all__ = [
    "EOFlow",
    "EntropyEstimate",
    "balanced_directions",
    "eoflow_terms",
    "exact_jacobian_column_log_norms",
    "jacobian_column_log_norms",
]
