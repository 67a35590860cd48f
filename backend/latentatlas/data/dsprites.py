"""Procedural dSprites (Matthey et al. 2017): binary 2D sprites on the original factor grid.

Factors (sizes): shape 3 (square, ellipse, heart), scale 6 (0.5..1), orientation 40
(0..2 pi, endpoints included as in the original), posX 32, posY 32 (0..1): 737,280 images.
Each sprite is an implicit shape evaluated at the pixel centres in its own rotated, scaled
frame, so index -> factors -> image is exact and deterministic, and a batch of any factors
renders in one vectorised pass (on the GPU too).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentatlas.data.base import FactorDataset
from latentatlas.data.spec import DatasetSpec

SHAPES = ("square", "ellipse", "heart")
# Half-width of a scale-1 sprite and the span of sprite centres, as fractions of the image.
_SPRITE_RADIUS = 0.15
_CENTRE_LOW, _CENTRE_SPAN = 0.2, 0.6


class DSprites(FactorDataset):
    name = "dsprites"
    channels = 1
    factor_names = ("shape", "scale", "orientation", "posX", "posY")
    factor_sizes = (3, 6, 40, 32, 32)
    factor_values = (
        np.arange(3, dtype=np.float64),
        np.linspace(0.5, 1.0, 6),
        np.linspace(0.0, 2 * math.pi, 40),
        np.linspace(0.0, 1.0, 32),
        np.linspace(0.0, 1.0, 32),
    )

    def __init__(self, spec: DatasetSpec | None = None) -> None:
        spec = spec or DatasetSpec(name="dsprites")
        self.image_size = spec.image_size
        super().__init__(spec)

    def render(self, factors: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        factors = np.asarray(factors)
        px, py = self._pixel_grid(device)
        shape = torch.as_tensor(factors[:, 0], device=device).view(-1, 1, 1)
        radius = _SPRITE_RADIUS * self._factor_tensor(factors, 1, device)
        angle = self._factor_tensor(factors, 2, device)
        cx = _CENTRE_LOW + _CENTRE_SPAN * self._factor_tensor(factors, 3, device)
        cy = _CENTRE_LOW + _CENTRE_SPAN * self._factor_tensor(factors, 4, device)
        # Sprite frame: rotate the offset from the centre by -angle, then divide by the radius.
        dx, dy = px - cx, py - cy
        cos, sin = torch.cos(angle), torch.sin(angle)
        u = (cos * dx + sin * dy) / radius
        v = (-sin * dx + cos * dy) / radius
        square = torch.maximum(u.abs(), v.abs()) <= 0.8
        ellipse = u.square() + (v / 0.5).square() <= 1.0
        # Heart curve (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, y pointing up, lobes at the top.
        hx, hy = u * 1.15, -v * 1.15 + 0.1
        heart = (hx.square() + hy.square() - 1).pow(3) - hx.square() * hy.pow(3) <= 0
        inside = torch.where(shape == 0, square, torch.where(shape == 1, ellipse, heart))
        return inside.to(torch.float32).unsqueeze(1)
