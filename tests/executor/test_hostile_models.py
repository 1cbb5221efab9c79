"""Hostile ONNX files, property-based, through the path the executor loads models by
(``check_model`` for `models register`, ``SessionCache`` for serving): random bytes, truncated
or bit-flipped models, graphs declaring absurd dims, initializers declaring more data than
they hold. Each loads or is a named ModelLoadError; none allocates what it declares; the
cache keeps serving the other models."""

from __future__ import annotations

import resource
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from artisan.executor.assets import AssetStore
from artisan.executor.errors import InvalidInput, ModelLoadError
from artisan.executor.sessions import SessionCache, SessionConfig, check_model
from artisan.executor.tensors import from_json
from artisan.testing import onnx_models as models
from tests.executor.api_helpers import Api
from tests.executor.test_api_hostile import assert_refused, json_body, post_json

GOOD = models.mlp(8, [16], 4, seed=41)
ROWS = {"x": np.zeros((2, 8), np.float32)}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def absurd(dims: list[Any], *, initializer: list[int] | None = None, opset: int = 17) -> bytes:
    """An Identity graph whose input and output declare ``dims`` (numbers, symbols or
    anything onnx.helper takes); with ``initializer``, an unused weight declaring those
    dims and holding no data."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)
    inits = []
    if initializer is not None:
        weight = TensorProto(name="w", data_type=TensorProto.FLOAT)  # dims, and no data
        weight.dims.extend(initializer)
        inits.append(weight)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "absurd", [x], [y],
                              initializer=inits)  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    serialized: bytes = model.SerializeToString()
    return serialized


@st.composite
def hostile_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "truncated", "flipped", "absurd"]))
    if kind == "bytes":
        return draw(st.binary(max_size=512))
    if kind == "truncated":
        return GOOD[: draw(st.integers(0, len(GOOD) - 1))]
    if kind == "flipped":
        data = bytearray(GOOD)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    dims = draw(st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from(
        [10**12, 2**62, 0, -1, "batch"])), min_size=0, max_size=5))  # fmt: skip
    init = draw(st.one_of(st.none(), st.lists(st.sampled_from([10**6, 2**31, 10**12]),
                                              min_size=1, max_size=3)))  # fmt: skip
    return absurd(dims, initializer=init)


@settings(max_examples=100, deadline=None)
@given(data=hostile_files())
@example(data=b"")
@example(data=absurd([10**12, 10**12]))
@example(data=absurd(["batch", 8], initializer=[10**6, 10**6]))  # declares 4 TB of weights
@example(data=models.corrupt(GOOD))
def test_a_hostile_model_file_loads_or_is_refused_by_name(data: bytes) -> None:
    """`models register`'s check: a session, or ModelLoadError saying why; the process's peak
    memory grows by less than 200 MB whatever the file declares."""
    before = peak_rss_mb()
    try:
        session = check_model(data)
    except ModelLoadError as exc:
        assert str(exc)
    else:
        assert session.inputs  # a graph with inputs we can serve
    assert peak_rss_mb() - before < 200


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[AssetStore, SessionCache]:
    store = AssetStore(tmp_path_factory.mktemp("hostile-models"))
    return store, SessionCache(store, SessionConfig(prefer_cuda=False), capacity=4)


@settings(max_examples=50, deadline=None)
@given(data=hostile_files())
@example(data=absurd([10**12, 10**12]))
def test_the_cache_refuses_a_hostile_model_and_serves_the_others(
    cache: tuple[AssetStore, SessionCache], data: bytes
) -> None:
    """Served from the asset store as the executor serves it: a hostile file is a named
    ModelLoadError or a session whose inputs refuse what it declares but cannot hold; then a
    good model still loads and runs."""
    store, sessions = cache
    cid = store.put(data).cid
    try:
        session = sessions.get(cid)
    except ModelLoadError as exc:
        assert cid in str(exc)
    else:
        spec = session.inputs[0]
        shape = [2 if d is None else d for d in spec.shape]
        try:  # the tensor the model declares, from the wire: refused from its shape
            tensor = from_json(spec.name, {"dtype": str(spec.dtype), "shape": shape, "data": []})
        except InvalidInput as exc:
            assert str(exc)
        else:
            assert tensor.size == 0 or tensor.nbytes < 2**28
    good = sessions.get(store.put(GOOD).cid)
    assert good.run(ROWS)[good.output_names[0]].shape == (2, 4)


def test_a_model_declaring_absurd_dims_is_refused_over_http(api: Api, mlp_model: int) -> None:
    """Registered on chain with an input of 10^12 x 10^12 floats: a request of a small shape
    is a 422 wrong_shape, one of its declared shape is refused from its size; the executor
    serves the MLP next to it."""
    user = api.user()
    huge = api.register(absurd([10**12, 10**12]))
    small = post_json(api, json_body(api.sign(user, huge, {"x": np.zeros((1, 1), np.float32)})))
    assert_refused(api, small, 422, "wrong_shape")
    declared = api.sign(user, huge, {"x": np.zeros((1, 1), np.float32)})
    inputs = {"x": {"dtype": "float32", "shape": [10**12, 10**12], "data": []}}
    assert_refused(api, post_json(api, json_body(declared, inputs=inputs)), 422, "too_large")
    ok = post_json(api, json_body(api.sign(user, mlp_model, ROWS)))
    assert ok.status_code == 200, ok.text


def test_the_absurd_builder_makes_a_checked_model() -> None:
    """The builder above gives a model onnx's own checker accepts (the dims are the point)."""
    onnx.checker.check_model(onnx.load_from_string(absurd(["batch", 8])))
