"""ONNX model -> canonical, optimised graph (the part of conversion that does not write bytes)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx

from converter import ops, passes
from converter.errors import DtypeError
from converter.graph import Graph
from converter.onnx_import import import_graph, load_model


def onnx_to_graph(source: str | Path | bytes | onnx.ModelProto, input_shape: tuple[int, ...] | None = None,
                  bind: Mapping[str, np.ndarray] | None = None) -> Graph:
    """Load, freeze the input shape, fold constants, canonicalise every op and optimise."""
    graph, _ = import_graph(load_model(source), input_shape, bind)
    ops.canonicalize(graph)
    passes.optimize(graph)
    check_dtypes(graph)
    return graph


def check_dtypes(graph: Graph) -> None:
    """Every constant a node reads as a tensor must be float32 (indices live in attributes)."""
    for node in graph.nodes:
        for i, name in enumerate(node.inputs):
            value = graph.consts.get(name)
            if node.op == "Gather" and i == 1:
                continue  # integer indices, stored as an int32 constant
            if value is not None and value.dtype != np.float32:
                raise DtypeError(f"node '{node.name}' ({node.source}): tensor '{name}' is {value.dtype}; "
                                 "minidnn computes in float32 only")
