"""What a .mdnn model holds: ops, parameters, MACs, content hash and an estimate of its VM steps."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.table import Table

from converter import step_costs as costs
from converter.errors import InvalidModelError
from converter.graph import node_macs, valid_taps

# Estimated MIPS steps (docs/converter.md §Estimated VM steps): per multiply-accumulate of each
# dot-product op, per output element of the other ops, per pooling-window element, measured on
# runtime.elf in the VM by `python -m converter.calibrate` (converter/step_costs.py).


@dataclass(frozen=True)
class NodeInfo:
    name: str
    op: str
    output_shape: tuple[int, ...]
    parameters: int
    macs: int
    steps: int


@dataclass(frozen=True)
class ModelInfo:
    nodes: list[NodeInfo]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    parameters: int
    size: int
    content_hash: bytes

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    @property
    def estimated_steps(self) -> int:
        return costs.STARTUP + sum(n.steps for n in self.nodes)


def node_steps(op: str, attrs: dict, in_shapes: list[tuple[int, ...] | None], out: tuple[int, ...], macs: int) -> int:
    """Estimated VM steps of one node."""
    elements = math.prod(out)
    steps = macs * costs.PER_MAC.get(op, 0) + elements * costs.PER_ELEMENT.get(op, 0)
    if op in ("MaxPool", "AveragePool"):
        steps += elements * math.prod(attrs.get("kernel_shape", [1])) * costs.PER_WINDOW_ELEMENT[op]
    if op == "ConvTranspose":
        x, w = in_shapes[0], in_shapes[1]
        rows = valid_taps(x[2], out[2], w[2], attrs.get("strides", (1, 1))[0], attrs.get("dilations", (1, 1))[0],
                          attrs.get("pads", (0, 0, 0, 0))[0])
        columns = out[1] * (w[0] // int(attrs.get("group", 1))) * rows * out[3] * w[3]
        steps += out[0] * columns * costs.CONV_TRANSPOSE_COLUMN
    if op in ("GlobalAveragePool", "ReduceSum", "ReduceMean", "ReduceMax", "ArgMax", "ArgMin"):
        steps += math.prod(in_shapes[0]) * costs.PER_WINDOW_ELEMENT.get(op, 0)
    return steps


def inspect_model(blob: bytes) -> ModelInfo:
    """Parse a .mdnn model and compute its summary (InvalidModelError, one line, if it is damaged
    or malformed: the reader's integrity checks, then the runtime's own validation)."""
    from minidnn import MinidnnError, Model
    from minidnn import format as mdf

    try:
        graph = mdf.read_model(blob)
        Model.load(blob)   # the runtime's validation of the tables, before this walks the graph
    except mdf.FormatError as exc:
        raise InvalidModelError(str(exc)) from None
    except MinidnnError as exc:
        raise InvalidModelError(f"not a valid .mdnn {exc}") from None
    nodes = []
    for i, node in enumerate(graph.nodes):
        ins = [graph.tensors[n].shape if n else None for n in node.inputs]
        out = graph.tensors[node.outputs[0]].shape
        params = sum(graph.tensors[n].size for n in node.inputs if n and graph.tensors[n].kind == mdf.KIND_CONSTANT)
        try:   # the runtime checks a node's arity and shapes only when it runs: a forged file gets here
            m = node_macs(node.op, ins, out, node.attrs, trans_a=bool(node.attrs.get("trans_a")))
            steps = node_steps(node.op, node.attrs, ins, out, m)
        except (IndexError, TypeError, KeyError, ValueError, ZeroDivisionError) as exc:
            raise InvalidModelError(f"not a valid .mdnn model: node {i} ({node.op}) has inputs or attributes "
                                    f"its op cannot take ({type(exc).__name__}: {exc})") from None
        nodes.append(NodeInfo(node.outputs[0] or f"node{i}", node.op, out, params, m, steps))
    consts = sum(t.size for t in graph.tensors.values() if t.kind == mdf.KIND_CONSTANT)
    return ModelInfo(nodes, graph.input_shape, graph.output_shape, consts, len(blob), mdf.content_hash(blob))


def summary_table(info: ModelInfo) -> Table:
    table = Table(title=f".mdnn model: {len(info.nodes)} ops")
    for col in ("#", "op", "output", "output shape", "params", "MACs", "est. steps"):
        table.add_column(col, justify="right" if col in ("#", "params", "MACs", "est. steps") else "left")
    for i, n in enumerate(info.nodes):
        table.add_row(str(i), n.op, n.name, "x".join(map(str, n.output_shape)), f"{n.parameters:,}",
                      f"{n.macs:,}", f"{n.steps:,}")
    return table
