"""Tiny in-memory models for the tests of ``latentatlas.explore`` (importable: tests/ is on the
path): seeded linear maps between 16-pixel dSprites images and 3 latents, as ``nn.Module``s and
as plain functions."""

from __future__ import annotations

import torch
from torch import nn

SIZE, LATENT_DIM = 16, 3


def linear_pair(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """An encoder (a linear map of the pixels) and a decoder (linear, then a sigmoid), seeded."""
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, LATENT_DIM))
    decoder = nn.Sequential(nn.Linear(LATENT_DIM, SIZE * SIZE), nn.Sigmoid(), nn.Unflatten(1, (1, SIZE, SIZE)))
    return encoder, decoder


def function_pair(seed: int = 0):
    """The same kind of maps as plain functions over one fixed, seeded matrix (no module)."""
    weights = torch.randn(SIZE * SIZE, LATENT_DIM, generator=torch.Generator().manual_seed(seed)) / SIZE

    def project(images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1) @ weights

    def render(latents: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(latents @ weights.T).view(-1, 1, SIZE, SIZE)

    return project, render
