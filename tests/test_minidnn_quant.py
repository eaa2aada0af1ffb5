"""The integer path (minidnn/csrc/ops_quant.c, converter/ops_quant.py): every kernel against
onnxruntime bit for bit (rounding ties, saturation, negative zero points, per-channel scales, int8
and uint8), native == VM, the QDQ fold of quantize_static's models, and the errors."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import minidnn
from converter import convert
from converter.errors import ConversionError, DtypeError, UnsupportedOpError
from minidnn import format as mdf
from minidnn.image import run_vm
from tests.converter_helpers import ort_run

OPSET = 19
I8, U8 = TensorProto.INT8, TensorProto.UINT8
NP = {I8: np.int8, U8: np.uint8}


def model(nodes: list[onnx.NodeProto], in_shape: list[int], out_shape: list[int],
          inits: dict[str, np.ndarray]) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = 9
    onnx.checker.check_model(m)
    return m


def exact(m: onnx.ModelProto, xs: list[np.ndarray], vm: bool = True) -> bytes:
    """Convert, run natively on each input, compare with onnxruntime bit for bit, and with the VM
    (fast runner) on the first input; returns the converted model."""
    blob = convert(m).mdnn
    for x in xs:
        ours = minidnn.infer(blob, x)
        ref = ort_run(m, x)
        assert ours.tobytes() == ref.astype(np.float32).tobytes(), (ours, ref)
    if vm:
        result = run_vm(blob, xs[0])
        assert result.exit_code == 0 and result.output.tobytes() == minidnn.infer(blob, xs[0]).tobytes()
    return blob


def rnd(*shape: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def q_dq(dtype: int, scale: np.ndarray, zp: np.ndarray, shape: list[int], axis: int = 1) -> onnx.ModelProto:
    return model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=axis),
                  helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=axis)],
                 shape, shape, {"s": scale, "z": zp})


# ---- QuantizeLinear / DequantizeLinear ---------------------------------------------------------


@pytest.mark.parametrize("dtype, zp", [(I8, 0), (I8, -3), (I8, 100), (U8, 0), (U8, 128), (U8, 255)])
def test_quantize_ties_and_saturation(dtype: int, zp: int) -> None:
    """Exact .5 ties round to even (scale a power of two: x / scale is exact), values beyond the
    range saturate (±inf too), negative zero points, -0.0."""
    halves = (np.arange(-300, 300) + 0.5) * 0.25
    edges = np.array([0.0, -0.0, 1e30, -1e30, np.inf, -np.inf, 31.875, 32.0, -32.125, -32.0, 63.75, 64.0])
    x = np.concatenate([halves, edges, rnd(100, scale=40.0)]).astype(np.float32).reshape(1, -1)
    exact(q_dq(dtype, np.array(0.25, np.float32), np.array(zp, NP[dtype]), list(x.shape)), [x])


@pytest.mark.parametrize("dtype", [I8, U8])
def test_quantize_inexact_scale_divides(dtype: int) -> None:
    """A scale whose reciprocal is inexact: minidnn divides, as onnxruntime (x * (1/s) differs)."""
    s = np.float32(0.1)
    x = ((np.arange(-1000, 1000) + 0.5) * s).astype(np.float32)
    x = np.concatenate([x, np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(-np.inf))]).reshape(1, -1)
    zp = np.array(0 if dtype == I8 else 128, NP[dtype])
    exact(q_dq(dtype, np.array(s), zp, list(x.shape)), [x], vm=False)


def test_quantize_without_zero_point_is_uint8() -> None:
    m = model([helper.make_node("QuantizeLinear", ["x", "s"], ["q"]), helper.make_node("DequantizeLinear", ["q", "s"], ["y"])],
              [1, 50], [1, 50], {"s": np.array(0.02, np.float32)})
    exact(m, [rnd(1, 50, seed=1, scale=3.0)])
    assert mdf.read_model(convert(m).mdnn).tensors["q"].dtype == mdf.DTYPE_U8


@pytest.mark.parametrize("dtype", [I8, U8])
def test_quantize_per_axis(dtype: int) -> None:
    scale = np.array([0.05, 0.5, 3.0], np.float32)
    zp = np.array([-7, 0, 5] if dtype == I8 else [3, 128, 250], NP[dtype])
    exact(q_dq(dtype, scale, zp, [2, 3, 4], axis=1), [rnd(2, 3, 4, seed=s, scale=20.0) for s in range(3)])


# ---- products -----------------------------------------------------------------------------------


def _qlinear_matmul(a_t: int, b_t: int, per_column: bool, y_scale: float, seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    k, n = 23, 7
    b = rng.integers(-128, 128, (k, n)) if b_t == I8 else rng.integers(0, 256, (k, n))
    bs = rng.uniform(0.001, 0.02, n if per_column else ()).astype(np.float32)
    bz_values = rng.integers(-20, 20, n) if b_t == I8 else rng.integers(100, 156, n)
    bz = bz_values.astype(NP[b_t]) if per_column else np.array(bz_values[0], NP[b_t])
    inits = {"as": np.array(0.03, np.float32), "az": np.array(-9 if a_t == I8 else 131, NP[a_t]),
             "b": b.astype(NP[b_t]), "bs": bs, "bz": bz,
             "ys": np.array(y_scale, np.float32), "yz": np.array(-5 if a_t == I8 else 120, NP[a_t])}
    nodes = [helper.make_node("QuantizeLinear", ["x", "as", "az"], ["xq"]),
             helper.make_node("QLinearMatMul", ["xq", "as", "az", "b", "bs", "bz", "ys", "yz"], ["yq"]),
             helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    return model(nodes, [3, k], [3, n], inits)


@pytest.mark.parametrize("a_t, b_t", [(I8, I8), (U8, I8), (U8, U8)])  # onnxruntime has no int8 x uint8
@pytest.mark.parametrize("per_column", [False, True])
def test_qlinear_matmul(a_t: int, b_t: int, per_column: bool) -> None:
    m = _qlinear_matmul(a_t, b_t, per_column, 0.05)
    exact(m, [rnd(3, 23, seed=s, scale=2.0) for s in range(4)], vm=per_column)


def test_qlinear_matmul_nd_left_operand() -> None:
    """An N-D left operand times a 2-D right one: reshaped to 2-D around the integer kernel."""
    m = _qlinear_matmul(U8, I8, False, 0.05)
    m.graph.input[0].type.tensor_type.shape.dim.insert(0, onnx.TensorShapeProto.Dimension(dim_value=2))
    m.graph.output[0].type.tensor_type.shape.dim.insert(0, onnx.TensorShapeProto.Dimension(dim_value=2))
    blob = exact(m, [rnd(2, 3, 23, seed=s, scale=2.0) for s in range(2)])
    assert [n.op for n in mdf.read_model(blob).nodes] == ["QuantizeLinear", "Reshape", "QLinearMatMul", "Reshape",
                                                         "DequantizeLinear"]


def test_qlinear_matmul_saturates() -> None:
    """A tiny output scale: most outputs saturate at both ends."""
    m = _qlinear_matmul(I8, I8, True, 0.0005)
    x = rnd(3, 23, seed=5, scale=3.0)
    out = minidnn.infer(exact(m, [x]), x)
    ys = np.float32(0.0005)   # y = (q - (-5)) * ys with q saturated at -128 / 127
    assert (out == np.float32(-123) * ys).sum() >= 3 and (out == np.float32(132) * ys).sum() >= 3


def test_matmul_integer_and_conv_integer() -> None:
    """The int32 sums themselves (made float by DequantizeLinear with scale 1)."""
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, (4, 2, 3, 3)).astype(np.int8)
    inits = {"s": np.array(0.02, np.float32), "z": np.array(17, np.uint8), "w": w,
             "wz": np.array(-3, np.int8), "one": np.array(1.0, np.float32), "b": rng.integers(-128, 128, (50, 6)).astype(np.int8)}
    conv = model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
                  helper.make_node("ConvInteger", ["xq", "w", "z", "wz"], ["acc"], pads=[1, 0, 2, 1], strides=[2, 1]),
                  helper.make_node("DequantizeLinear", ["acc", "one"], ["y"])],
                 [1, 2, 9, 8], [1, 4, 5, 7], inits)
    exact(conv, [rnd(1, 2, 9, 8, seed=s) for s in range(3)])
    mm = model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
                helper.make_node("MatMulInteger", ["xq", "b", "z"], ["acc"]),
                helper.make_node("DequantizeLinear", ["acc", "one"], ["y"])],
               [2, 50], [2, 6], inits)
    exact(mm, [rnd(2, 50, seed=s) for s in range(3)])


@pytest.mark.parametrize("x_t, per_channel, group", [(U8, False, 1), (I8, True, 1), (U8, True, 2), (I8, False, 3)])
def test_qlinear_conv(x_t: int, per_channel: bool, group: int) -> None:
    rng = np.random.default_rng(group)
    oc, icg = 6, 2
    w = rng.integers(-127, 128, (oc, icg, 3, 2)).astype(np.int8)
    ws = rng.uniform(0.002, 0.03, oc if per_channel else ()).astype(np.float32)
    wz = np.zeros(oc if per_channel else (), np.int8)
    xs, ys = np.float32(0.04), np.float32(0.08)
    bias = rng.integers(-3000, 3000, oc).astype(np.int32)
    inits = {"xs": np.array(xs), "xz": np.array(-4 if x_t == I8 else 127, NP[x_t]), "w": w, "ws": ws, "wz": wz,
             "ys": np.array(ys), "yz": np.array(3 if x_t == I8 else 100, NP[x_t]), "b": bias}
    c = icg * group
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("QLinearConv", ["xq", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["yq"],
                              pads=[1, 1, 0, 1], strides=[1, 2], dilations=[2, 1], group=group),
             helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    m = model(nodes, [1, c, 10, 9], [1, oc, 7, 5], inits)
    exact(m, [rnd(1, c, 10, 9, seed=s, scale=2.0) for s in range(3)])


# ---- the QDQ format (onnxruntime.quantization.quantize_static) ------------------------------------


def _float_net(kind: str) -> onnx.ModelProto:
    rng = np.random.default_rng(11)
    if kind == "conv":
        inits = {"w": rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3, "b": rng.standard_normal(8).astype(np.float32),
                 "w2": rng.standard_normal((4, 8, 1, 1)).astype(np.float32) * 0.3}
        nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
                 helper.make_node("Relu", ["c"], ["r"]),
                 helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
                 helper.make_node("Conv", ["p", "w2"], ["c2"]),
                 helper.make_node("Flatten", ["c2"], ["y"])]
        return model(nodes, [1, 3, 8, 8], [1, 64], inits)
    inits = {"w": rng.standard_normal((16, 12)).astype(np.float32) * 0.3,
             "w2": rng.standard_normal((5, 12)).astype(np.float32) * 0.3, "b2": rng.standard_normal(5).astype(np.float32)}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1)]
    return model(nodes, [2, 16], [2, 5], inits)


def quantize_static(m: onnx.ModelProto, shape: tuple[int, ...], tmp_path, per_channel: bool,
                    activation: str = "QInt8") -> onnx.ModelProto:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as qs

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"x": rnd(*shape, seed=100 + i)} for i in range(16)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(m, str(src))
    qs(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
       activation_type=getattr(QuantType, activation), weight_type=QuantType.QInt8)
    return onnx.load(str(dst))


@pytest.mark.parametrize("kind, shape", [("conv", (1, 3, 8, 8)), ("dense", (2, 16))])
@pytest.mark.parametrize("per_channel, activation", [(False, "QInt8"), (True, "QInt8"), (True, "QUInt8")])
def test_quantize_static_models_fold_and_match(kind: str, shape: tuple[int, ...], per_channel: bool, activation: str,
                                               tmp_path) -> None:
    q = quantize_static(_float_net(kind), shape, tmp_path, per_channel, activation)
    result = convert(q)
    ops = [n.op for n in result.graph.nodes]
    folded = {"conv": ["QLinearConv", "MaxPool", "QLinearConv"], "dense": ["QLinearMatMul", "QGemm"]}[kind]
    assert [o for o in ops if o in ("QLinearConv", "QLinearMatMul", "QGemm", "MaxPool")] == folded, ops
    assert "Conv" not in ops and "MatMul" not in ops and "Gemm" not in ops
    xs = [rnd(*shape, seed=s, scale=1.5) for s in range(6)]
    for x in xs:
        assert minidnn.infer(result.mdnn, x).tobytes() == ort_run(q, x).tobytes()
    vm = run_vm(result.mdnn, xs[0])
    assert vm.exit_code == 0 and vm.output.tobytes() == minidnn.infer(result.mdnn, xs[0]).tobytes()


def test_vm_reference_stepper_agrees(tmp_path) -> None:
    """One small quantized model on the Python reference stepper (the VM's specification)."""
    blob = convert(_qlinear_matmul(U8, I8, True, 0.05)).mdnn
    x = rnd(3, 23, seed=9)
    result = run_vm(blob, x, engine="stepper")
    assert result.exit_code == 0 and result.output.tobytes() == minidnn.infer(blob, x).tobytes()


# ---- errors -------------------------------------------------------------------------------------


def _qdq_around(op_nodes: list[onnx.NodeProto], shape: list[int], extra: dict | None = None) -> onnx.ModelProto:
    inits = {"s": np.array(0.1, np.float32), "z": np.array(0, np.int8), **(extra or {})}
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]), *op_nodes,
             helper.make_node("QuantizeLinear", ["o", "s", "z"], ["oq"]),
             helper.make_node("DequantizeLinear", ["oq", "s", "z"], ["y"])]
    return model(nodes, shape, shape, inits)


def test_unsupported_quantized_patterns_are_clear_errors() -> None:
    add = _qdq_around([helper.make_node("Add", ["xd", "xd"], ["o"])], [1, 4])
    with pytest.raises(UnsupportedOpError, match="quantized Add .*integer kernel"):
        convert(add)
    w = {"w": np.ones((4, 4), np.int8), "ws": np.array(0.1, np.float32)}
    float_out = model([helper.make_node("QuantizeLinear", ["x", "ws"], ["xq"]),
                       helper.make_node("DequantizeLinear", ["xq", "ws"], ["xd"]),
                       helper.make_node("DequantizeLinear", ["w", "ws"], ["wd"]),
                       helper.make_node("MatMul", ["xd", "wd"], ["y"])], [1, 4], [1, 4], w)
    with pytest.raises(UnsupportedOpError, match="read by one QuantizeLinear"):
        convert(float_out)
    mixed = _qdq_around([helper.make_node("MatMul", ["xd", "f"], ["o"])], [1, 4], {"f": np.eye(4, dtype=np.float32)})
    with pytest.raises(UnsupportedOpError, match="both inputs must come from DequantizeLinear"):
        convert(mixed)


def test_qoperator_format_and_integer_output_are_refused() -> None:
    node = helper.make_node("QGemm", ["x", "s"], ["y"], domain="com.microsoft")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(np.array(1.0, np.float32), "s")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)])
    with pytest.raises(ConversionError, match="QuantFormat.QDQ"):
        convert(m)
    qout = helper.make_graph([helper.make_node("QuantizeLinear", ["x", "s"], ["y"])], "g",
                             [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                             [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 4])],
                             [numpy_helper.from_array(np.array(1.0, np.float32), "s")])
    with pytest.raises(DtypeError, match="end the model with DequantizeLinear"):
        convert(helper.make_model(qout, opset_imports=[helper.make_opsetid("", OPSET)]))


def test_cli_reports_unsupported_pattern_without_traceback(tmp_path) -> None:
    from click.testing import CliRunner

    from optimist.cli import main as cli

    path = tmp_path / "add.onnx"
    onnx.save(_qdq_around([helper.make_node("Add", ["xd", "xd"], ["o"])], [1, 4]), str(path))
    out = CliRunner().invoke(cli, ["convert", str(path), "-o", str(tmp_path / "m.mdnn")])
    assert out.exit_code != 0 and "quantized Add" in out.output and "Traceback" not in out.output


def _builder_q(dtype: int = mdf.DTYPE_I8) -> mdf.ModelBuilder:
    b = mdf.ModelBuilder().add_input("x", (1, 4))
    b.add_initializer("s", np.array(0.5, np.float32)).add_initializer("z", np.array(0), dtype)
    return b.add_node("QuantizeLinear", ["x", "s", "z"], ["q"], dtypes=[dtype])


def test_runtime_refuses_integer_tensors_in_float_ops() -> None:
    b = _builder_q().add_node("Relu", ["q"], ["y"]).set_output("y")
    with pytest.raises(minidnn.ModelError) as err:
        minidnn.Model.load(b.to_bytes())
    assert err.value.code == mdf.ERROR_CODES["BAD_TENSOR"]
    b = mdf.ModelBuilder().add_input("x", (1, 4)).add_node("Relu", ["x"], ["r"], dtypes=[mdf.DTYPE_U8])
    b.add_node("Relu", ["r"], ["y"]).set_output("y")
    with pytest.raises(minidnn.ModelError) as err:
        minidnn.Model.load(b.to_bytes())
    assert err.value.code == mdf.ERROR_CODES["BAD_TENSOR"]


def test_runtime_checks_quantization_parameters() -> None:
    """A zero point of another dtype than the data, or a per-channel scale of the wrong length."""
    b = _builder_q(mdf.DTYPE_I8)
    b.add_initializer("zu", np.array(0), mdf.DTYPE_U8)
    b.add_node("DequantizeLinear", ["q", "s", "zu"], ["y"]).set_output("y")
    with pytest.raises(minidnn.ModelError) as err:
        minidnn.infer(b.to_bytes(), np.zeros((1, 4), np.float32))
    assert err.value.code == mdf.ERROR_CODES["SHAPE"]
    b = _builder_q(mdf.DTYPE_I8)
    b.add_initializer("s3", np.ones(3, np.float32))
    b.add_node("DequantizeLinear", ["q", "s3"], ["y"], axis=1).set_output("y")
    with pytest.raises(minidnn.ModelError) as err:
        minidnn.infer(b.to_bytes(), np.zeros((1, 4), np.float32))
    assert err.value.code == mdf.ERROR_CODES["SHAPE"]


def test_runtime_refuses_zero_points_out_of_range() -> None:
    """A forged int8 zero point of 200 (the writer refuses it; patched in the table): BAD_ATTRIBUTE."""
    b = mdf.ModelBuilder().add_input("x", (1, 4))
    b.add_initializer("s", np.array(0.5, np.float32)).add_initializer("z", np.array(200), mdf.DTYPE_U8)
    b.add_node("QuantizeLinear", ["x", "s", "z"], ["q"], dtypes=[mdf.DTYPE_I8])
    b.add_node("DequantizeLinear", ["q", "s", "z"], ["y"]).set_output("y")
    b.tensors["z"].dtype = mdf.DTYPE_I8
    with pytest.raises(minidnn.ModelError) as err:
        minidnn.infer(b.to_bytes(), np.zeros((1, 4), np.float32))
    assert err.value.code == mdf.ERROR_CODES["BAD_ATTRIBUTE"]


def test_format_int8_constants_round_trip_and_range() -> None:
    b = _builder_q(mdf.DTYPE_I8)
    b.add_initializer("w", np.array([[-128, 127, 0, 5]], np.int8), mdf.DTYPE_I8)
    b.add_node("DequantizeLinear", ["w", "s", "z"], ["y"]).set_output("y")
    blob = b.to_bytes()
    back = mdf.read_model(blob)
    assert back.tensors["w"].dtype == mdf.DTYPE_I8 and back.tensors["w"].data.tolist() == [[-128, 127, 0, 5]]
    assert back.tensors["q"].dtype == mdf.DTYPE_I8
    np.testing.assert_array_equal(minidnn.infer(blob, np.zeros((1, 4), np.float32)), [[-64.0, 63.5, 0.0, 2.5]])
    with pytest.raises(mdf.FormatError, match=r"uint8 needs integers in \[0, 255\]"):
        mdf.ModelBuilder().add_initializer("bad", np.array([256]), mdf.DTYPE_U8)


def test_quantized_graph_splits_for_two_phase_games() -> None:
    """Every node of a quantized model is its own sub-model (int8 inputs and outputs as int32 words):
    the native trace ends in the whole model's output and every node's VM run matches it."""
    from pathlib import Path

    from minidnn import phase1
    from minidnn.nodes import split_model

    blob = convert(Path(__file__).resolve().parent.parent / "examples" / "models" / "mlp_digits_int8.onnx").mdnn
    split = split_model(blob)
    assert [(n.op, n.arg_dtypes) for n in split.nodes] == [
        ("Reshape", (mdf.DTYPE_F32,)), ("QuantizeLinear", (mdf.DTYPE_F32,)), ("QGemm", (mdf.DTYPE_I8,)),
        ("QGemm", (mdf.DTYPE_I8,)), ("DequantizeLinear", (mdf.DTYPE_I8,))]
    x = rnd(1, 1, 28, 28, seed=4)
    trace = phase1.run_trace(split, x)
    assert trace.output_bytes == minidnn.infer(blob, x).tobytes()
    q = np.frombuffer(trace.tensors[3], "<i4")
    assert q.min() >= -128 and q.max() <= 127
    phase1.commit(split, x)   # raises NodeRunError if a node's VM output differs from the trace
