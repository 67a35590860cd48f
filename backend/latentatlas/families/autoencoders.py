"""Baselines on the shared networks: a plain autoencoder, the beta-VAE and the beta-TCVAE."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from latentatlas.families.base import Encoding, GaussianPosterior, LatentModel, PriorSampling, reconstruction_loss
from latentatlas.families.configs import AEConfig, FamilyConfig, TCEstimator, TCVAEConfig, VAEConfig
from latentatlas.nets.blocks import ConvDecoder, ConvEncoder


class AE(LatentModel):
    """Deterministic autoencoder: loss = BCE(decode(encode(x)), x)."""

    config: AEConfig

    def __init__(self, config: AEConfig) -> None:
        super().__init__(config)
        self.encoder = ConvEncoder(config.net, config.latent_dim)
        self.decoder = ConvDecoder(config.net, config.latent_dim)

    def encode(self, images: torch.Tensor) -> Encoding:
        return Encoding(self.encoder(images))

    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents)

    def loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        recon = reconstruction_loss(self.decode_logits(self.encoder(images)), images)
        return recon, {"loss": recon.item(), "recon": recon.item()}


class GaussianVAE(LatentModel, GaussianPosterior, PriorSampling):
    """The networks every VAE family shares: a diagonal Gaussian posterior q(z|x) = N(mu, sigma^2)
    from the shared conv encoder, the shared conv decoder and the prior N(0, I). ``encode``
    returns the posterior mean as the latent and sigma as its scale. Subclasses add the loss."""

    def __init__(self, config: FamilyConfig) -> None:
        super().__init__(config)
        self.encoder = ConvEncoder(config.net, 2 * config.latent_dim)
        self.decoder = ConvDecoder(config.net, config.latent_dim)

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.encoder(images).chunk(2, dim=1)
        return mean, log_var.clamp(-20, 10)

    def encode(self, images: torch.Tensor) -> Encoding:
        mean, log_var = self.posterior(images)
        return Encoding(mean, torch.exp(0.5 * log_var))

    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=generator).to(self.device)

    def sample_posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A reparameterised sample z = mu + sigma * eps of q(z|x), with mu and log sigma^2."""
        mean, log_var = self.posterior(images)
        return mean + torch.randn_like(mean) * torch.exp(0.5 * log_var), mean, log_var

    def elbo_terms(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Sampled latent, summed-pixel BCE and KL to the prior, per batch; ``kl_per_dim`` is the
        batch mean of KL(q(z_d|x) || N(0, 1)) = 1/2 (mu_d^2 + sigma_d^2 - 1 - log sigma_d^2) per
        dimension d (their sum is ``kl``): near 0 for a dimension the model does not use."""
        latent, mean, log_var = self.sample_posterior(images)
        logits = self.decode_logits(latent)
        recon = F.binary_cross_entropy_with_logits(logits, images, reduction="sum") / images.shape[0]
        kl_per_dim = 0.5 * (mean.square() + log_var.exp() - 1 - log_var).mean(dim=0)
        return {
            "latent": latent,
            "mean": mean,
            "log_var": log_var,
            "recon": recon,
            "kl": kl_per_dim.sum(),
            "kl_per_dim": kl_per_dim,
        }


def kl_dim_curves(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    """``{"kl_dim_0": ..., "kl_dim_1": ...}``: a step's KL per latent dimension, as training curves
    (the loop averages them over each ``log_every`` window like every other logged value)."""
    return {f"kl_dim_{d}": value for d, value in enumerate(terms["kl_per_dim"].detach().tolist())}


class VAE(GaussianVAE):
    """beta-VAE (Higgins et al., ICLR 2017) on :class:`GaussianVAE`'s networks.

    loss = sum_pixels BCE(x_hat, x) + beta * KL(q(z|x) || N(0, I)), averaged over the batch.
    """

    config: VAEConfig | TCVAEConfig

    def loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        terms = self.elbo_terms(images)
        total = terms["recon"] + self.config.beta * terms["kl"]
        parts = {"loss": total.item(), "recon": terms["recon"].item(), "kl": terms["kl"].item()}
        return total, {**parts, **kl_dim_curves(terms)}


def total_correlation(
    latent: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor, dataset_size: int, estimator: TCEstimator = "mss"
) -> torch.Tensor:
    """Minibatch estimate of TC = KL(q(z) || prod_d q(z_d)) (Chen et al. 2018): the batch mean of
    log q(z_i) - sum_d log q(z_id), with samples z_i ~ q(z|x_i) of M data points out of N and

        log q(z_i) ~ logsumexp_j [log q(z_i|x_j) + log w_ij],   per dimension likewise.

    ``mws`` (minibatch weighted sampling): w_ij = 1 / (N M). Its D - 1 extra log(N M) terms
    dominate when M << N: with batch 64 on dSprites the estimate sat at ~125 nats for a whole
    run, a near-constant with little gradient. ``mss`` (minibatch stratified sampling, the
    paper's lower-variance alternative): w_ii = 1/N, one other sample of the batch (the next,
    cyclically) (N - M + 1) / (N (M - 1)), the rest 1 / (M - 1); each row sums to 1.
    """
    batch = latent.shape[0]
    # log N(z_i,d | mu_j,d, sigma_j,d^2) for every pair (i, j): (M, M, D)
    diff = latent.unsqueeze(1) - mean.unsqueeze(0)
    log_density = -0.5 * (math.log(2 * math.pi) + log_var.unsqueeze(0) + diff.square() / log_var.exp().unsqueeze(0))
    log_weight = _log_importance_weights(batch, dataset_size, estimator).to(latent)
    log_qz = torch.logsumexp(log_density.sum(dim=2) + log_weight, dim=1)
    log_prod_qzd = torch.logsumexp(log_density + log_weight.unsqueeze(2), dim=1).sum(dim=1)
    return (log_qz - log_prod_qzd).mean()


def _log_importance_weights(batch: int, dataset_size: int, estimator: TCEstimator) -> torch.Tensor:
    """log w_ij (M, M) of the MWS or MSS estimator (see :func:`total_correlation`)."""
    if estimator == "mws" or batch < 2:
        return torch.full((batch, batch), -math.log(dataset_size * batch))
    n, m = dataset_size, batch
    weights = torch.full((m, m), 1 / (m - 1))
    rows = torch.arange(m)
    weights[rows, rows] = 1 / n
    weights[rows, (rows + 1) % m] = (n - m + 1) / (n * (m - 1))
    return weights.log()


class TCVAE(VAE):
    """beta-TCVAE (Chen et al., "Isolating Sources of Disentanglement in VAEs", NeurIPS 2018).

    loss = BCE + KL(q(z|x) || p(z)) + (beta - 1) * TC, i.e. the ELBO with the total
    correlation of the aggregate posterior weighted by beta (the paper's alpha = gamma = 1).
    """

    config: TCVAEConfig

    def loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        terms = self.elbo_terms(images)
        size = self.config.dataset_size or images.shape[0]
        tc = total_correlation(terms["latent"], terms["mean"], terms["log_var"], size, self.config.tc_estimator)
        total = terms["recon"] + terms["kl"] + (self.config.beta - 1) * tc
        parts = {"loss": total.item(), "recon": terms["recon"].item(), "kl": terms["kl"].item(), "tc": tc.item()}
        return total, {**parts, **kl_dim_curves(terms)}
