"""A probe decoder: the shared convolutional decoder over a frozen representation's
standardised latents, ``x_hat = sigmoid(ConvDecoder((z - mean) / scale))``.

It renders the latents of a model that has no decoder of its own (an imported encoder, a
contrastive backbone). It is *not* the model's decoder: it is trained afterwards, on the frozen
latents, as a probe of what the representation keeps (a decoding probe in the sense of Alain and
Bengio 2016's linear classifier probes), and its held-out PSNR says how much of the image it
recovers. The standardisation makes a representation of any scale a well-conditioned input.
"""

from __future__ import annotations

import torch
from torch import nn

from latentatlas.nets.blocks import ConvDecoder
from latentatlas.nets.config import NetConfig


class ProbeDecoder(nn.Module):
    """Latents (N, D) of a frozen encoder -> images (N, C, S, S) in [0, 1]."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, net: NetConfig, latent_dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))
        self.decoder = ConvDecoder(net, latent_dim)

    def logits(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder((latents - self.mean) / self.scale)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(latents))
