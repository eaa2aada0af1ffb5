"""Split a `.mdnn` graph into one-node sub-models, their VM images and descriptors (docs/two-phase.md).

`split_model(model)` gives a `GraphSplit`: nodes 1..m, each a `GraphNode` with its sub-model blob
(the node, its constants, its run-time inputs as the sub-model's input), its phase-1 slots and its
region sizes. `GraphNode.image()` is its VM image (the same runtime.elf as whole models);
`node_spec(node, image, max_steps)` its descriptor (`NodeSpec`, the Solidity struct). The slot tree
(`SlotTree`, 16 levels) and the Merkle helpers of the two-phase game live here too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from minidnn.format import (
    DTYPE_F32,
    DTYPE_I32,
    ERROR_CODES,
    FLAG_GENERATE,
    GEN_HEADER_WORDS,
    KIND_CONSTANT,
    KIND_VALUE,
    FormatError,
    ModelGraph,
    Node,
    Tensor,
    read_model,
    write_model,
)
from minidnn.image import Image, build_image
from minidnn.native import MinidnnError, Model, error_for, load
from mipsvm import layout
from mipsvm.memory import keccak256, zero_hash
from mipsvm.nodespec import NODE_SPEC_ABI, NodeSpec
from mipsvm.regions import climb, region_level, tensor_root

SLOT_DEPTH = 16
SLOT_COUNT = 1 << SLOT_DEPTH
MAX_NODES = SLOT_COUNT - 1          # slot 0 is the graph input
MAX_STEPS_FACTOR = 4                 # maxSteps = factor * measured steps + slack (capped at 2**48)
MAX_STEPS_SLACK = 1 << 20
# The work budget of one node (docs/two-phase.md §2a): a MatMul or Gemm with a constant 2-D weight that
# does more multiply-accumulates is split into column blocks (each its own node holding only its weight
# block) joined by Concat nodes. 2**21 MACs is about 2**21 x 137 = 287M VM steps (converter/step_costs.py).
MAX_NODE_MACS = 1 << 21
MAX_CONCAT_INPUTS = 32               # MD_MAX_IO: the most inputs one minidnn node takes


class SplitError(FormatError):
    """A graph the two-phase first cut cannot split (the message says why)."""


def next_pow2(k: int) -> int:
    """Smallest power of two >= k (k >= 1)."""
    return 1 << max(0, (k - 1).bit_length())


def lift(root: bytes, size_from: int, size_to: int) -> bytes:
    """Root of the same bytes in a region of `size_to` bytes (>= size_from, both powers of two)."""
    level, top = region_level(0, size_from), region_level(0, size_to)
    if top < level:
        raise ValueError(f"cannot lift a {size_from}-byte region root to {size_to} bytes")
    for h in range(level, top):
        root = keccak256(root + zero_hash(h))
    return root


def slot_climb(value: bytes, slot: int, proof: Sequence[bytes]) -> bytes:
    """Root of the 16-level slot tree from slot `slot`'s value and its 16 siblings (bottom-up).

    The same hashing as `mipsvm.regions.climb` of a 64 KiB region at `slot << 16`: its index at
    height 11 is `slot`, and the 16 siblings above it are the slot tree's."""
    if not 0 <= slot < SLOT_COUNT:
        raise ValueError(f"slot {slot} outside 0..{SLOT_COUNT - 1}")
    if len(proof) != SLOT_DEPTH:
        raise ValueError(f"a slot proof has {SLOT_DEPTH} hashes, got {len(proof)}")
    return climb(bytes(value), slot << SLOT_DEPTH, 1 << SLOT_DEPTH, list(proof))


class SlotTree:
    """A sparse 16-level Merkle tree of 32-byte slots (empty slots are 32 zero bytes).

    Its root equals `region_root(slot table, 32 << 16)`; `set` rehashes one path (16 hashes)."""

    def __init__(self) -> None:
        self._levels: list[dict[int, bytes]] = [{} for _ in range(SLOT_DEPTH + 1)]

    def copy(self) -> SlotTree:
        tree = SlotTree()
        tree._levels = [dict(level) for level in self._levels]
        return tree

    def _node(self, height: int, index: int) -> bytes:
        return self._levels[height].get(index, zero_hash(height))

    def get(self, slot: int) -> bytes:
        return self._node(0, slot)

    def set(self, slot: int, value: bytes) -> None:
        if not 0 <= slot < SLOT_COUNT or len(value) != 32:
            raise ValueError(f"slot {slot}: a 32-byte value at 0..{SLOT_COUNT - 1}")
        self._levels[0][slot] = bytes(value)
        index = slot
        for h in range(SLOT_DEPTH):
            left, right = self._node(h, index & ~1), self._node(h, index | 1)
            index >>= 1
            self._levels[h + 1][index] = keccak256(left + right)

    @property
    def root(self) -> bytes:
        return self._node(SLOT_DEPTH, 0)

    def children(self) -> tuple[bytes, bytes]:
        """The root's two children: root = keccak256(left || right)."""
        return self._node(SLOT_DEPTH - 1, 0), self._node(SLOT_DEPTH - 1, 1)

    def proof(self, slot: int) -> list[bytes]:
        """The 16 sibling hashes of `slot`, bottom-up."""
        if not 0 <= slot < SLOT_COUNT:
            raise ValueError(f"slot {slot} outside 0..{SLOT_COUNT - 1}")
        return [self._node(h, (slot >> h) ^ 1) for h in range(SLOT_DEPTH)]


def _dtype(code: int) -> str:
    return "<f4" if code == DTYPE_F32 else "<i4"   # integer tensors (int32, int8, uint8) are int32 words


@dataclass(frozen=True, eq=False)
class GraphNode:
    """Node j of a split graph: its sub-model and phase-1 wiring."""

    index: int                       # j, 1..m
    op: str
    output: str                      # the output tensor's name in the graph
    output_shape: tuple[int, ...]
    arg_names: tuple[str, ...]       # run-time inputs (distinct, first use order)
    arg_shapes: tuple[tuple[int, ...], ...]
    arg_dtypes: tuple[int, ...]
    args: tuple[int, ...]            # phase-1 slot of each arg
    blob: bytes                      # the one-node sub-model (.mdnn)
    _native: list[Model] = field(default_factory=list, repr=False)

    @property
    def arg_nbytes(self) -> tuple[int, ...]:
        return tuple(4 * int(np.prod(s)) for s in self.arg_shapes)

    @property
    def arg_sizes(self) -> tuple[int, ...]:
        return tuple(layout.region_size(n) for n in self.arg_nbytes)

    @property
    def arg_size(self) -> int:
        return max(self.arg_sizes)

    @property
    def input_size(self) -> int:
        return self.arg_size * next_pow2(len(self.args))

    @property
    def output_nbytes(self) -> int:
        return 4 * int(np.prod(self.output_shape))

    @property
    def output_size(self) -> int:
        return layout.region_size(self.output_nbytes)

    def native(self) -> Model:
        """The sub-model loaded for the native build (loaded once)."""
        if not self._native:
            self._native.append(Model.load(self.blob))
        return self._native[0]

    def input_region(self, args: Sequence[bytes]) -> bytes:
        """The input region's bytes: arg i at offset i * argSize, zero-padded; inputSize bytes."""
        if len(args) != len(self.args) or any(len(a) != n for a, n in zip(args, self.arg_nbytes, strict=True)):
            raise ValueError(f"node {self.index}: args of {self.arg_nbytes} bytes expected, "
                             f"got {[len(a) for a in args]}")
        region = bytearray(self.input_size)
        for i, a in enumerate(args):
            region[i * self.arg_size:i * self.arg_size + len(a)] = a
        return bytes(region)

    def model_input(self, args: Sequence[bytes]) -> np.ndarray:
        """The sub-model's input array for these args' bytes (native run and VM image alike)."""
        if len(self.args) == 1:
            if len(args) != 1 or len(args[0]) != self.arg_nbytes[0]:
                raise ValueError(f"node {self.index}: one arg of {self.arg_nbytes[0]} bytes expected")
            return np.frombuffer(args[0], _dtype(self.arg_dtypes[0])).reshape(self.arg_shapes[0])
        rows = next_pow2(len(self.args))
        return np.frombuffer(self.input_region(args), "<f4").reshape(rows, self.arg_size // 4)

    def run_native(self, args: Sequence[bytes]) -> bytes:
        """The node's output bytes from its args' bytes (native build)."""
        return self.native().run(self.model_input(args)).tobytes()

    def image(self) -> Image:
        """The node's VM image (built on each call: images are large; keep what you need)."""
        image = build_image(self.blob)
        if (image.input_size, image.output_size) != (self.input_size, self.output_size):
            raise SplitError(f"node {self.index}: image regions {image.input_size}/{image.output_size} "
                             f"!= {self.input_size}/{self.output_size}")
        return image


@dataclass(frozen=True, eq=False)
class GraphSplit:
    """A graph model split into nodes 1..m (node j at `nodes[j - 1]`)."""

    blob: bytes                      # the whole model
    input_shape: tuple[int, ...]
    input_dtype: int
    output_shape: tuple[int, ...]
    nodes: tuple[GraphNode, ...]
    period: int = 0                  # generation (§10): P, the nodes of one token; 0 = single pass
    template: tuple[GraphNode, ...] = ()   # generation: the registered template (the 1-token unrolling)
    _native: list[Model] = field(default_factory=list, repr=False)

    @property
    def node_count(self) -> int:
        return len(self.nodes)

    def native(self) -> Model:
        """The whole model loaded for the native build (loaded, and its checksum checked, once)."""
        if not self._native:
            self._native.append(Model.load(self.blob))
        return self._native[0]

    @property
    def template_count(self) -> int:
        """The registered node count c (the template's, for a generation model)."""
        return len(self.template) if self.period else len(self.nodes)

    @property
    def tokens(self) -> int:
        """k: the tokens this (unrolled) split generates (1 for a single-pass model)."""
        return (len(self.nodes) - self.template_count) // self.period + 1 if self.period else 1

    def position(self, j: int) -> tuple[int, int]:
        """(template index jt, slot shift) of node j (docs/two-phase.md §10)."""
        self.node(j)
        return unrolled_position(j, self.template_count, self.period, len(self.nodes))

    def unroll(self, k: int) -> GraphSplit:
        """The sequence of a k-token request (generation models; §10): c + (k - 1) P nodes."""
        if not self.period:
            raise SplitError("only a generation model's split unrolls")
        t = self.input_shape[0] - GEN_HEADER_WORDS
        if not 1 <= k <= t:
            raise error_for(ERROR_CODES["BAD_REQUEST"], f"request: k = {k} outside 1..{t}")
        steps = len(self.template) + (k - 1) * self.period
        if steps > MAX_NODES:
            raise SplitError(f"{k} tokens unroll to {steps} nodes > {MAX_NODES} (16-level slot tree)")
        nodes = []
        for j in range(1, steps + 1):
            jt, shift = unrolled_position(j, len(self.template), self.period, steps)
            tn = self.template[jt - 1]
            nodes.append(replace(tn, index=j, args=tuple(a + shift for a in tn.args)))
        return replace(self, nodes=tuple(nodes))

    def for_input(self, data: bytes) -> GraphSplit:
        """The split a request runs: a generation model unrolled to the request's k (word 1)."""
        if not self.period:
            return self
        if len(data) != self.input_nbytes:
            raise error_for(ERROR_CODES["INPUT_SIZE"], f"request of {len(data)} bytes")
        return self.unroll(int.from_bytes(bytes(data[4:8]), "little"))

    @property
    def input_nbytes(self) -> int:
        return 4 * int(np.prod(self.input_shape))

    @property
    def output_nbytes(self) -> int:
        return 4 * int(np.prod(self.output_shape))

    def node(self, j: int) -> GraphNode:
        if not 1 <= j <= len(self.nodes):
            raise IndexError(f"node {j}: this graph has nodes 1..{len(self.nodes)}")
        return self.nodes[j - 1]


def _unique(base: str, used: set[str]) -> str:
    name, n = base, 0
    while name in used:
        n += 1
        name = f"{base}_{n}"
    used.add(name)
    return name


def _sub_model(graph: ModelGraph, node: Node, arg_names: list[str], used: set[str]) -> bytes:
    """The one-node sub-model: args as the input (sliced out of one [P, A] input when k > 1)."""
    tensors: dict[str, Tensor] = {}
    nodes: list[Node] = []
    if len(arg_names) == 1:
        t = graph.tensors[arg_names[0]]
        tensors[t.name] = Tensor(t.name, t.shape, KIND_VALUE, t.dtype)
        input_name = t.name
    else:
        sizes = [layout.region_size(4 * graph.tensors[a].size) for a in arg_names]
        rows, cols = next_pow2(len(arg_names)), max(sizes) // 4
        input_name = _unique("two_phase_args", used)
        tensors[input_name] = Tensor(input_name, (rows, cols))
        for i, a in enumerate(arg_names):
            t = graph.tensors[a]
            flat = (1, t.size)
            target = a if t.shape == flat else _unique(f"{a}_flat", used)
            tensors[target] = Tensor(target, flat)
            nodes.append(Node("Slice", [input_name], [target], {"starts": [i, 0], "steps": [1, 1]}))
            if target != a:
                tensors[a] = Tensor(a, t.shape)
                nodes.append(Node("Reshape", [target], [a]))
    for name in node.inputs:
        if name and name not in tensors:
            tensors[name] = graph.tensors[name]
    out = graph.tensors[node.outputs[0]]
    tensors[out.name] = Tensor(out.name, out.shape, dtype=out.dtype)
    nodes.append(Node(node.op, list(node.inputs), [out.name], dict(node.attrs)))
    return write_model(ModelGraph(tensors, nodes, input_name, out.name))


def split_model(model: Model | str | os.PathLike[str] | bytes, max_node_macs: int = MAX_NODE_MACS) -> GraphSplit:
    """Split a validated `.mdnn` model into its nodes (SplitError for what the first cut lacks). A MatMul
    or Gemm with a constant weight of more than `max_node_macs` multiply-accumulates becomes column-block
    nodes and Concat nodes (docs/two-phase.md §2a; both sides of a game must split with the same budget:
    the registered nodesRoot pins it)."""
    if max_node_macs < 1:
        raise ValueError(f"max_node_macs {max_node_macs} < 1")
    blob = load(model).blob
    graph = read_model(blob)
    if graph.flags & FLAG_GENERATE:
        return _split_generation(blob, graph, max_node_macs)
    nodes = list(graph.nodes)
    used = set(graph.tensors)
    tensors = dict(graph.tensors)
    if not nodes or graph.output not in nodes[-1].outputs:
        out = _unique("two_phase_output", used)
        tensors[out] = Tensor(out, graph.tensors[graph.output].shape)
        nodes.append(Node("Identity", [graph.output], [out]))
    graph = ModelGraph(tensors, nodes, graph.input, graph.output, graph.flags)
    split = _split_nodes(graph, used, max_node_macs)
    inp = graph.tensors[graph.input]
    return GraphSplit(blob, inp.shape, inp.dtype, graph.tensors[graph.output].shape, tuple(split))


def _weight_columns(graph: ModelGraph, node: Node) -> tuple[int, int] | None:
    """(MACs per output column, output columns N) of a MatMul / Gemm whose weight B is a constant 2-D
    tensor (and whose Gemm bias, if any, is a constant), else None: the nodes `_bound_nodes` may split."""
    if node.op not in ("MatMul", "Gemm") or len(node.inputs) < 2 or not node.inputs[1]:
        return None
    b = graph.tensors[node.inputs[1]]
    if b.kind != KIND_CONSTANT or len(b.shape) != 2 or b.dtype != DTYPE_F32 or b.data is None:
        return None
    out = graph.tensors[node.outputs[0]]
    if node.op == "Gemm":
        if len(node.inputs) > 2 and node.inputs[2] and graph.tensors[node.inputs[2]].kind != KIND_CONSTANT:
            return None
        k, n = (b.shape[1], b.shape[0]) if node.attrs.get("trans_b", 0) else b.shape
    else:
        k, n = b.shape
    if not out.shape or out.shape[-1] != n or n < 2:
        return None
    return (out.size // n) * k, n


def _bound_nodes(graph: ModelGraph, used: set[str], max_macs: int) -> ModelGraph:
    """The graph with every MatMul / Gemm with a constant 2-D weight of more than `max_macs` MACs split
    into column blocks of at most `max_macs` MACs each (unless one column alone exceeds it: then one
    column a block), followed by Concat nodes (at most MAX_CONCAT_INPUTS inputs each, a tree when there
    are more blocks) writing the original output. Each output element is the same dot product, summed in
    the same order, as in the unsplit node (minidnn/csrc/ops_dense.c), so the outputs are bit-exact."""
    tensors = dict(graph.tensors)
    nodes: list[Node] = []
    for node in graph.nodes:
        cols = _weight_columns(graph, node)
        if cols is None or cols[0] * cols[1] <= max_macs:
            nodes.append(node)
            continue
        col_macs, n = cols
        per = max(1, max_macs // col_macs)
        count = -(-n // per)
        width = -(-n // count)                      # even blocks: every block but the last `width` wide
        out = graph.tensors[node.outputs[0]]
        b = graph.tensors[node.inputs[1]]
        assert b.data is not None
        transposed = node.op == "Gemm" and bool(node.attrs.get("trans_b", 0))
        bias = graph.tensors[node.inputs[2]] if node.op == "Gemm" and len(node.inputs) > 2 and node.inputs[2] else None
        parts: list[tuple[str, int]] = []
        for c0 in range(0, n, width):
            c1 = min(n, c0 + width)
            wname = _unique(f"{b.name}_cols{c0}", used)
            block = b.data[c0:c1, :] if transposed else b.data[:, c0:c1]
            tensors[wname] = Tensor(wname, block.shape, KIND_CONSTANT, DTYPE_F32, np.ascontiguousarray(block))
            inputs = [node.inputs[0], wname]
            if bias is not None:
                inputs.append(bias.name)
                if bias.shape and bias.shape[-1] == n:     # a bias along the columns is split with them
                    assert bias.data is not None
                    bname = _unique(f"{bias.name}_cols{c0}", used)
                    bdata = np.ascontiguousarray(bias.data[..., c0:c1])
                    tensors[bname] = Tensor(bname, bdata.shape, KIND_CONSTANT, DTYPE_F32, bdata)
                    inputs[2] = bname
            oname = _unique(f"{out.name}_cols{c0}", used)
            tensors[oname] = Tensor(oname, (*out.shape[:-1], c1 - c0), KIND_VALUE, out.dtype)
            nodes.append(Node(node.op, inputs, [oname], dict(node.attrs)))
            parts.append((oname, c1 - c0))
        axis = len(out.shape) - 1
        while len(parts) > MAX_CONCAT_INPUTS:
            grouped: list[tuple[str, int]] = []
            for g in range(0, len(parts), MAX_CONCAT_INPUTS):
                group = parts[g:g + MAX_CONCAT_INPUTS]
                cols_g = sum(w for _, w in group)
                gname = _unique(f"{out.name}_concat{len(grouped)}_{len(parts)}", used)
                tensors[gname] = Tensor(gname, (*out.shape[:-1], cols_g), KIND_VALUE, out.dtype)
                nodes.append(Node("Concat", [p for p, _ in group], [gname], {"axis": axis}))
                grouped.append((gname, cols_g))
            parts = grouped
        nodes.append(Node("Concat", [p for p, _ in parts], [out.name], {"axis": axis}))
    return ModelGraph(tensors, nodes, graph.input, graph.output, graph.flags)


def _split_nodes(graph: ModelGraph, used: set[str], max_macs: int = MAX_NODE_MACS) -> list[GraphNode]:
    """Nodes 1..m of a graph whose input is slot 0, big MatMul / Gemm nodes split first (`_bound_nodes`);
    SplitError for what the first cut lacks."""
    graph = _bound_nodes(graph, used, max_macs)
    nodes = graph.nodes
    if len(nodes) > MAX_NODES:
        raise SplitError(f"{len(nodes)} nodes > {MAX_NODES} (16-level slot tree)")
    slot_of = {graph.input: 0}
    split: list[GraphNode] = []
    for j, node in enumerate(nodes, 1):
        where = f"node {j} ({node.op})"
        if len(node.outputs) != 1:
            raise SplitError(f"{where}: {len(node.outputs)} outputs; the first cut splits single-output nodes")
        arg_names: list[str] = []
        for name in node.inputs:
            if name and graph.tensors[name].kind != KIND_CONSTANT and name not in arg_names:
                arg_names.append(name)
        if not arg_names:
            raise SplitError(f"{where}: no run-time input (computed from constants only); fold it first")
        dtypes = tuple(graph.tensors[a].dtype for a in arg_names)
        if len(arg_names) > 1 and any(d != DTYPE_F32 for d in dtypes):
            raise SplitError(f"{where}: an integer tensor (int32, int8 or uint8) must be the node's only run-time input")
        sub = _sub_model(graph, node, arg_names, used)
        try:
            native = Model.load(sub)
        except MinidnnError as exc:
            raise SplitError(f"{where}: its sub-model is rejected: {exc}") from exc
        out = graph.tensors[node.outputs[0]]
        if native.output_shape != out.shape:
            raise SplitError(f"{where}: sub-model output {native.output_shape} != {out.shape}")
        split.append(GraphNode(j, node.op, out.name, out.shape, tuple(arg_names),
                               tuple(graph.tensors[a].shape for a in arg_names), dtypes,
                               tuple(slot_of[a] for a in arg_names), sub, [native]))
        slot_of[out.name] = j
    return split


def unrolled_position(j: int, node_count: int, period: int, steps: int) -> tuple[int, int]:
    """(template index jt, slot shift) of node j of an unrolled sequence of `steps` nodes (§10): the
    template has `node_count` nodes, node 1 a prefix, nodes 2..period+1 one token, the rest a suffix;
    token t's nodes are template nodes 2..period+1 with every arg slot + t * period. Single pass
    (period 0): (j, 0)."""
    if not period:
        return j, 0
    tokens = (steps - node_count) // period + 1
    t = 0 if j < 2 else min((j - 2) // period, tokens - 1)
    return j - t * period, t * period


def _split_generation(blob: bytes, graph: ModelGraph, max_macs: int = MAX_NODE_MACS) -> GraphSplit:
    """The template of a generation model (§10): GenInit, GenWindow, the forward graph's nodes, GenSelect,
    then the response sliced out of the last state; the split of a 1-token request."""
    nodes = list(graph.nodes)
    used = set(graph.tensors)
    tensors = dict(graph.tensors)
    ids = graph.tensors[graph.input]
    logits = graph.tensors[graph.output]
    t = ids.size
    if ids.dtype != DTYPE_I32 or len(logits.shape) < 2 or logits.shape[-2] != t:
        raise SplitError(f"generation model: ids {ids.shape} -> logits {logits.shape} is not [.., T] -> [.., T, V]")
    request, state, state_next, response = (_unique(n, used) for n in
                                            ("gen_request", "gen_state", "gen_state_next", "gen_response"))
    words = 2 * t + 8
    tensors[request] = Tensor(request, (GEN_HEADER_WORDS + t,), KIND_VALUE, DTYPE_I32)
    tensors[state] = Tensor(state, (words,))
    tensors[state_next] = Tensor(state_next, (words,))
    tensors[response] = Tensor(response, (t,))
    nodes = [Node("GenInit", [request], [state]), Node("GenWindow", [state], [ids.name]), *nodes,
             Node("GenSelect", [graph.output, state], [state_next]),
             Node("Slice", [state_next], [response], {"starts": [8 + t], "steps": [1]})]
    template = _split_nodes(ModelGraph(tensors, nodes, request, response), used, max_macs)
    return GraphSplit(blob, (GEN_HEADER_WORDS + t,), DTYPE_I32, (t,), tuple(template),
                      len(template) - 2, tuple(template))


def max_steps_for(steps: int) -> int:
    """The descriptor's step bound for a node measured at `steps` steps (docs/two-phase.md §2)."""
    return min(layout.MAX_STEPS, MAX_STEPS_FACTOR * steps + MAX_STEPS_SLACK)


def node_spec(node: GraphNode, image: Image, max_steps: int) -> NodeSpec:
    """Node j's descriptor from its image and step bound."""
    if not 1 <= max_steps <= layout.MAX_STEPS:
        raise ValueError(f"maxSteps {max_steps} outside 1..2**48")
    return NodeSpec(image.image_root, image.entry, image.input_base, node.input_size, node.arg_size,
                    node.args, node.arg_sizes, image.output_base, node.output_size, max_steps,
                    tuple(image.input_siblings))


__all__ = ["MAX_CONCAT_INPUTS", "MAX_NODES", "MAX_NODE_MACS", "NODE_SPEC_ABI", "SLOT_COUNT", "SLOT_DEPTH", "GraphNode", "GraphSplit",
           "NodeSpec", "SlotTree", "SplitError", "lift", "max_steps_for", "next_pow2", "node_spec",
           "slot_climb", "split_model", "tensor_root", "unrolled_position"]
