"""ONNX model -> canonical, optimised graph (the part of conversion that does not write bytes)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx

from converter import ops, ops_quant, passes
from converter.errors import DtypeError
from converter.graph import Graph, Node
from converter.onnx_import import import_graph, load_model


def onnx_to_graph(source: str | Path | bytes | onnx.ModelProto, input_shape: tuple[int, ...] | None = None,
                  bind: Mapping[str, np.ndarray] | None = None, output: str | None = None) -> Graph:
    """Load, keep one output (if `output` names it), freeze the input shape, fold constants,
    canonicalise every op and optimise."""
    graph, _ = import_graph(load_model(source), input_shape, bind, output)
    ops_quant.fold_qdq(graph)
    ops.canonicalize(graph)
    passes.optimize(graph)
    cast_int_input(graph)
    check_dtypes(graph)
    return graph


# Integers up to this magnitude are exact as float32 values (the runtime's integers).
EXACT_INT = 2**24


def cast_int_input(graph: Graph) -> None:
    """An integer model input is read as int32 by Gather (indices) and Cast only: any other reader
    gets the input converted to float32 by one Cast node."""
    if not graph.int_input:
        return
    readers = [(n, i) for n in graph.nodes for i, name in enumerate(n.inputs) if name == graph.input
               and not (n.op == "Gather" and i == 1) and n.op != "Cast"]
    if not readers and graph.output != graph.input:
        return
    as_float = graph.fresh(graph.input + "_float")
    graph.shapes[as_float] = graph.shape(graph.input)
    graph.nodes.insert(0, Node("input_as_float", "Cast", [graph.input], [as_float], {"to": "float"}, "Cast"))
    for node, i in readers:
        node.inputs[i] = as_float
    if graph.output == graph.input:
        graph.output = as_float


def check_dtypes(graph: Graph) -> None:
    """Every constant a node reads as a tensor is float32: integer and boolean constants become
    float32 values (exact up to 2^24); Gather's integer indices stay int32 constants, the integer
    ops' (converter.ops_quant) integers stay integers."""
    converted: dict[str, str] = {}
    for node in graph.nodes:
        for i, name in enumerate(node.inputs):
            value = graph.consts.get(name)
            if value is None or value.dtype == np.float32 or (node.op == "Gather" and i == 1) \
                    or node.op in ops_quant.INTEGER_OPS:
                continue
            if value.dtype.kind in "iub":
                if value.size and np.abs(value.astype(np.int64)).max() > EXACT_INT:
                    raise DtypeError(f"node '{node.name}' ({node.source}): integer tensor '{name}' has values beyond "
                                     f"2^24, not exact as float32 (minidnn computes in float32)")
                if name not in converted:
                    converted[name] = graph.fresh(name + "_f32")
                    graph.consts[converted[name]] = value.astype(np.float32)
                node.inputs[i] = converted[name]
                continue
            raise DtypeError(f"node '{node.name}' ({node.source}): tensor '{name}' is {value.dtype}; "
                             "minidnn computes in float32 only")
    used = {i for n in graph.nodes for i in n.inputs}
    for name in converted:
        if name not in used:
            del graph.consts[name]
