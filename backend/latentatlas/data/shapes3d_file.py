"""The official Shapes3D file (Burgess & Kim 2018), ``3dshapes.h5``, read lazily with h5py.

HDF5 datasets ``images`` uint8 (480000, 64, 64, 3) and ``labels`` float64 (480000, 6): floor_hue,
wall_hue, object_hue (10 each), scale (8), shape (4), orientation (15), every combination once in
C order. A factor's classes are its sorted distinct label values. Only the labels (23 MB) are read
at start; images are read when asked, in increasing row order as h5py's fancy indexing requires.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latentatlas.data.spec import DatasetError, DatasetSpec
from latentatlas.data.stored import StoredGrid, grid_sizes

if TYPE_CHECKING:
    import h5py

FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")


def _dataset(file: h5py.File, key: str, path: Path) -> h5py.Dataset:
    import h5py

    item = file.get(key)
    if not isinstance(item, h5py.Dataset):
        raise DatasetError(f"{path}: no '{key}' dataset (it has: {', '.join(file.keys()) or 'none'})")
    return item


class Shapes3DFile(StoredGrid):
    name = "shapes3d"
    channels = 3

    def __init__(self, spec: DatasetSpec) -> None:
        self.path = path = Path(spec.path or "")
        if not path.is_file():
            raise DatasetError(f"{path} does not exist or is not a file")
        import h5py  # here: the CLI and server start without h5py

        try:
            self._file = h5py.File(path, "r")
        except OSError as error:
            raise DatasetError(f"{path}: not an HDF5 file, or a truncated one ({error})") from error
        try:
            self._open(spec, path)
        except (
            ValueError,
            OSError,
            KeyError,
            RuntimeError,
        ) as error:  # h5py's errors on a damaged file vary
            self._file.close()  # a refused file is not left open
            if isinstance(error, DatasetError):
                raise
            raise DatasetError(f"{path}: a damaged or truncated HDF5 file ({error})") from error

    def _open(self, spec: DatasetSpec, path: Path) -> None:
        self._images = _dataset(self._file, "images", path)
        labels_set = _dataset(self._file, "labels", path)
        if labels_set.dtype != np.float64 or labels_set.ndim != 2 or labels_set.shape[1] != len(FACTORS):
            raise DatasetError(
                f"{path}: 'labels' is {labels_set.dtype} {labels_set.shape}; expected float64 (N, {len(FACTORS)})"
            )
        count = labels_set.shape[0]
        if self._images.dtype != np.uint8 or self._images.shape != (count, 64, 64, 3):
            raise DatasetError(
                f"{path}: 'images' is {self._images.dtype} {self._images.shape}; expected uint8 ({count}, 64, 64, 3)"
            )
        labels = self._read(labels_set, slice(None))
        columns = [np.unique(labels[:, k], return_inverse=True) for k in range(len(FACTORS))]
        grid_sizes(
            np.stack([inverse.ravel() for _, inverse in columns], axis=1),
            path,
            "labels",
        )
        super().__init__(spec, FACTORS, tuple(values for values, _ in columns))
        # A truncated file fails here, not in the middle of a run.
        self.read(np.array([0, count - 1]))

    def _read(self, dataset: h5py.Dataset, selection: slice | np.ndarray) -> np.ndarray:
        try:
            return dataset[selection]
        except (OSError, ValueError) as error:
            raise DatasetError(f"{self.path}: cannot read '{dataset.name.lstrip('/')}' ({error})") from error

    def read(self, indices: np.ndarray) -> np.ndarray:
        rows, order = np.unique(indices, return_inverse=True)
        if len(rows) == 0:
            return np.empty((0, *self._images.shape[1:]), dtype=np.uint8)
        return self._read(self._images, rows)[order.ravel()]
