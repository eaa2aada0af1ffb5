"""Canonical graph -> .mdnn bytes through minidnn.format.ModelBuilder."""

from __future__ import annotations

from typing import Any

from converter.errors import ConversionError
from converter.graph import Graph, Node

INT_ATTRS = {"transA": "trans_a", "transB": "trans_b", "group": "group", "count_include_pad": "count_include_pad",
             "axis": "axis", "select_last_index": "select_last_index"}
FLOAT_ATTRS = {"alpha": "alpha", "beta": "beta", "epsilon": "epsilon", "min": "min", "max": "max"}
LIST_ATTRS = {"pads": "pads", "strides": "strides", "dilations": "dilations", "kernel": "kernel_shape",
              "perm": "perm", "output_padding": "output_padding", "scales": "scales", "axes": "axes",
              "starts": "starts", "steps": "steps"}


def format_attrs(node: Node) -> dict[str, Any]:
    """Canonical attribute names/values -> minidnn.format attribute keywords."""
    out: dict[str, Any] = {}
    for key, value in node.attrs.items():
        if key in INT_ATTRS:
            out[INT_ATTRS[key]] = int(value)
        elif key in FLOAT_ATTRS:
            out[FLOAT_ATTRS[key]] = float(value)
        elif key in LIST_ATTRS:
            out[LIST_ATTRS[key]] = [float(v) if key == "scales" else int(v) for v in value]
        elif key == "approximate":
            out["approximate"] = value
        elif key == "coordinate_transformation_mode":
            out["coord_mode"] = value
        elif key == "nearest_mode":
            out["nearest_mode"] = value
        elif key == "to":
            out["to"] = value
        # shape (Reshape: the stored output shape), folded (summary only)
    return out


def to_mdnn(graph: Graph) -> bytes:
    """Write the graph as a .mdnn model: constants as initializers, every output shape stored."""
    from converter.ops_quant import const_dtype, runtime_dtypes
    from minidnn import format as mdf

    builder = mdf.ModelBuilder()
    added = {graph.input}
    dtypes = runtime_dtypes(graph)
    try:
        builder.add_input(graph.input, graph.shape(graph.input),
                          mdf.DTYPE_I32 if graph.int_input else mdf.DTYPE_F32)
        for node in graph.nodes:
            inputs = list(node.inputs)
            for name in inputs:
                if name and name not in added:
                    builder.add_initializer(name, graph.consts[name], const_dtype(graph, node, name))
                    added.add(name)
            builder.add_node(node.op, inputs, node.outputs[:1], shapes=[graph.shape(node.outputs[0])],
                             dtypes=[dtypes[node.outputs[0]]], **format_attrs(node))
            added.add(node.outputs[0])
        builder.set_output(graph.output)
        return builder.to_bytes()
    except mdf.FormatError as exc:
        raise ConversionError(f"cannot write the .mdnn model: {exc}") from exc
