"""Dataset interface: images by index, and for factor datasets the ground-truth factors behind them."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import torch

from latentatlas.data.spec import DatasetSpec

RENDER_CHUNK = 1024  # procedural images rendered at once


class ImageDataset(ABC):
    """Images in [0, 1] as float tensors (N, C, H, W), addressed by integer index."""

    name: str
    channels: int
    image_size: int
    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        if len(self) < 2:
            raise ValueError(f"{self.name} has {len(self)} image(s); at least 2 are needed (one is held out)")
        held_out = min(spec.holdout, max(1, len(self) // 10))
        self._holdout = np.sort(
            np.random.default_rng(spec.holdout_seed).choice(len(self), size=held_out, replace=False)
        )

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def images(self, indices: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """Render or load the images at ``indices``."""

    @property
    def holdout_indices(self) -> np.ndarray:
        """Fixed, seeded indices never drawn for training."""
        return self._holdout

    @property
    def evaluation_indices(self) -> np.ndarray:
        """The held-out indices' first half (the larger): what a card's order-sensitive
        evaluations (a flow's truncation and denoising curves) score."""
        return self._holdout[: (len(self._holdout) + 1) // 2]

    @property
    def validation_indices(self) -> np.ndarray:
        """The held-out indices' second half: for choices made after training (a flow's latent
        order), so that they are never scored on the images they were fitted to."""
        return self._holdout[(len(self._holdout) + 1) // 2 :]

    def sample_train_indices(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Uniform training indices, rejecting the held-out ones."""
        out = rng.integers(0, len(self), size=n)
        bad = np.isin(out, self._holdout)
        while bad.any():
            out[bad] = rng.integers(0, len(self), size=int(bad.sum()))
            bad = np.isin(out, self._holdout)
        return out

    def describe(self) -> dict:
        return {
            "name": self.name,
            "size": len(self),
            "channels": self.channels,
            "image_size": self.image_size,
            "factor_names": list(self.factor_names),
            "factor_sizes": list(self.factor_sizes),
            **({"path": self.spec.path} if self.spec.path else {}),
        }


class FactorDataset(ImageDataset):
    """A dataset with ground-truth factors; by default every combination of its factor grid is one image.

    Index <-> factors is the mixed-radix numbering of the grid (last factor fastest), the
    official files' C order, and ``render(factors)`` gives the images of any factors, so the
    metrics can ask for "a batch with factor k fixed" straight from the generative process
    (procedural sets render it; stored sets read the rows; labelled rows override the numbering).
    """

    factor_values: tuple[np.ndarray, ...] = ()
    intervention_rule: str | None = None
    """How a factor combination no image has is served (None: every combination of the grid exists);
    an evaluation records it with :meth:`intervention_counts` on the model's card."""

    def intervention_counts(self) -> dict[str, int]:
        """Factor vectors looked up so far and how many of them had no image of their own
        (``{"requested", "substituted"}``); a grid has an image for every one."""
        return {"requested": 0, "substituted": 0}

    def __len__(self) -> int:
        return math.prod(self.factor_sizes)

    def index_to_factors(self, indices: np.ndarray) -> np.ndarray:
        return np.stack(np.unravel_index(np.asarray(indices, dtype=np.int64), self.factor_sizes), axis=1)

    def factors_to_index(self, factors: np.ndarray) -> np.ndarray:
        factors = np.asarray(factors, dtype=np.int64)
        return np.ravel_multi_index(tuple(factors.T), self.factor_sizes)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Factor indices (n, K), each factor uniform over its grid."""
        return np.stack([rng.integers(0, size, size=n) for size in self.factor_sizes], axis=1)

    def factor_value_table(self, factors: np.ndarray) -> dict[str, list[float]]:
        """Physical factor values (scale, angle, hue, ...) for factor indices (n, K)."""
        return {name: self.factor_values[k][factors[:, k]].tolist() for k, name in enumerate(self.factor_names)}

    def images(self, indices: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """Rendered ``RENDER_CHUNK`` at a time: the renderers' per-pixel intermediates (supersampled
        grids) are many times the images' size, 6.5 GiB for 12,288 Shapes3D images at once."""
        factors = self.index_to_factors(indices)
        if len(factors) <= RENDER_CHUNK:
            return self.render(factors, device)
        return torch.cat(
            [
                self.render(factors[start : start + RENDER_CHUNK], device)
                for start in range(0, len(factors), RENDER_CHUNK)
            ]
        )

    @abstractmethod
    def render(self, factors: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """Images (n, C, H, W) in [0, 1] for factor indices (n, K)."""

    def _factor_tensor(self, factors: np.ndarray, k: int, device: torch.device | str) -> torch.Tensor:
        """Physical values of factor k as a (n, 1, 1) float tensor, ready to broadcast over pixels."""
        values = torch.as_tensor(self.factor_values[k][np.asarray(factors)[:, k]], dtype=torch.float32, device=device)
        return values.view(-1, 1, 1)

    def _pixel_grid(self, device: torch.device | str, supersample: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel-centre coordinates x (right) and y (down) in [0, 1], shape (1, H, W)."""
        s = self.image_size * supersample
        coords = (torch.arange(s, dtype=torch.float32, device=device) + 0.5) / s
        y, x = torch.meshgrid(coords, coords, indexing="ij")
        return x.unsqueeze(0), y.unsqueeze(0)
