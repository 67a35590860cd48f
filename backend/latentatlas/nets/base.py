"""The interface every latent model implements, which training and the server rely on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latentatlas.nets.config import ModelConfig, NetConfig


@dataclass
class Encoding:
    """What ``encode`` returns: the latent the decoder consumes, posterior scales for VAEs,
    and the discrete code indices for quantised models."""

    latent: torch.Tensor
    scale: torch.Tensor | None = None
    codes: torch.Tensor | None = None


class LatentModel(nn.Module, ABC):
    """An image autoencoder with a latent space worth exploring.

    ``encode(images) -> Encoding``, ``decode(latents) -> images in [0, 1]``,
    ``loss(images, step) -> (total, parts)`` for training, and ``latent_info()`` describing
    the latent space to clients (codebooks for QLAE, posterior scale for VAEs).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    decoder: nn.Module

    @abstractmethod
    def encode(self, images: torch.Tensor) -> Encoding: ...

    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(latents))

    @abstractmethod
    def loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]: ...

    def latent_info(self) -> dict:
        return {"kind": self.config.kind, "latent_dim": self.config.latent_dim}

    init_samples: int = 0
    """Training images :meth:`initialize` wants before the first step (0: none)."""

    def initialize(self, images: torch.Tensor) -> None:
        """Data-dependent initialisation from ``init_samples`` training images, called once
        before the first training step (default: nothing)."""

    def finalize(self) -> None:
        """Called once when training ends, before evaluation and saving (default: nothing)."""


def reconstruction_loss(logits: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits, mean over pixels and batch (images in [0, 1])."""
    return F.binary_cross_entropy_with_logits(logits, images)


def build_model(config: ModelConfig) -> LatentModel:
    from latentatlas.nets.autoencoders import AE, TCVAE, VAE
    from latentatlas.nets.eoflow import EOFlow
    from latentatlas.nets.qlae import QLAE

    return {"qlae": QLAE, "ae": AE, "vae": VAE, "tcvae": TCVAE, "eoflow": EOFlow}[config.kind](config)


__all__ = ["Encoding", "LatentModel", "ModelConfig", "NetConfig", "build_model", "reconstruction_loss"]
