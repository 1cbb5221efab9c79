"""The canonical input/output encoding: one byte string per set of tensors, and back."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from artisan.executor.errors import InvalidInput
from artisan.executor.tensors import (
    BUNDLE_MAGIC,
    NonCanonical,
    decode_tensors,
    encode_npy,
    encode_tensors,
    encoded_size,
    from_json,
    to_json,
)

dtypes = st.sampled_from(["float32", "float64", "float16", "int8", "int64", "uint8", "bool"])
arrays = dtypes.flatmap(
    lambda d: hnp.arrays(np.dtype(d), hnp.array_shapes(min_dims=0, max_dims=4, max_side=5))
)
names = st.text(min_size=1, max_size=8)


@given(st.dictionaries(names, arrays, min_size=1, max_size=4))
def test_encoding_round_trips_and_sizes_match(tensors: dict[str, np.ndarray]) -> None:
    """Decoding the encoding gives the tensors back bit for bit, its size is known without
    encoding, and re-encoding the decoded tensors gives the same bytes."""
    data = encode_tensors(tensors)
    assert len(data) == encoded_size(tensors)
    single = next(iter(tensors)) if len(tensors) == 1 else None
    back = decode_tensors(data, single)
    assert back.keys() == tensors.keys()
    for name, array in tensors.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape
        assert back[name].tobytes() == array.tobytes()
    assert encode_tensors(back) == data


def test_one_tensor_is_what_numpy_save_writes() -> None:
    """A single tensor's encoding is numpy.save's .npy, whatever its memory layout or order."""
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    saved = io.BytesIO()
    np.save(saved, array)
    assert encode_npy(array) == saved.getvalue()
    assert encode_npy(np.asfortranarray(array)) == saved.getvalue()
    assert encode_npy(array.astype(">f4")) == saved.getvalue()


def test_bundle_ignores_insertion_order_and_refuses_other_spellings() -> None:
    """Names are sorted by their UTF-8 bytes; a Fortran-ordered .npy, trailing bytes or a bundle
    in another order are refused as non-canonical."""
    a, b = np.ones((2, 3), np.float32), np.zeros((2, 1), np.int64)
    assert encode_tensors({"x": a, "offset": b}) == encode_tensors({"offset": b, "x": a})
    assert encode_tensors({"x": a, "offset": b}).startswith(BUNDLE_MAGIC)
    fortran = io.BytesIO()
    np.save(fortran, np.asfortranarray(a))
    with pytest.raises(NonCanonical):
        decode_tensors(fortran.getvalue(), "x")
    with pytest.raises(NonCanonical):
        decode_tensors(encode_npy(a) + b"\x00", "x")
    with pytest.raises(InvalidInput, match="neither"):
        decode_tensors(b"PK\x03\x04", "x")
    with pytest.raises(InvalidInput, match="several"):
        decode_tensors(encode_npy(a), None)


def test_json_tensors_are_exact_and_strict() -> None:
    """float32 values survive JSON exactly; short data, floats into ints, out-of-range ints and
    unknown dtypes are refused."""
    array = np.random.default_rng(1).standard_normal((4, 3), dtype=np.float32)
    assert encode_npy(from_json("x", to_json(array))) == encode_npy(array)
    flat = {"dtype": "float32", "shape": [2, 2], "data": [1, 2, 3, 4]}
    assert from_json("x", flat).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    for bad, match in (
        ({"dtype": "float32", "shape": [2, 2], "data": [1, 2, 3]}, "do not fill"),
        (
            {"dtype": "int64", "shape": [1], "data": [1.5]},
            "numbers with a fraction given where int64",
        ),
        ({"dtype": "uint8", "shape": [1], "data": [300]}, "range"),
        ({"dtype": "object", "shape": [1], "data": [1]}, "dtype"),
        ({"dtype": "float32", "shape": [-1], "data": [1]}, "shape"),
        ({"dtype": "float32", "data": [1]}, "dtype, shape and data"),
    ):
        with pytest.raises(InvalidInput, match=match):
            from_json("x", bad)
