"""Baselines on the shared networks: a plain autoencoder and the beta-VAE."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from latentatlas.nets.base import Encoding, LatentModel, reconstruction_loss
from latentatlas.nets.blocks import ConvDecoder, ConvEncoder
from latentatlas.nets.config import ModelConfig


class AE(LatentModel):
    """Deterministic autoencoder: loss = BCE(decode(encode(x)), x)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.encoder = ConvEncoder(config.net, config.latent_dim)
        self.decoder = ConvDecoder(config.net, config.latent_dim)

    def encode(self, images: torch.Tensor) -> Encoding:
        return Encoding(self.encoder(images))

    def loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        recon = reconstruction_loss(self.decode_logits(self.encoder(images)), images)
        return recon, {"loss": recon.item(), "recon": recon.item()}


class VAE(LatentModel):
    """beta-VAE (Higgins et al., ICLR 2017), a diagonal Gaussian posterior q(z|x) = N(mu, sigma^2).

    loss = sum_pixels BCE(x_hat, x) + beta * KL(q(z|x) || N(0, I)), averaged over the batch;
    ``encode`` returns the posterior mean as the latent and sigma as its scale.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.encoder = ConvEncoder(config.net, 2 * config.latent_dim)
        self.decoder = ConvDecoder(config.net, config.latent_dim)

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.encoder(images).chunk(2, dim=1)
        return mean, log_var.clamp(-20, 10)

    def encode(self, images: torch.Tensor) -> Encoding:
        mean, log_var = self.posterior(images)
        return Encoding(mean, torch.exp(0.5 * log_var))

    def loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        mean, log_var = self.posterior(images)
        latent = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        logits = self.decode_logits(latent)
        recon = F.binary_cross_entropy_with_logits(logits, images, reduction="sum") / images.shape[0]
        kl = 0.5 * (mean.square() + log_var.exp() - 1 - log_var).sum(dim=1).mean()
        total = recon + self.config.beta * kl
        return total, {"loss": total.item(), "recon": recon.item(), "kl": kl.item()}

    def latent_info(self) -> dict:
        return {**super().latent_info(), "beta": self.config.beta}
