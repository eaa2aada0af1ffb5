"""Per-op canonicalisation: ONNX nodes of any opset 7.. -> canonical nodes with explicit attributes.

Canonical forms (what the .mdnn writer sees):
  Gemm(A, B[, C]) transA, transB [alpha, beta]   constant C broadcast to (N,) or (M, N)
  MatMul(A, B)                            2-D x 2-D (N-D A with 2-D B via Reshape)
  Conv(X, W[, B]) pads[4] strides[2] dilations[2] group           (1-D conv via Reshape)
  ConvTranspose(X, W[, B]) pads[4] strides[2] dilations[2] group output_padding[2]
  MaxPool / AveragePool(X) kernel[2] pads[4] strides[2] dilations[2] (count_include_pad)
  GlobalAveragePool(X); BatchNormalization(X, scale, B, mean, var) epsilon
  Relu, Sigmoid, Tanh, Erf; LeakyRelu alpha; Clip min max; Gelu approximate
  Add/Sub/Mul/Div(A, B) numpy broadcasting
  Softmax/LogSoftmax axis (>= 0, 13+ semantics); LayerNormalization(X, scale[, B]) axis epsilon
  Reshape(X) shape; Transpose perm; Concat axis; Gather(X, indices) axis (indices: constant int, made non-negative); Resize(X) scales coordinate_transformation_mode nearest_mode (nearest)
  Slice(X) starts[r] steps[r] (all axes, resolved and in range; Split becomes Slices)
  Expand(X) (to the stored output shape; Tile becomes Reshape, Expand, Reshape)
  Where(C, A, B); Equal/Less/Greater/LessOrEqual/GreaterOrEqual/And/Or/Xor(A, B) (1.0 / 0.0); Not(X);
  PRelu(X, slope); Max/Min(A, B); Abs, Floor, Ceil; ArgMax/ArgMin(X) axis select_last_index
  Sqrt, Exp, Log, Reciprocal, Softplus, Sin, Cos; Elu alpha; Pow(X) exponent (constant: +-0.5 or |integer| <= 16)
  ReduceSum/ReduceMean/ReduceMax(X) axes (non-negative; keepdims only changes the stored shape)
  Cast(X) to ('float' | 'int' | 'bool'); every run-time tensor is float32 (integers and booleans
  as float32 values), except an integer model input (int32, read by Gather or a Cast)
  Identity (removed by the passes)
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto
from onnx import helper as onnx_helper

from converter.errors import (
    ConversionError,
    DtypeError,
    DynamicShapeError,
    UnsupportedOpError,
    combined_error,
)
from converter.graph import Graph, Node
from converter.op_helpers import (  # noqa: F401  (re-exported: the handler registry and helpers)
    HANDLERS,
    Handler,
    axis_of,
    bad_attr,
    canon,
    const,
    float_weight,
    handles,
    only_first_output,
    out_shape,
    require_rank,
    reshape,
    set_const,
    spatial_pads,
    supported_ops,
)

FLOAT32_MAX = float(np.finfo(np.float32).max)


# Ops the converter folds into constants when their inputs are static (never run by minidnn).
FOLDED_ONLY = {"Shape", "Size", "Range", "ConstantOfShape", "Constant", "EyeLike", "NonZero"}


def canonicalize(graph: Graph) -> Graph:
    """Replace every node by its canonical form(s).

    Every node is tried: one unsupported op or attribute raises its own error; several raise
    one UnsupportedOpsError listing them all, grouped, with counts.
    """
    out: list[Node] = []
    errors: list[ConversionError] = []
    for node in graph.nodes:
        try:
            out.extend(_canonical(graph, node))
        except (UnsupportedOpError, DtypeError, DynamicShapeError) as exc:
            errors.append(exc)
    if errors:
        raise combined_error(errors, supported_ops())
    graph.nodes = out
    return graph


def _canonical(graph: Graph, node: Node) -> list[Node]:
    if node.domain == "ai.onnx.ml" and f"ai.onnx.ml.{node.op}" in HANDLERS:
        return HANDLERS[f"ai.onnx.ml.{node.op}"](graph, node)
    if node.domain == "com.microsoft" and node.op.startswith("Q"):
        raise UnsupportedOpError(node.name, node.op, "onnxruntime's quantized contrib ops (QuantFormat.QOperator) "
                                 "are not supported: quantize with quant_format=QuantFormat.QDQ (the default)")
    if node.domain not in ("", "ai.onnx"):
        raise UnsupportedOpError(node.name, node.op, f"domain '{node.domain}' is not supported"
                                 + (" (supported ai.onnx.ml ops: Scaler, Normalizer, LinearRegressor, "
                                    "LinearClassifier; ZipMap with --output-name)" if node.domain == "ai.onnx.ml" else ""))
    if node.op in ("If", "Loop", "Scan"):
        raise UnsupportedOpError(node.name, node.op, "control flow (subgraphs) is not supported")
    handler = HANDLERS.get(node.op)
    if handler is None and node.op in FOLDED_ONLY:
        raise UnsupportedOpError(node.name, node.op, "folded into a constant only when its inputs are static; "
                                 "here they are computed at run time (fix the input shape with --input-shape)")
    if handler is None:
        raise UnsupportedOpError(node.name, node.op, "op is not supported by minidnn "
                                 f"(supported: {', '.join(supported_ops())})")
    return handler(graph, node)


# --- helpers -----------------------------------------------------------------------------------


# --- dense -------------------------------------------------------------------------------------


@handles("Gemm")
def gemm(g: Graph, node: Node) -> list[Node]:
    """alpha/beta stay attributes (the kernel applies them as ONNX does); a constant C is broadcast."""
    alpha, beta = float(node.attrs.get("alpha", 1.0)), float(node.attrs.get("beta", 1.0))
    inputs = list(node.inputs[:2])
    attrs: dict[str, object] = {"transA": int(node.attrs.get("transA", 0)), "transB": int(node.attrs.get("transB", 0))}
    if alpha != 1.0:
        attrs["alpha"] = alpha
    for i, what in ((0, "A"), (1, "B")):
        if inputs[i] in g.consts:
            float_weight(g, node, i, what)
        else:
            require_rank(g, node, inputs[i], (2,))
    if len(node.inputs) > 2 and node.inputs[2] and beta != 0.0:
        if node.inputs[2] in g.consts:
            c = np.broadcast_to(float_weight(g, node, 2, "C"), out_shape(g, node))
            bias = c[0] if np.all(c == c[0]) else c
            inputs.append(set_const(g, node.inputs[2] + "_bias", np.ascontiguousarray(bias)))
        else:
            inputs.append(node.inputs[2])
        if beta != 1.0:
            attrs["beta"] = beta
    return [canon(node, "Gemm", inputs, **attrs)]


@handles("MatMul")
def matmul(g: Graph, node: Node) -> list[Node]:
    """numpy matmul; an N-D left operand times a 2-D right one becomes a 2-D MatMul (Gemm-fusable)."""
    a, b = g.shape(node.inputs[0]), g.shape(node.inputs[1])
    for i, what in ((0, "A"), (1, "B")):
        if node.inputs[i] in g.consts:
            float_weight(g, node, i, what)
    if len(b) != 2 or len(a) <= 2:
        return [canon(node, "MatMul")]
    out = out_shape(g, node)
    rows = int(np.prod(a[:-1]))
    flat = reshape(g, node, node.inputs[0], (rows, a[-1]), "rows")
    mm_out = g.fresh(node.outputs[0] + "_2d")
    g.shapes[mm_out] = (rows, b[1])
    mm = canon(node, "MatMul", [flat.outputs[0], node.inputs[1]], [mm_out])
    return [flat, mm, reshape(g, node, mm_out, out, "unflatten", node.outputs[0])]


# --- convolution and pooling -------------------------------------------------------------------


def _conv_common(g: Graph, node: Node, transpose: bool) -> tuple[tuple[int, ...], dict[str, object]]:
    x = require_rank(g, node, node.inputs[0], (3, 4))
    w = float_weight(g, node, 1, "W")
    if w is None:
        raise bad_attr(node, "missing weight input")
    n = len(x) - 2
    kernel = tuple(node.attrs.get("kernel_shape", w.shape[2:]))
    strides = tuple(node.attrs.get("strides", [1] * n))
    dilations = tuple(node.attrs.get("dilations", [1] * n))
    attrs: dict[str, object] = {"strides": strides, "dilations": dilations, "group": int(node.attrs.get("group", 1))}
    if tuple(w.shape[2:]) != kernel:
        raise bad_attr(node, f"kernel_shape {list(kernel)} differs from the weight's {list(w.shape[2:])}")
    if transpose:
        attrs.update(_conv_transpose_pads(g, node, x[2:], kernel, strides, dilations))
    else:
        attrs["pads"] = tuple(spatial_pads(node, x[2:], kernel, strides, dilations))
    return x, attrs


def _conv_transpose_pads(g: Graph, node: Node, in_hw: tuple[int, ...], kernel: tuple[int, ...],
                         strides: tuple[int, ...], dilations: tuple[int, ...]) -> dict[str, object]:
    n = len(in_hw)
    out_pad = list(node.attrs.get("output_padding", [0] * n))
    auto = node.attrs.get("auto_pad", "NOTSET")
    if "output_shape" in node.attrs or auto in ("SAME_UPPER", "SAME_LOWER"):
        target = list(node.attrs["output_shape"])[-n:] if "output_shape" in node.attrs \
            else [i * s for i, s in zip(in_hw, strides, strict=True)]
        begin, end = [], []
        for i in range(n):
            total = strides[i] * (in_hw[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1 - target[i]
            small, large = total // 2, total - total // 2
            upper = auto == "SAME_UPPER"
            begin.append(small if upper else large)
            end.append(large if upper else small)
        for i in range(n):  # a target larger than the natural size: extra rows/columns at the end
            if begin[i] + end[i] < 0:
                out_pad[i] += -(begin[i] + end[i])
                begin[i] = end[i] = 0
        pads = begin + end
    elif auto == "VALID":
        pads = [0] * 2 * n
    elif auto in ("NOTSET", ""):
        pads = list(node.attrs.get("pads", [0] * 2 * n))
    else:
        raise bad_attr(node, f"auto_pad '{auto}'")
    if any(p < 0 for p in pads):
        raise bad_attr(node, f"negative padding {pads}")
    return {"pads": tuple(pads), "output_padding": tuple(out_pad)}


def _as_2d(g: Graph, node: Node, op: str, x: tuple[int, ...], attrs: dict[str, object],
           weight_axis_insert: bool) -> list[Node]:
    """Run a 1-D conv/pool as 2-D with H=1: reshape in, weight and out."""
    if len(x) == 4:
        return [canon(node, op, **attrs)]
    attrs2 = {k: _lift(k, v) for k, v in attrs.items()}
    inputs = list(node.inputs)
    pre = reshape(g, node, inputs[0], (x[0], x[1], 1, x[2]), "as2d")
    inputs[0] = pre.outputs[0]
    if weight_axis_insert:
        w = g.consts[inputs[1]]
        inputs[1] = set_const(g, inputs[1] + "_2d", w.reshape(w.shape[0], w.shape[1], 1, w.shape[2]))
    out = out_shape(g, node)
    mid = g.fresh(node.outputs[0] + "_2d")
    g.shapes[mid] = (out[0], out[1], 1, out[2])
    core = canon(node, op, inputs, [mid], **attrs2)
    return [pre, core, reshape(g, node, mid, out, "as1d", node.outputs[0])]


def _lift(key: str, value: object) -> object:
    if key in ("strides", "dilations", "kernel"):
        return (1, *value)
    if key == "output_padding":
        return (0, *value)
    if key == "pads":
        return (0, value[0], 0, value[1])
    return value


@handles("Conv")
def conv(g: Graph, node: Node) -> list[Node]:
    x, attrs = _conv_common(g, node, transpose=False)
    float_weight(g, node, 2, "B")
    return _as_2d(g, node, "Conv", x, attrs, weight_axis_insert=True)


@handles("ConvTranspose")
def conv_transpose(g: Graph, node: Node) -> list[Node]:
    x, attrs = _conv_common(g, node, transpose=True)
    float_weight(g, node, 2, "B")
    return _as_2d(g, node, "ConvTranspose", x, attrs, weight_axis_insert=True)


@handles("MaxPool", "AveragePool")
def pool(g: Graph, node: Node) -> list[Node]:
    only_first_output(node, g)
    x = require_rank(g, node, node.inputs[0], (3, 4))
    n = len(x) - 2
    kernel = tuple(node.attrs["kernel_shape"])
    strides = tuple(node.attrs.get("strides", [1] * n))
    dilations = tuple(node.attrs.get("dilations", [1] * n))
    if node.op == "AveragePool" and any(d != 1 for d in dilations):
        raise bad_attr(node, f"dilations {list(dilations)} for AveragePool")
    pads = spatial_pads(node, x[2:], kernel, strides, dilations)
    out = out_shape(g, node)
    include = int(node.attrs.get("count_include_pad", 0))
    for i in range(n):
        if node.attrs.get("ceil_mode", 0) and (out[2 + i] - 1) * strides[i] >= x[2 + i] + pads[i]:
            raise bad_attr(node, "ceil_mode=1 where the last window starts past the input: onnx shape inference "
                           "and onnxruntime disagree on the output size")
    for i in range(n):  # ceil_mode: extend the end padding so that the floor rule gives `out`
        extra = (out[2 + i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - (x[2 + i] + pads[i] + pads[n + i])
        if extra > 0:
            if node.op == "AveragePool" and include:
                raise bad_attr(node, "ceil_mode=1 with count_include_pad=1")
            pads[n + i] += extra
    attrs: dict[str, object] = {"kernel": kernel, "pads": tuple(pads), "strides": strides}
    if node.op == "MaxPool":
        attrs["dilations"] = dilations
    else:
        attrs["count_include_pad"] = include
    return _as_2d(g, node, node.op, x, attrs, weight_axis_insert=False)


@handles("GlobalAveragePool", "GlobalMaxPool")
def global_pool(g: Graph, node: Node) -> list[Node]:
    x = require_rank(g, node, node.inputs[0], (3, 4))
    if node.op == "GlobalAveragePool" and len(x) == 4:
        return [canon(node, "GlobalAveragePool")]
    if node.op == "GlobalAveragePool":
        return _as_2d(g, node, "GlobalAveragePool", x, {}, weight_axis_insert=False)
    kernel = tuple(x[2:])
    attrs = {"kernel": kernel, "pads": (0,) * 2 * len(kernel), "strides": (1,) * len(kernel),
             "dilations": (1,) * len(kernel)}
    return _as_2d(g, node, "MaxPool", x, attrs, weight_axis_insert=False)


# --- normalisation -----------------------------------------------------------------------------


@handles("BatchNormalization")
def batch_norm(g: Graph, node: Node) -> list[Node]:
    if node.attrs.get("spatial", 1) != 1:
        raise bad_attr(node, "spatial=0")
    if node.attrs.get("training_mode", 0) != 0:
        raise bad_attr(node, "training_mode=1 (export the model in eval mode)")
    only_first_output(node, g)
    require_rank(g, node, node.inputs[0], (2, 3, 4))
    for i, what in enumerate(("scale", "B", "mean", "var"), start=1):
        if float_weight(g, node, i, what) is None:
            raise bad_attr(node, f"missing input '{what}'")
    return [canon(node, "BatchNormalization", epsilon=float(node.attrs.get("epsilon", 1e-5)))]


@handles("LayerNormalization")
def layer_norm(g: Graph, node: Node) -> list[Node]:
    only_first_output(node, g)
    rank = len(g.shape(node.inputs[0]))
    if float_weight(g, node, 1, "scale") is None:
        raise bad_attr(node, "missing scale")
    float_weight(g, node, 2, "B")
    return [canon(node, "LayerNormalization", axis=axis_of(node, int(node.attrs.get("axis", -1)), rank),
                  epsilon=float(node.attrs.get("epsilon", 1e-5)))]


@handles("Softmax", "LogSoftmax")
def softmax(g: Graph, node: Node) -> list[Node]:
    x = g.shape(node.inputs[0])
    rank = len(x)
    legacy = g.opset < 13
    axis = axis_of(node, int(node.attrs.get("axis", 1 if legacy else -1)), rank)
    if not legacy or axis == rank - 1:
        return [canon(node, node.op, axis=axis)]
    # opsets < 13: softmax over the flattened trailing block [axis:], as a 2-D tensor
    rows, cols = int(np.prod(x[:axis])), int(np.prod(x[axis:]))
    flat = reshape(g, node, node.inputs[0], (rows, cols), "coerce2d")
    mid = g.fresh(node.outputs[0] + "_2d")
    g.shapes[mid] = (rows, cols)
    core = canon(node, node.op, flat.outputs, [mid], axis=1)
    return [flat, core, reshape(g, node, mid, x, "uncoerce", node.outputs[0])]


# --- elementwise -------------------------------------------------------------------------------


@handles("Relu", "Sigmoid", "Tanh", "Erf")
def unary(g: Graph, node: Node) -> list[Node]:
    return [canon(node, node.op)]


@handles("LeakyRelu")
def leaky_relu(g: Graph, node: Node) -> list[Node]:
    return [canon(node, "LeakyRelu", alpha=float(node.attrs.get("alpha", 0.01)))]


@handles("Gelu")
def gelu(g: Graph, node: Node) -> list[Node]:
    approx = node.attrs.get("approximate", "none")
    if approx not in ("none", "tanh"):
        raise bad_attr(node, f"approximate='{approx}'")
    return [canon(node, "Gelu", approximate=approx)]


@handles("Clip")
def clip(g: Graph, node: Node) -> list[Node]:
    if g.opset < 11:
        lo, hi = float(node.attrs.get("min", -FLOAT32_MAX)), float(node.attrs.get("max", FLOAT32_MAX))
    else:
        lo_v, hi_v = float_weight(g, node, 1, "min"), float_weight(g, node, 2, "max")
        lo = float(lo_v) if lo_v is not None else -np.inf
        hi = float(hi_v) if hi_v is not None else np.inf
    return [canon(node, "Clip", node.inputs[:1], min=lo, max=hi)]


@handles("Add", "Sub", "Mul", "Div")
def binary(g: Graph, node: Node) -> list[Node]:
    """Float arithmetic (integer operands run as float32: exact below 2^24, except Div)."""
    if node.attrs.get("broadcast") is not None and node.attrs.get("axis") is not None:
        raise bad_attr(node, "legacy broadcast with axis (opset < 7)")
    if node.op == "Div" and not all(g.is_float(i) for i in node.inputs[:2]):
        raise DtypeError(f"node '{node.name}' (Div): integer division at run time (minidnn computes in float32)")
    for i in (0, 1):
        if node.inputs[i] in g.consts and g.consts[node.inputs[i]].dtype.kind == "f":
            float_weight(g, node, i, "operand")
    return [canon(node, node.op)]


@handles("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor")
def compare(g: Graph, node: Node) -> list[Node]:
    """Comparisons write 1.0 / 0.0 (the runtime's booleans)."""
    return [canon(node, node.op)]


@handles("Where")
def where(g: Graph, node: Node) -> list[Node]:
    return [canon(node, "Where")]


@handles("Not")
def logical_not(g: Graph, node: Node) -> list[Node]:
    return [canon(node, "Not")]


@handles("Sqrt", "Exp", "Log", "Reciprocal", "Softplus", "Sin", "Cos", "Abs", "Floor", "Ceil")
def unary_math(g: Graph, node: Node) -> list[Node]:
    return [canon(node, node.op)]


@handles("Elu")
def elu(g: Graph, node: Node) -> list[Node]:
    return [canon(node, "Elu", alpha=float(node.attrs.get("alpha", 1.0)))]


@handles("PRelu")
def prelu(g: Graph, node: Node) -> list[Node]:
    """The slope broadcasts to X (opset 7+); a legacy per-channel slope of shape (C,) is reshaped."""
    x, slope = g.shape(node.inputs[0]), g.shape(node.inputs[1])
    inputs = list(node.inputs[:2])
    if node.inputs[1] in g.consts:
        float_weight(g, node, 1, "slope")
        value = g.consts[node.inputs[1]]
        if len(slope) == 1 and len(x) > 2 and slope[0] == x[1] and slope[0] != x[-1]:
            value = value.reshape(-1, *([1] * (len(x) - 2)))
            inputs[1] = set_const(g, node.inputs[1] + "_channels", value)
        if tuple(np.broadcast_shapes(value.shape, x)) != tuple(x):
            raise bad_attr(node, f"slope of shape {list(value.shape)} does not broadcast to {list(x)}")
    elif tuple(np.broadcast_shapes(slope, x)) != tuple(x):
        raise bad_attr(node, f"slope of shape {list(slope)} does not broadcast to {list(x)}")
    return [canon(node, "PRelu", inputs)]


POW_EXPONENTS = "0.5, -0.5 or an integer in [-16, 16]"


@handles("Pow")
def pow_op(g: Graph, node: Node) -> list[Node]:
    """x ** e for a constant exponent tensor whose every value is 0.5, -0.5 or an integer |e| <= 16."""
    e = const(g, node, 1, "exponent")
    if e is None:
        raise bad_attr(node, "missing exponent")
    values = e.astype(np.float64).ravel()
    ok = (np.abs(values) == 0.5) | ((values == np.round(values)) & (np.abs(values) <= 16))
    if not ok.all():
        raise bad_attr(node, f"exponent {float(values[~ok][0]):g}; supported: {POW_EXPONENTS}")
    if not g.is_float(node.inputs[0]):
        raise DtypeError(f"node '{node.name}' (Pow): integer base (minidnn computes in float32)")
    if np.all(values == 1.0) and out_shape(g, node) == g.shape(node.inputs[0]):
        return [canon(node, "Identity", node.inputs[:1])]
    exponent = e.astype(np.float32) if e.dtype != np.float32 else e
    name = node.inputs[1] if exponent is e else set_const(g, node.inputs[1] + "_f32", exponent)
    return [canon(node, "Pow", [node.inputs[0], name])]


# --- shape and data movement -------------------------------------------------------------------


@handles("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def reshape_like(g: Graph, node: Node) -> list[Node]:
    """All pure reshapes become Reshape to the statically known output shape."""
    out = out_shape(g, node)
    if int(np.prod(out)) != int(np.prod(g.shape(node.inputs[0]))):
        raise bad_attr(node, f"reshape {list(g.shape(node.inputs[0]))} -> {list(out)} changes the element count")
    return [Node(node.name, "Reshape", node.inputs[:1], node.outputs[:1], {"shape": out}, node.source)]


@handles("Transpose")
def transpose(g: Graph, node: Node) -> list[Node]:
    rank = len(g.shape(node.inputs[0]))
    perm = tuple(int(p) for p in node.attrs.get("perm", range(rank - 1, -1, -1)))
    if sorted(perm) != list(range(rank)):
        raise bad_attr(node, f"perm {list(perm)} is not a permutation of rank {rank}")
    return [canon(node, "Transpose", perm=perm)]


@handles("Concat")
def concat(g: Graph, node: Node) -> list[Node]:
    rank = len(out_shape(g, node))
    for i, name in enumerate(node.inputs):
        if name in g.consts and g.consts[name].dtype.kind == "f":
            float_weight(g, node, i, "operand")
    return [canon(node, "Concat", axis=axis_of(node, int(node.attrs.get("axis", 0)), rank))]


def _slice_params(g: Graph, node: Node) -> tuple[list[int], list[int]]:
    """(starts, steps) over every axis from ONNX starts/ends/axes/steps (attributes before opset 10)."""
    x = g.shape(node.inputs[0])
    if g.opset < 10:
        starts, ends = list(node.attrs["starts"]), list(node.attrs["ends"])
        axes, steps = list(node.attrs.get("axes", range(len(starts)))), [1] * len(starts)
    else:
        starts = const(g, node, 1, "starts").tolist()
        ends = const(g, node, 2, "ends").tolist()
        axes_v, steps_v = const(g, node, 3, "axes"), const(g, node, 4, "steps")
        axes = axes_v.tolist() if axes_v is not None else list(range(len(starts)))
        steps = steps_v.tolist() if steps_v is not None else [1] * len(starts)
    first, step = [0] * len(x), [1] * len(x)
    for start, end, axis, st in zip(starts, ends, axes, steps, strict=True):
        axis = axis_of(node, int(axis), len(x))
        if st == 0:
            raise bad_attr(node, "step 0")
        first[axis], step[axis] = _slice_start(int(start), int(st), x[axis]), int(st)
        last = int(end) + x[axis] if int(end) < 0 else int(end)
        last = max(0, min(last, x[axis])) if st > 0 else max(-1, min(last, x[axis] - 1))
        count = max(0, -(-(last - first[axis]) // int(st)))
        if count != out_shape(g, node)[axis]:
            raise bad_attr(node, f"axis {axis}: {count} elements from starts/ends/steps, shape inference says "
                           f"{out_shape(g, node)[axis]}")
    return first, step


def _slice_start(start: int, step: int, dim: int) -> int:
    """ONNX Slice's first index: negative counts from the end, then clamped to [0, dim] (step > 0)
    or [0, dim - 1] (step < 0); unlike Python's slice, a start before the beginning with a negative
    step selects index 0."""
    if start < 0:
        start += dim
    return max(0, min(start, dim if step > 0 else dim - 1))


@handles("Slice")
def slice_op(g: Graph, node: Node) -> list[Node]:
    out = out_shape(g, node)
    if 0 in out:
        raise bad_attr(node, f"empty result {list(out)}")
    starts, steps = _slice_params(g, node)
    if list(out) == list(g.shape(node.inputs[0])) and all(s == 1 for s in steps):
        return [canon(node, "Identity", node.inputs[:1])]
    return [canon(node, "Slice", node.inputs[:1], starts=tuple(starts), steps=tuple(steps))]


@handles("Split")
def split(g: Graph, node: Node) -> list[Node]:
    """One Slice per used output (sizes from the outputs' static shapes)."""
    x = g.shape(node.inputs[0])
    axis = axis_of(node, int(node.attrs.get("axis", 0)), len(x))
    nodes, begin = [], 0
    for i, name in enumerate(node.outputs):
        size = out_shape(g, node, i)[axis]
        if name and size > 0 and (g.consumers(name) or name == g.output):
            starts = [0] * len(x)
            starts[axis] = begin
            nodes.append(Node(f"{node.name}/{i}", "Slice", node.inputs[:1], [name],
                              {"starts": tuple(starts), "steps": (1,) * len(x)}, node.source or node.op))
        begin += size
    return nodes


@handles("Expand")
def expand(g: Graph, node: Node) -> list[Node]:
    out = out_shape(g, node)
    if tuple(out) == tuple(g.shape(node.inputs[0])):
        return [canon(node, "Identity", node.inputs[:1])]
    return [canon(node, "Expand", node.inputs[:1])]


@handles("Tile")
def tile(g: Graph, node: Node) -> list[Node]:
    """Tile as Reshape (a 1 before each repeated axis), Expand (the 1s to the repeats), Reshape."""
    x = g.shape(node.inputs[0])
    reps = const(g, node, 1, "repeats")
    if reps is None:
        raise bad_attr(node, "missing repeats")
    reps_l = [int(r) for r in reps.tolist()]
    if any(r < 1 for r in reps_l):
        raise bad_attr(node, f"repeats {reps_l} (empty result)")
    if all(r == 1 for r in reps_l):
        return [canon(node, "Identity", node.inputs[:1])]
    split_shape, wide = [], []
    for d, r in zip(x, reps_l, strict=True):
        if r > 1:
            split_shape.append(1)
            wide.append(r)
        split_shape.append(d)
        wide.append(d)
    if len(wide) > 6:
        raise bad_attr(node, f"repeats {reps_l} of a rank-{len(x)} tensor need rank {len(wide)} > 6")
    pre = reshape(g, node, node.inputs[0], tuple(split_shape), "tile_split")
    mid = g.fresh(node.outputs[0] + "_tiled")
    g.shapes[mid] = tuple(wide)
    ex = Node(f"{node.name}/expand", "Expand", pre.outputs, [mid], {}, node.source or node.op)
    return [pre, ex, reshape(g, node, mid, out_shape(g, node), "tile_merge", node.outputs[0])]


@handles("Trilu")
def trilu(g: Graph, node: Node) -> list[Node]:
    """Where(constant mask over the last two axes, X, 0): exact, NaN and inf kept where selected."""
    x = g.shape(node.inputs[0])
    if len(x) < 2:
        raise bad_attr(node, f"input of rank {len(x)} (Trilu needs rank >= 2)")
    k_v = const(g, node, 1, "k")
    k = int(k_v.reshape(())) if k_v is not None else 0
    rows, cols = np.arange(x[-2])[:, None], np.arange(x[-1])[None, :]
    keep = (cols - rows >= k) if int(node.attrs.get("upper", 1)) else (cols - rows <= k)
    mask = set_const(g, f"{node.name}/mask", keep.astype(np.float32))
    zero = _scalar(g, node, "zero", 0.0)
    return [canon(node, "Where", [mask, node.inputs[0], zero])]


@handles("Gather")
def gather(g: Graph, node: Node) -> list[Node]:
    """Constant indices are checked here; run-time indices (token ids) by the kernel (error INDEX)."""
    if node.inputs[0] in g.consts:
        float_weight(g, node, 0, "data")
    x = g.shape(node.inputs[0])
    axis = axis_of(node, int(node.attrs.get("axis", 0)), len(x))
    if node.inputs[1] not in g.consts:
        if g.is_float(node.inputs[1]):
            raise bad_attr(node, "float indices")
        return [canon(node, "Gather", node.inputs[:2], axis=axis)]
    indices = g.consts[node.inputs[1]]
    if indices.dtype.kind not in "iu":
        raise bad_attr(node, "indices must be an integer tensor")
    idx = np.where(indices < 0, indices + x[axis], indices)
    if np.any(idx < 0) or np.any(idx >= x[axis]):
        raise bad_attr(node, f"indices out of range for axis {axis} of size {x[axis]}")
    idx_name = node.inputs[1] if np.array_equal(idx, indices) else set_const(g, node.inputs[1] + "_pos", idx)
    return [canon(node, "Gather", [node.inputs[0], idx_name], axis=axis)]


@handles("Upsample", "Resize")
def resize(g: Graph, node: Node) -> list[Node]:
    mode = node.attrs.get("mode", "nearest")
    if mode != "nearest":
        raise bad_attr(node, f"mode='{mode}' (only nearest is supported)")
    x, out = g.shape(node.inputs[0]), out_shape(g, node)
    if len(x) != 4 or x[:2] != out[:2]:
        raise bad_attr(node, f"resize {list(x)} -> {list(out)}; only the spatial dims of a rank-4 tensor")
    scales = _resize_scales(g, node, x, out)
    ctm = node.attrs.get("coordinate_transformation_mode",
                         "asymmetric" if node.op == "Upsample" or g.opset < 11 else "half_pixel")
    nearest = node.attrs.get("nearest_mode",
                             "round_prefer_floor" if node.op == "Resize" and g.opset >= 11 else "floor")
    if node.op == "Resize" and g.opset == 10:
        nearest = "round_prefer_floor"  # Resize-10 rounds like opset 11's default ('asymmetric' coordinates)
    if ctm == "tf_half_pixel_for_nn":  # src = (o + 0.5) / scale: asymmetric on a shifted grid is not
        raise bad_attr(node, f"coordinate_transformation_mode='{ctm}'")
    for axis in (2, 3):
        nearest_map(x[axis], out[axis], scales[axis], ctm, nearest, node)  # validates the modes
    if scales[0] != 1.0 or scales[1] != 1.0:
        raise bad_attr(node, f"scales {scales} resize the batch or channel axis")
    return [canon(node, "Resize", node.inputs[:1], coordinate_transformation_mode=ctm,
                  nearest_mode=nearest, scales=tuple(float(np.float32(s)) for s in scales))]


def _resize_scales(g: Graph, node: Node, x: tuple[int, ...], out: tuple[int, ...]) -> list[float]:
    """Per-axis scales (all axes) from the attribute, the scales input or the output size."""
    if "scales" in node.attrs:
        return [float(s) for s in node.attrs["scales"]]
    index = 1 if node.op == "Upsample" or g.opset < 11 else 2
    given = const(g, node, index, "scales")
    axes = [a % len(x) for a in node.attrs.get("axes", range(len(x)))]
    if given is None or given.size == 0:
        policy = node.attrs.get("keep_aspect_ratio_policy", "stretch")
        sizes = const(g, node, 3, "sizes")
        if policy == "stretch" or sizes is None:
            return [o / i for o, i in zip(out, x, strict=True)]
        if policy not in ("not_larger", "not_smaller"):
            raise bad_attr(node, f"keep_aspect_ratio_policy='{policy}'")
        ratios = [int(sz) / x[a] for a, sz in zip(axes, sizes.tolist(), strict=True)]
        ratio = min(ratios) if policy == "not_larger" else max(ratios)
        return [ratio if a in axes else 1.0 for a in range(len(x))]
    full = [1.0] * len(x)
    for axis, scale in zip(axes, given.tolist(), strict=True):
        full[axis] = float(scale)
    return full


def nearest_map(size: int, out: int, scale: float, ctm: str, mode: str, node: Node) -> np.ndarray:
    """Source index for each output index, ONNX Resize rules (nearest)."""
    o = np.arange(out, dtype=np.float64)
    if ctm == "asymmetric":
        src = o / scale
    elif ctm == "half_pixel":
        src = (o + 0.5) / scale - 0.5
    elif ctm == "pytorch_half_pixel":
        src = (o + 0.5) / scale - 0.5 if out > 1 else np.zeros_like(o)
    elif ctm == "align_corners":
        src = o * (size - 1) / (out - 1) if out > 1 else np.zeros_like(o)
    else:
        raise bad_attr(node, f"coordinate_transformation_mode='{ctm}'")
    rounding = {"floor": np.floor, "ceil": np.ceil,
                "round_prefer_floor": lambda v: np.where(v - np.floor(v) == 0.5, np.floor(v), np.round(v)),
                "round_prefer_ceil": lambda v: np.where(v - np.floor(v) == 0.5, np.ceil(v), np.round(v))}
    if mode not in rounding:
        raise bad_attr(node, f"nearest_mode='{mode}'")
    return np.clip(rounding[mode](src), 0, size - 1).astype(np.int64)


@handles("Identity", "Dropout")
def identity(g: Graph, node: Node) -> list[Node]:
    if node.op == "Dropout":
        only_first_output(node, g)
        if len(node.inputs) > 2 and node.inputs[2] and node.inputs[2] in g.consts and bool(g.consts[node.inputs[2]]):
            raise bad_attr(node, "training_mode=true")
    return [canon(node, "Identity", node.inputs[:1])]


CAST_INT_TYPES = {TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
                  TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64}


@handles("Cast", "CastLike")
def cast(g: Graph, node: Node) -> list[Node]:
    """To float32, an integer type or bool; the result is a float32 value at run time."""
    if node.op == "CastLike":
        like = node.inputs[1]
        to = g.elem_types.get(like, TensorProto.FLOAT) if like not in g.consts else \
            int(onnx_helper.np_dtype_to_tensor_dtype(g.consts[like].dtype))
    else:
        to = int(node.attrs.get("to", TensorProto.FLOAT))
    src = node.inputs[0]
    source_float = g.is_float(src)
    if to == TensorProto.FLOAT:
        if source_float or src != g.input:
            return [canon(node, "Identity", node.inputs[:1])]  # already a float32 value
        return [canon(node, "Cast", node.inputs[:1], to="float")]
    if to in CAST_INT_TYPES:
        if not source_float and src != g.input:
            return [canon(node, "Identity", node.inputs[:1])]
        if to in (TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64, TensorProto.INT8,
                  TensorProto.INT16) and source_float:
            raise DtypeError(f"node '{node.name}' (Cast): casts float to {TensorProto.DataType.Name(to)} "
                             "(wrapping narrow types are not supported; int32/int64 are)")
        return [canon(node, "Cast", node.inputs[:1], to="int")]
    if to == TensorProto.BOOL:
        return [canon(node, "Cast", node.inputs[:1], to="bool")]
    raise DtypeError(f"node '{node.name}' (Cast): casts to {TensorProto.DataType.Name(to)}; "
                     "minidnn computes in float32 only")


# --- decompositions into supported ops -----------------------------------------------------------


def _scalar(g: Graph, node: Node, tag: str, value: float) -> str:
    return set_const(g, f"{node.name}/{tag}", np.array(value, dtype=np.float32))


def _mid(g: Graph, node: Node, tag: str) -> str:
    name = g.fresh(f"{node.outputs[0]}_{tag}")
    g.shapes[name] = out_shape(g, node)
    return name


@handles("Neg")
def neg(g: Graph, node: Node) -> list[Node]:
    """-x as x * -1 (exact)."""
    return [canon(node, "Mul", [node.inputs[0], _scalar(g, node, "minus_one", -1.0)])]


@handles("Sum", "Max", "Min")
def sum_op(g: Graph, node: Node) -> list[Node]:
    """Sum (Max, Min) of n inputs as a left-to-right chain of Adds (Maxs, Mins); ONNX fixes no order,
    this is numpy's."""
    for i, name in enumerate(node.inputs):
        if name in g.consts:
            float_weight(g, node, i, "operand")
    if len(node.inputs) == 1:
        return [canon(node, "Identity")]
    acc, out = node.inputs[0], []
    for i, name in enumerate(node.inputs[1:], start=1):
        last = i == len(node.inputs) - 1
        dst = node.outputs[0] if last else g.fresh(f"{node.outputs[0]}_partial{i}")
        if not last:
            g.shapes[dst] = tuple(np.broadcast_shapes(g.shape(acc), g.shape(name)))
        op = "Add" if node.op == "Sum" else node.op
        out.append(Node(f"{node.name}/{op.lower()}{i}", op, [acc, name], [dst], {}, node.source))
        acc = dst
    return out


@handles("HardSigmoid", "HardSwish")
def hard_sigmoid(g: Graph, node: Node) -> list[Node]:
    """max(0, min(1, alpha*x + beta)) as Mul, Add, Clip (HardSwish: then times x)."""
    alpha = float(node.attrs.get("alpha", 0.2 if node.op == "HardSigmoid" else 1 / 6))
    beta = float(node.attrs.get("beta", 0.5))
    scaled, shifted = _mid(g, node, "scaled"), _mid(g, node, "shifted")
    clipped = node.outputs[0] if node.op == "HardSigmoid" else _mid(g, node, "gate")
    nodes = [
        Node(f"{node.name}/scale", "Mul", [node.inputs[0], _scalar(g, node, "alpha", alpha)], [scaled], {}, node.op),
        Node(f"{node.name}/shift", "Add", [scaled, _scalar(g, node, "beta", beta)], [shifted], {}, node.op),
        Node(f"{node.name}/clip", "Clip", [shifted], [clipped], {"min": 0.0, "max": 1.0}, node.op),
    ]
    if node.op == "HardSwish":
        nodes.append(Node(f"{node.name}/gate", "Mul", [node.inputs[0], clipped], node.outputs[:1], {}, node.op))
    return nodes


@handles("ArgMax", "ArgMin")
def arg_extreme(g: Graph, node: Node) -> list[Node]:
    """Index of the first (or last) extreme along an axis, as a float32 integer value."""
    x = g.shape(node.inputs[0])
    if not x:
        raise bad_attr(node, "a scalar input")
    return [canon(node, node.op, node.inputs[:1], axis=axis_of(node, int(node.attrs.get("axis", 0)), len(x)),
                  select_last_index=int(node.attrs.get("select_last_index", 0)))]


@handles("ReduceMean", "ReduceSum", "ReduceMax")
def reduce(g: Graph, node: Node) -> list[Node]:
    """Reductions over any axes (attribute or input; none = all unless noop_with_empty_axes).

    The spatial mean of NCHW stays a GlobalAveragePool (same order of summation and division).
    """
    x = g.shape(node.inputs[0])
    axes = node.attrs.get("axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1]:
        axes = const(g, node, 1, "axes").tolist()
    if not axes:
        if node.attrs.get("noop_with_empty_axes", 0):
            return [canon(node, "Identity", node.inputs[:1])]
        axes = list(range(len(x)))
    if len(x) == 0:
        return [canon(node, "Identity", node.inputs[:1])]
    norm = sorted({axis_of(node, int(a), len(x)) for a in axes})
    if len(norm) != len(axes):
        raise bad_attr(node, f"repeated axes {list(axes)}")
    if not g.is_float(node.inputs[0]):
        raise DtypeError(f"node '{node.name}' ({node.op}): reduces an integer tensor (minidnn computes in float32)")
    if node.op != "ReduceMean" or len(x) != 4 or norm != [2, 3]:
        return [canon(node, node.op, node.inputs[:1], axes=tuple(norm))]
    if node.attrs.get("keepdims", 1):
        return [canon(node, "GlobalAveragePool", node.inputs[:1])]
    pooled = g.fresh(node.outputs[0] + "_pooled")
    g.shapes[pooled] = (x[0], x[1], 1, 1)
    return [canon(node, "GlobalAveragePool", node.inputs[:1], [pooled]),
            reshape(g, node, pooled, out_shape(g, node), "squeeze", node.outputs[0])]


@handles("Pad")
def pad(g: Graph, node: Node) -> list[Node]:
    """Constant zero padding of H and W: kept as a Pad node for the passes to merge into a Conv."""
    mode = node.attrs.get("mode", "constant")
    pads = node.attrs.get("pads")
    if pads is None:
        pads = const(g, node, 1, "pads").tolist()
    value = node.attrs.get("value", 0.0)
    if len(node.inputs) > 2 and node.inputs[2]:
        value = float(const(g, node, 2, "constant_value"))
    if len(node.inputs) > 3 and node.inputs[3]:
        raise bad_attr(node, "the axes input")
    x = g.shape(node.inputs[0])
    rank = len(x)
    if mode != "constant" or value != 0.0 or rank != 4 or any(pads[i] or pads[rank + i] for i in (0, 1)) \
            or any(p < 0 for p in pads):
        raise bad_attr(node, f"mode='{mode}', value {value}, pads {list(pads)}: only zero padding of the "
                       "spatial dims of a rank-4 tensor, merged into the following Conv")
    return [canon(node, "Pad", node.inputs[:1], pads=(pads[2], pads[3], pads[6], pads[7]))]



# --- Einsum (as Transpose / ReduceSum / Reshape / MatMul) ------------------------------------------


def _einsum_terms(node: Node, n_inputs: int) -> tuple[list[str], str]:
    eq = str(node.attrs.get("equation", "")).replace(" ", "")
    if "..." in eq:
        raise bad_attr(node, f"equation '{eq}' with an ellipsis")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if not arrow:  # implicit output: the letters that appear once, sorted
        letters = "".join(terms)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(terms) != n_inputs or not all(t.isalpha() for t in terms) or (out and not out.isalpha()):
        raise bad_attr(node, f"equation '{eq}' for {n_inputs} operands")
    if any(len(set(t)) != len(t) for t in [*terms, out]):
        raise bad_attr(node, f"equation '{eq}' repeats a letter within one term (diagonals)")
    return terms, out


def _permute(g: Graph, node: Node, src: str, term: str, order: str, tag: str) -> tuple[list[Node], str]:
    """Transpose `src` (letters `term`) into `order` (no node if already so)."""
    if term == order:
        return [], src
    perm = tuple(term.index(c) for c in order)
    dst = g.fresh(f"{node.outputs[0]}_{tag}")
    g.shapes[dst] = tuple(g.shape(src)[p] for p in perm)
    return [Node(f"{node.name}/{tag}", "Transpose", [src], [dst], {"perm": perm}, node.source or node.op)], dst


def _sum_out(g: Graph, node: Node, src: str, term: str, keep: str, tag: str) -> tuple[list[Node], str, str]:
    """ReduceSum `src` over its letters not in `keep`."""
    axes = tuple(i for i, c in enumerate(term) if c not in keep)
    if not axes:
        return [], src, term
    dst = g.fresh(f"{node.outputs[0]}_{tag}")
    g.shapes[dst] = tuple(d for i, d in enumerate(g.shape(src)) if i not in axes)
    reduced = "".join(c for c in term if c in keep)
    return [Node(f"{node.name}/{tag}", "ReduceSum", [src], [dst], {"axes": axes}, node.source or node.op)], dst, reduced


def _reshaped(g: Graph, node: Node, src: str, shape: tuple[int, ...], tag: str,
              dst: str | None = None) -> tuple[list[Node], str]:
    if len(shape) > 6:
        raise bad_attr(node, f"an intermediate of rank {len(shape)} > 6")
    if tuple(g.shape(src)) == tuple(shape) and dst is None:
        return [], src
    step = reshape(g, node, src, shape, tag, dst)
    return [step], step.outputs[0]


@handles("Einsum")
def einsum(g: Graph, node: Node) -> list[Node]:
    """One operand: ReduceSum + Transpose. Two: sum out private letters, then a batched MatMul
    (batch letters, then A's free letters x B's free letters, contracting the shared ones)."""
    terms, out = _einsum_terms(node, len(node.inputs))
    if len(terms) == 1:
        nodes, src, term = _sum_out(g, node, node.inputs[0], terms[0], out, "sum")
        more, src = _permute(g, node, src, term, out, "perm")
        return _finish(g, node, nodes + more, src)
    if len(terms) != 2:
        raise bad_attr(node, f"{len(terms)} operands (one or two are supported)")
    (ta, tb), (a, b) = terms, node.inputs[:2]
    size = {c: d for t, name in ((ta, a), (tb, b)) for c, d in zip(t, g.shape(name), strict=True) if d != 1}
    nodes, a, ta = _sum_out(g, node, a, ta, out + tb, "sum_a")
    more, b, tb = _sum_out(g, node, b, tb, out + ta, "sum_b")
    nodes += more
    batch = "".join(c for c in out if c in ta and c in tb)
    m = "".join(c for c in ta if c in out and c not in tb)
    n = "".join(c for c in tb if c in out and c not in ta)
    k = "".join(c for c in ta if c in tb and c not in out)
    dims_a, dims_b = dict(zip(ta, g.shape(a), strict=True)), dict(zip(tb, g.shape(b), strict=True))
    more, a = _permute(g, node, a, ta, batch + m + k, "perm_a")
    nodes += more
    more, b = _permute(g, node, b, tb, batch + k + n, "perm_b")
    nodes += more
    prod = lambda letters: int(np.prod([size.get(c, 1) for c in letters]))  # noqa: E731
    more, a = _reshaped(g, node, a, (*[dims_a[c] for c in batch], prod(m), prod(k)), "rows_a")
    nodes += more
    more, b = _reshaped(g, node, b, (*[dims_b[c] for c in batch], prod(k), prod(n)), "rows_b")
    nodes += more
    mm = g.fresh(node.outputs[0] + "_mm")
    g.shapes[mm] = (*[size.get(c, 1) for c in batch], prod(m), prod(n))
    nodes.append(Node(f"{node.name}/matmul", "MatMul", [a, b], [mm], {}, node.source or node.op))
    full = batch + m + n
    more, src = _reshaped(g, node, mm, tuple(size.get(c, 1) for c in full), "split")
    nodes += more
    more, src = _permute(g, node, src, full, out, "perm_out")
    return _finish(g, node, nodes + more, src)


def _finish(g: Graph, node: Node, nodes: list[Node], src: str) -> list[Node]:
    """Make the last step write the node's output (a Reshape or Identity if it cannot)."""
    final = out_shape(g, node)
    if nodes and nodes[-1].outputs[0] == src and tuple(g.shape(src)) == tuple(final):
        nodes[-1].outputs = [node.outputs[0]]
        return nodes
    if tuple(g.shape(src)) == tuple(final):
        return [*nodes, canon(node, "Identity", [src])]
    return [*nodes, reshape(g, node, src, final, "out", node.outputs[0])]


# registers the ai.onnx.ml and the quantized ops' handlers
from converter import ops_ml, ops_quant  # noqa: E402, F401
