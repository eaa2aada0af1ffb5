"""The converter's intermediate graph: static shapes, constants, canonical op attributes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# onnx.TensorProto element type codes
FLOAT_TYPES = {1, 10, 11, 16}          # FLOAT, FLOAT16, DOUBLE, BFLOAT16
INT_TYPES = {2, 3, 4, 5, 6, 7, 12, 13}  # UINT8, INT8, UINT16, INT16, INT32, INT64, UINT32, UINT64


@dataclass
class Node:
    """One canonical op: ONNX op type with every attribute explicit, opset-independent."""

    name: str
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the ONNX op type this node came from (for summaries and errors)
    domain: str = ""  # the ONNX domain ("" = ai.onnx); other domains are reported unsupported


@dataclass
class Graph:
    """A single-input, single-output graph whose tensors all have static shapes."""

    name: str
    input: str
    output: str
    shapes: dict[str, tuple[int, ...]]
    consts: dict[str, np.ndarray]
    nodes: list[Node]
    opset: int
    # ONNX element types of run-time tensors where known (onnx.TensorProto codes); the runtime
    # carries integers and booleans as float32 values, the input may be int32 (token ids)
    elem_types: dict[str, int] = field(default_factory=dict)

    @property
    def int_input(self) -> bool:
        """The model input holds integers (token ids): stored as int32 in the .mdnn model."""
        from onnx import TensorProto

        return self.elem_types.get(self.input, TensorProto.FLOAT) in INT_TYPES | {TensorProto.BOOL}

    def is_float(self, name: str) -> bool:
        """Whether tensor `name` holds floating-point values (unknown counts as float)."""
        if name in self.consts:
            return self.consts[name].dtype.kind == "f"
        from onnx import TensorProto

        return self.elem_types.get(name, TensorProto.FLOAT) in FLOAT_TYPES

    def shape(self, name: str) -> tuple[int, ...]:
        """Static shape of a tensor (constant or computed)."""
        if name in self.consts:
            return tuple(self.consts[name].shape)
        return self.shapes[name]

    def consumers(self, name: str) -> list[Node]:
        """Nodes reading tensor `name`."""
        return [n for n in self.nodes if name in n.inputs]

    def producer(self, name: str) -> Node | None:
        """The node writing tensor `name`, if any."""
        return next((n for n in self.nodes if name in n.outputs), None)

    def fresh(self, base: str) -> str:
        """A tensor name not used yet."""
        taken = set(self.shapes) | set(self.consts) | {o for n in self.nodes for o in n.outputs}
        i, name = 0, base
        while name in taken:
            i += 1
            name = f"{base}_{i}"
        return name


# The integer ops' (converter.ops_quant) float counterpart and the input index of their weight.
INTEGER_MAC_OPS = {"QGemm": ("Gemm", 3), "QLinearMatMul": ("MatMul", 3), "MatMulInteger": ("MatMul", 1),
                   "QLinearConv": ("Conv", 3), "ConvInteger": ("Conv", 1)}


def node_macs(op: str, in_shapes: list, out: tuple[int, ...], attrs: dict, *, trans_a: bool = False) -> int:
    """Multiply-accumulates of one node (0 for ops without a dot product): the one MAC counter."""
    if op in INTEGER_MAC_OPS:
        op, weight = INTEGER_MAC_OPS[op]
        in_shapes = [in_shapes[0], in_shapes[weight]]
    if op == "Gemm":
        a = in_shapes[0]
        return math.prod(out) * (a[0] if trans_a else a[1])
    if op == "MatMul":
        return math.prod(out) * in_shapes[0][-1]
    if op == "Conv":
        return math.prod(out) * math.prod(in_shapes[1][1:])
    if op == "ConvTranspose":
        return conv_transpose_macs(in_shapes[0], in_shapes[1], out, attrs)
    return 0


def macs(graph: Graph, node: Node) -> int:
    """Multiply-accumulates of one node of a converter graph (integer ones included)."""
    if INTEGER_MAC_OPS.get(node.op, (node.op,))[0] not in ("Gemm", "MatMul", "Conv", "ConvTranspose"):
        return 0
    in_shapes = [graph.shape(name) if name else None for name in node.inputs]
    return node_macs(node.op, in_shapes, tuple(graph.shape(node.outputs[0])), node.attrs,
                     trans_a=bool(node.attrs.get("transA")))


def valid_taps(size: int, out: int, k: int, stride: int, dilation: int, pad: int) -> int:
    """(output position, kernel tap) pairs of a transposed conv axis that hit an input position."""
    count = 0
    for o in range(out):
        for t in range(k):
            src = o + pad - t * dilation
            count += src >= 0 and src % stride == 0 and src // stride < size
    return count


def conv_transpose_macs(x: tuple[int, ...], w: tuple[int, ...], out: tuple[int, ...], attrs: dict) -> int:
    """Exact MACs of a 2-D ConvTranspose: taps cropped away by the pads are not computed."""
    pads, strides = attrs.get("pads", (0, 0, 0, 0)), attrs.get("strides", (1, 1))
    dilations, group = attrs.get("dilations", (1, 1)), int(attrs.get("group", 1))
    taps = 1
    for axis in (0, 1):
        taps *= valid_taps(x[2 + axis], out[2 + axis], w[2 + axis], strides[axis], dilations[axis], pads[axis])
    return out[0] * out[1] * (w[0] // group) * taps
