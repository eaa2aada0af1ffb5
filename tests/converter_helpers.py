"""Small ONNX graphs for the converter tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_model(nodes: list[onnx.NodeProto], inputs: dict[str, list], outputs: dict[str, list],
               inits: dict[str, np.ndarray] | None = None, opset: int = 17,
               in_type: int = TensorProto.FLOAT) -> onnx.ModelProto:
    """A checked model: `inputs`/`outputs` map names to shapes (None entries = symbolic dims)."""
    graph = helper.make_graph(
        nodes, "t",
        [helper.make_tensor_value_info(n, in_type, [d if d is not None else "N" for d in s])
         for n, s in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7 if opset < 15 else 8
    return model


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def ort_run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]
