"""The population's binary form: a JSON header and little-endian float32 / int32 arrays at aligned offsets."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from latentatlas.serve.array_pack import MAGIC, pack_arrays, unpack_arrays


def _arrays(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "indices": rng.integers(0, 2**31 - 1, size=n).astype(np.int32),
        "factors": rng.integers(0, 40, size=(n, 5)).astype(np.int32),
        "latents": rng.normal(size=(n, 3)).astype(np.float32),  # an odd byte count: the next array is padded
        "plane": rng.normal(size=(n, 2)).astype(np.float32),
    }


@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_round_trip_keeps_the_header_and_every_value(n):
    header = {"n": n, "names": ["shape", "scale"], "levels": {"shape": ["square", "heart"]}, "pi": 3.25}
    arrays = _arrays(n)
    got_header, got = unpack_arrays(pack_arrays(header, arrays))
    assert got_header == header
    assert list(got) == list(arrays)
    for name, array in arrays.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape
        np.testing.assert_array_equal(got[name], array)


def test_layout_is_what_a_browser_reads_without_a_library():
    arrays = _arrays(5)
    data = pack_arrays({"n": 5}, arrays)
    assert data[:4] == MAGIC
    (length,) = struct.unpack_from("<I", data, 4)
    assert (8 + length) % 8 == 0
    table = json.loads(data[8 : 8 + length])["arrays"]
    for entry in table:
        assert entry["offset"] % 8 == 0 and entry["offset"] >= 8 + length
        dtype = {"float32": "<f4", "int32": "<i4"}[entry["dtype"]]
        values = np.frombuffer(data, dtype=dtype, count=int(np.prod(entry["shape"])), offset=entry["offset"])
        np.testing.assert_array_equal(values.reshape(entry["shape"]), arrays[entry["name"]])
    last = table[-1]
    assert len(data) == last["offset"] + 4 * int(np.prod(last["shape"]))


def test_other_dtypes_and_a_reserved_key_are_refused():
    with pytest.raises(ValueError, match="float64"):
        pack_arrays({}, {"x": np.zeros(3)})
    with pytest.raises(ValueError, match="reserved"):
        pack_arrays({"arrays": []}, {})


@pytest.mark.parametrize("cut", [0, 3, 20, -1])
def test_a_damaged_buffer_is_refused(cut):
    data = pack_arrays({"n": 4}, _arrays(4))
    damaged = b"XXXX" + data[4:] if cut == 0 else data[:cut]
    with pytest.raises(ValueError):
        unpack_arrays(damaged)
