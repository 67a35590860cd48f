"""The official dSprites file (Matthey et al. 2017), ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.

Arrays: ``imgs`` uint8 (737280, 64, 64) of 0/1, ``latents_classes`` int64 and ``latents_values``
float64 (737280, 6) over color (1), shape (3), scale (6), orientation (40), posX (32), posY (32),
rows in C order. ``metadata`` is a pickled dict: the file is opened with ``allow_pickle=False``
and it is never read. As disentanglement_lib does, the constant color is dropped (5 factors).
The archive is compressed (no memory map): ``imgs`` is decompressed in chunks and kept
bit-packed along x (``np.packbits``: 64 pixels in 8 bytes, 377 MB instead of 3 GB).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from latentatlas.data.npz import iter_rows, open_npz, read_array
from latentatlas.data.spec import DatasetError, DatasetSpec
from latentatlas.data.stored import StoredGrid, grid_sizes

FILE_FACTORS = ("color", "shape", "scale", "orientation", "posX", "posY")
DROPPED = 1  # the constant color factor
ROWS_PER_CHUNK = 8192  # 32 MB of decompressed pixels at a time


def dsprites_factors(classes: np.ndarray, values: np.ndarray, path: Path) -> tuple[np.ndarray, ...]:
    """Each kept factor's class values (color dropped) from ``latents_classes`` and ``latents_values``,
    after checking that the rows are a complete grid in C order with one color."""
    if classes.shape[1:] != (len(FILE_FACTORS),) or values.shape != classes.shape:
        raise DatasetError(
            f"{path}: latents_classes {classes.shape} and latents_values {values.shape} must both be "
            f"(images, {len(FILE_FACTORS)}): {', '.join(FILE_FACTORS)}"
        )
    sizes = grid_sizes(classes, path, "latents_classes")
    if sizes[0] != 1:
        raise DatasetError(f"{path}: dSprites has one color; latents_classes has {sizes[0]}")
    # Each class's value, read at the row where it first occurs.
    first = [np.unique(classes[:, k], return_index=True)[1] for k in range(DROPPED, len(FILE_FACTORS))]
    return tuple(values[rows, k] for k, rows in enumerate(first, start=DROPPED))


class DSpritesFile(StoredGrid):
    name = "dsprites"
    channels = 1

    def __init__(self, spec: DatasetSpec) -> None:
        path = Path(spec.path or "")
        with open_npz(path) as archive:
            classes = read_array(archive, "latents_classes", path, "int64", 2)
            factor_values = dsprites_factors(classes, read_array(archive, "latents_values", path, "float64", 2), path)
            self._packed = self._read_packed(archive, path, len(classes))
        super().__init__(spec, FILE_FACTORS[DROPPED:], factor_values)

    @staticmethod
    def _read_packed(archive: np.lib.npyio.NpzFile, path: Path, count: int) -> np.ndarray:
        """``imgs`` bit-packed along x: (N, 64, 8) uint8."""
        packed = np.empty((count, 64, 8), dtype=np.uint8)
        start = 0
        chunks = iter_rows(archive, "imgs", path, (count, 64, 64), ROWS_PER_CHUNK)
        for chunk in tqdm(
            chunks,
            desc=f"reading {path.name}",
            total=-(-count // ROWS_PER_CHUNK),
            disable=count < 100_000,
        ):
            if chunk.max(initial=0) > 1:
                raise DatasetError(f"{path}: imgs holds values above 1 near row {start:,}; dSprites pixels are 0 or 1")
            packed[start : start + len(chunk)] = np.packbits(chunk, axis=-1)
            start += len(chunk)
        return packed

    def read(self, indices: np.ndarray) -> np.ndarray:
        return (np.unpackbits(self._packed[indices], axis=-1) * np.uint8(255))[..., None]
