"""Graph clean-ups after canonicalisation: drop identities, fold BatchNorm, merge reshapes, prune."""

from __future__ import annotations

import numpy as np

from converter.errors import UnsupportedAttributeError
from converter.graph import Graph, Node

# BatchNorm folds into the preceding layer only when the per-channel scale gamma/sqrt(var+eps)
# is finite and at most this large: a larger scale would amplify the rounding of the folded
# float32 weights beyond what the unfolded BatchNormalization op produces.
MAX_FOLD_SCALE = 1e4


def optimize(graph: Graph) -> Graph:
    """Run every pass once, in order."""
    drop_identities(graph)
    merge_pads(graph)
    fuse_matmul_bias(graph)
    fold_batch_norms(graph)
    merge_reshapes(graph)
    prune(graph)
    if not graph.nodes or graph.output in graph.consts or graph.output == graph.input:
        _identity_output(graph)
    return graph


def _rename_input(graph: Graph, old: str, new: str) -> None:
    for node in graph.nodes:
        node.inputs = [new if i == old else i for i in node.inputs]
    if graph.output == old:
        graph.output = new


def drop_identities(graph: Graph) -> None:
    """Remove Identity (from Identity, Dropout, float->float Cast), rewiring readers to its input."""
    for node in [n for n in graph.nodes if n.op == "Identity"]:
        graph.nodes.remove(node)
        _rename_input(graph, node.outputs[0], node.inputs[0])


def _identity_output(graph: Graph) -> None:
    """The output is the input itself or a constant: emit an explicit Identity (or a zero Add)."""
    src = graph.output
    dst = graph.fresh("output")
    graph.shapes[dst] = graph.shape(src)
    graph.nodes.append(Node("output", "Identity", [src], [dst], {}, "Identity"))
    graph.output = dst


def merge_pads(graph: Graph) -> None:
    """Zero Pad of H/W read only by Convs -> the Convs' own pads; any other Pad is unsupported."""
    for pad in [n for n in graph.nodes if n.op == "Pad"]:
        readers = graph.consumers(pad.outputs[0])
        if not readers or pad.outputs[0] == graph.output or any(r.op != "Conv" or r.inputs[0] != pad.outputs[0]
                                                                for r in readers):
            raise UnsupportedAttributeError(pad.name, pad.source, "a Pad is supported only when Convs alone read "
                                            "its output (it is merged into their pads)")
        for conv in readers:
            conv.attrs["pads"] = tuple(a + b for a, b in zip(conv.attrs["pads"], pad.attrs["pads"], strict=True))
            conv.inputs[0] = pad.inputs[0]
        graph.nodes.remove(pad)


def fuse_matmul_bias(graph: Graph) -> None:
    """2-D MatMul whose only reader adds a constant bias -> Gemm(A, B, bias): same bits, one pass."""
    for add in [n for n in graph.nodes if n.op == "Add"]:
        for mm_out, bias in (add.inputs, add.inputs[::-1]):
            mm = graph.producer(mm_out)
            if mm is None or mm.op != "MatMul" or bias not in graph.consts or mm_out == graph.output \
                    or len(graph.consumers(mm_out)) != 1:
                continue
            out = graph.shape(add.outputs[0])
            if out != graph.shape(mm_out) or len(out) != 2 or graph.consts[bias].ndim > 2:
                continue
            c = np.broadcast_to(graph.consts[bias], out)
            c_name = graph.fresh(bias + "_gemm_bias")
            graph.consts[c_name] = np.ascontiguousarray(c[0] if np.all(c == c[0]) else c)
            mm.op, mm.inputs, mm.outputs = "Gemm", [*mm.inputs, c_name], add.outputs
            mm.attrs.update(transA=0, transB=0)
            graph.nodes.remove(add)
            break


def fold_batch_norms(graph: Graph) -> None:
    """BatchNormalization after Conv/ConvTranspose/Gemm with constant weights -> scaled weights."""
    for bn in [n for n in graph.nodes if n.op == "BatchNormalization"]:
        prev = graph.producer(bn.inputs[0])
        if prev is None or not _foldable(graph, prev, bn):
            continue
        scale, shift = _bn_affine(graph, bn)
        if not (np.all(np.isfinite(scale)) and np.all(np.abs(scale) <= MAX_FOLD_SCALE)):
            continue
        _fold_into(graph, prev, scale, shift)
        graph.nodes.remove(bn)
        _rename_input(graph, bn.outputs[0], prev.outputs[0])
        prev.attrs["folded"] = prev.attrs.get("folded", ()) + (bn.name,)


def _foldable(graph: Graph, prev: Node, bn: Node) -> bool:
    if prev.op not in ("Conv", "ConvTranspose", "Gemm") or len(graph.consumers(prev.outputs[0])) != 1:
        return False
    if prev.outputs[0] == graph.output or prev.inputs[1] not in graph.consts:
        return False
    if prev.op == "Gemm" and len(prev.inputs) > 2 and (prev.inputs[2] not in graph.consts
                                                       or prev.attrs.get("beta", 1.0) != 1.0):
        return False
    return prev.op != "ConvTranspose" or prev.attrs.get("group", 1) == 1


def _bn_affine(graph: Graph, bn: Node) -> tuple[np.ndarray, np.ndarray]:
    gamma, beta, mean, var = (graph.consts[i].astype(np.float64) for i in bn.inputs[1:5])
    scale = gamma / np.sqrt(var + float(np.float32(bn.attrs["epsilon"])))
    return scale, beta - mean * scale


def _fold_into(graph: Graph, prev: Node, scale: np.ndarray, shift: np.ndarray) -> None:
    w = graph.consts[prev.inputs[1]].astype(np.float64)
    channels = len(scale)
    if prev.op == "Conv":
        w = w * scale.reshape(-1, *([1] * (w.ndim - 1)))
    elif prev.op == "ConvTranspose":
        w = w * scale.reshape(1, -1, *([1] * (w.ndim - 2)))
    elif prev.attrs.get("transB"):
        w = w * scale[:, None]
    else:
        w = w * scale[None, :]
    bias = graph.consts[prev.inputs[2]].astype(np.float64) if len(prev.inputs) > 2 and prev.inputs[2] \
        else np.zeros(channels)
    bias = np.broadcast_to(bias, np.broadcast_shapes(bias.shape, (channels,)))
    new_bias = bias * scale + shift
    w_name = graph.fresh(prev.inputs[1] + "_bnfold")
    graph.consts[w_name] = w.astype(np.float32)
    b_name = graph.fresh(prev.outputs[0] + "_bias_bnfold")
    graph.consts[b_name] = np.ascontiguousarray(new_bias.astype(np.float32))
    prev.inputs = [prev.inputs[0], w_name, b_name]
    prev.attrs.pop("beta", None)  # the new bias is added with beta = 1


def merge_reshapes(graph: Graph) -> None:
    """Reshape(Reshape(x)) -> Reshape(x) when the inner result has no other reader."""
    for node in [n for n in graph.nodes if n.op == "Reshape"]:
        inner = graph.producer(node.inputs[0])
        if inner is not None and inner.op == "Reshape" and len(graph.consumers(inner.outputs[0])) == 1 \
                and inner.outputs[0] != graph.output:
            node.inputs = [inner.inputs[0]]
            graph.nodes.remove(inner)


def prune(graph: Graph) -> None:
    """Drop nodes whose outputs nobody reads, and constants nobody uses."""
    needed = {graph.output}
    kept: list[Node] = []
    for node in reversed(graph.nodes):
        if any(o in needed for o in node.outputs):
            kept.append(node)
            needed.update(i for i in node.inputs if i)
    graph.nodes = kept[::-1]
    graph.consts = {k: v for k, v in graph.consts.items() if k in needed}
