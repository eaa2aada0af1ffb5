"""ai.onnx.ml ops that scikit-learn models export (through skl2onnx), as canonical minidnn ops.

  Scaler(X) offset scale          -> Sub, Mul                    (Y = (X - offset) * scale)
  Normalizer(X) norm L1/L2/MAX    -> Reduce*, Equal, Where, Div  (a zero norm leaves X as it is)
  LinearRegressor(X)              -> Gemm                        (post_transform NONE)
  LinearClassifier(X) -> scores   -> Gemm (+ Sigmoid / Softmax)  (the label output must be unused)

ZipMap (a sequence of maps) is dropped by `--output-name` when it names ZipMap's output
(converter.onnx_import.keep_output): the model then returns the probabilities tensor.
"""

from __future__ import annotations

import numpy as np

from converter.graph import Graph, Node
from converter.op_helpers import bad_attr, handles, out_shape, set_const

ML = "ai.onnx.ml."


def _floats(node: Node, name: str) -> np.ndarray | None:
    value = node.attrs.get(name)
    return None if value is None else np.asarray(value, np.float32)


def _step(g: Graph, node: Node, tag: str, op: str, inputs: list[str], shape: tuple[int, ...],
          dst: str | None = None, **attrs: object) -> Node:
    name = dst or g.fresh(f"{node.outputs[0]}_{tag}")
    g.shapes[name] = tuple(shape)
    return Node(f"{node.name}/{tag}", op, inputs, [name], attrs, f"{ML}{node.op}")


def _features(g: Graph, node: Node) -> tuple[int, ...]:
    x = g.shape(node.inputs[0])
    if len(x) not in (1, 2):
        raise bad_attr(node, f"input of rank {len(x)} (ai.onnx.ml ops take [features] or [batch, features])")
    return x


@handles(ML + "Scaler")
def scaler(g: Graph, node: Node) -> list[Node]:
    x = _features(g, node)
    offset, scale = _floats(node, "offset"), _floats(node, "scale")
    nodes, src = [], node.inputs[0]
    if offset is not None and np.any(offset != 0):
        sub = _step(g, node, "offset", "Sub", [src, set_const(g, f"{node.name}/offset", offset)], x)
        nodes.append(sub)
        src = sub.outputs[0]
    scale_c = set_const(g, f"{node.name}/scale", scale if scale is not None else np.float32(1))
    nodes.append(_step(g, node, "scale", "Mul", [src, scale_c], x, node.outputs[0]))
    return nodes


@handles(ML + "Normalizer")
def normalizer(g: Graph, node: Node) -> list[Node]:
    """x / d per row, d = max(x) (MAX), sum |x| (L1) or sqrt(sum x^2) (L2); d = 0 leaves the row as is."""
    x = _features(g, node)
    norm = node.attrs.get("norm", "MAX")
    row = (*x[:-1], 1)
    src, nodes = node.inputs[0], []
    if norm == "L1":
        pos = _step(g, node, "pos", "Relu", [src], x)
        neg_x = _step(g, node, "neg_x", "Mul", [src, set_const(g, f"{node.name}/minus_one", np.float32(-1))], x)
        neg = _step(g, node, "neg", "Relu", neg_x.outputs, x)
        absx = _step(g, node, "abs", "Add", [pos.outputs[0], neg.outputs[0]], x)  # |x|, exact
        total = _step(g, node, "sum", "ReduceSum", absx.outputs, row, axes=(len(x) - 1,))
        nodes += [pos, neg_x, neg, absx, total]
    elif norm == "L2":
        sq = _step(g, node, "sq", "Mul", [src, src], x)
        total = _step(g, node, "sum", "ReduceSum", sq.outputs, row, axes=(len(x) - 1,))
        nodes += [sq, total]
    elif norm == "MAX":
        total = _step(g, node, "max", "ReduceMax", [src], row, axes=(len(x) - 1,))
        nodes.append(total)
    else:
        raise bad_attr(node, f"norm '{norm}'")
    zero = _step(g, node, "is_zero", "Equal", [total.outputs[0], set_const(g, f"{node.name}/zero", np.float32(0))],
                 row)
    safe = _step(g, node, "safe", "Where", [zero.outputs[0], set_const(g, f"{node.name}/one", np.float32(1)),
                                           total.outputs[0]], row)
    nodes += [zero, safe]
    divisor = safe.outputs[0]
    if norm == "L2":
        root = _step(g, node, "sqrt", "Sqrt", [divisor], row)
        nodes.append(root)
        divisor = root.outputs[0]
    nodes.append(_step(g, node, "div", "Div", [src, divisor], x, node.outputs[0]))
    return nodes


def _linear(g: Graph, node: Node, out: str, targets: int) -> list[Node]:
    """X [N, C] (or [C]) times coefficients [targets, C] transposed, plus intercepts."""
    x = _features(g, node)
    coef = _floats(node, "coefficients")
    if coef is None or coef.size % targets or coef.size // targets != x[-1]:
        raise bad_attr(node, f"coefficients of size {0 if coef is None else coef.size} for {targets} targets "
                       f"of {x[-1]} features")
    w = set_const(g, f"{node.name}/coefficients", coef.reshape(targets, x[-1]))
    b = _floats(node, "intercepts")
    inputs = [node.inputs[0], w]
    if b is not None and b.size:
        if b.size not in (1, targets):
            raise bad_attr(node, f"{b.size} intercepts for {targets} targets")
        inputs.append(set_const(g, f"{node.name}/intercepts", np.broadcast_to(b, (targets,)).copy()))
    nodes = []
    if len(x) == 1:
        row = _step(g, node, "row", "Reshape", [node.inputs[0]], (1, x[0]), shape=(1, x[0]))
        nodes.append(row)
        inputs[0] = row.outputs[0]
    final = out_shape(g, node, 1 if node.op == "LinearClassifier" else 0)
    if len(x) == 1:
        mid = _step(g, node, "gemm", "Gemm", inputs, (1, targets), transA=0, transB=1)
        return [*nodes, mid, _step(g, node, "unrow", "Reshape", mid.outputs, final, out, shape=final)]
    return [_step(g, node, "gemm", "Gemm", inputs, (x[0], targets), out, transA=0, transB=1)]


@handles(ML + "LinearRegressor")
def linear_regressor(g: Graph, node: Node) -> list[Node]:
    if node.attrs.get("post_transform", "NONE") != "NONE":
        raise bad_attr(node, f"post_transform '{node.attrs['post_transform']}'")
    return _linear(g, node, node.outputs[0], int(node.attrs.get("targets", 1)))


@handles(ML + "LinearClassifier")
def linear_classifier(g: Graph, node: Node) -> list[Node]:
    """The scores output (Z) only; SOFTMAX / LOGISTIC post transforms; not the binary one-row form."""
    if node.outputs[0] and (g.consumers(node.outputs[0]) or node.outputs[0] == g.output):
        raise bad_attr(node, "the label output (keep the probabilities with --output-name)")
    if len(node.outputs) < 2 or not node.outputs[1]:
        raise bad_attr(node, "no scores output")
    labels = node.attrs.get("classlabels_ints") or node.attrs.get("classlabels_strings") or []
    intercepts = _floats(node, "intercepts")
    targets = len(intercepts) if intercepts is not None else len(labels)
    if targets == 1 and len(labels) == 2:
        raise bad_attr(node, "a binary classifier with one coefficient row (its second-class score form is not "
                       "supported)")
    post = node.attrs.get("post_transform", "NONE")
    transform = {"NONE": None, "LOGISTIC": "Sigmoid", "SOFTMAX": "Softmax"}.get(post, "unsupported")
    if transform == "unsupported":
        raise bad_attr(node, f"post_transform '{post}'")
    if transform is None:
        return _linear(g, node, node.outputs[1], targets)
    scores = g.fresh(node.outputs[1] + "_raw")
    nodes = _linear(g, node, scores, targets)
    shape = out_shape(g, node, 1)
    g.shapes[scores] = shape
    attrs = {"axis": len(shape) - 1} if transform == "Softmax" else {}
    return [*nodes, _step(g, node, "post", transform, [scores], shape, node.outputs[1], **attrs)]
