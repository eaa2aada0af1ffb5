"""Two-phase games of graph models in the daemons (docs/two-phase.md, issue #17).

A `GraphModel` is a `.mdnn` graph served with two-phase games: it is registered by its nodesRoot
(`register_graph_model`), requests are answered by a native run plus the phase-1 trace
(`GraphTrace`: C_0..C_m, never the VM), phase 1 bisects over node indices with C_j hashes, and
only the disputed node runs in the VM (`NodeRun`, a `mipsvm.runs.Run` from `node_start_state`),
whose phase-2 game is today's step game. The daemons call `defend_graph_game` (operator) and
`play_graph_game` (challenger) for a game whose trace is a `GraphTrace`; everything else of the
loop (requests, results, finalization, withdrawals, restarts) is shared with program models.

Lies (`lie_graph`, `GRAPH_LIES`), for dishonest daemons and tests:

- "phase1": node k = ceil(m / 2) outputs a wrong tensor, so C_j is wrong from k on and the output is
  wrong; the only phase-2 lie is the one the transition forces (the final state of node k's run
  holds the wrong output; every earlier step is true).
- "phase2": only node m's output is wrong, so every phase-1 midpoint is right; the lie is inside
  node m's VM run: from its middle step on, every state claims the wrong output region.
- "transition": as "phase1", but the operator's enterNode carries node k's true final state, which
  does not match its C_k: the contract rejects it and the operator loses on its clock.
- "fail": a request whose every node succeeds is claimed to fail at node k = ceil(m / 2): its final
  state is the true one with exit code 1 (a Failure result; every earlier step of the run is true).
- "nofail": a request whose node k fails (a non-zero exit, or no halt within its maxSteps) is claimed
  to succeed: node k "outputs" zeros, the later nodes run natively on that, and node k's claimed final
  state is its true one marked exited with code 0 and holding the zeros.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from challenger.models import ModelError
from contracts.system import GameInfo, GraphModelSpec, NodeEntry, Outcome, Phase, ResultInfo
from mipsvm.memory import keccak256
from mipsvm.runs import DEFAULT_INTERVAL, Run, RunError
from mipsvm.state import State
from mipsvm.stepper import Witness, step_with_witness

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from challenger.client import ChainClient
    from challenger.store import Store
    from minidnn.image import Image
    from minidnn.nodes import GraphSplit
    from minidnn.phase1 import GraphCommitment
    from minidnn.phase1 import Trace as Phase1Trace

log = logging.getLogger("optimist.graph")


class Daemon(Protocol):
    """What the graph-game functions use of a daemon (challenger.daemon.Daemon and its two roles;
    a protocol keeps the import one-way: the daemons import this module, not the reverse)."""

    client: ChainClient
    store: Store
    races: tuple[str, ...]
    _workers: dict[str, ThreadPoolExecutor] | None
    _node_runs: dict[tuple[int, int], Future[Any]]

    def emit(self, event: str, **fields: Any) -> None: ...

    def send(self, key: str, function: str, *args: Any, value: int = 0, expected: tuple[str, ...] = ()) -> bool: ...


class Operator(Daemon, Protocol):
    """The operator's extra: proving a phase-2 game it wins."""

    def _prove_if_winning(self, gid: int, lo: int, lo_hash: bytes, hi_hash: bytes, trace: Any) -> int: ...


Challenger = Daemon

GRAPH_LIES = ("phase1", "phase2", "transition", "fail", "nofail")
NODE_IMAGES = 2      # node VM images kept per model (an image holds that node's weights)
NODE_CHECKPOINTS = 256   # a node run keeps about this many checkpoints at most (a wider grid for long runs)


def node_interval(interval: int, measured_steps: int) -> int:
    """The checkpoint interval of a node run: `interval`, or for a node measured at more than
    NODE_CHECKPOINTS intervals the power of two that gives about NODE_CHECKPOINTS checkpoints
    (each checkpoint costs a sync and a memory root; a phase-2 query runs at most one interval,
    mostly less: mipsvm.runs.Run keeps a runner at the last query)."""
    wide = 1 << max(0, (measured_steps // NODE_CHECKPOINTS).bit_length())
    return max(interval, wide)


class GraphModelError(ModelError):
    """A graph model that cannot be served (unreadable, or the first cut cannot split it)."""


# ------------------------------------------------------------------------------------- the model

class GraphModel:
    """A `.mdnn` graph model served with two-phase games (`graph = True` tells the daemons)."""

    graph = True

    def __init__(self, model: str | Path | bytes, name: str | None = None, *, verify_nodes: bool = False,
                 max_steps: dict[int, int] | None = None, cache: bool = True,
                 max_node_macs: int | None = None) -> None:
        from minidnn.format import FormatError
        from minidnn.native import MinidnnError
        from minidnn.nodes import MAX_NODE_MACS, split_model

        if isinstance(model, str | Path):
            path = Path(model)
            if not path.is_file():
                raise GraphModelError(f"model file {path} does not exist")
            blob, default_name = path.read_bytes(), path.stem
        else:
            path, blob, default_name = None, bytes(model), "graph"
        self.name = name or default_name
        self.path = path   # what worker processes load (challenger.pool); None: built from bytes
        try:
            # the node work budget (docs/two-phase.md §2a) is part of the registered split: keep the default
            self.split: GraphSplit = split_model(blob, max_node_macs or MAX_NODE_MACS)
        except (FormatError, MinidnnError) as exc:
            raise GraphModelError(f"{self.name}: {exc}") from None
        self.blob = blob
        self._images: OrderedDict[int, Image] = OrderedDict()
        # run every node of a request in the VM too (a node can exceed its maxSteps only there: the
        # outcome NoHalt); off, only a node whose native run fails is run in the VM before answering
        self.verify_nodes = verify_nodes
        self._max_steps = dict(max_steps or {})   # registrant-chosen node step bounds (minidnn.phase1.commit)
        self.cache = cache   # descriptors kept on disk by content (minidnn.phase1.cached_commit)

    @cached_property
    def commitment(self) -> GraphCommitment:
        """Descriptors and nodesRoot (every node runs once in the VM to measure its maxSteps; with `cache`,
        once per content: minidnn.phase1.cached_commit)."""
        from minidnn.phase1 import cached_commit, commit

        if self.cache:
            return cached_commit(self.split, max_steps=self._max_steps)
        return commit(self.split, max_steps=self._max_steps)

    @property
    def node_count(self) -> int:
        return self.split.node_count

    @property
    def input_length(self) -> int:
        return self.split.input_nbytes

    @property
    def output_length(self) -> int:
        return self.split.output_nbytes

    @property
    def nodes_root(self) -> bytes:
        return self.commitment.nodes_root

    @property
    def period(self) -> int:
        """A generation model's nodes per token (docs/two-phase.md §10); 0 for a single pass."""
        return self.split.period

    @cached_property
    def blob_hash(self) -> bytes:
        """keccak256 of the whole .mdnn (hashed once: GPT-2 small's 650 MB take seconds)."""
        return keccak256(self.blob)

    def spec(self) -> GraphModelSpec:
        """What `System.register_graph_model` takes."""
        return GraphModelSpec(self.nodes_root, self.node_count, self.input_length, self.output_length,
                              self.blob_hash, f"optimist:{self.name}", self.period)

    def matches(self, nodes_root: bytes, node_count: int, input_length: int, output_length: int,
                period: int = 0) -> bool:
        """True if a registered graph model is this one (same descriptors, sizes and period)."""
        return (bytes(nodes_root), node_count, input_length, output_length, period) == \
            (self.nodes_root, self.node_count, self.input_length, self.output_length, self.period)

    def node_image(self, j: int) -> Image:
        """Node j's VM image (the last NODE_IMAGES are kept)."""
        image = self._images.get(j)
        if image is None:
            image = self.split.node(j).image()
            self._images[j] = image
            while len(self._images) > NODE_IMAGES:
                self._images.popitem(last=False)
        self._images.move_to_end(j)
        return image

    def array(self, input_bytes: bytes) -> np.ndarray:
        """A request's input bytes as the graph input (GraphModelError if the length is wrong)."""
        if len(input_bytes) != self.input_length:
            raise GraphModelError(f"input is {len(input_bytes)} bytes; the model takes exactly "
                                  f"{self.input_length}")
        dtype = "<i4" if self.split.input_dtype == 1 else "<f4"
        return np.frombuffer(bytes(input_bytes), dtype).reshape(self.split.input_shape)

    def infer(self, input_bytes: bytes) -> bytes:
        """Whole-model native inference (the node-by-node output is checked against it per model, in
        minidnn.phase1.commit, and by the bench; the operator posts from its phase-1 trace)."""
        out = self.split.native().run(self.array(input_bytes))
        return np.ascontiguousarray(out, dtype="<i4" if out.dtype.kind == "i" else "<f4").tobytes()


def is_graph(model: Any) -> bool:
    return bool(getattr(model, "graph", False))


# ------------------------------------------------------------------------------------- node runs

# One VM run at a time in a process: two fast-runner (unicorn) runs in two threads at once were seen
# to fail ("unicorn did not replay deterministically") when two daemons shared a process; node runs go
# to a daemon's game lane, so they are serialized here.
VM_LOCK = threading.RLock()


class NodeRun:
    """Node j's VM run from its initial state (phase 2): hashes and witnesses at any step."""

    def __init__(self, start: State, max_steps: int, interval: int = DEFAULT_INTERVAL,
                 engine: str | None = None) -> None:
        try:
            with VM_LOCK:
                self.run = Run(start, interval, max_steps, engine=engine or "fast", must_halt=False)
        except (RunError, ValueError) as exc:
            raise GraphModelError(str(exc)) from None
        self.initial_hash = start.hash()
        self.final = self.run.final
        self.steps = self.final.step

    def hash_at(self, step: int) -> bytes:
        with VM_LOCK:
            return self.run.hash_at(step)

    def state_at(self, step: int) -> State:
        with VM_LOCK:
            return self.run.state_at(step)

    def witness_at(self, step: int) -> Witness:
        """Witness of the step from state `step` to `step + 1` (reference stepper)."""
        return step_with_witness(self.state_at(step))


class EditedNodeRun:
    """A lie about a node run: the true run, except that from step `diverge` on (before `until`, if
    given) every state claims `output` in the output region (if given) and, if `exit_code` is given,
    to have exited with it."""

    def __init__(self, honest: NodeRun, output_base: int, output: bytes | None, diverge: int,
                 until: int | None = None, exit_code: int | None = None) -> None:
        self.honest = honest
        self.output_base = output_base
        self.output = output
        self.diverge = diverge
        self.until = until
        self.exit_code = exit_code
        self.initial_hash = honest.initial_hash
        self.steps = honest.steps
        self.final = self.state_at(self.steps)

    def _edited(self, step: int) -> bool:
        return step >= self.diverge and (self.until is None or step < self.until)

    def state_at(self, step: int) -> State:
        st = self.honest.state_at(step)
        if self._edited(step):
            if self.output is not None:
                st.memory.write(self.output_base, self.output)
            if self.exit_code is not None:
                st.exited, st.exit_code = True, self.exit_code
        return st

    def hash_at(self, step: int) -> bytes:
        return self.state_at(step).hash() if self._edited(step) else self.honest.hash_at(step)

    def witness_at(self, step: int) -> Witness:
        return step_with_witness(self.state_at(step))


AnyNodeRun = NodeRun | EditedNodeRun


# ------------------------------------------------------------------------------------- traces

class GraphTrace:
    """What a daemon believes about a graph request: the phase-1 trace (native) and, on demand, the VM
    run of any node from its inputs in that trace. Looks like a `Trace` to the shared loop: `steps` is
    m, `hash_at(j)` is C_j, `final_packed` is C_m (what postResult takes for a graph model). A request
    whose node j fails ends there (docs/two-phase.md §3a): `steps` is j, `hash_at(j)` the failure hash,
    `final_packed` the failure claim, `outcome` Failure or NoHalt."""

    graph = True
    diverge: int | None = None
    how = "honest"

    def __init__(self, model: GraphModel, input_bytes: bytes, *, interval: int = DEFAULT_INTERVAL,
                 engine: str | None = None, phase1: Phase1Trace | None = None) -> None:
        from minidnn.native import MinidnnError
        from minidnn.phase1 import NodeFailed, run_trace

        self.model = model
        self.input = bytes(input_bytes)
        self.interval = interval
        self.engine = engine
        self._nodes: dict[int, AnyNodeRun] = {}
        self._verified: set[int] = set()
        if phase1 is not None:
            self.phase1 = phase1
            return
        try:
            self.phase1 = run_trace(model.split, model.array(self.input))
        except NodeFailed as exc:      # the node's VM run gives the failure's final state
            self.phase1 = exc.trace
            self._fail(exc.node, natively=True)
            return
        except MinidnnError as exc:   # a request the two-phase game cannot answer (e.g. k outside 1..T)
            raise GraphModelError(f"{model.name}: {exc}") from None
        if model.verify_nodes:
            self.verify()

    @property
    def steps(self) -> int:
        """The last phase-1 index: m, or the failed node (the result's `steps`)."""
        return self.phase1.last

    @property
    def failed(self) -> int | None:
        return self.phase1.failed

    @property
    def _failure(self) -> dict[str, Any] | None:
        from mipsvm.state import decode_state

        return None if self.phase1.failure_state is None else decode_state(self.phase1.failure_state)

    @property
    def outcome(self) -> Outcome:
        f = self._failure
        if f is None:
            return Outcome.SUCCESS
        return Outcome.FAILURE if f["exited"] else Outcome.NO_HALT

    @property
    def exit_code(self) -> int:
        f = self._failure
        return f["exit_code"] if f is not None and f["exited"] else 0

    @property
    def output(self) -> bytes:
        return b"" if self.failed is not None else self.phase1.output_bytes

    @property
    def final_packed(self) -> bytes:
        """postResult's `finalState`: C_m, or for a failed node the failure claim (C_{j-1}, j, its state)."""
        from minidnn.phase1 import failure_claim

        if self.failed is None:
            return self.phase1.commitments[self.steps]
        return failure_claim(self.phase1.commitments[self.failed - 1], self.failed, self.phase1.failure_state or b"")

    @property
    def final_hash(self) -> bytes:
        return self.phase1.commitments[self.steps]

    def output_proof(self) -> list[bytes]:
        return [] if self.failed is not None else self.phase1.output_proof()

    def hash_at(self, j: int) -> bytes:
        """C_j; after a failed node, its failure hash (every later node is skipped: a claim that goes on
        differs); a claim past m, which the contract refuses anyway, is no C_j: 32 x 0xff."""
        if 0 <= j <= self.steps:
            return self.phase1.commitments[j]
        return self.phase1.commitments[self.steps] if self.failed is not None and j <= self.phase1.split.node_count \
            else b"\xff" * 32

    def _fail(self, j: int, natively: bool = False) -> None:
        """Node j failed: its VM run (to its maxSteps) gives the final state; the trace ends there.
        GraphModelError if that run is a clean exit after a failed native run (native and VM disagree)."""
        from minidnn.phase1 import failed_trace

        run = self.node_run(j)
        final = run.final
        if natively and final.exited and final.exit_code == 0:
            raise GraphModelError(f"node {j} failed natively but exits 0 in the VM (native and VM disagree)")
        self.phase1 = failed_trace(self.phase1, j, final.encode())
        self._nodes = {k: r for k, r in self._nodes.items() if k <= j}

    def verify(self, j: int | None = None) -> None:
        """Run node j (default: every node, until one fails) in the VM: a node that does not exit 0
        within its maxSteps ends the trace as a failure there (NoHalt, or an exit code the native run
        did not have). GraphModelError if it exits 0 with another output than the native run."""
        for k in [j] if j is not None else range(1, self.phase1.split.node_count + 1):
            if self.failed is not None and k >= self.failed:
                return
            if k in self._verified:
                continue
            run = self.node_run(k)
            final = run.final
            if final.exited and final.exit_code == 0:
                spec = self.model.commitment.spec(self.phase1.split.position(k)[0])
                if final.memory.subtree_root(spec.output_base, spec.output_size) != self.phase1.roots[k]:
                    raise GraphModelError(f"node {k}: VM output differs from the native output")
                self._verified.add(k)
                if j is None:
                    self._nodes.pop(k, None)    # kept only if a game needs it
                continue
            self._fail(k)
            return

    def agrees(self, steps: int, final_hash: bytes, failure: bool) -> bool:
        """True if a posted graph result (its `steps` and finalStateHash; `failure`: a Failure / NoHalt
        claim, no output) is this trace's. A claim that node `steps` failed where this trace ran it
        natively is checked in the VM first (a NoHalt is only seen there), and this trace follows the VM."""
        if self.hash_at(steps) == final_hash:
            return True
        if failure and self.failed is None and 1 <= steps <= self.phase1.split.node_count and steps not in self._verified:
            self.verify(steps)
            return self.hash_at(steps) == final_hash
        return False

    def honest_node_run(self, j: int) -> NodeRun:
        """Node j's VM run on its inputs in this trace, to its registered maxSteps."""
        from minidnn.phase1 import node_start_state

        jt, _ = self.phase1.split.position(j)     # a generation request's node j runs template node jt's image
        start = node_start_state(self.phase1, j, self.model.node_image(jt))
        commitment = self.model.commitment
        interval = node_interval(self.interval, commitment.steps[jt - 1])
        return NodeRun(start, commitment.spec(jt).max_steps, interval, self.engine)

    def node_run(self, j: int) -> AnyNodeRun:
        """The node run this daemon believes (computed once per node)."""
        run = self._nodes.get(j)
        if run is None:
            run = self._nodes[j] = self.honest_node_run(j)
        return run

    def node_entry(self, j: int) -> NodeEntry:
        """The transition move into node j (its descriptor, proofs against C_{j-1} / C_j, final state)."""
        from minidnn.phase1 import transition

        run = self.node_run(j)
        move, _ = transition(self.phase1, self.model.commitment, j, final=run.final)
        return _entry(move)


def _entry(move: Any) -> NodeEntry:
    """minidnn.phase1.Transition -> the contract wrapper's NodeEntry."""
    return NodeEntry(move.j, move.spec, list(move.spec_proof), list(move.arg_roots),
                     [list(p) for p in move.arg_proofs], move.final_state, move.output_root,
                     list(move.output_path), list(move.slot_proof))


def _corrupt(tensor: bytes) -> bytes:
    """A wrong tensor of the same size: every float32 word negated (a zero word gets 1.0)."""
    words = np.frombuffer(tensor, "<u4").copy()
    words ^= np.uint32(0x80000000)
    words[words == 0x80000000] = np.uint32(0x3F800000)
    return words.tobytes()


class LyingGraphTrace(GraphTrace):
    """A consistent false belief about a graph request (module docstring: `kind`)."""

    def __init__(self, honest: GraphTrace, kind: str = "phase1", node: int | None = None) -> None:
        from minidnn.native import MinidnnError
        from minidnn.nodes import SlotTree, tensor_root
        from minidnn.phase1 import Trace as Phase1Trace
        from minidnn.phase1 import failed_trace

        if kind not in GRAPH_LIES:
            raise ValueError(f"unknown graph lie {kind!r}; one of {', '.join(GRAPH_LIES)}")
        split, true = honest.phase1.split, honest.phase1
        m = split.node_count                       # a generation request's unrolled count
        if kind == "nofail":
            if honest.failed is None:
                raise GraphModelError("a 'nofail' lie needs a request whose node fails")
            k = honest.failed
        elif honest.failed is not None:
            raise GraphModelError(f"a {kind!r} lie needs a request whose every node succeeds")
        else:
            k = node if node is not None else (m if kind == "phase2" else (m + 1) // 2)
        if not 1 <= k <= m:
            raise ValueError(f"node {k} outside 1..{m}")
        self.honest = honest
        self.kind, self.node, self.diverge = kind, k, k
        if kind == "fail":
            self._nodes = {}
            base = honest.honest_node_run(k)
            self._nodes[k] = run = EditedNodeRun(base, 0, None, base.steps, exit_code=1)
            lying = failed_trace(true, k, run.final.encode())
        else:
            tensors, roots = list(true.tensors[:k]), list(true.roots[:k])
            tree = SlotTree()
            for s, r in enumerate(roots):
                tree.set(s, r)
            commitments = list(true.commitments[:k])
            for n in split.nodes[k - 1:]:
                if n.index == k:
                    out = bytes(n.output_nbytes) if kind == "nofail" else _corrupt(true.tensors[k])
                else:
                    try:
                        out = n.run_native([tensors[s] for s in n.args])
                    except MinidnnError:     # a made-up tensor a later node refuses: the liar posts zeros
                        out = bytes(n.output_nbytes)
                tensors.append(out)
                roots.append(tensor_root(out))
                tree.set(n.index, roots[-1])
                commitments.append(tree.root)
            lying = Phase1Trace(split, tensors, roots, commitments, {m: tree})
        nodes = getattr(self, "_nodes", {})
        super().__init__(honest.model, honest.input, interval=honest.interval, engine=honest.engine,
                         phase1=lying)
        self._nodes = nodes
        self.how = {"fail": f"fail lie: node {k} claimed to exit with code 1",
                    "nofail": f"nofail lie: node {k}'s failure claimed a success (zeros)"}.get(
                        kind, f"{kind} lie: node {k}'s output negated")

    def node_run(self, j: int) -> AnyNodeRun:
        run = self._nodes.get(j)
        if run is None:
            base = self.honest_node_run(j)
            if j == self.node:
                spec = self.model.commitment.spec(self.phase1.split.position(j)[0])
                diverge = max(1, base.steps // 2) if self.kind == "phase2" else base.steps
                run = EditedNodeRun(base, spec.output_base, self.phase1.tensors[j], diverge,
                                    exit_code=0 if self.kind == "nofail" else None)
            else:
                run = base
            self._nodes[j] = run
        return run

    def node_entry(self, j: int) -> NodeEntry:
        if self.kind != "transition" or j != self.node:
            from minidnn.phase1 import transition

            run = self.node_run(j)
            if isinstance(run, EditedNodeRun):   # the claimed final state holds the lying output
                move, _ = transition(self.phase1, self.model.commitment, j, final=run.final)
                return _entry(move)
            return super().node_entry(j)
        # the transition lie: node j's true final state (and its true output root) against the false C_j
        honest = self.honest.node_entry(j)
        return NodeEntry(honest.node, honest.spec, honest.spec_proof, honest.arg_roots, honest.arg_proofs,
                         honest.final_state, honest.output_root, honest.output_path,
                         self.phase1.slot_proof(j, j - 1))


def lie_graph(honest: GraphTrace, kind: str = "phase1", node: int | None = None) -> LyingGraphTrace:
    """The false belief of a dishonest daemon about a graph request."""
    return LyingGraphTrace(honest, kind, node)


# ------------------------------------------------------------------------------------- the games

@dataclass(frozen=True)
class NodeGame:
    """Phase 2 of a graph game: the disputed node (from the NodeEntered event, kept in the store)."""

    node: int
    initial_hash: bytes
    final_hash: bytes
    steps: int


def node_game(daemon: Daemon, gid: int) -> NodeGame | None:
    row = daemon.store.game_node(gid)
    if row is None:
        return None
    return NodeGame(row["node"], bytes(row["initial_hash"]), bytes(row["final_hash"]), row["steps"])


def node_run_ready(daemon: Daemon, trace: GraphTrace, j: int) -> bool:
    """True once this daemon's VM run of node j is computed. A background daemon computes it on its game
    lane (the loop goes on; False until done, its error raised here once); otherwise it runs here."""
    runs: dict[tuple[int, int], Future[AnyNodeRun]] = daemon._node_runs
    key = (id(trace), j)
    running = runs.get(key)
    if running is None and (j in trace._nodes or daemon._workers is None):
        trace.node_run(j)
        return True
    if running is None:
        runs[key] = daemon._workers["game"].submit(trace.node_run, j)
        daemon.emit("node_run_started", node=j)
        return False
    if not running.done():
        return False
    del runs[key]
    running.result()
    return True


def _phase2_run(daemon: Daemon, gid: int, trace: GraphTrace) -> tuple[NodeGame, AnyNodeRun] | None:
    """The disputed node and this daemon's run of it (None if the NodeEntered event is not seen yet, or
    the run is still being computed in the background)."""
    ng = node_game(daemon, gid)
    if ng is None:
        daemon.emit("node_unknown", game=gid, hint="NodeEntered not ingested yet")
        return None
    if not node_run_ready(daemon, trace, ng.node):
        return None
    run = trace.node_run(ng.node)
    if run.initial_hash != ng.initial_hash:
        daemon.emit("node_start_mismatch", game=gid, node=ng.node, ours=run.initial_hash,
                    chain=ng.initial_hash)
    return ng, run


def defend_graph_game(op: Operator, gid: int, g: GameInfo, res: ResultInfo, trace: GraphTrace) -> int:
    """The operator's move in a graph game: C_mid in phase 1, enterNode at the transition, then
    today's step game on the node's VM run; timeouts when the challenger's clock ran out."""
    now = op.client.now()
    if g.phase == Phase.MIDPOINT:
        if g.over_nodes:
            mid_hash, key = trace.hash_at(g.mid), f"nodes-midpoint:{gid}:{g.lo}:{g.hi}"
        else:
            found = _phase2_run(op, gid, trace)
            if found is None:
                return 0
            mid_hash, key = found[1].hash_at(g.mid), f"midpoint:{gid}:{g.lo}:{g.hi}"
        if op.send(key, "postMidpoint", gid, g.mid, mid_hash, expected=_races(op)):
            op.emit("midpoint", game=gid, lo=g.lo, hi=g.hi, mid=g.mid, over_nodes=g.over_nodes)
            return 1
        return 0
    if g.phase == Phase.TRANSITION:
        if not node_run_ready(op, trace, g.hi):
            return 0
        from minidnn.phase1 import NodeRunError

        try:
            entry = trace.node_entry(g.hi)
        except NodeRunError as exc:   # its VM run is not what the (native) trace claimed: e.g. a NoHalt
            op.emit("transition_impossible", game=gid, node=g.hi, error=str(exc))
            return 0
        if op.send(f"enter:{gid}:{g.hi}", "enterNode", gid, *entry.args(), expected=_races(op)):
            op.emit("node_entered", game=gid, node=g.hi, steps=trace.node_run(g.hi).steps)
            return 1
        return 0
    if now > g.clock_deadline:
        if op.send(f"timeout:{gid}", "timeout", gid, expected=_races(op)):
            op.emit("timeout_claimed", game=gid)
            return 1
        return 0
    if g.phase == Phase.PROOF and not g.over_nodes:
        found = _phase2_run(op, gid, trace)
        if found is not None:
            return op._prove_if_winning(gid, g.lo, g.lo_hash, g.hi_hash, found[1])
    return 0


def play_graph_game(ch: Challenger, gid: int, g: GameInfo, res: ResultInfo, trace: GraphTrace) -> int:
    """The challenger's move in a graph game: agree with C_mid iff it is its own, then today's step
    game on its own VM run of the disputed node; timeouts when the defender's clock ran out (also
    at the transition)."""
    if g.phase == Phase.RESPONSE:
        if g.over_nodes:
            agree, key = trace.hash_at(g.mid) == g.mid_hash, f"nodes-respond:{gid}:{g.lo}:{g.hi}"
        else:
            found = _phase2_run(ch, gid, trace)
            if found is None:
                return 0
            agree, key = found[1].hash_at(g.mid) == g.mid_hash, f"respond:{gid}:{g.lo}:{g.hi}"
        if ch.send(key, "respond", gid, g.mid, agree, expected=_races(ch)):
            ch.emit("responded", game=gid, lo=g.lo, hi=g.hi, mid=g.mid, agree=agree, over_nodes=g.over_nodes)
            return 1
        return 0
    if g.phase == Phase.PROOF and not g.over_nodes:
        found = _phase2_run(ch, gid, trace)
        if found is None:
            return 0
        witness = found[1].witness_at(g.lo)
        if keccak256(witness.state) != g.lo_hash:
            ch.emit("proof_impossible", game=gid, step=g.lo)
            return 0
        if ch.send(f"prove:{gid}", "prove", gid, witness.state, witness.proof, expected=_races(ch)):
            ch.emit("proved", game=gid, step=g.lo, node=found[0].node)
            return 1
        return 0
    if g.phase == Phase.TRANSITION:   # phase 2 will be about node hi: run it now, while the operator does
        node_run_ready(ch, trace, g.hi)
    if ch.client.now() > g.clock_deadline:
        if ch.send(f"timeout:{gid}", "timeout", gid, expected=_races(ch)):
            ch.emit("timeout_claimed", game=gid, phase=g.phase.name)
            return 1
    return 0


def _races(daemon: Daemon) -> tuple[str, ...]:
    return daemon.races
