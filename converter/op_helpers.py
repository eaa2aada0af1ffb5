"""The canonicalisation toolkit shared by converter.ops and converter.ops_ml: the handler
registry and helpers to read constants and attributes and to build canonical nodes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from converter.errors import DtypeError, DynamicShapeError, UnsupportedAttributeError
from converter.graph import Graph, Node

Handler = Callable[[Graph, Node], list[Node]]
HANDLERS: dict[str, Handler] = {}
# Canonical ops with a handler that only a converter pass produces (not accepted from ONNX).
INTERNAL_OPS = {"QGemm"}


def supported_ops() -> list[str]:
    """ONNX op types the converter accepts."""
    return sorted(op for op in HANDLERS if op not in INTERNAL_OPS)


def handles(*ops: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of `ops` (ai.onnx.ml ops as 'ai.onnx.ml.Op')."""
    def register(fn: Handler) -> Handler:
        for op in ops:
            HANDLERS[op] = fn
        return fn
    return register


def bad_attr(node: Node, what: str) -> UnsupportedAttributeError:
    """The error for a supported op used in a way minidnn does not implement."""
    return UnsupportedAttributeError(node.name, node.source or node.op, what)


def const(g: Graph, node: Node, index: int, what: str) -> np.ndarray | None:
    """Constant value of optional input `index` (None if absent); error if computed at run time."""
    if index >= len(node.inputs) or node.inputs[index] == "":
        return None
    name = node.inputs[index]
    if name not in g.consts:
        raise bad_attr(node, f"input {index} ('{what}') must be a constant, it is computed at run time")
    return g.consts[name]


def float_weight(g: Graph, node: Node, index: int, what: str) -> np.ndarray | None:
    value = const(g, node, index, what)
    if value is not None and value.dtype != np.float32:
        raise DtypeError(f"node '{node.name}' ({node.source}): {what} '{node.inputs[index]}' is {value.dtype}, "
                         "minidnn computes in float32 only")
    return value


def set_const(g: Graph, base: str, value: np.ndarray) -> str:
    name = g.fresh(base)
    g.consts[name] = np.array(value, order="C")  # (np.ascontiguousarray would make a scalar 1-D)
    return name


def out_shape(g: Graph, node: Node, index: int = 0) -> tuple[int, ...]:
    name = node.outputs[index]
    if name not in g.shapes:
        raise DynamicShapeError(f"node '{node.name}' ({node.source}): output '{name}' has no static shape "
                                "(give the input shape with --input-shape)")
    return g.shapes[name]


def only_first_output(node: Node, g: Graph) -> None:
    extra = [o for o in node.outputs[1:] if o and (g.consumers(o) or o == g.output)]
    if extra:
        raise bad_attr(node, f"output(s) {', '.join(extra)} (beyond the first) are not supported")


def canon(node: Node, op: str, inputs: list[str] | None = None, outputs: list[str] | None = None,
          **attrs: object) -> Node:
    return Node(node.name, op, inputs if inputs is not None else list(node.inputs),
                outputs if outputs is not None else node.outputs[:1], attrs, node.source or node.op)


def reshape(g: Graph, node: Node, src: str, shape: tuple[int, ...], suffix: str, dst: str | None = None) -> Node:
    """A Reshape node from `src` to a new tensor (or `dst`) of `shape`."""
    dst = dst or g.fresh(f"{src}_{suffix}")
    g.shapes[dst] = tuple(shape)
    return Node(f"{node.name}/{suffix}", "Reshape", [src], [dst], {"shape": tuple(shape)}, node.source or node.op)


def axis_of(node: Node, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise bad_attr(node, f"axis {axis} out of range for rank {rank}")
    return axis % rank


def require_rank(g: Graph, node: Node, name: str, ranks: tuple[int, ...]) -> tuple[int, ...]:
    shape = g.shape(name)
    if len(shape) not in ranks:
        raise bad_attr(node, f"input of rank {len(shape)} (shape {list(shape)}); supported ranks: {list(ranks)}")
    return shape


def spatial_pads(node: Node, in_hw: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
                 dilations: tuple[int, ...]) -> list[int]:
    """Explicit [top, left, bottom, right] pads from pads/auto_pad (Conv and pooling rules)."""
    auto = node.attrs.get("auto_pad", "NOTSET")
    n = len(in_hw)
    if auto in ("NOTSET", ""):
        pads = list(node.attrs.get("pads", [0] * 2 * n))
        return pads
    if auto == "VALID":
        return [0] * 2 * n
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise bad_attr(node, f"auto_pad '{auto}'")
    begin, end = [], []
    for size, k, s, d in zip(in_hw, kernel, strides, dilations, strict=True):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else large)
        end.append(large if auto == "SAME_UPPER" else small)
    return begin + end
