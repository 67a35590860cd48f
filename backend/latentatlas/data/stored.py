"""Datasets whose images are stored in files: pixels to tensors, and the official files' complete factor grid."""

from __future__ import annotations

import math
from abc import abstractmethod
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from latentatlas.data.base import FactorDataset
from latentatlas.data.spec import DatasetError, DatasetSpec


def pixels_to_tensor(pixels: np.ndarray, image_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 images (n, H, W, C) -> float (n, C, S, S) in [0, 1]; resized (bilinear, antialiased) when S != H, W."""
    images = torch.from_numpy(np.ascontiguousarray(pixels)).to(device).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    if images.shape[-2:] != (image_size, image_size):
        images = F.interpolate(
            images,
            size=(image_size, image_size),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
    return images.clamp_(0, 1)


def grid_sizes(classes: np.ndarray, path: Path, what: str) -> tuple[int, ...]:
    """The factor sizes of integer factor classes (N, K) that enumerate a complete grid in C order
    (row i has the factors ``np.unravel_index(i, sizes)``), as the official files do; else a DatasetError."""
    if classes.ndim != 2 or len(classes) == 0:
        raise DatasetError(f"{path}: {what} has shape {classes.shape}; expected (images, factors)")
    if classes.min() < 0:
        raise DatasetError(f"{path}: {what} has negative factor classes")
    sizes = tuple(int(size) for size in classes.max(axis=0) + 1)
    if math.prod(sizes) != len(classes):
        raise DatasetError(
            f"{path}: {what} is not a complete factor grid: {len(classes):,} rows, but the factor sizes {list(sizes)} "
            f"make {math.prod(sizes):,} combinations"
        )
    if not np.array_equal(np.ravel_multi_index(tuple(classes.T), sizes), np.arange(len(classes))):
        raise DatasetError(f"{path}: the rows of {what} are not in the factor grid's C order (last factor fastest)")
    return sizes


class StoredRows(FactorDataset):
    """A :class:`FactorDataset` whose images are read, not rendered: ``read`` gives the uint8 rows,
    ``images`` resizes them to the spec's size and ``render(factors)`` reads the rows of those factors."""

    @abstractmethod
    def read(self, indices: np.ndarray) -> np.ndarray:
        """The stored images at ``indices`` as uint8 (n, H, W, C), in the order asked."""

    def images(self, indices: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        return pixels_to_tensor(self.read(np.asarray(indices, dtype=np.int64)), self.image_size, device)

    def render(self, factors: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        return self.images(self.factors_to_index(factors), device)


class StoredGrid(StoredRows):
    """A complete factor grid stored as image rows in C order (the official dSprites, Shapes3D and
    MPI3D files): ``render(factors)`` reads the rows of those factors."""

    stored_size = 64  # the files' image side; images are resized to the spec's size when it differs

    def __init__(
        self,
        spec: DatasetSpec,
        factor_names: tuple[str, ...],
        factor_values: tuple[np.ndarray, ...],
    ) -> None:
        self.factor_names = factor_names
        self.factor_sizes = tuple(len(values) for values in factor_values)
        self.factor_values = factor_values
        self.image_size = spec.image_size
        super().__init__(spec)
