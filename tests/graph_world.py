"""A three-node graph model for the two-phase contract tests, built from docs/two-phase.md with mipsvm
helpers only (independent of minidnn's splitter): every node is the tiny C program (16 input words in,
4 output words out), with different run-time inputs.

    node 1: args [0]     (the 64-byte graph input)                      argSize 64, inputSize 64
    node 2: args [1, 0]  (node 1's 16-byte output lifted to 64, input)  argSize 64, inputSize 128
    node 3: args [2]     (node 2's 16-byte output)                      argSize 32, inputSize 32

The model output is node 3's. Slot tables live in a mipsvm Memory at address 0 (the slot tree is the
memory subtree [0, 32 << 16)), so roots and proofs come from the same Merkle code as the VM's.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts_world import VMRun

from contracts.system import SLOT_DEPTH, GraphModelSpec, NodeEntry, NodeSpec
from mipsvm.elf import Program, initial_state
from mipsvm.layout import INPUT_BASE, OUTPUT_BASE, region_size
from mipsvm.memory import Memory, keccak256
from mipsvm.regions import region_path, region_root
from mipsvm.state import State

SLOT_TREE_SIZE = 32 << SLOT_DEPTH
GRAPH_INPUT = bytes((i * 29 + 3) % 256 for i in range(64))
NODE_OUTPUT_LEN = 16
NODE_MAX_STEPS = 100_000
ARGS = {1: (0,), 2: (1, 0), 3: (2,)}


def tensor_root(data: bytes) -> bytes:
    """docs/two-phase.md §1: the root of the bytes in the smallest region holding them."""
    return region_root(data, region_size(len(data)))


class Slots:
    """A phase-1 slot table: slot -> 32-byte value (absent = empty)."""

    def __init__(self, values: dict[int, bytes] | None = None) -> None:
        self.values = dict(values or {})
        self._mem = Memory()
        for slot, value in self.values.items():
            self._mem.write(32 * slot, value)

    def with_slot(self, slot: int, value: bytes) -> Slots:
        return Slots({**self.values, slot: value})

    def root(self) -> bytes:
        return self._mem.subtree_root(0, SLOT_TREE_SIZE)

    def proof(self, slot: int) -> list[bytes]:
        """The SLOT_DEPTH sibling hashes of `slot`, bottom-up."""
        proof = self._mem.proof(32 * slot)
        return [proof[32 + 32 * i:64 + 32 * i] for i in range(SLOT_DEPTH)]


@dataclass
class NodeRun:
    """Node j's descriptor and its true VM run (reference stepper)."""

    spec: NodeSpec
    args: tuple[int, ...]
    run: VMRun
    output: bytes

    @property
    def output_root(self) -> bytes:
        return self.run.final.memory.subtree_root(self.spec.output_base, self.spec.output_size)


def node_spec(program: Program, args: tuple[int, ...], arg_lengths: list[int]) -> tuple[NodeSpec, Memory]:
    """The descriptor of a tiny-program node whose run-time inputs have `arg_lengths` bytes."""
    image = initial_state(program).memory
    arg_sizes = tuple(region_size(n) for n in arg_lengths)
    arg_size = max(arg_sizes)
    width = 1
    while width < len(args):
        width <<= 1
    input_size = arg_size * width
    spec = NodeSpec(image.root(), program.entry, INPUT_BASE, input_size, arg_size, args, arg_sizes, OUTPUT_BASE,
                    region_size(NODE_OUTPUT_LEN), NODE_MAX_STEPS,
                    tuple(region_path(image, INPUT_BASE, input_size)))
    return spec, image


@dataclass
class Graph:
    """The three-node model: descriptors, nodes_root, the true phase-1 trace and every node's run."""

    nodes: dict[int, NodeRun]
    tensors: dict[int, bytes]            # slot -> bytes (0: the graph input)
    trace: list[Slots]                   # C_0 .. C_m as slot tables

    @property
    def m(self) -> int:
        return len(self.nodes)

    @property
    def descriptors(self) -> Slots:
        return Slots({j: n.spec.hash() for j, n in self.nodes.items()})

    @property
    def nodes_root(self) -> bytes:
        return self.descriptors.root()

    def model_spec(self) -> GraphModelSpec:
        return GraphModelSpec(self.nodes_root, self.m, len(GRAPH_INPUT), NODE_OUTPUT_LEN,
                              keccak256(b"tiny graph"), "test://tiny-graph")

    def c(self, j: int) -> bytes:
        return self.trace[j].root()

    @property
    def output(self) -> bytes:
        return self.tensors[self.m]

    def entry(self, j: int, *, prev: Slots | None = None, final: State | None = None) -> NodeEntry:
        """The honest transition move into node j against C_{j-1} = `prev` (default: the true one), with
        the claimed final state `final` (default: the true one)."""
        node = self.nodes[j]
        prev = self.trace[j - 1] if prev is None else prev
        final = node.run.final if final is None else final
        spec = node.spec
        return NodeEntry(
            node=j, spec=spec, spec_proof=self.descriptors.proof(j),
            arg_roots=[prev.values.get(a, bytes(32)) for a in spec.args],
            arg_proofs=[prev.proof(a) for a in spec.args],
            final_state=final.encode(),
            output_root=final.memory.subtree_root(spec.output_base, spec.output_size),
            output_path=region_path(final.memory, spec.output_base, spec.output_size),
            slot_proof=prev.proof(j))


def input_region(args: list[bytes], arg_size: int) -> bytes:
    """The bytes of a node's input region: arg i at i * arg_size, zero padded."""
    return b"".join(a + bytes(arg_size - len(a)) for a in args)


def build_graph(program: Program) -> Graph:
    """Run the three nodes with the reference stepper and record the phase-1 trace."""
    tensors = {0: GRAPH_INPUT}
    trace = [Slots({0: tensor_root(GRAPH_INPUT)})]
    nodes = {}
    for j, args in ARGS.items():
        spec, _ = node_spec(program, args, [len(tensors[a]) for a in args])
        run = VMRun.record(program, input_region([tensors[a] for a in args], spec.arg_size))
        assert run.final.exit_code == 0 and run.steps <= NODE_MAX_STEPS
        output = run.final.memory.read(OUTPUT_BASE, NODE_OUTPUT_LEN)
        node = NodeRun(spec, args, run, output)
        assert node.output_root == tensor_root(output)   # the output region holds exactly the tensor
        nodes[j] = node
        tensors[j] = output
        trace.append(trace[-1].with_slot(j, tensor_root(output)))
    return Graph(nodes, tensors, trace)


def gather_model() -> bytes:
    """Relu -> Gather (a 4x2 table, indices from the Relu) -> Relu: an index >= 4 fails node 2 (a Failure
    outcome of a graph model)."""
    import numpy as np

    from minidnn.format import ModelBuilder

    b = ModelBuilder().add_input("x", (4,))
    b.add_initializer("table", np.arange(8, dtype=np.float32).reshape(4, 2))
    b.add_node("Relu", ["x"], ["r"])
    b.add_node("Gather", ["table", "r"], ["g"], axis=0)
    b.add_node("Relu", ["g"], ["y"])
    return b.set_output("y").to_bytes()


def request_status(world, rid: int):
    """A request's status on the world's chain (contracts.system.RequestStatus)."""
    return world.system.get_request(rid).status


def game_over(daemon) -> bool:
    """The daemon's first game has ended."""
    games = daemon.store.games()
    return bool(games) and games[0]["status"] != "active"
