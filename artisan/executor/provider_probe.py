"""The tiny model the executor loads at start: the execution provider in use is known (and a
CUDA that fails to load fails) before any request, not on a user's request."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
# ONNX Runtime 1.31 reads newer IR versions too; 9 keeps the files readable by older runtimes.
IR_VERSION = 9


def finish(graph: onnx.GraphProto) -> bytes:
    """A checked, serialized model of ``graph`` at our opset and IR version."""
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def row_sum() -> bytes:
    """``y = sum(x, axis=1)`` with ``x`` float32 ``[batch, n]`` where ``n`` is dynamic too:
    requests batch together only when their ``n`` agrees."""
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=1)],
        "row_sum",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        [axes],
    )
    return finish(graph)
