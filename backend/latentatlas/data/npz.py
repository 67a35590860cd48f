"""The arrays of an ``.npz`` archive (a zip of ``.npy`` files) read safely: never unpickled, streamed
in row chunks, or memory-mapped where a member is stored uncompressed.

An ``.npy`` member is a magic string, a header (dtype, order, shape) and the raw C-order bytes;
zip's local file header gives where a member's bytes start, so an uncompressed member's array
is ``np.memmap(file, offset=member data + npy header)``. Every failure is a :class:`DatasetError`
naming the file and the member.
"""

from __future__ import annotations

import math
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np

from latentatlas.data.spec import DatasetError

# A zip local file header (30 bytes): signature, ..., file name length, extra field length.
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_LOCAL_SIGNATURE = _ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


@contextmanager
def open_npz(path: Path) -> Iterator[np.lib.npyio.NpzFile]:
    """``np.load(path, allow_pickle=False)`` as an archive, or a DatasetError saying what the file is instead."""
    if not path.is_file():
        raise DatasetError(f"{path} does not exist or is not a file")
    with path.open("rb") as stream:
        start = stream.read(len(_NPY_MAGIC))
    if start.startswith(_NPY_MAGIC):
        raise DatasetError(f"{path}: a single .npy array, not an .npz archive of named arrays")
    if not start.startswith(_ZIP_MAGIC):
        raise DatasetError(f"{path}: not an .npz archive (it does not start as a zip file does)")
    try:
        archive = np.load(path, allow_pickle=False)
    except READ_ERRORS as error:
        raise DatasetError(f"{path}: not an .npz archive, or a truncated one ({error})") from error
    with archive:
        yield archive


def _zip(archive: np.lib.npyio.NpzFile) -> zipfile.ZipFile:
    if archive.zip is None:
        raise DatasetError("the archive is closed")
    return archive.zip


def member_name(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> str:
    """The zip member holding array ``key``, or a DatasetError listing the arrays there are."""
    if key not in archive.files:
        raise DatasetError(f"{path}: no '{key}' array (it has: {', '.join(archive.files) or 'none'})")
    return f"{key}.npy"


def read_array(archive: np.lib.npyio.NpzFile, key: str, path: Path, dtype: str, ndim: int) -> np.ndarray:
    """Array ``key`` read whole (a small one), checked for its dtype and number of dimensions."""
    member_name(archive, key, path)
    try:
        array = archive[key]
    except READ_ERRORS as error:
        raise DatasetError(f"{path}: cannot read '{key}' ({error})") from error
    if array.dtype != np.dtype(dtype) or array.ndim != ndim:
        raise DatasetError(
            f"{path}: '{key}' is {array.dtype} with shape {array.shape}; expected {dtype} with {ndim} dimensions"
        )
    return array


def read_header(stream: IO[bytes], path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """An .npy header's shape and dtype; C order and plain (non-object) dtypes only."""
    try:
        version = np.lib.format.read_magic(stream)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = reader(stream)
    except (*READ_ERRORS, SyntaxError, tokenize.TokenError) as error:  # a header is a literal
        raise DatasetError(f"{path}: '{key}' is not a valid .npy array ({error})") from error
    if dtype.hasobject:
        raise DatasetError(f"{path}: '{key}' holds Python objects; only plain numeric arrays are read")
    if fortran_order:
        raise DatasetError(f"{path}: '{key}' is stored in Fortran order; expected C order")
    return tuple(shape), dtype


def check_layout(
    shape: tuple[int, ...],
    dtype: np.dtype,
    expected: tuple[int | None, ...],
    path: Path,
    key: str,
) -> None:
    """A DatasetError unless ``dtype`` is uint8 and ``shape`` matches ``expected`` (None: any length)."""
    fits = len(shape) == len(expected) and all(want is None or want == got for want, got in zip(expected, shape))
    if dtype != np.uint8 or not fits:
        layout = "(" + ", ".join("N" if want is None else str(want) for want in expected) + ")"
        raise DatasetError(f"{path}: '{key}' is {dtype} with shape {shape}; expected uint8 with shape {layout}")


def iter_rows(
    archive: np.lib.npyio.NpzFile,
    key: str,
    path: Path,
    expected: tuple[int | None, ...],
    rows_per_chunk: int,
) -> Iterator[np.ndarray]:
    """Array ``key``'s rows, ``rows_per_chunk`` at a time, decompressed as they are read: a compressed
    member never needs its whole size in memory."""
    name = member_name(archive, key, path)
    try:
        with _zip(archive).open(name) as stream:
            shape, dtype = read_header(stream, path, key)
            check_layout(shape, dtype, expected, path, key)
            row_bytes = math.prod(shape[1:])
            for start in range(0, shape[0], rows_per_chunk):
                count = min(rows_per_chunk, shape[0] - start)
                chunk = stream.read(count * row_bytes)
                if len(chunk) != count * row_bytes:
                    rows_read = start + len(chunk) // row_bytes
                    raise DatasetError(f"{path}: '{key}' ends after {rows_read:,} of {shape[0]:,} rows (truncated)")
                yield np.frombuffer(chunk, dtype=np.uint8).reshape(count, *shape[1:])
    except DatasetError:
        raise
    except READ_ERRORS as error:
        raise DatasetError(f"{path}: '{key}' is damaged ({error})") from error


def memmap_member(path: Path, key: str, expected: tuple[int | None, ...]) -> np.memmap:
    """Array ``key`` of an .npz memory-mapped in place; it must be stored uncompressed (``np.savez``)."""
    with open_npz(path) as archive:
        name = member_name(archive, key, path)
        info = _zip(archive).getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED:
        raise DatasetError(
            f"{path}: '{key}' is stored compressed (np.savez_compressed), so it cannot be memory-mapped and would "
            f"need its whole uncompressed size in memory; re-save it uncompressed once, with np.savez"
        )
    try:
        with path.open("rb") as stream:
            stream.seek(info.header_offset)
            signature, name_length, extra_length = _LOCAL_HEADER.unpack(stream.read(_LOCAL_HEADER.size))
            if signature != _LOCAL_SIGNATURE:
                raise DatasetError(f"{path}: the zip entry of '{key}' is damaged (no local file header)")
            data_start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
            stream.seek(data_start)
            shape, dtype = read_header(stream, path, key)
            check_layout(shape, dtype, expected, path, key)
            offset = stream.tell()
    except (OSError, struct.error) as error:
        raise DatasetError(f"{path}: cannot read the zip entry of '{key}' ({error})") from error
    needed = offset - data_start + math.prod(shape)
    if needed > info.file_size or offset + math.prod(shape) > path.stat().st_size:
        raise DatasetError(f"{path}: '{key}' declares shape {shape} but its stored bytes are fewer (truncated)")
    return np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=shape)
