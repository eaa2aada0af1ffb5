"""Two-phase games on eth-tester with the real MIPS.sol (docs/two-phase.md): graph-model registration,
C_0 on-chain, graph results, the phase-1 bisection over nodes ending in Transition, every check of the
defender's enterNode move against a liar, the clock at the transition, and whole games through phase 2.

The model is tests/graph_world.py's three tiny-program nodes, built from the spec with mipsvm only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from contracts_world import VMRun, load_tiny
from graph_world import GRAPH_INPUT, NODE_MAX_STEPS, Graph, Slots, build_graph, tensor_root

from contracts.chain import eth_tester_web3
from contracts.system import (
    ContractRevert,
    GameStatus,
    GraphModelSpec,
    NodeEntry,
    Outcome,
    Phase,
    ResultStatus,
    System,
    advance_time,
    deploy_system,
)
from minidnn.phase1 import FAILURE_TAG
from mipsvm.layout import OUTPUT_BASE
from mipsvm.memory import keccak256
from mipsvm.regions import region_path
from mipsvm.state import State

CLOCK = 300
WINDOW = 600


def reverts(name: str):
    return pytest.raises(ContractRevert, match=rf": {name}\(")


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph(load_tiny())


@dataclasses.dataclass
class Chain:
    system: System
    model_id: int
    operator: str
    challenger: str
    accounts: list[str]


@pytest.fixture
def chain(graph: Graph) -> Chain:
    w3 = eth_tester_web3()
    system = deploy_system(w3, challenge_window=WINDOW, clock=CLOCK)
    model_id = system.register_graph_model(graph.model_spec())
    acct = list(w3.eth.accounts)
    return Chain(system, model_id, acct[1], acct[2], acct)


def post(chain: Chain, graph: Graph, trace: list[Slots], output: bytes) -> int:
    """Request the graph input and post C_m of `trace` with `output`; returns the result id."""
    s = chain.system
    rid = s.request(chain.model_id, GRAPH_INPUT, fee=10**15)
    m = graph.m
    return s.post_graph_result(rid, output, trace[m].root(), trace[m].proof(m), sender=chain.operator)


def play_nodes(chain: Chain, gid: int, defender: list[Slots], challenger: list[Slots]) -> None:
    """Phase 1: the defender posts its C_mid, the challenger agrees iff it equals its own, until Transition."""
    s = chain.system
    while (g := s.game(gid)).phase != Phase.TRANSITION:
        assert g.status == GameStatus.ACTIVE and g.over_nodes
        if g.phase == Phase.MIDPOINT:
            s.post_midpoint(gid, g.mid, defender[g.mid].root(), sender=chain.operator)
        else:
            s.respond(gid, g.mid, g.mid_hash == challenger[g.mid].root(), sender=chain.challenger)


def play_steps(chain: Chain, gid: int, defender: Callable[[int], bytes], challenger: Callable[[int], bytes],
               truth: VMRun, prover: str) -> None:
    """Phase 2 to the end; at one step `prover` proves the true step with the stepper's witness."""
    s = chain.system
    while (g := s.game(gid)).status == GameStatus.ACTIVE:
        assert not g.over_nodes
        if g.phase == Phase.MIDPOINT:
            s.post_midpoint(gid, g.mid, defender(g.mid), sender=chain.operator)
        elif g.phase == Phase.RESPONSE:
            s.respond(gid, g.mid, g.mid_hash == challenger(g.mid), sender=chain.challenger)
        else:
            assert g.phase == Phase.PROOF
            w = truth.witness(g.lo)
            s.prove(gid, w.state, w.proof, sender=prover)


def lying_trace(graph: Graph, from_node: int) -> list[Slots]:
    """A phase-1 trace equal to the truth before `from_node`, with node `from_node`'s output changed."""
    trace = list(graph.trace[:from_node])
    fake = bytearray(graph.tensors[from_node])
    fake[0] ^= 0xFF
    trace.append(trace[-1].with_slot(from_node, tensor_root(bytes(fake))))
    for j in range(from_node + 1, graph.m + 1):
        trace.append(trace[-1].with_slot(j, graph.trace[j].values[j]))
    return trace


def at_transition(chain: Chain, graph: Graph, j: int) -> int:
    """An honest result, a challenger that believes node j's output differs: phase 1 ends at node j."""
    res_id = post(chain, graph, graph.trace, graph.output)
    gid = chain.system.open_game(res_id, sender=chain.challenger)
    play_nodes(chain, gid, graph.trace, lying_trace(graph, j))
    g = chain.system.game(gid)
    assert (g.lo, g.hi, g.lo_hash, g.hi_hash) == (j - 1, j, graph.c(j - 1), graph.c(j))
    return gid


def fake_final(graph: Graph, j: int, *, output: bytes | None = b"\x5a" * 16, **fields: int) -> State:
    """Node j's true final state with its output region changed (unless `output` is None) and maybe
    some scalar fields."""
    final = graph.nodes[j].run.final.copy()
    if output is not None:
        final.memory.write(OUTPUT_BASE, output)
    for name, value in fields.items():
        setattr(final, name, value)
    return final


# ----------------------------------------------------------------------------- registration, C_0, results

def test_register_request_and_post_a_graph_model(chain: Chain, graph: Graph) -> None:
    s = chain.system
    info = s.graph_model(chain.model_id)
    assert (info.nodes_root, info.node_count, info.input_length, info.output_length) == (
        graph.nodes_root, 3, 64, 16)
    assert info.owner == s.w3.eth.default_account and info.metadata_uri == "test://tiny-graph"
    assert s.initial_state_hash(chain.model_id, GRAPH_INPUT) == graph.c(0)
    res_id = post(chain, graph, graph.trace, graph.output)
    print(f"\ngraph postResult {s.last_receipt['gasUsed']} gas")
    r = s.result(res_id)
    assert r.graph and (r.steps, r.final_state_hash, r.outcome, r.exit_code) == (3, graph.c(3), Outcome.SUCCESS, 0)
    assert s.get_request(r.request_id).initial_state_hash == graph.c(0)
    posted = [e for e in s.events_since(0) if e.name == "ResultPosted"][-1]
    assert posted["output"] == graph.output and posted["finalStateHash"] == graph.c(3)
    assert (posted["outcome"], posted["exitCode"]) == (Outcome.SUCCESS, 0)
    advance_time(s.w3, WINDOW + 1)
    s.finalize(res_id)
    out = s.outcome(r.request_id)
    assert (out.outcome, out.exit_code, out.output_hash) == (Outcome.SUCCESS, 0, keccak256(graph.output))


def test_graph_registration_checks(chain: Chain, graph: Graph) -> None:
    s = chain.system
    good = graph.model_spec()
    with reverts("ZeroNodesRoot"):
        s.register_graph_model(dataclasses.replace(good, nodes_root=bytes(32)))
    for count in (0, 65536):
        with reverts("BadNodeCount"):
            s.register_graph_model(dataclasses.replace(good, node_count=count))
    with reverts("BadTensorLength"):
        s.register_graph_model(dataclasses.replace(good, input_length=0))
    with reverts("BadTensorLength"):
        s.register_graph_model(dataclasses.replace(good, output_length=0))
    with pytest.raises(ValueError, match="32 bytes"):
        s.register_graph_model(GraphModelSpec(b"\x01" * 31, 3, 64, 16))
    with reverts("UnknownModel"):
        s.graph_model(chain.model_id + 1)
    with reverts("UnknownModel"):
        s.initial_state_hash(chain.model_id + 1, GRAPH_INPUT)
    with reverts("WrongInputLength"):
        s.request(chain.model_id, GRAPH_INPUT[:-1])
    most = s.register_graph_model(dataclasses.replace(good, node_count=65535))   # MAX_NODES: slots 1..65535
    assert s.graph_model(most).node_count == 65535


def test_graph_result_checks(chain: Chain, graph: Graph) -> None:
    s = chain.system
    rid = s.request(chain.model_id, GRAPH_INPUT)
    c3, proof = graph.c(3), graph.trace[3].proof(3)
    with reverts("BadStateLength"):      # a program model's 186-byte state is not a graph claim
        s.post_result(rid, graph.output, graph.nodes[3].run.final.encode(), proof, sender=chain.operator)
    with pytest.raises(ValueError, match="32 bytes"):
        s.post_graph_result(rid, graph.output, c3 + b"\x00", proof, sender=chain.operator)
    with reverts("WrongOutputLength"):
        s.post_graph_result(rid, graph.output + b"\x00", c3, proof, sender=chain.operator)
    with reverts("WrongPathLength"):
        s.post_graph_result(rid, graph.output, c3, proof[:-1], sender=chain.operator)
    with reverts("OutputProofMismatch"):   # the output is not the tensor at slot m of C_m
        s.post_graph_result(rid, b"\x01" * 16, c3, proof, sender=chain.operator)
    with reverts("OutputProofMismatch"):   # node 2's output at slot 2, not the model output at slot m
        s.post_graph_result(rid, graph.tensors[2], c3, graph.trace[3].proof(2), sender=chain.operator)
    s.post_graph_result(rid, graph.output, c3, proof, sender=chain.operator)


# ----------------------------------------------------------------------------- phase 1 and the clock

def test_phase_one_ends_in_transition(chain: Chain, graph: Graph) -> None:
    s = chain.system
    res_id = post(chain, graph, graph.trace, graph.output)
    gid = s.open_game(res_id, sender=chain.challenger)
    g = s.game(gid)
    assert g.over_nodes and (g.lo, g.hi, g.lo_hash, g.hi_hash) == (0, 3, graph.c(0), graph.c(3))
    play_nodes(chain, gid, graph.trace, lying_trace(graph, 2))
    g = s.game(gid)
    assert g.phase == Phase.TRANSITION and g.over_nodes and (g.lo, g.hi) == (1, 2)
    moves = [e for e in s.events_since(0) if e.name == "MoveMade"]
    assert moves[-1]["next"] == Phase.TRANSITION
    # the defender moves now: its clock runs, and only enterNode is accepted
    assert s.clock_deadline(gid) == g.last_move_at + g.defender_clock == g.clock_deadline
    with reverts("WrongPhase"):
        s.post_midpoint(gid, g.mid, graph.c(1), sender=chain.operator)
    with reverts("WrongPhase"):
        s.respond(gid, g.mid, True, sender=chain.challenger)
    w = graph.nodes[2].run.witness(0)
    with reverts("WrongPhase"):
        s.prove(gid, w.state, w.proof, sender=chain.challenger)
    with reverts("ClockNotExpired"):
        s.timeout(gid)


def test_defender_that_cannot_transition_loses_on_its_clock(chain: Chain, graph: Graph) -> None:
    s = chain.system
    res_id = post(chain, graph, lying_trace(graph, 3), _fake_output(graph))
    gid = s.open_game(res_id, sender=chain.challenger)
    play_nodes(chain, gid, lying_trace(graph, 3), graph.trace)
    g = s.game(gid)
    assert g.phase == Phase.TRANSITION and (g.lo, g.hi) == (2, 3)
    # the liar has no node-3 run ending in its output root: any honest-looking move fails
    with reverts("OutputRootMismatch"):
        s.enter_node(gid, graph.entry(3), sender=chain.operator)
    advance_time(s.w3, CLOCK + 1)
    with reverts("ClockExpired"):
        s.enter_node(gid, graph.entry(3), sender=chain.operator)
    s.timeout(gid, sender=chain.accounts[5])
    assert s.game(gid).status == GameStatus.CHALLENGER_WON
    assert s.result(res_id).status == ResultStatus.REJECTED
    resolved = [e for e in s.events_since(0) if e.name == "GameResolved"][-1]
    assert resolved["winner"] == chain.challenger and resolved["reason"] == 1


def _fake_output(graph: Graph) -> bytes:
    fake = bytearray(graph.output)
    fake[0] ^= 0xFF
    return bytes(fake)


# ----------------------------------------------------------------------------- the transition's checks

@pytest.fixture
def node2(chain: Chain, graph: Graph) -> tuple[int, NodeEntry]:
    """A game in Transition at node 2 (two arguments, one lifted) and the honest move."""
    return at_transition(chain, graph, 2), graph.entry(2)


def test_transition_liars(chain: Chain, graph: Graph, node2: tuple[int, NodeEntry]) -> None:
    """Every check of enterNode (docs/two-phase.md §3) refuses its lie; then the honest move passes."""
    s = chain.system
    gid, honest = node2
    other = b"\x77" * 32
    node1 = graph.entry(1)
    spec = honest.spec
    lies: list[tuple[str, NodeEntry]] = [
        # 1. the registered descriptor of node j, at index j
        ("NodeSpecMismatch", dataclasses.replace(honest, spec=dataclasses.replace(spec, max_steps=10**9))),
        ("NodeSpecMismatch", dataclasses.replace(honest, spec=dataclasses.replace(spec, image_root=other))),
        ("NodeSpecMismatch", dataclasses.replace(honest, spec=node1.spec, spec_proof=node1.spec_proof)),
        ("WrongPathLength", dataclasses.replace(honest, spec_proof=honest.spec_proof[:-1])),
        # 2. the argument roots are C_{j-1}'s tensors at the descriptor's slots
        ("ArgRootMismatch", dataclasses.replace(honest, arg_roots=[other, honest.arg_roots[1]])),
        ("ArgRootMismatch", dataclasses.replace(honest, arg_roots=honest.arg_roots[::-1],
                                                arg_proofs=honest.arg_proofs[::-1])),
        ("WrongArgCount", dataclasses.replace(honest, arg_roots=honest.arg_roots[:1])),
        ("WrongArgCount", dataclasses.replace(honest, arg_proofs=honest.arg_proofs[:1])),
        # 3. slot j is empty in C_{j-1} and C_j has outputRoot there; the slot is j, no other
        ("SlotNotEmpty", dataclasses.replace(honest, slot_proof=graph.trace[1].proof(1))),
        # 4. the final state: exited, code 0, 1 <= step <= maxSteps, outputRoot at its output region
        ("OutputRootMismatch", graph.entry(2, final=fake_final(graph, 2))),
        # a final state that is no clean exit claims a failed node: C_j must be its failure hash, and a
        # state still running must be at exactly maxSteps
        ("FailureMismatch", graph.entry(2, final=fake_final(graph, 2, output=None, exit_code=3))),
        ("FailureMismatch", graph.entry(2, final=fake_final(graph, 2, output=None, exited=False,
                                                            exit_code=0, step=NODE_MAX_STEPS))),
        ("NodeStepsOutOfRange", graph.entry(2, final=fake_final(graph, 2, output=None, exited=False))),
        ("NodeStepsOutOfRange", graph.entry(2, final=fake_final(graph, 2, output=None, step=NODE_MAX_STEPS + 1))),
        ("NodeStepsOutOfRange", graph.entry(2, final=fake_final(graph, 2, output=None, step=0))),
        ("NodeOutputMismatch", dataclasses.replace(honest, final_state=graph.entry(2, final=fake_final(
            graph, 2)).final_state)),
        ("NodeOutputMismatch", dataclasses.replace(honest, output_path=[other, *honest.output_path[1:]])),
        ("WrongPathLength", dataclasses.replace(honest, output_path=honest.output_path[1:])),
        ("BadStateLength", dataclasses.replace(honest, final_state=honest.final_state[:-1])),
    ]
    for i, (name, lie) in enumerate(lies):
        with reverts(name):
            s.enter_node(gid, lie, sender=chain.operator)
            pytest.fail(f"lie {i} ({name}) was accepted")
    with pytest.raises(ContractRevert, match=r": ArgRootMismatch\(") as exc:   # names the argument and C_{j-1}
        s.enter_node(gid, lies[4][1], sender=chain.operator)
    assert (exc.value.fields["arg"], exc.value.fields["prev"]) == (0, graph.c(1))
    with reverts("WrongStep"):
        s.enter_node(gid, dataclasses.replace(honest, node=1), sender=chain.operator)
    with reverts("NotDefender"):
        s.enter_node(gid, honest, sender=chain.challenger)
    s.enter_node(gid, honest, sender=chain.operator)
    g = s.game(gid)
    run = graph.nodes[2].run
    assert not g.over_nodes and g.phase == Phase.MIDPOINT
    assert (g.lo, g.hi, g.lo_hash, g.hi_hash) == (0, run.steps, run.hashes[0], run.hashes[-1])
    entered = [e for e in s.events_since(0) if e.name == "NodeEntered"][-1]
    assert (entered["node"], entered["steps"], entered["initialStateHash"]) == (2, run.steps, run.hashes[0])
    with reverts("WrongPhase"):
        s.enter_node(gid, honest, sender=chain.operator)


def test_transition_needs_an_empty_slot(chain: Chain, graph: Graph) -> None:
    """A defender whose agreed C_1 already holds node 2's output at slot 2 cannot enter node 2, although
    C_2 == C_1 with that root at slot 2 and its node-2 run is true."""
    s = chain.system
    early = graph.trace[1].with_slot(2, graph.trace[2].values[2])   # C_1 with slot 2 filled early
    trace = [graph.trace[0], early, early, early.with_slot(3, graph.trace[3].values[3])]
    res_id = post(chain, graph, trace, graph.output)
    gid = s.open_game(res_id, sender=chain.challenger)
    # a challenger that agrees with the defender's C_1 and disputes its C_2
    play_nodes(chain, gid, trace, [trace[0], trace[1], lying_trace(graph, 2)[2], graph.trace[3]])
    g = s.game(gid)
    assert (g.lo, g.hi, g.lo_hash, g.hi_hash) == (1, 2, early.root(), early.root())
    with reverts("SlotNotEmpty"):
        s.enter_node(gid, graph.entry(2, prev=early), sender=chain.operator)


def test_transition_of_a_misplaced_output(chain: Chain, graph: Graph) -> None:
    """A defender whose C_2 holds node 2's (true) output at slot 3: its slot-3 proof is refused at slot 2."""
    s = chain.system
    misplaced = graph.trace[1].with_slot(3, graph.trace[2].values[2])
    trace = [graph.trace[0], graph.trace[1], misplaced, misplaced]
    res_id = post(chain, graph, trace, graph.tensors[2])
    gid = s.open_game(res_id, sender=chain.challenger)
    play_nodes(chain, gid, trace, graph.trace)
    assert (s.game(gid).lo, s.game(gid).hi) == (1, 2)
    move = graph.entry(2)
    with reverts("OutputRootMismatch"):
        s.enter_node(gid, dataclasses.replace(move, slot_proof=graph.trace[1].proof(3)), sender=chain.operator)
    with reverts("OutputRootMismatch"):
        s.enter_node(gid, move, sender=chain.operator)


# ----------------------------------------------------------------------------- whole games

def test_honest_defender_wins_through_phase_two(chain: Chain, graph: Graph) -> None:
    """The challenger disputes node 2's output and node 2's run from step k0 on; the defender wins the
    one-step proof of step k0 - 1."""
    s = chain.system
    gid = at_transition(chain, graph, 2)
    s.enter_node(gid, graph.entry(2), sender=chain.operator)
    enter_gas = s.last_receipt["gasUsed"]
    print(f"\nenterNode (node 2, two arguments) {enter_gas} gas")
    run = graph.nodes[2].run
    k0 = run.steps // 3

    def believed(k: int) -> bytes:
        return run.hashes[k] if k < k0 else keccak256(b"lie" + k.to_bytes(8, "big"))

    play_steps(chain, gid, run.hashes.__getitem__, believed, run, prover=chain.operator)
    g = s.game(gid)
    assert g.status == GameStatus.DEFENDER_WON and (g.lo, g.hi) == (k0 - 1, k0)
    assert s.result(g.result_id).status == ResultStatus.PENDING


def test_lying_defender_loses_in_phase_two(chain: Chain, graph: Graph) -> None:
    """The operator claims another output of node 3 with a consistent fake final memory; phase 1 leads to
    node 3, the transition passes, and the one-step proof of the node's last step rejects the result."""
    s = chain.system
    final = fake_final(graph, 3)
    fake_out = final.memory.read(OUTPUT_BASE, 16)
    trace = graph.trace[:3] + [graph.trace[2].with_slot(3, tensor_root(fake_out))]
    res_id = post(chain, graph, trace, fake_out)
    gid = s.open_game(res_id, sender=chain.challenger)
    play_nodes(chain, gid, trace, graph.trace)
    assert (s.game(gid).lo, s.game(gid).hi) == (2, 3)
    s.enter_node(gid, graph.entry(3, final=final), sender=chain.operator)
    run = graph.nodes[3].run
    fake_hash = keccak256(final.encode())
    assert s.game(gid).hi_hash == fake_hash != run.hashes[-1]

    def liar(k: int) -> bytes:
        return run.hashes[k] if k < run.steps else fake_hash

    play_steps(chain, gid, liar, run.hashes.__getitem__, run, prover=chain.challenger)
    g = s.game(gid)
    assert g.status == GameStatus.CHALLENGER_WON and (g.lo, g.hi) == (run.steps - 1, run.steps)
    assert s.result(res_id).status == ResultStatus.REJECTED



def test_one_node_model_opens_in_transition(chain: Chain, graph: Graph) -> None:
    """m == 1: the game starts at the transition; the honest node-1 move enters phase 2."""
    s = chain.system
    one = Graph({1: graph.nodes[1]}, {0: graph.tensors[0], 1: graph.tensors[1]}, graph.trace[:2])
    model_id = s.register_graph_model(one.model_spec())
    rid = s.request(model_id, GRAPH_INPUT)
    res_id = s.post_graph_result(rid, one.output, one.c(1), one.trace[1].proof(1), sender=chain.operator)
    gid = s.open_game(res_id, sender=chain.challenger)
    g = s.game(gid)
    assert g.phase == Phase.TRANSITION and g.over_nodes and (g.lo, g.hi) == (0, 1)
    with reverts("NodeSpecMismatch"):     # the three-node model's descriptor proof is not this model's
        s.enter_node(gid, graph.entry(1), sender=chain.operator)
    s.enter_node(gid, one.entry(1), sender=chain.operator)
    run = graph.nodes[1].run
    g = s.game(gid)
    assert (g.phase, g.lo_hash, g.hi) == (Phase.MIDPOINT, run.hashes[0], run.steps)


def _spec_lie(graph: Graph, j: int, **changes: object) -> tuple[bytes, NodeEntry]:
    """A model whose registered descriptor of node j has `changes`, and the move with that descriptor."""
    spec = dataclasses.replace(graph.nodes[j].spec, **changes)
    tree = Slots({**{i: n.spec.hash() for i, n in graph.nodes.items()}, j: spec.hash()})
    return tree.root(), dataclasses.replace(graph.entry(j), spec=spec, spec_proof=tree.proof(j))


def test_output_region_of_several_leaves_is_climbed_from_its_level(chain: Chain, graph: Graph) -> None:
    """A descriptor whose output region spans two leaves (outputSize 64; the tiny nodes' own regions are one
    leaf, level 0) is checked at that region's level: its root and path in the final state, and C_j holding
    that root at slot j, pass; the one-leaf root and path do not."""
    s = chain.system
    j, run = 2, graph.nodes[2].run
    base, memory = graph.nodes[j].spec.output_base, run.final.memory
    assert base % 64 == 0 and graph.nodes[j].spec.output_size == 32
    root, entry = _spec_lie(graph, j, output_size=64)
    out_root = memory.subtree_root(base, 64)
    entry = dataclasses.replace(entry, output_root=out_root, output_path=region_path(memory, base, 64))
    nxt = graph.trace[j - 1].with_slot(j, out_root).root()
    assert s.check_node_entry(root, graph.c(j - 1), nxt, entry) == (run.hashes[0], run.hashes[-1], run.steps)
    leaf = graph.entry(j)          # the one-leaf region's root (the true C_j's) and path: one sibling too many
    lower = dataclasses.replace(entry, output_root=leaf.output_root, output_path=leaf.output_path)
    with pytest.raises(ContractRevert, match=r": WrongPathLength\(") as exc:
        s.check_node_entry(root, graph.c(j - 1), graph.c(j), lower)
    assert (exc.value.fields["expected"], exc.value.fields["got"]) == (26, 27)


def test_malformed_descriptors_are_refused(chain: Chain, graph: Graph) -> None:
    """A registered descriptor that breaks docs/two-phase.md §2 cannot be entered (NodeChecker.check as a
    call, the same checks enterNode runs); the well-formed one gives the node's true I and final state."""
    s = chain.system
    spec = graph.nodes[2].spec           # args (1, 0), argSizes (32, 64), argSize 64, inputSize 128
    prev, nxt = graph.c(1), graph.c(2)
    run = graph.nodes[2].run
    assert s.check_node_entry(graph.nodes_root, prev, nxt, graph.entry(2)) == (
        run.hashes[0], run.hashes[-1], run.steps)
    cases: list[tuple[str, int, dict[str, object]]] = [     # the field and the offending value reported
        ("entry", spec.entry + 2, {"entry": spec.entry + 2}),
        ("maxSteps", 0, {"max_steps": 0}),
        ("maxSteps", 2**48 + 1, {"max_steps": 2**48 + 1}),
        ("args", 0, {"args": (), "arg_sizes": ()}),
        ("argSizes", 1, {"arg_sizes": (32,)}),            # the count of argSizes
        ("args", 2, {"args": (2, 0)}),                    # a slot not before node j
        ("argSizes", 48, {"arg_sizes": (48, 64)}),
        ("argSizes", 16, {"arg_sizes": (16, 64)}),
        ("argSize", 128, {"arg_size": 128, "input_size": 256}),
        ("inputSize", 64, {"input_size": 64}),
        ("inputBase", spec.input_base + 64, {"input_base": spec.input_base + 64}),
        ("outputSize", 48, {"output_size": 48}),
        ("outputBase", spec.output_base + 16, {"output_base": spec.output_base + 16}),
    ]
    for field, value, changes in cases:
        root, entry = _spec_lie(graph, 2, **changes)
        with pytest.raises(ContractRevert, match=r": BadNodeSpec\(") as exc:
            s.check_node_entry(root, prev, nxt, entry)
        assert (exc.value.fields["field"], exc.value.fields["value"]) == (field, value), changes
    root, entry = _spec_lie(graph, 2, input_path=spec.input_path[:-1])
    with reverts("WrongPathLength"):
        s.check_node_entry(root, prev, nxt, entry)
    root, entry = _spec_lie(graph, 2, image_root=b"\x66" * 32)
    with reverts("InputPathMismatch"):
        s.check_node_entry(root, prev, nxt, entry)
    # a well-formed descriptor for another layout is accepted: the checks are the spec's, no more
    root, entry = _spec_lie(graph, 2, max_steps=run.steps)
    assert s.check_node_entry(root, prev, nxt, entry)[2] == run.steps
    root, entry = _spec_lie(graph, 2, max_steps=2**48)          # the largest step bound
    assert s.check_node_entry(root, prev, nxt, entry)[2] == run.steps
    # an output base aligned to the output size (not to the input size) passes the descriptor's checks;
    # the node's output is not there, so the output check refuses it
    root, entry = _spec_lie(graph, 2, output_base=spec.output_base + 32)
    with reverts("NodeOutputMismatch"):
        s.check_node_entry(root, prev, nxt, entry)


# ----------------------------------------------------------------------------- failed nodes (§3a)

def _failure(graph: Graph, j: int, final: State) -> tuple[bytes, bytes]:
    """(postResult's failure claim for node j failing with `final`, the result's C_j)."""
    from minidnn.phase1 import failure_claim, failure_hash

    return failure_claim(graph.c(j - 1), j, final.encode()), failure_hash(graph.c(j - 1), j, keccak256(final.encode()))


def _failed_entry(graph: Graph, j: int, final: State) -> NodeEntry:
    return dataclasses.replace(graph.entry(j, final=final), output_root=bytes(32), output_path=[], slot_proof=[])


def test_failure_results_and_their_checks(chain: Chain, graph: Graph) -> None:
    """A graph result may claim that node j failed (exit code != 0) or did not halt: C_{j-1}, j and the
    node's final state; the result's steps is j and its hash the failure hash, outcome from the state."""
    s = chain.system
    rid = s.request(chain.model_id, GRAPH_INPUT)
    trapped = fake_final(graph, 2, output=None, exit_code=7)
    claim, c2 = _failure(graph, 2, trapped)
    assert s.node_checker_failure_hash(graph.c(1), 2, keccak256(trapped.encode())) == c2
    assert s.checker.functions.FAILURE_TAG().call() == FAILURE_TAG == keccak256(b"optimist.node-failure")
    with reverts("NodeNotFailed"):       # a clean exit is claimed with C_m and the output
        s.post_graph_failure(rid, _failure(graph, 2, graph.nodes[2].run.final)[0], sender=chain.operator)
    with reverts("NodeNotFailed"):
        s.post_graph_failure(rid, _failure(graph, 2, fake_final(graph, 2, output=None, exit_code=7, step=0))[0],
                             sender=chain.operator)
    for j in (0, 4):
        with reverts("BadParameter"):
            s.post_graph_failure(rid, graph.c(1) + j.to_bytes(32, "big") + trapped.encode(), sender=chain.operator)
    with reverts("OutputNotEmpty"):
        s.post_result(rid, b"\x01", claim, [], sender=chain.operator)
    with reverts("OutputNotEmpty"):
        s.post_result(rid, b"", claim, [graph.c(0)], sender=chain.operator)
    with reverts("BadStateLength"):
        s.post_graph_failure(rid, claim[:-1], sender=chain.operator)
    res_id = s.post_graph_failure(rid, claim, sender=chain.operator)
    r = s.result(res_id)
    assert r.graph and (r.steps, r.final_state_hash, r.outcome, r.exit_code) == (2, c2, Outcome.FAILURE, 7)
    running = fake_final(graph, 2, output=None, exited=False, exit_code=0, step=NODE_MAX_STEPS)
    rid2 = s.request(chain.model_id, GRAPH_INPUT)
    r2 = s.result(s.post_graph_failure(rid2, _failure(graph, 2, running)[0], sender=chain.operator))
    assert (r2.outcome, r2.exit_code, r2.steps) == (Outcome.NO_HALT, 0, 2)
    advance_time(s.w3, WINDOW + 1)
    s.finalize(res_id)
    out = s.outcome(rid)
    assert (out.outcome, out.exit_code, out.steps, out.output_hash) == (Outcome.FAILURE, 7, 2, keccak256(b""))


def test_fabricated_failure_loses_in_phase_two(chain: Chain, graph: Graph) -> None:
    """An operator claims that node 2 exits with code 7 (its true run exits 0): phase 1 ends at node 2;
    a failure move that is not the claimed state, or a NoHalt state off maxSteps, is refused; the claimed
    one enters phase 2, whose one-step proof of the node's last step rejects the result."""
    s = chain.system
    trapped = fake_final(graph, 2, output=None, exit_code=7)
    claim, c2 = _failure(graph, 2, trapped)
    rid = s.request(chain.model_id, GRAPH_INPUT)
    res_id = s.post_graph_failure(rid, claim, sender=chain.operator)
    gid = s.open_game(res_id, sender=chain.challenger)
    g = s.game(gid)
    assert g.over_nodes and (g.lo, g.hi, g.hi_hash) == (0, 2, c2)
    play_nodes(chain, gid, graph.trace, graph.trace)     # C_1 agreed: Transition at node 2
    assert (s.game(gid).phase, s.game(gid).lo) == (Phase.TRANSITION, 1)
    with reverts("FailureMismatch"):     # another failure than the claimed one
        s.enter_node(gid, _failed_entry(graph, 2, fake_final(graph, 2, output=None, exit_code=8)),
                     sender=chain.operator)
    with reverts("OutputRootMismatch"):  # the true (successful) run does not give the failure hash
        s.enter_node(gid, graph.entry(2), sender=chain.operator)
    with reverts("NodeStepsOutOfRange"):
        s.enter_node(gid, _failed_entry(graph, 2, fake_final(graph, 2, output=None, exited=False, exit_code=0)),
                     sender=chain.operator)
    with reverts("ArgRootMismatch"):     # the inputs must still be C_1's
        s.enter_node(gid, dataclasses.replace(_failed_entry(graph, 2, trapped),
                                              arg_roots=[b"\x77" * 32, *graph.entry(2).arg_roots[1:]]),
                     sender=chain.operator)
    s.enter_node(gid, _failed_entry(graph, 2, trapped), sender=chain.operator)
    run = graph.nodes[2].run
    fake_hash = keccak256(trapped.encode())
    g = s.game(gid)
    assert not g.over_nodes and (g.lo_hash, g.hi, g.hi_hash) == (run.hashes[0], run.steps, fake_hash)

    def liar(k: int) -> bytes:
        return run.hashes[k] if k < run.steps else fake_hash

    play_steps(chain, gid, liar, run.hashes.__getitem__, run, prover=chain.challenger)
    g = s.game(gid)
    assert g.status == GameStatus.CHALLENGER_WON and (g.lo, g.hi) == (run.steps - 1, run.steps)
    assert s.result(res_id).status == ResultStatus.REJECTED


def test_failure_after_the_failed_node_cannot_be_entered(chain: Chain, graph: Graph) -> None:
    """A liar that agrees to a failure hash as C_1 (node 1 'failed') and claims node 2 ran on: no move
    into node 2 exists, the inputs are not in a failure hash; it loses on its clock."""
    s = chain.system
    trapped = fake_final(graph, 1, output=None, exit_code=7)
    c1 = _failure(graph, 1, trapped)[1]
    rid = s.request(chain.model_id, GRAPH_INPUT)
    res_id = s.post_graph_result(rid, graph.output, graph.c(3), graph.trace[3].proof(3), sender=chain.operator)
    gid = s.open_game(res_id, sender=chain.challenger)
    s.post_midpoint(gid, 1, c1, sender=chain.operator)        # mid of [0, 3] is 1
    s.respond(gid, 1, True, sender=chain.challenger)          # a challenger that agrees (to test the defender)
    s.post_midpoint(gid, 2, graph.c(2), sender=chain.operator)
    s.respond(gid, 2, False, sender=chain.challenger)
    g = s.game(gid)
    assert (g.phase, g.lo, g.hi, g.lo_hash) == (Phase.TRANSITION, 1, 2, c1)
    with reverts("ArgRootMismatch"):
        s.enter_node(gid, graph.entry(2), sender=chain.operator)
    with reverts("ArgRootMismatch"):
        s.enter_node(gid, _failed_entry(graph, 2, fake_final(graph, 2, output=None, exit_code=7)),
                     sender=chain.operator)
    advance_time(s.w3, CLOCK + 1)
    s.timeout(gid)
    assert s.game(gid).status == GameStatus.CHALLENGER_WON
