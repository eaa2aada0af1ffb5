"""Measure minidnn's per-op VM step costs and rewrite converter/step_costs.py.

    .venv/bin/python -m converter.calibrate

Runs single-op models (4096 elements) and a few dense/conv shapes through runtime.elf in the VM
and fits the constants `optimist inspect` uses for its step estimate. Re-run after changing the
runtime's kernels.
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from converter import step_costs
from converter.api import convert
from converter.graph import valid_taps

SHAPE = (1, 16, 16, 16)
N = int(np.prod(SHAPE))
ELEMENTWISE = ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Erf", "Gelu", "Identity", "Sqrt", "Exp", "Log",
               "Reciprocal", "Softplus", "Sin", "Cos", "Elu", "Abs", "Floor", "Ceil"]
BINARY = ["Add", "Sub", "Mul", "Div", "PRelu", "Max", "Min"]
COMPARE = ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]  # bool: measured through a Cast to float
LOGIC = ["And", "Or", "Xor"]  # measured after a Cast to bool (its cost subtracted)
REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax", "ArgMax", "ArgMin"]


def _model(nodes: list[onnx.NodeProto], in_shape: tuple, out_shape: tuple,
           inits: dict[str, np.ndarray] | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "calibrate", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
                              [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


def _rand(*shape: int) -> np.ndarray:
    return np.random.default_rng(len(shape)).standard_normal(shape).astype(np.float32)


def vm_steps(model: onnx.ModelProto) -> int | None:
    """Exact VM steps of one inference on a random input (None if the VM run fails)."""
    from minidnn.image import run_vm

    result = convert(model)
    try:
        return run_vm(result.mdnn, _rand(*result.input_shape)).steps
    except Exception as exc:  # report and keep the previous constant
        click.echo(f"  {model.graph.node[0].op_type}: VM run failed ({exc}); keeping the previous value")
        return None


def _unary(op: str) -> onnx.ModelProto:
    return _model([helper.make_node(op, ["x"], ["y"])], SHAPE, SHAPE)


def _element_models() -> dict[str, Callable[[], onnx.ModelProto]]:
    one = np.ones(SHAPE[1], np.float32)
    models: dict[str, Callable[[], onnx.ModelProto]] = {op: (lambda op=op: _unary(op)) for op in ELEMENTWISE}
    models |= {op: (lambda op=op: _model([helper.make_node(op, ["x", "w"], ["y"])], SHAPE, SHAPE,
                                          {"w": _rand(*SHAPE) + 3.0})) for op in BINARY}
    models |= {op: (lambda op=op: _model([helper.make_node(op, ["x"], ["y"], axis=-1)], SHAPE, SHAPE))
               for op in ("Softmax", "LogSoftmax")}
    models["Clip"] = lambda: _model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], SHAPE, SHAPE,
                                    {"lo": np.float32(-0.5), "hi": np.float32(0.5)})
    models["Transpose"] = lambda: _model([helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])],
                                         SHAPE, SHAPE)
    models["BatchNormalization"] = lambda: _model(
        [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])], SHAPE, SHAPE,
        {"s": one, "b": one, "m": one, "v": one})
    models["LayerNormalization"] = lambda: _model(
        [helper.make_node("LayerNormalization", ["x", "s"], ["y"], axis=-1)], SHAPE, SHAPE, {"s": one})
    models |= {op: (lambda op=op: _model([helper.make_node(op, ["x", "w"], ["b"]),
                                          helper.make_node("Cast", ["b"], ["y"], to=TensorProto.FLOAT)],
                                         SHAPE, SHAPE, {"w": _rand(*SHAPE)})) for op in COMPARE}
    models["Pow"] = lambda: _model([helper.make_node("Pow", ["x", "e"], ["y"])], SHAPE, SHAPE, {"e": np.float32(3)})
    models["Where"] = lambda: _model([helper.make_node("Where", ["c", "x", "w"], ["y"])], SHAPE, SHAPE,
                                     {"c": _rand(*SHAPE) > 0, "w": _rand(*SHAPE)})
    models["Expand"] = lambda: _model([helper.make_node("Expand", ["x", "s"], ["y"])], (1, 16, 16, 1), SHAPE,
                                      {"s": np.array(SHAPE)})
    models["Cast"] = lambda: _model([helper.make_node("Cast", ["x"], ["i"], to=TensorProto.INT64),
                                     helper.make_node("Cast", ["i"], ["y"], to=TensorProto.FLOAT)], SHAPE, SHAPE)
    models["Resize"] = lambda: _model([helper.make_node("Resize", ["x", "", "s"], ["y"], mode="nearest")],
                                      SHAPE, (1, 16, 32, 32), {"s": np.array([1, 1, 2, 2], np.float32)})
    return models


def calibrate() -> dict[str, object]:
    """Measure and fit every constant of converter/step_costs.py."""
    costs = {k: getattr(step_costs, k) for k in ("STARTUP", "PER_MAC", "PER_ELEMENT", "PER_WINDOW_ELEMENT",
                                                   "CONV_TRANSPOSE_COLUMN")}
    costs = {k: (dict(v) if isinstance(v, dict) else v) for k, v in costs.items()}
    missed: list[str] = []
    startup = vm_steps(_model([helper.make_node("Identity", ["x"], ["y"])], (1, 1), (1, 1)))
    costs["STARTUP"] = startup if startup is not None else costs["STARTUP"]
    base = costs["STARTUP"]
    for op, build in _element_models().items():
        steps = vm_steps(build())
        out = 16 * 32 * 32 if op == "Resize" else N
        if steps is None:
            missed.append(op)
            continue
        costs["PER_ELEMENT"][op] = round((steps - base) / out)
    for op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze"):
        costs["PER_ELEMENT"][op] = costs["PER_ELEMENT"]["Identity"]
    _data_movement(costs, missed)
    _dense(costs, missed)
    _pools(costs, missed)
    _conv_transpose(costs, missed)
    _quantized(costs, missed)
    costs["NOT_MEASURED"] = sorted(set(missed))
    return costs


def _dense(costs: dict, missed: list[str]) -> None:
    base = costs["STARTUP"]
    gemm = vm_steps(_model([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], (1, 256), (1, 256),
                           {"w": _rand(256, 256), "b": _rand(256)}))
    if gemm is None:
        missed.append("Gemm")
    else:
        costs["PER_MAC"]["Gemm"] = costs["PER_MAC"]["MatMul"] = round((gemm - base) / 65536)
    conv = vm_steps(_model([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])], SHAPE, SHAPE,
                           {"w": _rand(16, 16, 3, 3), "b": _rand(16)}))
    if conv is None:
        missed.append("Conv")
    else:
        costs["PER_MAC"]["Conv"] = round((conv - base) / (N * 16 * 9))


def _pools(costs: dict, missed: list[str]) -> None:
    base = costs["STARTUP"]
    out = N // 4
    for op in ("MaxPool", "AveragePool"):
        steps = vm_steps(_model([helper.make_node(op, ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
                                SHAPE, (1, 16, 8, 8)))
        if steps is None:
            missed.append(op)
            continue
        costs["PER_WINDOW_ELEMENT"][op] = round((steps - base - out * costs["PER_ELEMENT"][op]) / (4 * out))
    steps = vm_steps(_model([helper.make_node("GlobalAveragePool", ["x"], ["y"])], SHAPE, (1, 16, 1, 1)))
    if steps is None:
        missed.append("GlobalAveragePool")
    else:
        costs["PER_WINDOW_ELEMENT"]["GlobalAveragePool"] = round((steps - base) / N)


def _data_movement(costs: dict, missed: list[str]) -> None:
    """Slice (per output element), Not (after a Less), reductions (per input element)."""
    base = costs["STARTUP"]
    steps = vm_steps(_model([helper.make_node("Slice", ["x", "b", "e", "a", "s"], ["y"])], SHAPE, (1, 16, 16, 8),
                            {"b": np.array([0]), "e": np.array([16]), "a": np.array([3]), "s": np.array([2])}))
    if steps is None:
        missed.append("Slice")
    else:
        costs["PER_ELEMENT"]["Slice"] = round((steps - base) / (N // 2))
    less = costs["PER_ELEMENT"].get("Less")
    steps = vm_steps(_model([helper.make_node("Less", ["x", "w"], ["b"]), helper.make_node("Not", ["b"], ["n"]),
                             helper.make_node("Cast", ["n"], ["y"], to=TensorProto.FLOAT)], SHAPE, SHAPE,
                            {"w": _rand(*SHAPE)}))
    if steps is None or less is None:
        missed.append("Not")
    else:
        costs["PER_ELEMENT"]["Not"] = round((steps - base) / N - less)
    cast = costs["PER_ELEMENT"].get("Cast")
    for op in LOGIC:
        steps = vm_steps(_model([helper.make_node("Cast", ["x"], ["b"], to=TensorProto.BOOL),
                                 helper.make_node(op, ["b", "c"], ["l"]),
                                 helper.make_node("Cast", ["l"], ["y"], to=TensorProto.FLOAT)], SHAPE, SHAPE,
                                {"c": _rand(*SHAPE) > 0}))
        if steps is None or cast is None:
            missed.append(op)
        else:
            costs["PER_ELEMENT"][op] = round((steps - base) / N - cast)
    for op in REDUCE:
        arg = op.startswith("Arg")
        node = helper.make_node(op, ["x"], ["i"], axis=-1, keepdims=0) if arg else \
            helper.make_node(op, ["x", "a"], ["y"], keepdims=0)
        nodes = [node, helper.make_node("Cast", ["i"], ["y"], to=TensorProto.FLOAT)] if arg else [node]
        steps = vm_steps(_model(nodes, SHAPE, SHAPE[:3], {} if arg else {"a": np.array([-1])}))
        if steps is None:
            missed.append(op)
            continue
        costs["PER_ELEMENT"][op] = 0
        costs["PER_WINDOW_ELEMENT"][op] = round((steps - base) / N)


# (in channels, in size, out channels, kernel, stride, pad): shapes like DCGAN generators
CONV_TRANSPOSE_SHAPES = [(8, 8, 8, 3, 1, 1), (16, 1, 64, 4, 1, 0), (32, 8, 1, 4, 2, 1), (16, 16, 8, 4, 2, 1),
                         (64, 4, 32, 4, 2, 1)]


def _conv_transpose(costs: dict, missed: list[str]) -> None:
    """Fit steps = a*MACs + b*(kernel columns scanned) + c*outputs (non-negative least squares)."""
    from scipy.optimize import nnls

    rows, steps = [], []
    for cin, size, cout, k, s, p in CONV_TRANSPOSE_SHAPES:
        out = s * (size - 1) + k - 2 * p
        model = _model([helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[s, s], pads=[p] * 4)],
                       (1, cin, size, size), (1, cout, out, out), {"w": _rand(cin, cout, k, k)})
        measured = vm_steps(model)
        if measured is None:
            continue
        taps = valid_taps(size, out, k, s, 1, p)
        rows.append([cout * cin * taps * taps, cout * cin * taps * out * k, cout * out * out])
        steps.append(measured - costs["STARTUP"])
    if len(rows) < 3:
        missed.append("ConvTranspose")
        return
    (mac, column, output), _ = nnls(np.array(rows, float), np.array(steps, float))
    costs["PER_MAC"]["ConvTranspose"] = round(mac)
    costs["CONV_TRANSPOSE_COLUMN"] = round(column)
    costs["PER_ELEMENT"]["ConvTranspose"] = round(output)


def _qdq_model(core: list[onnx.NodeProto], in_shape: tuple, out_shape: tuple,
               inits: dict[str, np.ndarray]) -> onnx.ModelProto:
    """x -> QuantizeLinear -> `core` (reads "xq", writes "yq") -> DequantizeLinear -> y (int8)."""
    q = {"s": np.float32(0.05), "z": np.int8(0)}
    return _model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]), *core,
                   helper.make_node("DequantizeLinear", ["yq", "s", "z"], ["y"])], in_shape, out_shape, q | inits)


def _quantized(costs: dict, missed: list[str]) -> None:
    """The integer path: Quantize/DequantizeLinear per element (their sum measured, split by a
    second DequantizeLinear and an Add), and steps = a*MACs + b*outputs fitted over three shapes of each
    integer product (the b part is the per-output requantization)."""
    from scipy.optimize import nnls

    base = costs["STARTUP"]
    pair = vm_steps(_qdq_model([helper.make_node("Identity", ["xq"], ["yq"])], SHAPE, SHAPE, {}))
    two = vm_steps(_model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
                           helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["a"]),
                           helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["b"]),
                           helper.make_node("Add", ["a", "b"], ["y"])], SHAPE, SHAPE,
                          {"s": np.float32(0.05), "z": np.int8(0)}))
    add = costs["PER_ELEMENT"].get("Add")
    if pair is None or two is None or add is None:
        missed += ["QuantizeLinear", "DequantizeLinear"]
        return
    dq = round((two - pair) / N - add)   # (the converter drops the Identity)
    costs["PER_ELEMENT"]["DequantizeLinear"] = dq
    costs["PER_ELEMENT"]["QuantizeLinear"] = round((pair - base) / N - dq)
    w8 = {"w": np.int8(3), "ws": np.float32(0.01), "wz": np.int8(0)}
    for op, shapes in (("QLinearMatMul", [(4, 256, 64), (64, 8, 64), (16, 64, 32)]),
                       ("QLinearConv", [(16, 16, 3), (1, 16, 5), (32, 8, 1)])):
        rows, steps = [], []
        for a, b, c in shapes:
            if op == "QLinearMatMul":   # (m, k, n)
                core = helper.make_node(op, ["xq", "s", "z", "w", "ws", "wz", "s", "z"], ["yq"])
                model = _qdq_model([core], (a, b), (a, c), {**w8, "w": np.full((b, c), 3, np.int8)})
                ins, macs, outs = a * b, a * b * c, a * c
            else:                       # (in channels, size, kernel), 16 out channels, same padding
                p = c // 2
                core = helper.make_node(op, ["xq", "s", "z", "w", "ws", "wz", "s", "z"], ["yq"], pads=[p] * 4)
                model = _qdq_model([core], (1, a, b, b), (1, 16, b, b), {**w8, "w": np.full((16, a, c, c), 3, np.int8)})
                ins, macs, outs = a * b * b, 16 * b * b * a * c * c, 16 * b * b
            measured = vm_steps(model)
            if measured is None:
                continue
            rows.append([macs, outs])
            steps.append(measured - base - ins * costs["PER_ELEMENT"]["QuantizeLinear"] - outs * dq)
        if len(rows) < 2:
            missed.append(op)
            continue
        (mac, out), _ = nnls(np.array(rows, float), np.array(steps, float))
        names = ("QLinearMatMul", "QGemm", "MatMulInteger") if op == "QLinearMatMul" else ("QLinearConv", "ConvInteger")
        for name in names:
            costs["PER_MAC"][name] = round(mac)
            costs["PER_ELEMENT"][name] = round(out)


def write_costs(costs: dict[str, object], path: Path) -> None:
    from minidnn.image import runtime_elf

    digest = hashlib.sha256(runtime_elf().read_bytes()).hexdigest()
    lines = ['"""VM step costs of minidnn\'s kernels, written by `python -m converter.calibrate` (do not edit by hand).',
             "", "Calibrated on runtime.elf in the VM (fast runner). Ops in NOT_MEASURED kept earlier values.", '"""', ""]
    for key in ("STARTUP", "PER_MAC", "PER_ELEMENT", "PER_WINDOW_ELEMENT", "CONV_TRANSPOSE_COLUMN"):
        value = costs[key]
        if isinstance(value, dict):
            items = textwrap.wrap(", ".join(f"{k!r}: {v}" for k, v in value.items()), 96)
            lines += [f"{key} = {{", *[f"    {line}" for line in items], "}"]
        else:
            lines.append(f"{key} = {value}")
    lines.append(f"RUNTIME_SHA256 = {digest!r}")
    lines.append(f"NOT_MEASURED = {costs['NOT_MEASURED']!r}")
    path.write_text("\n".join(lines) + "\n")


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path(step_costs.__file__), show_default=True)
def main(out: Path) -> None:
    """Measure the kernels in the VM and rewrite the step-cost table."""
    costs = calibrate()
    write_costs(costs, out)
    click.echo(f"wrote {out}; not measured: {', '.join(costs['NOT_MEASURED']) or 'none'}")


if __name__ == "__main__":
    main()
