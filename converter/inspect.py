"""What a .mdnn model holds: ops, parameters, MACs, content hash and an estimate of its VM steps."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.table import Table

from converter.errors import InvalidModelError

# Estimated MIPS steps of the runtime (docs/converter.md §Estimated VM steps). A multiply-
# accumulate is one SoftFloat f32_mul plus one f32_add with the loop around them; per-element
# costs cover the other kernels. STARTUP covers crt0, model validation and tensor allocation.
STEPS_PER_MAC = 150
STEPS_STARTUP = 20_000
STEPS_PER_TENSOR_WORD = 4  # zeroing/copying each output word and validating each constant once
STEPS_PER_ELEMENT: dict[str, int] = {
    "Identity": 10, "Reshape": 10, "Flatten": 10, "Squeeze": 10, "Unsqueeze": 10, "Transpose": 25,
    "Concat": 12, "Gather": 15, "Resize": 40,
    "Relu": 25, "LeakyRelu": 70, "Clip": 50, "Add": 90, "Sub": 90, "Mul": 90, "Div": 160,
    "Sigmoid": 700, "Tanh": 700, "Gelu": 800, "Erf": 600, "BatchNormalization": 200,
    "LayerNormalization": 400, "Softmax": 650, "LogSoftmax": 650, "GlobalAveragePool": 0,
}
STEPS_PER_WINDOW_ELEMENT = {"MaxPool": 45, "AveragePool": 90, "GlobalAveragePool": 90}


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
        return STEPS_STARTUP + sum(n.steps for n in self.nodes)


def node_macs(op: str, attrs: dict, in_shapes: list[tuple[int, ...] | None], out: tuple[int, ...]) -> int:
    """Multiply-accumulates of one node (0 for ops without a dot product)."""
    if op == "Gemm":
        a = in_shapes[0]
        return math.prod(out) * (a[0] if attrs.get("trans_a") else a[1])
    if op == "MatMul":
        return math.prod(out) * in_shapes[0][-1]
    if op == "Conv":
        return math.prod(out) * math.prod(in_shapes[1][1:])
    if op == "ConvTranspose":
        return math.prod(in_shapes[0]) * math.prod(in_shapes[1][1:])
    return 0


def node_steps(op: str, attrs: dict, in_shapes: list[tuple[int, ...] | None], out: tuple[int, ...], macs: int) -> int:
    """Estimated VM steps of one node."""
    elements = math.prod(out)
    steps = macs * STEPS_PER_MAC + elements * (STEPS_PER_ELEMENT.get(op, 0) + STEPS_PER_TENSOR_WORD)
    if op in ("MaxPool", "AveragePool"):
        steps += elements * math.prod(attrs.get("kernel_shape", [1])) * STEPS_PER_WINDOW_ELEMENT[op]
    if op == "GlobalAveragePool":
        steps += math.prod(in_shapes[0]) * STEPS_PER_WINDOW_ELEMENT[op]
    return steps


def inspect_model(blob: bytes) -> ModelInfo:
    """Parse a .mdnn model and compute its summary (InvalidModelError if malformed)."""
    from minidnn import format as mdf

    try:
        graph = mdf.read_model(blob)
    except mdf.FormatError as exc:
        raise InvalidModelError(f"not a valid .mdnn model: {exc}") from exc
    nodes = []
    for i, node in enumerate(graph.nodes):
        ins = [graph.tensors[n].shape if n else None for n in node.inputs]
        out = graph.tensors[node.outputs[0]].shape
        params = sum(graph.tensors[n].size for n in node.inputs if n and graph.tensors[n].kind == mdf.KIND_CONSTANT)
        m = node_macs(node.op, node.attrs, ins, out)
        nodes.append(NodeInfo(node.outputs[0] or f"node{i}", node.op, out, params, m,
                              node_steps(node.op, node.attrs, ins, out, m)))
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
