"""Normalisation: opset variants, constant folding, BatchNorm folding, dropped nodes — against onnxruntime.

Each model is run by the converter's float64 reference interpreter of the canonical graph and,
when the native runtime is built, by minidnn itself (the .mdnn bytes).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from converter_helpers import make_model, ort_run, rand
from onnx import helper

from converter import convert
from converter.reference import run_reference

BACKENDS = ["reference", "minidnn"]


def run(backend: str, model: onnx.ModelProto, x: np.ndarray, **kw) -> tuple[np.ndarray, list[str]]:
    result = convert(model, **kw)
    ops = [n.op for n in result.graph.nodes]
    if backend == "reference":
        return run_reference(result.graph, x), ops
    minidnn = pytest.importorskip("minidnn")
    if not hasattr(minidnn, "infer"):
        pytest.skip("minidnn native runtime (minidnn.infer) not built yet")
    return np.asarray(minidnn.infer(result.mdnn, x)).reshape(result.output_shape), ops


def check(backend: str, model: onnx.ModelProto, x: np.ndarray, atol: float = 1e-5, **kw) -> list[str]:
    got, ops = run(backend, model, x, **kw)
    want = ort_run(model, x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=atol)
    return ops


def bn_params(c: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"g": rng.uniform(0.5, 2, c).astype(np.float32), "beta": rng.normal(size=c).astype(np.float32),
            "mu": rng.normal(size=c).astype(np.float32), "var": rng.uniform(0.5, 2, c).astype(np.float32)}


def bn(inp: str, out: str) -> onnx.NodeProto:
    return helper.make_node("BatchNormalization", [inp, "g", "beta", "mu", "var"], [out], name="bn", epsilon=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_batchnorm_folds(backend: str) -> None:
    inits = {"w": rand(4, 3, 3, 3), "b": rand(4), **bn_params(4)}
    model = make_model([helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), bn("c", "y")],
                       {"x": [1, 3, 6, 6]}, {"y": [1, 4, 6, 6]}, inits)
    assert check(backend, model, rand(1, 3, 6, 6)) == ["Conv"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_gemm_and_conv_transpose_batchnorm_fold(backend: str) -> None:
    gemm = make_model([helper.make_node("Gemm", ["x", "w"], ["h"], transB=1), bn("h", "y")],
                      {"x": [2, 5]}, {"y": [2, 4]}, {"w": rand(4, 5), **bn_params(4)})
    assert check(backend, gemm, rand(2, 5)) == ["Gemm"]
    ct = make_model([helper.make_node("ConvTranspose", ["x", "w"], ["h"], strides=[2, 2], pads=[1, 1, 1, 1]),
                     bn("h", "y")], {"x": [1, 3, 4, 4]}, {"y": [1, 2, 8, 8]}, {"w": rand(3, 2, 4, 4), **bn_params(2)})
    assert check(backend, ct, rand(1, 3, 4, 4)) == ["ConvTranspose"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_batchnorm_kept_when_not_foldable(backend: str) -> None:
    alone = make_model([bn("x", "y")], {"x": [1, 4, 3, 3]}, {"y": [1, 4, 3, 3]}, bn_params(4))
    assert check(backend, alone, rand(1, 4, 3, 3)) == ["BatchNormalization"]
    shared = make_model([helper.make_node("Conv", ["x", "w"], ["c"]), bn("c", "n"),
                         helper.make_node("Add", ["c", "n"], ["y"])],
                        {"x": [1, 2, 3, 3]}, {"y": [1, 4, 3, 3]}, {"w": rand(4, 2, 1, 1), **bn_params(4)})
    assert check(backend, shared, rand(1, 2, 3, 3)) == ["Conv", "BatchNormalization", "Add"]
    params = bn_params(4)
    params["var"] = np.full(4, 1e-12, np.float32)  # scale ~ 3e4: folding would amplify rounding
    tiny = make_model([helper.make_node("Conv", ["x", "w"], ["c"]), bn("c", "y")],
                      {"x": [1, 2, 3, 3]}, {"y": [1, 4, 3, 3]}, {"w": rand(4, 2, 1, 1), **params})
    tiny.graph.node[1].attribute[0].f = 0.0
    assert convert(tiny).graph.nodes[-1].op == "BatchNormalization"


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_identity_dropped(backend: str) -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Dropout", ["a"], ["b"]),
                        helper.make_node("Identity", ["b"], ["c"]), helper.make_node("Tanh", ["c"], ["d"]),
                        helper.make_node("Identity", ["d"], ["y"])], {"x": [2, 3]}, {"y": [2, 3]})
    assert check(backend, model, rand(2, 3)) == ["Relu", "Tanh"]
    only = make_model([helper.make_node("Identity", ["x"], ["y"])], {"x": [2, 3]}, {"y": [2, 3]})
    assert check(backend, only, rand(2, 3)) == ["Identity"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_shape_arithmetic_folds_to_reshape(backend: str) -> None:
    """The flatten pattern older torch exports emit: Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["f"]),
        helper.make_node("Relu", ["f"], ["y"]),
    ]
    inits = {"zero": np.array(0, np.int64), "ax0": np.array([0], np.int64), "minus1": np.array([-1], np.int64)}
    model = make_model(nodes, {"x": [None, 2, 3]}, {"y": [None, 6]}, inits, opset=13)
    assert check(backend, model, rand(3, 2, 3), input_shape="x=3x2x3") == ["Reshape", "Relu"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_legacy_softmax_coerces_to_2d(backend: str) -> None:
    model = make_model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], {"x": [2, 3, 4]}, {"y": [2, 3, 4]}, opset=11)
    ops = check(backend, model, rand(2, 3, 4))
    assert ops == ["Reshape", "Softmax", "Reshape"]
    model13 = make_model([helper.make_node("LogSoftmax", ["x"], ["y"], axis=1)], {"x": [2, 3, 4]}, {"y": [2, 3, 4]})
    assert check(backend, model13, rand(2, 3, 4)) == ["LogSoftmax"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_opset_forms_of_clip_squeeze_upsample(backend: str) -> None:
    clip7 = make_model([helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.25)], {"x": [2, 3]}, {"y": [2, 3]}, opset=7)
    check(backend, clip7, rand(2, 3))
    clip13 = make_model([helper.make_node("Clip", ["x", "lo", ""], ["y"])], {"x": [2, 3]}, {"y": [2, 3]},
                        {"lo": np.float32(0.1)}, opset=13)
    check(backend, clip13, rand(2, 3))
    sq11 = make_model([helper.make_node("Squeeze", ["x"], ["s"], axes=[1]),
                       helper.make_node("Unsqueeze", ["s"], ["y"], axes=[0])],
                      {"x": [2, 1, 3]}, {"y": [1, 2, 3]}, opset=11)
    assert check(backend, sq11, rand(2, 1, 3)) == ["Reshape"]
    up9 = make_model([helper.make_node("Upsample", ["x", "sc"], ["y"], mode="nearest")], {"x": [1, 2, 2, 3]},
                     {"y": [1, 2, 4, 6]}, {"sc": np.array([1, 1, 2, 2], np.float32)}, opset=9)
    assert check(backend, up9, rand(1, 2, 2, 3)) == ["Resize"]
    up7 = make_model([helper.make_node("Upsample", ["x"], ["y"], mode="nearest", scales=[1.0, 1.0, 3.0, 2.0])],
                     {"x": [1, 1, 2, 2]}, {"y": [1, 1, 6, 4]}, opset=7)
    check(backend, up7, rand(1, 1, 2, 2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_padding_modes_and_1d(backend: str) -> None:
    same = make_model([helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])],
                      {"x": [1, 2, 7, 6]}, {"y": [1, 3, 4, 3]}, {"w": rand(3, 2, 3, 3)})
    check(backend, same, rand(1, 2, 7, 6))
    ceil = make_model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)],
                      {"x": [1, 1, 6, 6]}, {"y": [1, 1, 3, 3]})
    check(backend, ceil, rand(1, 1, 6, 6))
    avg = make_model([helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
                     {"x": [1, 2, 4, 4]}, {"y": [1, 2, 4, 4]})
    check(backend, avg, rand(1, 2, 4, 4))
    conv1d = make_model([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1], dilations=[2])],
                        {"x": [1, 2, 9]}, {"y": [1, 3, 7]}, {"w": rand(3, 2, 3), "b": rand(3)})
    assert check(backend, conv1d, rand(1, 2, 9)) == ["Reshape", "Conv", "Reshape"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_gemm_alpha_beta_and_batched_matmul(backend: str) -> None:
    gemm = make_model([helper.make_node("Gemm", ["x", "w", "c"], ["y"], alpha=0.5, beta=2.0, transA=1)],
                      {"x": [5, 2]}, {"y": [2, 3]}, {"w": rand(5, 3), "c": rand(1, 3)})
    check(backend, gemm, rand(5, 2))
    mm = make_model([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])],
                    {"x": [2, 3, 4]}, {"y": [2, 3, 5]}, {"w": rand(4, 5), "b": rand(5)})
    check(backend, mm, rand(2, 3, 4))


@pytest.mark.parametrize("backend", BACKENDS)
def test_gather_concat_transpose(backend: str) -> None:
    nodes = [helper.make_node("Gather", ["x", "idx"], ["g"], axis=1),
             helper.make_node("Transpose", ["g"], ["t"], perm=[1, 0]),
             helper.make_node("Concat", ["t", "k"], ["y"], axis=0)]
    model = make_model(nodes, {"x": [2, 5]}, {"y": [5, 2]},
                       {"idx": np.array([4, -1, 0], np.int64), "k": rand(2, 2)})
    check(backend, model, rand(2, 5))


@pytest.mark.parametrize("backend", BACKENDS)
def test_decompositions(backend: str) -> None:
    """Pad merged into Conv; spatial ReduceMean as GlobalAveragePool; HardSwish, Neg, Sum rewritten."""
    padded = make_model([helper.make_node("Pad", ["x", "p"], ["xp"], mode="constant"),
                         helper.make_node("Conv", ["xp", "w"], ["y"], pads=[0, 1, 0, 1])],
                        {"x": [1, 2, 5, 5]}, {"y": [1, 3, 8, 5]},
                        {"p": np.array([0, 0, 2, 0, 0, 0, 1, 0], np.int64), "w": rand(3, 2, 1, 3)})
    assert check(backend, padded, rand(1, 2, 5, 5)) == ["Conv"]
    mean = make_model([helper.make_node("ReduceMean", ["x"], ["y"], axes=[-1, -2], keepdims=0)],
                      {"x": [1, 3, 4, 5]}, {"y": [1, 3]}, opset=13)
    assert check(backend, mean, rand(1, 3, 4, 5)) == ["GlobalAveragePool", "Reshape"]
    nodes = [helper.make_node("HardSwish", ["x"], ["h"]), helper.make_node("Neg", ["h"], ["n"]),
             helper.make_node("Sum", ["x", "n", "h"], ["y"])]
    mixed = make_model(nodes, {"x": [2, 6]}, {"y": [2, 6]})
    assert check(backend, mixed, rand(2, 6) * 4) == ["Mul", "Add", "Clip", "Mul", "Mul", "Add", "Add"]


def test_pad_alone_is_unsupported() -> None:
    from converter import UnsupportedAttributeError

    model = make_model([helper.make_node("Pad", ["x", "p"], ["y"], name="lonely")], {"x": [1, 1, 2, 2]},
                       {"y": [1, 1, 4, 2]}, {"p": np.array([0, 0, 1, 0, 0, 0, 1, 0], np.int64)})
    with pytest.raises(UnsupportedAttributeError, match="node 'lonely' \\(Pad\\): a Pad is supported only"):
        convert(model)
    reflect = make_model([helper.make_node("Pad", ["x", "p"], ["y"], name="refl", mode="reflect")],
                         {"x": [1, 1, 2, 2]}, {"y": [1, 1, 4, 2]}, {"p": np.array([0, 0, 1, 0, 0, 0, 1, 0], np.int64)})
    with pytest.raises(UnsupportedAttributeError, match="mode='reflect'"):
        convert(reflect)


@pytest.mark.parametrize("backend", BACKENDS)
def test_matmul_bias_fuses_into_gemm(backend: str) -> None:
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["b", "m"], ["y"])],
                       {"x": [3, 4]}, {"y": [3, 5]}, {"w": rand(4, 5), "b": rand(1, 5)})
    assert check(backend, model, rand(3, 4)) == ["Gemm"]
    runtime_c = make_model([helper.make_node("Relu", ["x"], ["r"]),
                            helper.make_node("Gemm", ["x", "w", "r"], ["y"], beta=0.5, alpha=2.0)],
                           {"x": [3, 3]}, {"y": [3, 3]}, {"w": rand(3, 3)})
    assert check(backend, runtime_c, rand(3, 3)) == ["Relu", "Gemm"]


def test_matmul_bias_fusion_is_bit_exact() -> None:
    """Gemm adds C after the dot product, as MatMul then Add would: identical float32 bits."""
    minidnn = pytest.importorskip("minidnn")
    from converter.emit import to_mdnn
    from converter.passes import drop_identities, prune

    model = make_model([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])],
                       {"x": [4, 16]}, {"y": [4, 8]}, {"w": rand(16, 8), "b": rand(8)})
    fused = convert(model)
    unfused = convert(make_model(model.graph.node[:1], {"x": [4, 16]}, {"m": [4, 8]}, {"w": rand(16, 8)}))
    graph = unfused.graph
    graph.consts["b"] = rand(8)
    graph.shapes["y"] = (4, 8)
    graph.nodes.append(type(graph.nodes[0])("add", "Add", [graph.output, "b"], ["y"], {}, "Add"))
    graph.output = "y"
    drop_identities(graph)
    prune(graph)
    x = rand(4, 16, seed=9)
    assert minidnn.infer(fused.mdnn, x).tobytes() == minidnn.infer(to_mdnn(graph), x).tobytes()
