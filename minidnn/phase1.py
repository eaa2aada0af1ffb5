"""Phase 1 of the two-phase dispute (docs/two-phase.md): the native trace C_0..C_m, the model's
node commitment, the transition move's data, and the Python reference of the on-chain checks.

    split = split_model(blob)                      # minidnn.nodes
    commitment = commit(split)                     # descriptors (maxSteps measured in the VM), nodesRoot
    trace = run_trace(split, x)                    # native, node by node: tensors, roots, C_j
    trace.commitments[j], trace.slot_proof(s, j)   # C_j and slot proofs against it
    move, final = transition(trace, commitment, j) # enterNode's data (runs node j in the VM)
    move.contract_args()                           # (j, spec tuple, ..., slotProof) for the wrapper
    check_transition(commitment.nodes_root, j, c_prev, c_next, move.spec, move.spec_proof,
                     move.arg_roots, move.arg_proofs, move.final_state, move.output_root,
                     move.output_path, move.slot_proof)   # -> I, or TransitionError
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from eth_abi import decode as abi_decode

from minidnn.image import Image, run_state
from minidnn.native import MinidnnError, load
from minidnn.nodes import (
    MAX_STEPS_FACTOR,
    MAX_STEPS_SLACK,
    NODE_SPEC_ABI,
    SLOT_COUNT,
    SLOT_DEPTH,
    GraphNode,
    GraphSplit,
    NodeSpec,
    SlotTree,
    lift,
    max_steps_for,
    next_pow2,
    node_spec,
    slot_climb,
    split_model,
    tensor_root,
    unrolled_position,
)
from mipsvm.memory import keccak256, zero_hash
from mipsvm.regions import RegionError, climb, initial_packed_state, region_level, region_path
from mipsvm.state import State, StateError, decode_state


class NodeRunError(RuntimeError):
    """A node's VM run did not exit 0 with the native output (a bug: native and VM must agree)."""


class NodeFailed(RuntimeError):
    """A node's native run failed (e.g. a Gather index out of range): the trace stops before it; the
    node's VM run decides the failure's final state (`failed_trace`)."""

    def __init__(self, node: int, trace: Trace, error: MinidnnError) -> None:
        super().__init__(f"node {node} failed natively: {error}")
        self.node = node
        self.trace = trace          # slots 0..node-1, C_0..C_{node-1}
        self.error = error


class TransitionError(ValueError):
    """A transition move the contract would reject (`.reason` names the failed check)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


# ---- C_0 and the input -----------------------------------------------------------------------

def input_commitment(input_bytes: bytes) -> bytes:
    """C_0: tensor_root(input) at slot 0 of an otherwise empty slot tree (computed on-chain)."""
    return slot_climb(tensor_root(input_bytes), 0, [zero_hash(h) for h in range(SLOT_DEPTH)])


def input_bytes(split: GraphSplit, x: Any) -> bytes:
    """The graph input as raw little-endian bytes (InputError if its shape is wrong). Checked by the
    sub-model of a node whose one run-time input is the graph input (its input tensor is the graph's),
    so a serving daemon never loads the whole model natively (GPT-2 small: 650 MB and ~1 s)."""
    for node in split.nodes:
        if node.args == (0,):
            return node.native().check_input(x).tobytes()
    return split.native().check_input(x).tobytes()


# ---- failed nodes (docs/two-phase.md §3a) -----------------------------------------------------

FAILURE_TAG = keccak256(b"optimist.node-failure")


def failure_hash(prev: bytes, j: int, final_state_hash: bytes) -> bytes:
    """C_j after node j failed: keccak256(FAILURE_TAG ‖ C_{j-1} ‖ uint256(j) ‖ keccak256(finalState))."""
    return keccak256(FAILURE_TAG + bytes(prev) + j.to_bytes(32, "big") + bytes(final_state_hash))


def failure_claim(prev: bytes, j: int, final_state: bytes) -> bytes:
    """postResult's `finalState` of a graph model's Failure / NoHalt result: C_{j-1} ‖ uint256(j) ‖ the
    failed node's packed final state."""
    return bytes(prev) + j.to_bytes(32, "big") + bytes(final_state)


def is_success(fields: dict[str, Any]) -> bool:
    """A decoded final state that exited with code 0."""
    return bool(fields["exited"]) and fields["exit_code"] == 0


# ---- the trace -------------------------------------------------------------------------------

@dataclass(eq=False)
class Trace:
    """The phase-1 trace of one input: slot j's tensor bytes and root, C_0..C_m. A trace whose node
    `failed` exited with a non-zero code or did not halt within its maxSteps ends there: slots
    0..failed-1, C_0..C_failed with C_failed the failure hash of `failure_state` (its packed final state)."""

    split: GraphSplit
    tensors: list[bytes]            # slot j's bytes, j = 0..m (0..failed-1)
    roots: list[bytes]              # tensor roots
    commitments: list[bytes]        # C_0..C_m (C_0..C_failed)
    _trees: dict[int, SlotTree] = field(default_factory=dict, repr=False)
    failed: int | None = None       # the failed node, if any
    failure_state: bytes | None = None

    @property
    def m(self) -> int:
        return self.split.node_count

    @property
    def last(self) -> int:
        """The last phase-1 index: m, or the failed node."""
        return self.failed if self.failed is not None else self.m

    @property
    def output_bytes(self) -> bytes:
        if self.failed is not None:
            raise ValueError(f"node {self.failed} failed: this trace has no output")
        return self.tensors[self.m]

    @property
    def output(self) -> np.ndarray:
        return np.frombuffer(self.output_bytes, "<f4").reshape(self.split.output_shape).copy()

    def tree(self, j: int) -> SlotTree:
        """The slot tree after nodes 1..j ran (root C_j)."""
        if not 0 <= j < len(self.roots):
            raise IndexError(f"C_{j}: this trace has slot trees C_0..C_{len(self.roots) - 1}")
        if j not in self._trees:
            tree = SlotTree()
            for s in range(j + 1):
                tree.set(s, self.roots[s])
            self._trees[j] = tree
        return self._trees[j]

    def slot_proof(self, slot: int, j: int) -> list[bytes]:
        """Slot `slot`'s 16 siblings in C_j."""
        return self.tree(j).proof(slot)

    def output_proof(self) -> list[bytes]:
        """The result's output proof: tensor_root(output) at slot m climbs to C_m."""
        return self.slot_proof(self.m, self.m)

    def args(self, j: int) -> list[bytes]:
        """Node j's run-time inputs' bytes."""
        return [self.tensors[s] for s in self.split.node(j).args]


def run_trace(split: GraphSplit, x: Any) -> Trace:
    """The phase-1 trace of input x, computed natively node by node (never the VM). A generation
    model's split is unrolled to the request's k first (docs/two-phase.md §10). NodeFailed (with the
    trace before it) if a node's native run fails."""
    first = input_bytes(split, x)
    split = split.for_input(first)
    tensors, roots = [first], [tensor_root(first)]
    tree = SlotTree()
    tree.set(0, roots[0])
    commitments = [tree.root]
    for node in split.nodes:
        try:
            out = node.run_native([tensors[s] for s in node.args])
        except MinidnnError as exc:
            raise NodeFailed(node.index, Trace(split, tensors, roots, commitments), exc) from None
        tensors.append(out)
        roots.append(tensor_root(out))
        tree.set(node.index, roots[-1])
        commitments.append(tree.root)
    return Trace(split, tensors, roots, commitments, {split.node_count: tree})


def failed_trace(trace: Trace, j: int, final_state: bytes) -> Trace:
    """`trace` cut before node j, which failed with the packed `final_state` (it must not be a clean
    exit): slots 0..j-1, C_0..C_{j-1} and C_j = failure_hash(C_{j-1}, j, keccak256(final_state))."""
    if not 1 <= j <= min(trace.m, len(trace.roots)):
        raise IndexError(f"node {j}: the trace has slots 0..{len(trace.roots) - 1}")
    if is_success(decode_state(final_state)):
        raise ValueError(f"node {j}: a final state that exited with code 0 is no failure")
    commitments = [*trace.commitments[:j], failure_hash(trace.commitments[j - 1], j, keccak256(final_state))]
    trees = {k: t for k, t in trace._trees.items() if k < j}
    return Trace(trace.split, trace.tensors[:j], trace.roots[:j], commitments, trees, j, bytes(final_state))


# ---- descriptors and nodesRoot ---------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class GraphCommitment:
    """What a graph model registers: descriptors, nodesRoot, nodeCount, input/output lengths."""

    specs: tuple[NodeSpec, ...]     # node j at j - 1
    steps: tuple[int, ...]          # measured VM steps of each node (reference input)
    nodes_root: bytes
    input_length: int
    output_length: int
    _tree: SlotTree = field(repr=False)
    period: int = 0                 # generation models: P, the nodes of one token (docs/two-phase.md §10)

    @property
    def node_count(self) -> int:
        return len(self.specs)

    def spec(self, j: int) -> NodeSpec:
        if not 1 <= j <= len(self.specs):
            raise IndexError(f"node {j}: this model has nodes 1..{len(self.specs)}")
        return self.specs[j - 1]

    def spec_proof(self, j: int) -> list[bytes]:
        """Node j's descriptor hash's 16 siblings in nodesRoot."""
        self.spec(j)
        return self._tree.proof(j)


def node_vm_state(node: GraphNode, image: Image, node_args: Sequence[bytes]) -> State:
    """Node j's initial VM state for its args' bytes (image: `node.image()`)."""
    return image.initial_state(node.model_input(node_args))


def node_start_state(trace: Trace, j: int, image: Image | None = None) -> State:
    """Node j's initial VM state on the trace's args: phase 2's step-0 state (its hash is I).
    Both daemons start their phase-2 run (`mipsvm.runs.Run`) from it."""
    node = trace.split.node(j)
    return node_vm_state(node, image or node.image(), trace.args(j))


def run_node_vm(trace: Trace, j: int, image: Image | None = None, max_steps: int = 1 << 40,
                engine: str = "fast", allow_no_halt: bool = False) -> tuple[State, Image]:
    """Run node j in the VM on the trace's args; (final state, image). NodeRunError unless it
    exits 0 with the output region root equal to the native tensor root of slot j (or, with
    `allow_no_halt`, is still running at `max_steps`)."""
    node = trace.split.node(j)
    image = image or node.image()
    final, _ = run_state(node_start_state(trace, j, image), max_steps, engine)
    if allow_no_halt and not final.exited:
        return final, image
    if not final.exited or final.exit_code != 0:
        raise NodeRunError(f"node {j} ({node.op}): VM run ended exited={final.exited} "
                           f"code={final.exit_code} at step {final.step}")
    root = final.memory.subtree_root(image.output_base, image.output_size)
    if root != trace.roots[j]:
        raise NodeRunError(f"node {j} ({node.op}): VM output root {root.hex()} != native "
                           f"{trace.roots[j].hex()}")
    return final, image


def reference_input(split: GraphSplit, seed: int = 0) -> np.ndarray:
    """A seeded input for measuring steps: standard normal floats, or zeros for int32 ids; for a
    generation model a 1-token request sampled at temperature 1 (sampling costs more than argmax)."""
    if split.period:
        return np.array([1, 1, 0x3F800000, seed] + [0] * (split.input_shape[0] - 4), np.uint32).view(np.int32)
    if split.input_dtype == 1:
        return np.zeros(split.input_shape, np.int32)
    return np.random.default_rng(seed).standard_normal(split.input_shape).astype(np.float32)


def commit(split: GraphSplit, x: Any = None, engine: str = "fast",
           max_steps: Mapping[int, int] | None = None) -> GraphCommitment:
    """Descriptors and nodesRoot of a split model. The node-by-node output of `x` (default:
    `reference_input`) is checked against the whole model's native run, every node runs once in the
    VM on the trace of `x` and is checked against its native run (NodeRunError), and its
    steps set maxSteps (`max_steps_for`), unless `max_steps` names node j's bound itself (a
    registrant's choice: a node whose run takes longer has the outcome NoHalt)."""
    x = reference_input(split) if x is None else x
    trace = run_trace(split, x)
    if trace.output_bytes != split.native().run(x).tobytes():
        raise NodeRunError("the node-by-node output differs from the whole model's native output")
    chosen = dict(max_steps or {})
    if any(not 1 <= j <= split.node_count for j in chosen):
        raise ValueError(f"max_steps names nodes outside 1..{split.node_count}: {sorted(chosen)}")
    specs, steps = [], []
    tree = SlotTree()
    for node in split.nodes:
        bound = chosen.get(node.index)
        final, image = run_node_vm(trace, node.index, engine=engine,
                                   max_steps=bound if bound is not None else 1 << 40, allow_no_halt=bound is not None)
        spec = node_spec(node, image, bound if bound is not None else max_steps_for(final.step))
        specs.append(spec)
        steps.append(final.step)
        tree.set(node.index, spec.hash())
    return GraphCommitment(tuple(specs), tuple(steps), tree.root, split.input_nbytes,
                           split.output_nbytes, tree, split.period)


COMMIT_CACHE_VERSION = 1


def commit_cache_dir() -> Path:
    """Where `cached_commit` keeps descriptors: $OPTIMIST_CACHE_DIR/two-phase, else
    $XDG_CACHE_HOME/optimist/two-phase (default ~/.cache)."""
    env = os.environ.get("OPTIMIST_CACHE_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "optimist"
    return base / "two-phase"


def commit_key(split: GraphSplit, max_steps: Mapping[int, int] | None = None) -> str:
    """The content key of `commit(split, max_steps=...)` on the reference input: every node's sub-model,
    runtime.elf, the step bound rule and the chosen bounds (a change of any gives a new key)."""
    from minidnn.image import runtime_elf

    h = hashlib.sha256()
    chosen = sorted((int(j), int(n)) for j, n in (max_steps or {}).items())
    rule = (COMMIT_CACHE_VERSION, MAX_STEPS_FACTOR, MAX_STEPS_SLACK, chosen, split.input_nbytes, split.output_nbytes)
    for part in (json.dumps(rule).encode(), runtime_elf().read_bytes(), *(n.blob for n in split.nodes)):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def cached_commit(split: GraphSplit, max_steps: Mapping[int, int] | None = None,
                  cache_dir: Path | None = None) -> GraphCommitment:
    """`commit(split, max_steps=max_steps)` on the reference input, kept on disk by content
    (`commit_key`): a daemon serving a model measured before (by it or by `optimist register`) does
    not run every node in the VM again. An unreadable or damaged file is measured again."""
    path = (cache_dir or commit_cache_dir()) / f"{commit_key(split, max_steps)}.json"
    try:
        data = json.loads(path.read_text())
        specs = tuple(NodeSpec.from_tuple(abi_decode([NODE_SPEC_ABI], bytes.fromhex(h))[0]) for h in data["specs"])
        steps = tuple(int(n) for n in data["steps"])
        if len(specs) == len(steps) == split.node_count:
            tree = SlotTree()
            for j, spec in enumerate(specs, 1):
                tree.set(j, spec.hash())
            return GraphCommitment(specs, steps, tree.root, split.input_nbytes, split.output_nbytes, tree,
                                   split.period)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    commitment = commit(split, max_steps=max_steps)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"specs": [spec.encode().hex() for spec in commitment.specs],
                                   "steps": list(commitment.steps)}))
        tmp.replace(path)
    except OSError:
        pass    # the cache is an optimization: a read-only home still serves
    return commitment


# ---- the transition move ---------------------------------------------------------------------

def input_root(arg_roots: Sequence[bytes], arg_sizes: Sequence[int], arg_size: int) -> bytes:
    """The node's input-region root from its args' tensor roots (docs/two-phase.md §2)."""
    k = len(arg_roots)
    level = region_level(0, arg_size)
    nodes = [lift(r, s, arg_size) for r, s in zip(arg_roots, arg_sizes, strict=True)]
    nodes += [zero_hash(level)] * (next_pow2(k) - k)
    while len(nodes) > 1:
        nodes = [keccak256(nodes[i] + nodes[i + 1]) for i in range(0, len(nodes), 2)]
    return nodes[0]


def node_initial_state(spec: NodeSpec, arg_roots: Sequence[bytes]) -> bytes:
    """The node's packed initial state as the contract computes it; I = keccak256 of it."""
    root = input_root(arg_roots, spec.arg_sizes, spec.arg_size)
    return initial_packed_state(climb(root, spec.input_base, spec.input_size, list(spec.input_path)),
                                spec.entry)


@dataclass(frozen=True)
class Transition:
    """The data of `enterNode(gameId, j, ...)` and what phase 2 starts from."""

    j: int
    spec: NodeSpec
    spec_proof: tuple[bytes, ...]
    arg_roots: tuple[bytes, ...]
    arg_proofs: tuple[tuple[bytes, ...], ...]
    final_state: bytes               # 186 bytes, packed
    output_root: bytes
    output_path: tuple[bytes, ...]
    slot_proof: tuple[bytes, ...]
    initial_state: bytes             # packed; I = keccak256(initial_state) = phase 2's loHash
    c_prev: bytes                    # C_{j-1}
    c_next: bytes                    # C_j

    @property
    def initial_hash(self) -> bytes:
        return keccak256(self.initial_state)

    @property
    def steps(self) -> int:
        """Phase 2's hi: the node run's step count."""
        return int(decode_state(self.final_state)["step"])

    def contract_args(self) -> tuple[Any, ...]:
        """(j, spec tuple, specProof, argRoots, argProofs, finalState, outputRoot, outputPath,
        slotProof): enterNode's arguments after gameId, as web3 takes them."""
        return (self.j, self.spec.as_tuple(), list(self.spec_proof), list(self.arg_roots),
                [list(p) for p in self.arg_proofs], self.final_state, self.output_root,
                list(self.output_path), list(self.slot_proof))


def transition(trace: Trace, commitment: GraphCommitment, j: int,
               engine: str = "fast", final: State | None = None) -> tuple[Transition, State]:
    """The honest transition move at node j (runs node j in the VM); (move, final State).
    `final`: node j's final VM state from a run the caller already made (from `node_start_state`);
    it is checked (exit 0 with the native output root) instead of running the node again. Node j of an
    unrolled generation is template node jt's descriptor (docs/two-phase.md §10)."""
    jt, _ = trace.split.position(j)
    spec = commitment.spec(jt)
    node = trace.split.node(j)
    if trace.failed is not None and j >= trace.failed:
        return _failed_transition(trace, commitment, j, final)
    if final is None:
        final, image = run_node_vm(trace, j, max_steps=spec.max_steps, engine=engine)
        if image.image_root != spec.image_root:
            raise NodeRunError(f"node {j}: image root differs from the registered descriptor's")
    elif not final.exited or final.exit_code != 0 or \
            final.memory.subtree_root(spec.output_base, spec.output_size) != trace.roots[j]:
        raise NodeRunError(f"node {j} ({node.op}): the given final state is not a clean exit with the "
                           "native output root")
    if final.step > spec.max_steps:
        raise NodeRunError(f"node {j}: {final.step} steps > maxSteps {spec.max_steps}")
    arg_roots = tuple(trace.roots[s] for s in node.args)
    move = Transition(
        j=j, spec=spec, spec_proof=tuple(commitment.spec_proof(jt)), arg_roots=arg_roots,
        arg_proofs=tuple(tuple(trace.slot_proof(s, j - 1)) for s in node.args),
        final_state=final.encode(), output_root=trace.roots[j],
        output_path=tuple(region_path(final.memory, spec.output_base, spec.output_size)),
        slot_proof=tuple(trace.slot_proof(j, j - 1)),
        initial_state=node_initial_state(spec, arg_roots),
        c_prev=trace.commitments[j - 1], c_next=trace.commitments[j])
    return move, final


def _failed_transition(trace: Trace, commitment: GraphCommitment, j: int,
                       final: State | None) -> tuple[Transition, State]:
    """The honest transition into the trace's failed node: its failure state, C_j the failure hash."""
    if j != trace.failed or trace.failure_state is None:
        raise IndexError(f"node {j}: this trace ended at node {trace.failed}, which failed")
    jt, _ = trace.split.position(j)
    spec = commitment.spec(jt)
    node = trace.split.node(j)
    if final is None:
        final, _ = run_state(node_start_state(trace, j), spec.max_steps, "fast")
    if final.encode() != trace.failure_state:
        raise NodeRunError(f"node {j} ({node.op}): the given final state is not the trace's failure")
    arg_roots = tuple(trace.roots[s] for s in node.args)
    move = Transition(
        j=j, spec=spec, spec_proof=tuple(commitment.spec_proof(jt)), arg_roots=arg_roots,
        arg_proofs=tuple(tuple(trace.slot_proof(s, j - 1)) for s in node.args),
        final_state=final.encode(), output_root=bytes(32), output_path=(), slot_proof=(),
        initial_state=node_initial_state(spec, arg_roots),
        c_prev=trace.commitments[j - 1], c_next=trace.commitments[j])
    return move, final


def check_transition(nodes_root: bytes, j: int, c_prev: bytes, c_next: bytes, spec: NodeSpec,
                     spec_proof: Sequence[bytes], arg_roots: Sequence[bytes],
                     arg_proofs: Sequence[Sequence[bytes]], final_state: bytes, output_root: bytes,
                     output_path: Sequence[bytes], slot_proof: Sequence[bytes], *, node_count: int = 0,
                     period: int = 0, steps: int = 0) -> bytes:
    """The contract's enterNode checks (docs/two-phase.md §3); returns I, the node's initial state
    hash (phase 2's loHash). TransitionError(reason) names the first failed check. A generation
    model's game (`period` > 0; `node_count` registered, `steps` the request's unrolled count) checks
    node j against template node jt's descriptor with its arg slots shifted (§10)."""
    if not 1 <= j < SLOT_COUNT:
        raise TransitionError("BadNode", f"node index {j} outside 1..{SLOT_COUNT - 1}")
    jt, shift = unrolled_position(j, node_count, period, steps)
    # 1. the registered descriptor
    try:
        if slot_climb(spec.hash(), jt, spec_proof) != nodes_root:
            raise TransitionError("SpecProofMismatch", f"descriptor of node {j} is not in nodesRoot")
    except ValueError as exc:
        if isinstance(exc, TransitionError):
            raise
        raise TransitionError("SpecProofMismatch", str(exc)) from None
    k = len(spec.args)
    if k == 0 or not (len(arg_roots) == len(arg_proofs) == len(spec.arg_sizes) == k):
        raise TransitionError("BadArgs", f"{k} args, {len(spec.arg_sizes)} sizes, "
                              f"{len(arg_roots)} roots, {len(arg_proofs)} proofs")
    # 2. the args are in C_{j-1}
    for i, (template_slot, root, proof) in enumerate(zip(spec.args, arg_roots, arg_proofs, strict=True)):
        slot = template_slot + shift
        if slot >= j:
            raise TransitionError("BadArgs", f"arg {i} reads slot {slot} >= node {j}")
        if len(proof) != SLOT_DEPTH or slot_climb(root, slot, proof) != c_prev:
            raise TransitionError("ArgProofMismatch", f"arg {i} (slot {slot}) is not in C_{j - 1}")
    try:
        state = decode_state(final_state)
    except StateError as exc:
        raise TransitionError("BadFinalState", str(exc)) from None
    if not is_success(state):
        # 3'-4'. a failed node: C_j is the failure hash; exited with a non-zero code within maxSteps,
        # or still running at exactly maxSteps (outputRoot, outputPath and slotProof are not used)
        if not (1 <= state["step"] <= spec.max_steps if state["exited"] else state["step"] == spec.max_steps):
            raise TransitionError("StepsOutOfRange", f"step {state['step']} of a failed node (exited="
                                  f"{state['exited']}) against maxSteps {spec.max_steps}")
        if failure_hash(c_prev, j, keccak256(final_state)) != c_next:
            raise TransitionError("FailureMismatch", f"C_{j} is not the failure hash of this final state")
        return _initial_hash(spec, arg_roots, k)
    # 3. slot j empty in C_{j-1}, outputRoot in C_j, same siblings
    if len(slot_proof) != SLOT_DEPTH or slot_climb(bytes(32), j, slot_proof) != c_prev:
        raise TransitionError("SlotNotEmpty", f"slot {j} is not empty in C_{j - 1}")
    if slot_climb(output_root, j, slot_proof) != c_next:
        raise TransitionError("OutputSlotMismatch", f"outputRoot at slot {j} does not give C_{j}")
    # 4. the claimed final state
    if not 1 <= state["step"] <= spec.max_steps:
        raise TransitionError("StepsOutOfRange", f"step {state['step']} outside 1..{spec.max_steps}")
    try:
        if climb(output_root, spec.output_base, spec.output_size, list(output_path)) != state["mem_root"]:
            raise TransitionError("OutputProofMismatch", "outputRoot is not the final memory's output region")
    except RegionError as exc:
        raise TransitionError("BadRegion", str(exc)) from None
    return _initial_hash(spec, arg_roots, k)


def _initial_hash(spec: NodeSpec, arg_roots: Sequence[bytes], k: int) -> bytes:
    """Check 5: I from the descriptor and the args' roots."""
    sizes_ok = all(32 <= s <= spec.arg_size and s & (s - 1) == 0 for s in spec.arg_sizes)
    if not sizes_ok or spec.input_size != spec.arg_size * next_pow2(k):
        raise TransitionError("BadRegion", f"argSizes {spec.arg_sizes} / argSize {spec.arg_size} / "
                              f"inputSize {spec.input_size}")
    try:
        return keccak256(node_initial_state(spec, arg_roots))
    except (RegionError, ValueError) as exc:
        raise TransitionError("BadRegion", str(exc)) from None


# ---- bench -----------------------------------------------------------------------------------

def bench(model: Any, x: Any = None, repeat: int = 5, vm: bool = True) -> dict[str, Any]:
    """For one model: node count, native phase-1 trace time vs native inference time (min and
    median of `repeat`), and (vm=True) VM steps of the largest node vs the whole model."""
    from minidnn.image import run_vm

    split = split_model(model)
    x = reference_input(split) if x is None else x
    m = load(split.blob)
    infer_t, trace_t = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        m.run(x)
        infer_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        trace = run_trace(split, x)
        trace.output_proof()
        trace_t.append(time.perf_counter() - t0)
    out: dict[str, Any] = {
        "nodes": split.node_count,
        "native_infer_s": {"min": min(infer_t), "median": statistics.median(infer_t)},
        "phase1_trace_s": {"min": min(trace_t), "median": statistics.median(trace_t)},
        "trace_over_infer": {"min": min(trace_t) / min(infer_t),
                             "median": statistics.median(trace_t) / statistics.median(infer_t)},
    }
    if vm:
        commitment = commit(split, x)
        largest = max(range(split.node_count), key=lambda i: commitment.steps[i])
        whole = run_vm(split.blob, x)
        out.update({"node_steps": list(commitment.steps), "largest_node": largest + 1,
                    "largest_node_op": split.nodes[largest].op,
                    "largest_node_steps": commitment.steps[largest],
                    "sum_node_steps": sum(commitment.steps), "whole_model_steps": whole.steps})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m minidnn.phase1 MODEL.mdnn [--repeat N] [--no-vm]`: print `bench` as JSON."""
    import argparse
    import json
    import sys

    from minidnn.format import FormatError
    from minidnn.native import MinidnnError

    parser = argparse.ArgumentParser(prog="python -m minidnn.phase1", description=main.__doc__)
    parser.add_argument("model", help="a .mdnn file")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (min and median)")
    parser.add_argument("--no-vm", action="store_true", help="skip the VM runs (steps)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    try:
        report = bench(args.model, repeat=args.repeat, vm=not args.no_vm)
    except (MinidnnError, FormatError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


__all__ = ["FAILURE_TAG", "GraphCommitment", "cached_commit", "commit_cache_dir", "commit_key", "NodeFailed", "NodeRunError", "Trace", "Transition",
           "TransitionError", "bench", "check_transition", "commit", "failed_trace", "failure_claim",
           "failure_hash", "input_bytes", "input_commitment", "input_root",
           "node_initial_state", "node_start_state", "node_vm_state", "reference_input", "run_node_vm", "run_trace",
           "transition"]


if __name__ == "__main__":
    raise SystemExit(main())
