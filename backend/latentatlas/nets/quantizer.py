"""Per-dimension scalar codebooks: the latent quantisation of Hsu et al., "Disentanglement via
Latent Quantization", NeurIPS 2023, shared by QLAE and QLInfoWGAN-GP."""

from __future__ import annotations

import torch
from torch import nn


class LatentQuantizer(nn.Module):
    """Per-dimension scalar codebooks ``values`` (D, n), initialised linspace(-0.5, 0.5)."""

    def __init__(self, latent_dim: int, codebook_size: int) -> None:
        super().__init__()
        self.values = nn.Parameter(torch.linspace(-0.5, 0.5, codebook_size).repeat(latent_dim, 1))

    def codes(self, continuous: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codebook value per dimension, (N, D) int64."""
        return (continuous.unsqueeze(-1) - self.values.unsqueeze(0)).abs().argmin(dim=-1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook values for code indices (N, D)."""
        return torch.gather(self.values.unsqueeze(0).expand(codes.shape[0], -1, -1), 2, codes.unsqueeze(-1)).squeeze(-1)

    def forward(self, continuous: torch.Tensor) -> torch.Tensor:
        """Straight-through quantisation: the value of z_q, the gradient of z_c."""
        quantized = self.lookup(self.codes(continuous))
        return continuous + (quantized - continuous).detach()

    def losses(self, continuous: torch.Tensor, quantized: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(quantisation, commitment) = (mean (sg(z_c) - z_q)^2, mean (z_c - sg(z_q))^2): the first
        moves the codebooks towards the encoder's outputs, the second the encoder towards its codes."""
        return (continuous.detach() - quantized).square().mean(), (continuous - quantized.detach()).square().mean()

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latents with each dimension uniform over its codebook values, (n, D)."""
        dim, size = self.values.shape
        codes = torch.randint(size, (n, dim), generator=generator).to(self.values.device)
        return self.lookup(codes)

    @torch.no_grad()
    def init_from_quantiles(self, continuous: torch.Tensor) -> None:
        """Reset each codebook to evenly spaced quantiles of that dimension's values (N, D)."""
        n = self.values.shape[1]
        levels = torch.linspace(0.5 / n, 1 - 0.5 / n, n, device=continuous.device)
        self.values.copy_(torch.quantile(continuous.float(), levels, dim=0).T.contiguous())
