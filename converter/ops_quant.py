"""The integer path: quantized ONNX ops and the QDQ pattern -> minidnn's integer kernels.

Canonical forms (run-time tensors int8 / uint8, int32 for the *Integer ops' sums):
  QuantizeLinear(x, scale[, zp]) axis      DequantizeLinear(x, scale[, zp]) axis
  QLinearMatMul(a, as, az, b, bs, bz, ys, yz)   2-D x 2-D (N-D a via Reshape)
  MatMulInteger(a, b[, az[, bz]])               2-D x 2-D
  QLinearConv(x, xs, xz, w, ws, wz, ys, yz[, B]) pads strides dilations group
  ConvInteger(x, w[, xz[, wz]])                 pads strides dilations group
  QGemm(a, as, az, b, bs, bz, C | "", ys, yz) transA transB   (onnxruntime's fused QDQ Gemm)
Scales are float32 constants, zero points int8 / uint8 constants (the data's type), one per
tensor or one per output channel (weights).

`fold_qdq` rewrites what onnxruntime.quantization.quantize_static writes in its default QDQ
format, DequantizeLinear -> MatMul / Gemm / Conv -> QuantizeLinear, into these integer kernels:
onnxruntime's own graph optimizer fuses the same pattern into QLinearMatMul / QGemm / QLinearConv,
so the integer results are what onnxruntime computes (docs/converter.md, Quantized models).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from converter.errors import DtypeError, UnsupportedOpError, combined_error
from converter.graph import Graph, Node
from converter.op_helpers import (
    bad_attr,
    canon,
    handles,
    out_shape,
    reshape,
    set_const,
    spatial_pads,
    supported_ops,
)

# Canonical ops that read or write integer tensors (their integer constants stay integers).
INTEGER_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearMatMul", "MatMulInteger", "QLinearConv",
               "ConvInteger", "QGemm"}
# Ops that carry an integer tensor's values (the runtime copies or compares the words).
PASS_THROUGH = {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "MaxPool"}
# Float ops that may sit between a DequantizeLinear and a QuantizeLinear of the QDQ format:
# onnxruntime either leaves them in float or drops the Q/DQ pair around them, and both give the
# integers the float op gives (they only select, move or clamp values).
EXACT_BETWEEN_QDQ = {"MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity",
                     "Relu", "Clip", "Slice", "Gather", "Resize"}
FOLDABLE = {"MatMul", "Gemm", "Conv"}
# DequantizeLinear -> op -> QuantizeLinear with the same (positive) scale and zero point is the op
# on the integers: dequantization is increasing and QuantizeLinear(DequantizeLinear(v)) = v (the
# float32 round trip of |v - zp| <= 255 is off by far less than 0.5), so selecting or moving values
# commutes with it (onnxruntime drops such Q/DQ pairs the same way).
INTEGER_BETWEEN_QDQ = {"MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}

ONNX_TO_NUMPY = {TensorProto.INT8: np.int8, TensorProto.UINT8: np.uint8, TensorProto.INT32: np.int32}
# index of the output zero point of each quantizing op (its dtype is the output's)
OUT_ZP = {"QuantizeLinear": 2, "QLinearMatMul": 7, "QLinearConv": 7, "QGemm": 8}


def data_dtype(g: Graph, name: str) -> np.dtype | None:
    """numpy dtype of an int8 / uint8 / int32 tensor (constant or run time), else None."""
    if name in g.consts:
        dt = g.consts[name].dtype
        return dt if dt in (np.int8, np.uint8, np.int32) else None
    t = ONNX_TO_NUMPY.get(g.elem_types.get(name, TensorProto.FLOAT))
    return np.dtype(t) if t is not None else None


def _const(g: Graph, node: Node, index: int, what: str) -> np.ndarray | None:
    if index >= len(node.inputs) or not node.inputs[index]:
        return None
    name = node.inputs[index]
    if name not in g.consts:
        raise bad_attr(node, f"{what} '{name}' must be a constant (it is computed at run time)")
    return g.consts[name]


def _params(g: Graph, node: Node, i_scale: int, i_zp: int, dtype: np.dtype | None, what: str,
            channels: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """The scale and zero point of one operand: float32 scale, zero point of the data's dtype,
    one element or `channels` elements."""
    scale = _const(g, node, i_scale, f"{what} scale")
    zp = _const(g, node, i_zp, f"{what} zero point")
    if scale is None:
        raise bad_attr(node, f"missing {what} scale")
    if scale.dtype != np.float32:
        raise DtypeError(f"node '{node.name}' ({node.source or node.op}): {what} scale is {scale.dtype}; "
                         "minidnn takes float32 scales")
    if scale.ndim > 1 or scale.size not in (1, channels):
        raise bad_attr(node, f"{what} scale of shape {list(scale.shape)}: one per tensor"
                       + (f" or {channels} (one per channel)" if channels > 1 else ""))
    if zp is not None:
        if dtype is not None and zp.dtype != dtype:
            raise DtypeError(f"node '{node.name}' ({node.source or node.op}): {what} zero point is {zp.dtype}, "
                             f"its data {dtype}")
        if zp.shape != scale.shape:
            raise bad_attr(node, f"{what} zero point shape {list(zp.shape)} differs from its scale's "
                           f"{list(scale.shape)}")
    return scale, zp


def _q8(g: Graph, node: Node, name: str, what: str) -> np.dtype:
    dt = data_dtype(g, name)
    if dt not in (np.int8, np.uint8):
        raise DtypeError(f"node '{node.name}' ({node.source or node.op}): {what} '{name}' is "
                         f"{dt if dt is not None else 'float'}; minidnn's integer kernels take int8 or uint8")
    return np.dtype(dt)


def _axis(node: Node, rank: int) -> int:
    axis = int(node.attrs.get("axis", 1))
    if not -rank <= axis < max(rank, 1):
        raise bad_attr(node, f"axis {axis} out of range for rank {rank}")
    return axis % rank if rank else 0


# --- QuantizeLinear / DequantizeLinear ---------------------------------------------------------


def quantize(x: np.ndarray, scale: np.ndarray, zp: np.ndarray | None, axis: int) -> np.ndarray:
    """onnxruntime's QuantizeLinear on float32: saturate(round_half_even(x / scale) + zp)."""
    dtype = zp.dtype if zp is not None else np.dtype(np.uint8)
    shape = [1] * x.ndim
    if scale.size > 1:
        shape[axis] = scale.size
    s = scale.astype(np.float32).reshape(shape)
    z = (zp if zp is not None else np.zeros(1, dtype)).astype(np.int64).reshape(shape if scale.size > 1 else [1] * x.ndim)
    info = np.iinfo(dtype)
    q = np.rint(np.asarray(x, np.float32) / s).astype(np.float64) + z
    return np.clip(np.nan_to_num(q, nan=info.max), info.min, info.max).astype(dtype)


def dequantize(x: np.ndarray, scale: np.ndarray, zp: np.ndarray | None, axis: int) -> np.ndarray:
    """DequantizeLinear: float32(x - zp) * scale, one float32 rounding after the exact difference."""
    shape = [1] * x.ndim
    if scale.size > 1:
        shape[axis] = scale.size
    z = (zp if zp is not None else np.zeros(1, np.int64)).astype(np.int64).reshape(shape if scale.size > 1 else [1] * x.ndim)
    return ((x.astype(np.int64) - z).astype(np.float32) * scale.astype(np.float32).reshape(shape)).astype(np.float32)


@handles("QuantizeLinear")
def quantize_linear(g: Graph, node: Node) -> list[Node]:
    """Per-tensor or per-axis; a constant input is quantized here."""
    if node.attrs.get("block_size", 0) or node.attrs.get("saturate", 1) != 1:
        raise bad_attr(node, "block quantization / saturate=0")
    x = node.inputs[0]
    rank = len(g.shape(x))
    axis = _axis(node, rank)
    zp = _const(g, node, 2, "zero point")
    if zp is not None and zp.dtype not in (np.int8, np.uint8):
        raise DtypeError(f"node '{node.name}' (QuantizeLinear): output type {zp.dtype}; minidnn quantizes to "
                         "int8 or uint8")
    scale, zp = _params(g, node, 1, 2, None, "output", g.shape(x)[axis] if rank else 1)
    if x in g.consts:
        g.consts[node.outputs[0]] = quantize(g.consts[x], scale, zp, axis)
        return []
    if data_dtype(g, x) is not None:
        raise DtypeError(f"node '{node.name}' (QuantizeLinear): input '{x}' is not float32")
    return [canon(node, "QuantizeLinear", list(node.inputs[:3]), axis=axis)]


@handles("DequantizeLinear")
def dequantize_linear(g: Graph, node: Node) -> list[Node]:
    """Per-tensor or per-axis; a constant input (e.g. a weight not folded) is dequantized here."""
    if node.attrs.get("block_size", 0):
        raise bad_attr(node, "block quantization")
    x = node.inputs[0]
    dt = data_dtype(g, x)
    if dt is None:
        raise DtypeError(f"node '{node.name}' (DequantizeLinear): input '{x}' is not int8, uint8 or int32")
    rank = len(g.shape(x))
    axis = _axis(node, rank)
    scale, zp = _params(g, node, 1, 2, dt, "input", g.shape(x)[axis] if rank else 1)
    if x in g.consts:
        g.consts[node.outputs[0]] = dequantize(g.consts[x], scale, zp, axis)
        return []
    return [canon(node, "DequantizeLinear", list(node.inputs[:3]), axis=axis)]


# --- matrix products and convolutions ------------------------------------------------------------


def _matmul_2d(g: Graph, node: Node, op: str, a_index: int) -> list[Node]:
    """A 2-D product as is; an N-D left operand times a 2-D right one via Reshape (as MatMul)."""
    a, b = g.shape(node.inputs[a_index]), g.shape(node.inputs[a_index + 3 if op == "QLinearMatMul" else 1])
    if len(b) != 2 or len(a) < 2:
        raise bad_attr(node, f"operands of shapes {list(a)} x {list(b)}: minidnn's integer MatMul takes "
                       "an N-D (N >= 2) left operand and a 2-D right one")
    if len(a) == 2:
        return [canon(node, op)]
    out = out_shape(g, node)
    rows = int(np.prod(a[:-1]))
    flat = reshape(g, node, node.inputs[0], (rows, a[-1]), "rows")
    mm_out = g.fresh(node.outputs[0] + "_2d")
    g.shapes[mm_out] = (rows, b[1])
    g.elem_types[mm_out] = g.elem_types.get(node.outputs[0], TensorProto.INT32)
    g.elem_types[flat.outputs[0]] = g.elem_types.get(node.inputs[0], TensorProto.UINT8)
    mm = canon(node, op, [flat.outputs[0], *node.inputs[1:]], [mm_out])
    return [flat, mm, reshape(g, node, mm_out, out, "unflatten", node.outputs[0])]


@handles("QLinearMatMul")
def qlinear_matmul(g: Graph, node: Node) -> list[Node]:
    a = _q8(g, node, node.inputs[0], "A")
    b = _q8(g, node, node.inputs[3], "B")
    n = g.shape(node.inputs[3])[-1]
    _params(g, node, 1, 2, a, "A")
    _params(g, node, 4, 5, b, "B", n)
    _params(g, node, 6, 7, None, "output")
    _out_zp(g, node, 7)
    return _matmul_2d(g, node, "QLinearMatMul", 0)


@handles("MatMulInteger")
def matmul_integer(g: Graph, node: Node) -> list[Node]:
    a = _q8(g, node, node.inputs[0], "A")
    b = _q8(g, node, node.inputs[1], "B")
    n = g.shape(node.inputs[1])[-1]
    for index, dt, what, size in ((2, a, "A", 1), (3, b, "B", n)):
        zp = _const(g, node, index, f"{what} zero point")
        if zp is not None and (zp.dtype != dt or zp.ndim > 1 or zp.size not in (1, size)):
            raise bad_attr(node, f"{what} zero point of type {zp.dtype} and shape {list(zp.shape)}: one "
                           f"{dt} per tensor" + (" or per column" if size > 1 else ""))
    return _matmul_2d(g, node, "MatMulInteger", 0)


def _conv_attrs(g: Graph, node: Node, w_index: int) -> dict[str, object]:
    x = g.shape(node.inputs[0])
    w = g.shape(node.inputs[w_index])
    if len(x) != 4 or len(w) != 4:
        raise bad_attr(node, f"input of shape {list(x)}: minidnn's integer Conv is 2-D (NCHW)")
    kernel = tuple(node.attrs.get("kernel_shape", w[2:]))
    if tuple(w[2:]) != kernel:
        raise bad_attr(node, f"kernel_shape {list(kernel)} differs from the weight's {list(w[2:])}")
    strides = tuple(node.attrs.get("strides", [1, 1]))
    dilations = tuple(node.attrs.get("dilations", [1, 1]))
    return {"pads": tuple(spatial_pads(node, x[2:], kernel, strides, dilations)), "strides": strides,
            "dilations": dilations, "group": int(node.attrs.get("group", 1))}


def _out_zp(g: Graph, node: Node, index: int) -> None:
    zp = _const(g, node, index, "output zero point")
    if zp is not None and zp.dtype not in (np.int8, np.uint8):
        raise DtypeError(f"node '{node.name}' ({node.source or node.op}): output type {zp.dtype}; int8 or uint8")


@handles("QLinearConv")
def qlinear_conv(g: Graph, node: Node) -> list[Node]:
    x = _q8(g, node, node.inputs[0], "X")
    w = _q8(g, node, node.inputs[3], "W")
    attrs = _conv_attrs(g, node, 3)
    _params(g, node, 1, 2, x, "X")
    _params(g, node, 4, 5, w, "W", g.shape(node.inputs[3])[0])
    _params(g, node, 6, 7, None, "output")
    _out_zp(g, node, 7)
    bias = _const(g, node, 8, "B")
    if bias is not None and bias.dtype != np.int32:
        raise DtypeError(f"node '{node.name}' (QLinearConv): bias is {bias.dtype}, ONNX says int32")
    return [canon(node, "QLinearConv", list(node.inputs[:9]), **attrs)]


@handles("ConvInteger")
def conv_integer(g: Graph, node: Node) -> list[Node]:
    x = _q8(g, node, node.inputs[0], "X")
    w = _q8(g, node, node.inputs[1], "W")
    attrs = _conv_attrs(g, node, 1)
    for index, dt, what, size in ((2, x, "X", 1), (3, w, "W", g.shape(node.inputs[1])[0])):
        zp = _const(g, node, index, f"{what} zero point")
        if zp is not None and (zp.dtype != dt or zp.ndim > 1 or zp.size not in (1, size)):
            raise bad_attr(node, f"{what} zero point of type {zp.dtype} and shape {list(zp.shape)}")
    return [canon(node, "ConvInteger", list(node.inputs[:4]), **attrs)]


@handles("QGemm")
def qgemm(g: Graph, node: Node) -> list[Node]:
    """Only produced by fold_qdq (already checked there)."""
    attrs = {"transA": int(node.attrs.get("transA", 0)), "transB": int(node.attrs.get("transB", 0))}
    return [canon(node, "QGemm", list(node.inputs), **attrs)]


# --- the QDQ pattern ------------------------------------------------------------------------------


def _single_reader(g: Graph, name: str) -> Node | None:
    readers = g.consumers(name)
    return readers[0] if len(readers) == 1 and name != g.output else None


def _dq_of(g: Graph, name: str) -> Node | None:
    node = g.producer(name)
    return node if node is not None and node.op == "DequantizeLinear" and not node.domain else None


def _scalar_params(g: Graph, node: Node) -> bool:
    scale = g.consts.get(node.inputs[1])
    return scale is not None and scale.size == 1


def _refuse(node: Node, why: str) -> UnsupportedOpError:
    return UnsupportedOpError(node.name, node.op, f"quantized {node.op} (QDQ format): {why}")


def _weight_axis(op: str, node: Node) -> int:
    """The output-channel axis of the weight (per-channel scales must run along it)."""
    if op == "Conv":
        return 0
    if op == "Gemm":
        return 0 if int(node.attrs.get("transB", 0)) else 1
    return 1


def _fold_one(g: Graph, node: Node) -> Node:
    """DequantizeLinear -> node -> QuantizeLinear as one integer node, or a clear error."""
    dq_x = _dq_of(g, node.inputs[0])
    dq_w = _dq_of(g, node.inputs[1]) if len(node.inputs) > 1 else None
    q = _single_reader(g, node.outputs[0])
    if dq_x is None or dq_w is None:
        raise _refuse(node, "both inputs must come from DequantizeLinear (float inputs mixed with quantized "
                      "ones are not supported)")
    if q is None or q.op != "QuantizeLinear" or q.domain:
        raise _refuse(node, "its output must be read by one QuantizeLinear only (onnxruntime would run a float "
                      "output as MatMulIntegerToFloat, whose rounding minidnn does not reproduce)")
    if not _scalar_params(g, dq_x) or not _scalar_params(g, q):
        raise _refuse(node, "activations must have one scale per tensor (constants)")
    w_dq_scale = g.consts.get(dq_w.inputs[1])
    if w_dq_scale is None:
        raise _refuse(node, "the weight's scale must be a constant")
    w_rank = len(g.shape(dq_w.inputs[0]))
    if w_dq_scale.size > 1 and _axis(dq_w, w_rank) != _weight_axis(node.op, node):
        raise _refuse(node, "per-channel weight scales must run along the output channels")
    inputs_x = [dq_x.inputs[0], dq_x.inputs[1], dq_x.inputs[2] if len(dq_x.inputs) > 2 else ""]
    inputs_w = [dq_w.inputs[0], dq_w.inputs[1], dq_w.inputs[2] if len(dq_w.inputs) > 2 else ""]
    inputs_y = [q.inputs[1], q.inputs[2] if len(q.inputs) > 2 else ""]
    bias = ""
    if len(node.inputs) > 2 and node.inputs[2]:
        bias = _int32_bias(g, node, node.inputs[2], dq_x, dq_w)
    if node.op == "Gemm":
        if float(node.attrs.get("alpha", 1.0)) != 1.0 or (bias and float(node.attrs.get("beta", 1.0)) != 1.0):
            raise _refuse(node, "alpha and beta must be 1")
        return Node(node.name, "QGemm", [*inputs_x, *inputs_w, bias, *inputs_y], [q.outputs[0]],
                    {"transA": int(node.attrs.get("transA", 0)), "transB": int(node.attrs.get("transB", 0))},
                    "Gemm (QDQ)")
    if node.op == "Conv":
        return Node(node.name, "QLinearConv", [*inputs_x, *inputs_w, *inputs_y] + ([bias] if bias else []),
                    [q.outputs[0]], dict(node.attrs), "Conv (QDQ)")
    return Node(node.name, "QLinearMatMul", [*inputs_x, *inputs_w, *inputs_y], [q.outputs[0]], {}, "MatMul (QDQ)")


def _int32_bias(g: Graph, node: Node, name: str, dq_x: Node, dq_w: Node) -> str:
    """The int32 bias of a folded node: DequantizeLinear of int32 constants, zero point 0, scale
    x_scale * w_scale (as quantize_static writes it; onnxruntime adds the integers)."""
    dq_b = _dq_of(g, name)
    if dq_b is None or dq_b.inputs[0] not in g.consts or g.consts[dq_b.inputs[0]].dtype != np.int32:
        raise _refuse(node, "the bias must be DequantizeLinear of int32 constants")
    scale = g.consts.get(dq_b.inputs[1])
    zp = g.consts.get(dq_b.inputs[2]) if len(dq_b.inputs) > 2 and dq_b.inputs[2] else None
    expect = (g.consts[dq_x.inputs[1]].astype(np.float32) * g.consts[dq_w.inputs[1]].astype(np.float32)).ravel()
    if scale is None or (zp is not None and np.any(zp != 0)) or \
            np.broadcast_to(scale.astype(np.float32).ravel(), expect.shape).tobytes() != expect.astype(np.float32).tobytes():
        raise _refuse(node, "the bias must have zero point 0 and scale input scale * weight scale")
    bias = g.consts[dq_b.inputs[0]]
    if bias.ndim > 1:
        bias = bias.reshape(-1)
    return set_const(g, dq_b.inputs[0] + "_i32", bias.astype(np.int32))


def _same_params(g: Graph, node: Node, q: Node | None) -> bool:
    """`node` reads one DequantizeLinear and is read by one QuantizeLinear of the same per-tensor
    positive scale and zero point (dtype included)."""
    dq = _dq_of(g, node.inputs[0]) if node.inputs else None
    if dq is None or q is None or q.op != "QuantizeLinear" or q.domain or any(_dq_of(g, i) for i in node.inputs[1:] if i):
        return False
    if dq.inputs[0] in g.consts or int(q.attrs.get("saturate", 1)) != 1:
        return False
    params = []
    for n in (dq, q):
        scale = g.consts.get(n.inputs[1])
        zp = g.consts.get(n.inputs[2]) if len(n.inputs) > 2 and n.inputs[2] else np.zeros((), np.uint8)
        if scale is None or zp is None or scale.size != 1 or scale.dtype != np.float32 or not scale.ravel()[0] > 0:
            return False
        params.append((scale.ravel()[0].tobytes(), zp.dtype, int(zp.ravel()[0])))
    return params[0] == params[1] and data_dtype(g, dq.inputs[0]) == params[0][1]


def fold_qdq(g: Graph) -> None:
    """Fold DequantizeLinear -> MatMul/Gemm/Conv -> QuantizeLinear into integer nodes; refuse
    float ops between DequantizeLinear and QuantizeLinear whose onnxruntime result is not the
    float one (onnxruntime runs them as integer kernels minidnn does not reproduce)."""
    errors: list[UnsupportedOpError] = []
    for node in list(g.nodes):
        if node.domain or not any(_dq_of(g, i) for i in node.inputs if i):
            continue
        if node.op in FOLDABLE:
            try:
                fused = _fold_one(g, node)
            except UnsupportedOpError as exc:
                errors.append(exc)
                continue
            q = g.producer(fused.outputs[0])
            g.nodes[g.nodes.index(node)] = fused
            g.nodes.remove(q)
            continue
        q = _single_reader(g, node.outputs[0]) if node.outputs else None
        if node.op in INTEGER_BETWEEN_QDQ and _same_params(g, node, q):
            dq = _dq_of(g, node.inputs[0])
            node.inputs[0] = dq.inputs[0]
            node.outputs[0] = q.outputs[0]
            g.nodes.remove(q)
            continue
        if q is not None and q.op == "QuantizeLinear" and node.op not in EXACT_BETWEEN_QDQ | {"QuantizeLinear",
                                                                                             "DequantizeLinear"}:
            errors.append(_refuse(node, "onnxruntime runs DequantizeLinear -> "
                                  f"{node.op} -> QuantizeLinear as an integer kernel whose rounding minidnn does "
                                  f"not reproduce; quantizable here: MatMul, Gemm, Conv (and "
                                  f"{', '.join(sorted(EXACT_BETWEEN_QDQ))} in float)"))
    if errors:
        raise combined_error(errors, supported_ops())
    used = {i for n in g.nodes for i in n.inputs} | {g.output}
    g.nodes = [n for n in g.nodes if n.op != "DequantizeLinear" or any(o in used for o in n.outputs)]


# --- run-time element types ----------------------------------------------------------------------


def runtime_dtypes(g: Graph) -> dict[str, int]:
    """minidnn.format dtype of every run-time tensor of a canonical graph (float32 unless an
    integer op writes it); DtypeError where a float op would read an integer tensor."""
    from minidnn import format as mdf

    np_to_fmt = {np.dtype(np.int8): mdf.DTYPE_I8, np.dtype(np.uint8): mdf.DTYPE_U8}
    dtypes = {g.input: mdf.DTYPE_I32 if g.int_input else mdf.DTYPE_F32}
    for node in g.nodes:
        for name in node.inputs:
            if not name or name in g.consts or node.op in INTEGER_OPS | PASS_THROUGH:
                continue
            if name != g.input and dtypes.get(name, mdf.DTYPE_F32) != mdf.DTYPE_F32:
                raise DtypeError(f"node '{node.name}' ({node.source or node.op}) reads the integer tensor '{name}'; "
                                 "minidnn runs float ops on float32 only (end the quantized part with "
                                 "DequantizeLinear, e.g. quantize_static's QDQ format)")
        out = node.outputs[0]
        if node.op in OUT_ZP:
            i = OUT_ZP[node.op]
            zp = g.consts.get(node.inputs[i]) if i < len(node.inputs) and node.inputs[i] else None
            dtypes[out] = np_to_fmt.get(zp.dtype, mdf.DTYPE_U8) if zp is not None else mdf.DTYPE_U8
        elif node.op in ("MatMulInteger", "ConvInteger"):
            dtypes[out] = mdf.DTYPE_I32
        elif node.op in PASS_THROUGH and node.inputs[0] not in g.consts:
            src = dtypes.get(node.inputs[0], mdf.DTYPE_F32)
            dtypes[out] = mdf.DTYPE_F32 if node.inputs[0] == g.input else src
        else:
            dtypes[out] = mdf.DTYPE_F32
    if dtypes.get(g.output, mdf.DTYPE_F32) != mdf.DTYPE_F32:
        raise DtypeError(f"the model output '{g.output}' is an integer tensor; minidnn models output float32 "
                         "(end the model with DequantizeLinear)")
    return dtypes


def const_dtype(g: Graph, node: Node, name: str) -> int | None:
    """The minidnn.format dtype to store constant `name` read by `node` with (None: the default)."""
    from minidnn import format as mdf

    if node.op not in INTEGER_OPS:
        return None
    dt = g.consts[name].dtype
    return {np.dtype(np.int8): mdf.DTYPE_I8, np.dtype(np.uint8): mdf.DTYPE_U8}.get(dt)
