"""The MPI3D files (Gondal et al. 2019), ``mpi3d_toy.npz``, ``mpi3d_realistic.npz``, ``mpi3d_real.npz``.

One array ``images`` uint8 (N, 64, 64, 3), stored uncompressed (``np.savez``), 5.7 or 12.7 GB: it
is memory-mapped in place, never read whole. Its factors are implicit, C order over object_color,
object_shape, object_size (2), camera_height (3), background_color (3), horizontal_axis (40),
vertical_axis (40); N says which release: 1,036,800 images (6 colours, 6 shapes: the full
release) or 460,800 (4 and 4: the 2019 challenge release that disentanglement_lib uses).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentatlas.data.npz import memmap_member
from latentatlas.data.spec import DatasetError, DatasetSpec
from latentatlas.data.stored import StoredGrid

FACTORS = (
    "object_color",
    "object_shape",
    "object_size",
    "camera_height",
    "background_color",
    "horizontal_axis",
    "vertical_axis",
)
LAYOUTS = {1_036_800: (6, 6, 2, 3, 3, 40, 40), 460_800: (4, 4, 2, 3, 3, 40, 40)}


def mpi3d_layout(images: int, path: Path) -> tuple[int, ...]:
    """The factor sizes of an MPI3D file with ``images`` rows, or a DatasetError naming the known counts."""
    if images not in LAYOUTS:
        known = " or ".join(f"{count:,} ({', '.join(map(str, sizes))})" for count, sizes in LAYOUTS.items())
        raise DatasetError(f"{path}: {images:,} images fit no MPI3D factor layout; the releases have {known}")
    return LAYOUTS[images]


class MPI3D(StoredGrid):
    name = "mpi3d"
    channels = 3

    def __init__(self, spec: DatasetSpec) -> None:
        path = Path(spec.path or "")
        self._images = memmap_member(path, "images", (None, 64, 64, 3))
        sizes = mpi3d_layout(len(self._images), path)
        super().__init__(spec, FACTORS, tuple(np.arange(size, dtype=np.float64) for size in sizes))

    def read(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(self._images[indices])
