"""The convolutional encoder and decoder every autoencoder family shares.

A smaller cousin of the QLAE paper's networks, sized for 64x64 synthetic images: stride-2
4x4 convolutions down to 4x4, two dense layers, and the mirror image up. No normalisation
layers: instance norm would erase the per-image colour statistics Shapes3D's hue factors
live in. QLAE and its baselines use exactly these modules, so comparisons are fair.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from latentatlas.nets.config import NetConfig


def layer_widths(net: NetConfig) -> tuple[int, ...]:
    """Encoder widths, one per stride-2 layer from the image down to 4x4."""
    steps = int(math.log2(max(net.image_size, 1) // 4)) if net.image_size >= 8 else 0
    if steps == 0 or 4 * 2**steps != net.image_size:
        raise ValueError(f"image size must be a power of two >= 8, got {net.image_size}")
    if len(net.widths) != steps:
        raise ValueError(f"{net.image_size}x{net.image_size} images need {steps} widths, got {len(net.widths)}")
    return net.widths


class ConvEncoder(nn.Module):
    """Image (N, C, S, S) -> features (N, out_dim)."""

    if TYPE_CHECKING:  # nn.Module.__call__ runs forward (with hooks); torch types it as returning Any

        def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

    def __init__(self, net: NetConfig, out_dim: int) -> None:
        super().__init__()
        widths = layer_widths(net)
        layers: list[nn.Module] = []
        in_ch: int = net.channels
        for width in widths:
            layers += [nn.Conv2d(in_ch, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            in_ch = width
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(nn.Linear(in_ch * 16, net.hidden), nn.LeakyReLU(0.2), nn.Linear(net.hidden, out_dim))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


class ConvDecoder(nn.Module):
    """Latent (N, D) -> pixel logits (N, C, S, S)."""

    if TYPE_CHECKING:  # see ConvEncoder

        def __call__(self, latents: torch.Tensor) -> torch.Tensor: ...

    def __init__(self, net: NetConfig, latent_dim: int) -> None:
        super().__init__()
        widths = tuple(reversed(layer_widths(net)))
        self.start_width = widths[0]
        self.head = nn.Sequential(
            nn.Linear(latent_dim, net.hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(net.hidden, widths[0] * 16),
            nn.LeakyReLU(0.2),
        )
        layers: list[nn.Module] = []
        for in_ch, out_ch in itertools.pairwise(widths):
            layers += [nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        layers.append(nn.ConvTranspose2d(widths[-1], net.channels, 4, stride=2, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        hidden = self.head(latents).view(-1, self.start_width, 4, 4)
        return self.body(hidden)
