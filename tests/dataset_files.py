"""Format-exact dataset files for the tests and the benchmark (dev-only; nothing is downloaded).

Each writer follows the official release's layout: key names, dtypes, shapes, row order (C order
over the factors) and storage (dSprites: ``np.savez_compressed`` with a pickled ``metadata``;
Shapes3D: HDF5 ``images`` and ``labels``; MPI3D: ``np.savez``, uncompressed; CelebA: JPEGs and
``list_attr_celeba.txt``). Every image carries its own row index (:func:`index_marks`) so a test
can check that row i comes back for index i. Large arrays are written in row chunks through
zipfile, the way ``np.savez`` writes them, so a full-size file never has to fit in memory.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

DSPRITES_SIZES = (1, 3, 6, 40, 32, 32)
SHAPES3D_SIZES = (10, 10, 10, 8, 4, 15)
MPI3D_SIZES = {460_800: (4, 4, 2, 3, 3, 40, 40), 1_036_800: (6, 6, 2, 3, 3, 40, 40)}
INDEX_BITS = 24


def grid_classes(sizes: tuple[int, ...], rows: slice = slice(None)) -> np.ndarray:
    """The factor classes of a complete grid's rows in C order (last factor fastest), int64 (n, K)."""
    indices = np.arange(math.prod(sizes))[rows]
    return np.stack(np.unravel_index(indices, sizes), axis=1).astype(np.int64)


def index_marks(indices: np.ndarray) -> np.ndarray:
    """Bits of each index, (n, INDEX_BITS) of 0/1, most significant first: pixels that name their row."""
    return ((np.asarray(indices)[:, None] >> np.arange(INDEX_BITS - 1, -1, -1)) & 1).astype(np.uint8)


def marked_index(images: np.ndarray) -> np.ndarray:
    """The row indices that :func:`index_marks` wrote into images' first pixels (values 0/1 or 0/255)."""
    bits = (np.asarray(images).reshape(len(images), -1)[:, :INDEX_BITS] > 0).astype(np.int64)
    return bits @ (1 << np.arange(INDEX_BITS - 1, -1, -1))


def marked_images(start: int, count: int, shape: tuple[int, ...], value: int) -> np.ndarray:
    """``count`` images (rows start..) of ``shape``: a sprite-like block plus the index marks (0 or ``value``)."""
    images = np.zeros((count, *shape), dtype=np.uint8)
    flat = images.reshape(count, -1)
    flat[:, :INDEX_BITS] = index_marks(np.arange(start, start + count)) * value
    images[:, 24:40, 24:40] = value
    return images


def _write_array(
    zf: zipfile.ZipFile,
    name: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    chunks: Iterator[np.ndarray],
) -> None:
    """One .npy member: numpy's own 1.0 header, then the rows' bytes as they come."""
    with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array_header_1_0(
            member,
            {
                "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                "fortran_order": False,
                "shape": shape,
            },
        )
        for chunk in chunks:
            member.write(chunk if isinstance(chunk, bytes) else np.ascontiguousarray(chunk, dtype=dtype).tobytes())


class HoleWriter:
    """A file in which each write of ``hole`` (that very bytes object) becomes a seek: a sparse file,
    so a test can write a full-size uncompressed member without filling the disk."""

    def __init__(self, raw: io.BufferedWriter, hole: bytes) -> None:
        self.raw, self.hole = raw, hole

    def write(self, data: bytes) -> int:
        if data is self.hole:
            self.raw.seek(len(data), io.SEEK_CUR)
            return len(data)
        return self.raw.write(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def flush(self) -> None:
        self.raw.flush()


def write_npz(
    path: Path,
    arrays: dict[
        str,
        np.ndarray | tuple[tuple[int, ...], Callable[[int, int], np.ndarray | bytes]],
    ],
    compressed: bool,
    rows_per_chunk: int = 8192,
    pickled: dict | None = None,
    hole: bytes | None = None,
) -> Path:
    """An .npz as np.savez(_compressed) writes it. Each value is an array, or (shape, rows(start, count))
    for a large uint8 array made chunk by chunk; ``pickled`` adds object arrays (dSprites' metadata);
    chunks that are ``hole`` itself are left as holes of a sparse file (uncompressed members only)."""
    with (
        path.open("wb") as raw,
        zipfile.ZipFile(
            HoleWriter(raw, hole or b""),
            "w",
            allowZip64=True,
            compression=zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED,
        ) as zf,
    ):
        for name, array in arrays.items():
            if isinstance(array, np.ndarray):
                _write_array(zf, name, array.shape, array.dtype, iter([array]))
            else:
                shape, rows = array
                chunks = (
                    rows(start, min(rows_per_chunk, shape[0] - start)) for start in range(0, shape[0], rows_per_chunk)
                )
                _write_array(zf, name, shape, np.dtype(np.uint8), chunks)
        for name, value in (pickled or {}).items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.array(value, dtype=object), allow_pickle=True)
            zf.writestr(f"{name}.npy", buffer.getvalue())
    return path


def dsprites_latent_values(classes: np.ndarray) -> np.ndarray:
    """dSprites' ``latents_values`` for rows of ``latents_classes``: each factor's grid of values at its class."""
    grids = [
        np.ones(1),
        np.arange(1.0, 4.0),
        np.linspace(0.5, 1, 6),
        np.linspace(0, 2 * np.pi, 40),
        np.linspace(0, 1, 32),
        np.linspace(0, 1, 32),
    ]
    return np.stack([grid[classes[:, k]] for k, grid in enumerate(grids)], axis=1)


def write_dsprites(path: Path, sizes: tuple[int, ...] = DSPRITES_SIZES) -> Path:
    """dSprites' npz (compressed): imgs 0/1, latents_classes, latents_values, pickled metadata."""
    classes = grid_classes(sizes)
    values = dsprites_latent_values(classes)
    count = len(classes)
    arrays = {
        "imgs": (
            (count, 64, 64),
            lambda start, n: marked_images(start, n, (64, 64), 1),
        ),
        "latents_classes": classes,
        "latents_values": values,
    }
    metadata = {
        "description": "format-exact test file",
        "latents_sizes": np.array(sizes),
    }
    return write_npz(path, arrays, compressed=True, pickled={"metadata": metadata})


def write_shapes3d(path: Path, sizes: tuple[int, ...] = SHAPES3D_SIZES, chunk: int = 8192) -> Path:
    """3dshapes.h5: images uint8 (N, 64, 64, 3), labels float64 (N, 6) of the factors' values."""
    grids = [
        np.linspace(0, 0.9, 10),
        np.linspace(0, 0.9, 10),
        np.linspace(0, 0.9, 10),
        np.linspace(0.75, 1.25, 8),
        np.arange(4.0),
        np.linspace(-30, 30, 15),
    ]
    count = math.prod(sizes)
    with h5py.File(path, "w") as file:
        images = file.create_dataset(
            "images",
            shape=(count, 64, 64, 3),
            dtype=np.uint8,
            chunks=(1, 64, 64, 3),
            compression="gzip",
        )
        labels = file.create_dataset("labels", shape=(count, 6), dtype=np.float64)
        for start in range(0, count, chunk):
            n = min(chunk, count - start)
            images[start : start + n] = marked_images(start, n, (64, 64, 3), 255)
            classes = grid_classes(sizes, slice(start, start + n))
            labels[start : start + n] = np.stack([grid[classes[:, k]] for k, grid in enumerate(grids)], axis=1)
    return path


def write_mpi3d(path: Path, count: int, compressed: bool = False, marked: np.ndarray | None = None) -> Path:
    """An MPI3D npz: one ``images`` array (count, 64, 64, 3), uncompressed unless ``compressed``. With
    ``marked`` row indices, only the 512-row chunks holding them are written, the rest left as holes
    of a sparse file (zeros when read): a full-size file in a few MB of disk."""
    if marked is None:
        return write_npz(
            path,
            {
                "images": (
                    (count, 64, 64, 3),
                    lambda start, n: marked_images(start, n, (64, 64, 3), 255),
                )
            },
            compressed=compressed,
        )
    chunk = 512
    hole = bytes(chunk * 64 * 64 * 3)
    written = set((np.asarray(marked) // chunk).tolist())

    def rows(start: int, n: int) -> np.ndarray | bytes:
        return marked_images(start, n, (64, 64, 3), 255) if start // chunk in written or n != chunk else hole

    return write_npz(
        path,
        {"images": ((count, 64, 64, 3), rows)},
        compressed=compressed,
        rows_per_chunk=chunk,
        hole=hole,
    )


def write_celeba(root: Path, count: int, seed: int = 0, noise: int = 0) -> Path:
    """A CelebA folder: ``count`` 178 x 218 JPEGs in img_align_celeba/ and list_attr_celeba.txt
    (40 attributes). Each image is a flat colour from its first three attributes, plus uniform
    noise below ``noise`` (a JPEG about as costly to decode as a photo)."""
    rng = np.random.default_rng(seed)
    names = [f"attribute_{k:02d}" for k in range(40)]
    attributes = rng.choice([-1, 1], size=(count, 40))
    (root / "img_align_celeba").mkdir(parents=True)
    lines = [str(count), " ".join(names)]
    for i in range(count):
        file = f"{i + 1:06d}.jpg"
        pixels = np.full((218, 178, 3), (attributes[i, :3] > 0) * 200 + 20, dtype=np.uint8)
        if noise:
            pixels += rng.integers(0, noise, size=pixels.shape, dtype=np.uint8)
        Image.fromarray(pixels).save(root / "img_align_celeba" / file, quality=90)
        lines.append(file + "  " + " ".join(f"{v:2d}" for v in attributes[i]))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return root
