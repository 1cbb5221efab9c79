"""Small real ONNX models built at run time, for tests, the demo and benchmarks (``row_sum``
is the executor's own start-up probe, re-exported here).

Nothing is downloaded: each builder makes a graph with ``onnx.helper`` and deterministic
weights from a seed, checks it, and returns the serialized model bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from artisan.executor.errors import InvalidArgument
from artisan.executor.provider_probe import IR_VERSION as IR_VERSION
from artisan.executor.provider_probe import OPSET as OPSET
from artisan.executor.provider_probe import finish
from artisan.executor.provider_probe import row_sum as row_sum

BATCH = "batch"


def _weights(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    scale = np.float32(1.0 / np.sqrt(fan_in))
    return (rng.standard_normal((fan_in, fan_out), dtype=np.float32) * scale).astype(np.float32)


def mlp(
    input_dim: int,
    hidden: Sequence[int],
    output_dim: int,
    *,
    seed: int = 0,
    input_name: str = "x",
    output_name: str = "y",
    batch: int | str = BATCH,
) -> bytes:
    """An MLP ``[batch, input_dim] -> [batch, output_dim]`` (float32): MatMul+Add+Relu per
    hidden layer, then MatMul+Add. The batch dimension is dynamic unless ``batch`` is an int."""
    if input_dim < 1 or output_dim < 1 or any(h < 1 for h in hidden):
        raise InvalidArgument("every layer needs at least one unit")
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    current, fan_in = input_name, input_dim
    sizes = [*hidden, output_dim]
    for layer, fan_out in enumerate(sizes):
        w, b = f"w{layer}", f"b{layer}"
        initializers.append(numpy_helper.from_array(_weights(rng, fan_in, fan_out), w))
        bias = (rng.standard_normal(fan_out, dtype=np.float32) * np.float32(0.1)).astype(np.float32)
        initializers.append(numpy_helper.from_array(bias, b))
        last = layer == len(sizes) - 1
        mm, added = f"mm{layer}", output_name if last else f"add{layer}"
        nodes.append(helper.make_node("MatMul", [current, w], [mm]))
        nodes.append(helper.make_node("Add", [mm, b], [added]))
        if not last:
            current = f"relu{layer}"
            nodes.append(helper.make_node("Relu", [added], [current]))
        fan_in = fan_out
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, input_dim])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, output_dim])],
        initializers,
    )
    return finish(graph)


def affine_with_offset(dim: int, out_dim: int, *, seed: int = 0) -> bytes:
    """A two-input model: ``y = x @ W + float(offset)`` with ``x`` float32 ``[batch, dim]`` and
    ``offset`` int64 ``[batch, 1]``. Two inputs of two dtypes exercise input validation."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(_weights(rng, dim, out_dim), "w")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["mm"]),
        helper.make_node("Cast", ["offset"], ["offset_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["mm", "offset_f"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "affine_with_offset",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [BATCH, dim]),
            helper.make_tensor_value_info("offset", TensorProto.INT64, [BATCH, 1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [BATCH, out_dim])],
        [w],
    )
    return finish(graph)


def expander(steps: int = 0) -> bytes:
    """A hostile model whose cost depends on its input's values, not its size: ``shape``
    (int64 ``[batch, 2]``) becomes a float32 tensor of ones of that shape
    (``ConstantOfShape`` of the first row), then ``steps`` Adds of it to itself. Zeros (what a
    probe feeds) cost nothing; ``[[4000, 4000]]`` makes 64 MB and ``steps`` passes over it."""
    first = numpy_helper.from_array(np.array([0], dtype=np.int64), "first")
    nodes = [
        helper.make_node("Gather", ["shape", "first"], ["row"], axis=0),
        helper.make_node("Squeeze", ["row", "first"], ["dims"]),
        helper.make_node(
            "ConstantOfShape", ["dims"], ["t0"],
            value=numpy_helper.from_array(np.array([1.0], dtype=np.float32)),
        ),
    ]  # fmt: skip
    for i in range(steps):
        nodes.append(helper.make_node("Add", [f"t{i}", f"t{i}"], [f"t{i + 1}"]))
    nodes.append(helper.make_node("Identity", [f"t{steps}"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "expander",
        [helper.make_tensor_value_info("shape", TensorProto.INT64, [BATCH, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a", "b"])],
        [first],
    )
    return finish(graph)


def corrupt(model: bytes) -> bytes:
    """``model`` cut short: a file ONNX Runtime refuses to load."""
    return model[: len(model) // 2]
