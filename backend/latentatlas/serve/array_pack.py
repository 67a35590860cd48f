"""A compact binary form for a JSON header plus numeric arrays, which a browser reads with no library
(``DataView``, ``TextDecoder``, ``Float32Array``, ``Int32Array``).

Layout (all little-endian)::

    bytes 0..3   magic b"LAP1"
    bytes 4..7   uint32 H: the header's length in bytes
    bytes 8..    the header: UTF-8 JSON, space-padded so that 8 + H is a multiple of 8
    then         each array's raw values, C order, at the offset its header entry names

The header is the caller's document plus ``"arrays": [{"name", "dtype", "shape", "offset"}]`` with
``dtype`` ``"float32"`` or ``"int32"`` and ``offset`` counted from the first byte (a multiple of 8, so
``new Float32Array(buffer, offset, length)`` works)."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

MAGIC = b"LAP1"
DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4")}
ALIGN = 8


def _padded(size: int) -> int:
    return -(-size // ALIGN) * ALIGN


def pack_arrays(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """``header`` (JSON-able, no key "arrays") and ``arrays`` (float32 or int32, any shape) as one buffer."""
    if "arrays" in header:
        raise ValueError('the header\'s key "arrays" is reserved for the array table')
    table: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in arrays.items():
        dtype = next((key for key, value in DTYPES.items() if np.dtype(array.dtype) == value.newbyteorder("=")), None)
        if dtype is None:
            raise ValueError(f"array {name!r} is {array.dtype}: only float32 and int32 are packed")
        blob = np.ascontiguousarray(array, dtype=DTYPES[dtype]).tobytes()
        table.append({"name": name, "dtype": dtype, "shape": list(array.shape), "size": len(blob)})
        blobs.append(blob)
    # offsets depend on the header's length, which depends on the offsets: reserve room for the widest numbers
    draft = json.dumps({**header, "arrays": [{**entry, "offset": 10**15} for entry in table]}).encode()
    offset = _padded(8 + len(draft))
    for entry in table:
        entry["offset"] = offset
        offset = _padded(offset + entry.pop("size"))
    text = json.dumps({**header, "arrays": table}).encode()
    text += b" " * (_padded(8 + len(draft)) - 8 - len(text))
    parts = [MAGIC, struct.pack("<I", len(text)), text]
    for entry, blob in zip(table, blobs, strict=True):
        parts.append(b"\0" * (entry["offset"] - sum(map(len, parts))))
        parts.append(blob)
    return b"".join(parts)


def unpack_arrays(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header (without its array table) and the arrays of a :func:`pack_arrays` buffer; ValueError
    when ``data`` is not one."""
    if len(data) < 8 or data[:4] != MAGIC:
        raise ValueError("not a packed-arrays buffer (bad magic)")
    (length,) = struct.unpack_from("<I", data, 4)
    if 8 + length > len(data):
        raise ValueError("packed-arrays buffer is truncated (header)")
    header = json.loads(data[8 : 8 + length])
    arrays = {}
    for entry in header.pop("arrays"):
        dtype = DTYPES[entry["dtype"]]
        count = int(np.prod(entry["shape"], dtype=np.int64))
        if entry["offset"] + count * dtype.itemsize > len(data):
            raise ValueError(f"packed-arrays buffer is truncated (array {entry['name']!r})")
        values = np.frombuffer(data, dtype=dtype, count=count, offset=entry["offset"])
        arrays[entry["name"]] = values.reshape(entry["shape"]).astype(dtype.newbyteorder("="), copy=False)
    return header, arrays
