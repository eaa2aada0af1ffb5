"""One small CNN written for every opset from 7 to the newest: each converts and matches onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from converter_helpers import ort_run, rand
from onnx import TensorProto, helper, numpy_helper

from converter import convert
from converter.onnx_import import MAX_OPSET, MIN_OPSET

OPSETS = sorted({MIN_OPSET, 8, 9, 10, 11, 12, 13, 14, 17, 18, 20, MAX_OPSET})


def cnn_for_opset(opset: int) -> onnx.ModelProto:
    """Conv-BN-Clip-MaxPool-upsample-Flatten-Unsqueeze/Squeeze-Gemm-Softmax in `opset`'s own forms."""
    c = 4
    inits = {"w": rand(c, 1, 3, 3, seed=1), "b": rand(c, seed=2), "g": np.linspace(0.5, 1.5, c, dtype=np.float32),
             "beta": rand(c, seed=3), "mu": rand(c, seed=4), "var": np.linspace(0.5, 2, c, dtype=np.float32),
             "fc": rand(3, c * 8 * 8, seed=5), "fcb": rand(3, seed=6)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["conv"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["conv", "g", "beta", "mu", "var"], ["bn"])]
    if opset < 11:
        nodes.append(helper.make_node("Clip", ["bn"], ["act"], min=0.0, max=6.0))
    else:
        inits |= {"lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32)}
        nodes.append(helper.make_node("Clip", ["bn", "lo", "hi"], ["act"]))
    nodes.append(helper.make_node("MaxPool", ["act"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]))
    scales = np.array([1, 1, 2, 2], np.float32)
    if opset < 9:
        nodes.append(helper.make_node("Upsample", ["pool"], ["up"], mode="nearest", scales=scales.tolist()))
    elif opset == 9:
        inits["sc"] = scales
        nodes.append(helper.make_node("Upsample", ["pool", "sc"], ["up"], mode="nearest"))
    elif opset == 10:
        inits["sc"] = scales
        nodes.append(helper.make_node("Resize", ["pool", "sc"], ["up"], mode="nearest"))
    else:
        inits |= {"sc": scales, "roi": np.zeros(0, np.float32)}
        nodes.append(helper.make_node("Resize", ["pool", "roi", "sc"], ["up"], mode="nearest",
                                      coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
    nodes.append(helper.make_node("Flatten", ["up"], ["flat"]))
    if opset < 13:
        nodes += [helper.make_node("Unsqueeze", ["flat"], ["u"], axes=[0]),
                  helper.make_node("Squeeze", ["u"], ["s"], axes=[0])]
    else:
        inits["ax"] = np.array([0], np.int64)
        nodes += [helper.make_node("Unsqueeze", ["flat", "ax"], ["u"]),
                  helper.make_node("Squeeze", ["u", "ax"], ["s"])]
    nodes += [helper.make_node("Gemm", ["s", "fc", "fcb"], ["logits"], transB=1),
              helper.make_node("Softmax", ["logits"], ["y"], axis=1)]
    graph = helper.make_graph(nodes, f"cnn_opset{opset}",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", opset)])
    if model.ir_version < 4:  # IR 3: every initializer is also a graph input
        model.graph.input.extend(helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                                 for k, v in inits.items())
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.mark.parametrize("opset", OPSETS)
def test_opset(opset: int) -> None:
    model = cnn_for_opset(opset)
    result = convert(model)
    assert [n.op for n in result.graph.nodes] == ["Conv", "Clip", "MaxPool", "Resize", "Reshape", "Gemm", "Softmax"]
    x = rand(1, 1, 8, 8, seed=opset)
    want = ort_run(model, x)
    minidnn = pytest.importorskip("minidnn")
    np.testing.assert_allclose(minidnn.infer(result.mdnn, x), want, rtol=1e-4, atol=1e-6)


def test_all_opsets_give_the_same_model() -> None:
    blobs = {convert(cnn_for_opset(v)).mdnn for v in (MIN_OPSET, 13, MAX_OPSET)}
    assert len(blobs) == 1
