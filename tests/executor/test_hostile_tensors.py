"""Hostile tensor encodings, property-based: .npy headers that lie (huge or negative shapes,
object, text or void dtypes, Fortran order, another version, truncated or padded data, NaN
and infinities). Decoding refuses each with a named InvalidInput before allocating what the
header declares; over HTTP each is a 4xx naming it, and nothing reaches the asset store or
the outbox."""

from __future__ import annotations

import json
import struct
import tracemalloc
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from artisan.executor.errors import InvalidInput
from artisan.executor.tensors import BUNDLE_MAGIC, decode_npy, decode_tensors, encode_npy
from tests.chain.helpers import User
from tests.executor.api_helpers import Api
from tests.executor.test_api_hostile import json_body, post_npy, signed_over

DESCRS = ["<f4", ">f4", "<f8", "<f2", "|b1", "<i8", "|u1", "|O", "<U5", "|S3", "|V8",
          "<c8", "<M8[s]", "garbage", "<f4'", ""]  # fmt: skip
DIMS = st.one_of(st.integers(0, 8), st.integers(-3, -1), st.just(10**12), st.just(2**63),
                 st.integers(0, 2**70))  # fmt: skip


def raw_npy(
    descr: str, fortran: bool, shape: Any, version: bytes = b"\x01\x00", data: bytes = b""
) -> bytes:
    """A .npy whose header says whatever it is told (numpy would never write most of these)."""
    text = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    header = (text + " " * pad + "\n").encode()
    return b"\x93NUMPY" + version + struct.pack("<H", len(header)) + header + data


@st.composite
def lying_npy(draw: st.DrawFn) -> bytes:
    shape = tuple(draw(st.lists(DIMS, max_size=4)))
    descr = draw(st.sampled_from(DESCRS))
    data = draw(st.binary(max_size=64))
    version = draw(st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x03\x00", b"\x09\x09"]))
    fortran = draw(st.booleans())
    body = raw_npy(descr, fortran, shape, version, data)
    cut = draw(st.integers(0, len(body)))
    return body if draw(st.booleans()) else body[:cut]


def decoded_or_refused(data: bytes) -> np.ndarray[Any, Any] | None:
    """The tensor, or None where it was refused as InvalidInput with a message."""
    try:
        array = decode_npy(data, name="x")
    except InvalidInput as exc:
        assert str(exc)
        return None
    assert encode_npy(array) == data  # only the canonical encoding is ever taken
    return array


@settings(max_examples=300, deadline=None)
@given(data=lying_npy())
@example(data=raw_npy("<f4", False, (10**12,)))
@example(data=raw_npy("<f4", False, (-1, -4), data=b"\0" * 16))  # negative dims, right size
@example(data=raw_npy("|O", False, (1,), data=b"\0" * 8))
@example(data=raw_npy("<f4", True, (2, 2), data=b"\0" * 16))
@example(data=raw_npy("<f4", False, ((((((1,),),),),),)))  # a nested "shape"
@example(data=raw_npy("<f4", False, "(" * 300 + ")" * 300))
def test_a_lying_npy_header_is_refused_by_name(data: bytes) -> None:
    """Any header, any data after it: a canonical tensor or a named InvalidInput."""
    decoded_or_refused(data)


@settings(max_examples=100, deadline=None)
@given(parts=st.lists(st.one_of(st.binary(max_size=24), lying_npy()), max_size=4),
       count=st.integers(0, 2**32 - 1))  # fmt: skip
def test_a_lying_bundle_is_refused_by_name(parts: list[bytes], count: int) -> None:
    """A bundle whose count, name lengths and .npy lengths are whatever: InvalidInput."""
    body = BUNDLE_MAGIC + struct.pack(">I", count)
    for i, part in enumerate(parts):
        body += struct.pack(">H", 2) + f"t{i}".encode() + struct.pack(">Q", len(part)) + part
    try:
        decode_tensors(body, None)
    except InvalidInput as exc:
        assert str(exc)


@pytest.mark.parametrize(
    "data",
    [
        raw_npy("<f4", False, (10**12,)),
        raw_npy("<f8", False, (2**31, 2**31)),
        raw_npy("|u1", False, (2**20, 2**20, 2**20)),
        raw_npy("<f4", False, (10**12,), data=b"\0" * 4096),
    ],
)
def test_a_declared_terabyte_is_refused_before_it_is_allocated(data: bytes) -> None:
    """Shapes of 10^12 elements and more: refused while the decoder's allocations peak under
    64 KiB (tracemalloc sees numpy's buffers)."""
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput, match=r"elements|declares"):
            decode_npy(data, name="x")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, peak


@pytest.fixture
def funded(api: Api) -> User:
    """One funded user for all the examples of a test."""
    return api.user()


def assets_and_rows(api: Api) -> tuple[set[str], int]:
    with api.db.connect() as conn:
        row = conn.execute("SELECT count(*) FROM outbox_executions").fetchone()
    assert row is not None
    return {p.name for p in api.store.root.rglob("*") if p.is_file()}, int(row[0])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=lying_npy())
@example(data=raw_npy("<f4", False, (10**12,)))
@example(data=raw_npy("<f4", False, (1, 8), data=b"\0" * 31))  # truncated by one byte
def test_a_signed_lying_npy_is_refused_and_nothing_is_written(
    api: Api, mlp_model: int, funded: User, data: bytes
) -> None:
    """Signed by a funded user, so that only the tensor can be at fault: 4xx in the API's
    error shape, naming it; the asset store and the outbox are as they were."""
    user = funded
    before = assets_and_rows(api)
    response = post_npy(api, data, signed_over(api, user, mlp_model, data)[0])
    if response.status_code == 200:  # a canonical float32 [n, 8] tensor: a real request
        assert decoded_or_refused(data) is not None
        return
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["code"] in {"invalid_input", "non_canonical", "too_large", "wrong_shape",
                             "wrong_dtype", "malformed_request"}, error  # fmt: skip
    assert error["message"]
    assert assets_and_rows(api) == before


def test_nan_and_infinities_in_a_float_input_run_or_are_refused_by_name(
    api: Api, mlp_model: int
) -> None:
    """NaN and ±inf are float32 values a .npy carries exactly: the request is served (its
    output stored and recorded) or refused by name; never a 5xx. JSON cannot carry them."""
    user = api.user()
    for value in (np.nan, np.inf, -np.inf):
        rows = np.full((2, 8), value, np.float32)
        body = encode_npy(rows)
        response = post_npy(api, body, signed_over(api, user, mlp_model, body)[0])
        assert response.status_code < 500, response.text
        if response.status_code != 200:
            assert response.json()["error"]["message"]
    doc = b'{"request": {}, "signature": "0x", "inputs": {"x": {"data": [NaN]}}}'
    response = api.client.http.post(
        "/v1/executions", content=doc, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_request"


JSON_TENSORS = st.fixed_dictionaries({
    "dtype": st.one_of(st.sampled_from(["float32", "float64", "int64", "bool", "object",
                                        "complex64", "<f4", ""]), st.integers()),
    "shape": st.one_of(st.lists(DIMS, max_size=4), st.integers(), st.text(max_size=4)),
    "data": st.recursive(
        st.floats(allow_nan=False) | st.integers(-(2**63), 2**64 - 1) | st.booleans()
        | st.none() | st.text(max_size=3),
        lambda inner: st.lists(inner, max_size=4), max_leaves=16),
})  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tensor=JSON_TENSORS)
@example(tensor={"dtype": "float32", "shape": [0, 2**63], "data": []})  # was a 500
@example(tensor={"dtype": "float32", "shape": [0, 10**12, 10**12], "data": []})  # was a 500
@example(tensor={"dtype": "float32", "shape": [1, 8], "data": [[1e308] * 8]})  # was a 500
def test_a_signed_json_tensor_of_any_shape_and_dtype_is_refused_by_name(
    api: Api, mlp_model: int, funded: User, tensor: dict[str, Any]
) -> None:
    """The JSON form, signed: wrong dtypes, shapes of any size or kind, ragged or mixed data:
    a 4xx naming the problem (or a run, for a valid float32 [n, 8]); nothing else written."""
    signed = api.sign(funded, mlp_model, {"x": np.zeros((1, 8), np.float32)})
    before = assets_and_rows(api)
    body = json.dumps(json_body(signed, inputs={"x": tensor}))  # ints past 64 bits too
    response = api.client.http.post(
        "/v1/executions", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.json()["error"]["message"]
        assert assets_and_rows(api) == before
