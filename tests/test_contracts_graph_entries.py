"""Request batches of graph models (docs/game-rules.md §3b, docs/two-phase.md): an entry's C_0 is its input root
lifted to slot 0 of the slot tree, a leaf's fields are postResult's graph claim (C_m, m, the output; or a failed
node's claim), a lying leaf loses the two-phase game opened by disputeLeaf, a leaf contradicting its own claim is
rejected by rejectEntry with NodeChecker.graphClaim's evidence (a Success: C_m, the output's tensor root and its slot
proof: a graph leaf's outputHash is its output's tensor root, whatever its size), generation models are refused.

The model is tests/graph_world.py's three tiny-program nodes (true VM runs, real MIPS.sol). Every test ends with
the ether check: Optimist holds exactly the credits plus what is locked.
"""

from __future__ import annotations

import dataclasses

import pytest
from contracts_world import load_tiny
from graph_world import GRAPH_INPUT, Graph, Slots, build_graph, tensor_root

from contracts.batches import (
    Claim,
    EntryLeaf,
    Leaf,
    entry_ref,
    input_proof,
    input_root,
    leaf_proof,
    leaf_result_id,
    output_hash,
)
from contracts.chain import eth_tester_web3
from contracts.system import (
    ContractRevert,
    GameStatus,
    Outcome,
    Phase,
    RequestStatus,
    ResultStatus,
    System,
    advance_time,
    deploy_system,
)
from minidnn.phase1 import failure_claim, failure_hash
from mipsvm.memory import keccak256
from mipsvm.state import State
from optimist.entries import entry_outcome

CLOCK = 300
WINDOW = 600
FEE = 10**15


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph(load_tiny())


@dataclasses.dataclass
class Chain:
    system: System
    model_id: int
    requester: str
    operator: str
    challenger: str
    accounts: list[str]

    @property
    def bond(self) -> int:
        return self.system.params.result_bond

    @property
    def burn(self) -> int:
        return self.system.params.burn_share(self.bond)


@pytest.fixture
def chain(graph: Graph) -> Chain:
    w3 = eth_tester_web3()
    system = deploy_system(w3, challenge_window=WINDOW, clock=CLOCK, reopen_delay=100)
    model_id = system.register_graph_model(graph.model_spec())
    acct = list(w3.eth.accounts)
    return Chain(system, model_id, acct[3], acct[1], acct[2], acct)


def revert_name(fn, *args, **kwargs) -> tuple[str, dict]:
    with pytest.raises(ContractRevert) as info:
        fn(*args, **kwargs)
    return info.value.name, info.value.fields


def ether_check(chain: Chain, locked: int) -> None:
    s = chain.system
    credited = sum(s.balance(a) for a in chain.accounts)
    assert s.w3.eth.get_balance(s.batches.address) == 0
    assert s.w3.eth.get_balance(s.address) == credited + locked + s.burned() - s.burn_sent()


def root() -> bytes:
    return input_root(GRAPH_INPUT, len(GRAPH_INPUT))


def success(graph: Graph, index: int, trace: list[Slots] | None = None, output: bytes | None = None,
            **fields: int) -> EntryLeaf:
    """The leaf of postResult's success claim (C_m of `trace`, m, `output`; default the truth); `fields` override."""
    trace = graph.trace if trace is None else trace
    output = graph.output if output is None else output
    leaf = EntryLeaf(index, trace[graph.m].root(), output_hash(output, True), graph.m, int(Outcome.SUCCESS), 0)
    return dataclasses.replace(leaf, **fields)


def trapped(graph: Graph, j: int, code: int = 7) -> State:
    final = graph.nodes[j].run.final.copy()
    final.exit_code = code
    return final


def failure(graph: Graph, index: int, j: int, final: State, **fields: int) -> tuple[EntryLeaf, bytes]:
    """The leaf of a failure claim (node j ended in `final`) and the claim's bytes."""
    claim = failure_claim(graph.c(j - 1), j, final.encode())
    c = failure_hash(graph.c(j - 1), j, keccak256(final.encode()))
    leaf = EntryLeaf(index, c, keccak256(b""), j, int(Outcome.FAILURE), final.exit_code)
    return dataclasses.replace(leaf, **fields), claim


def lying_trace(graph: Graph, from_node: int) -> list[Slots]:
    """The true trace before `from_node`, node `from_node`'s output changed from there on."""
    trace = list(graph.trace[:from_node])
    fake = bytearray(graph.tensors[from_node])
    fake[0] ^= 0xFF
    trace.append(trace[-1].with_slot(from_node, tensor_root(bytes(fake))))
    for j in range(from_node + 1, graph.m + 1):
        trace.append(trace[-1].with_slot(j, graph.trace[j].values[j]))
    return trace


def post(chain: Chain, rb: int, leaves: list[EntryLeaf], outputs: list[bytes] | None = None,
         sender: str | None = None) -> tuple[int, list[Leaf]]:
    batch_id = chain.system.post_entries(rb, leaves, outputs, sender=sender or chain.operator)
    return batch_id, [x.leaf(rb) for x in leaves]


def proofs(leaves: list[Leaf], i: int) -> list[bytes]:
    return leaf_proof([x.hash() for x in leaves], i)


def request(chain: Chain, n: int) -> int:
    return chain.system.request_batch_data(chain.model_id, [GRAPH_INPUT] * n, n * FEE, sender=chain.requester)


def test_graph_entries_post_and_finalize(chain: Chain, graph: Graph) -> None:
    s = chain.system
    rb = request(chain, 3)
    info = s.request_batch_info(rb)
    assert (info.model_id, info.count, info.max_steps) == (chain.model_id, 3, graph.m)   # maxSteps: the node count
    assert root() == tensor_root(GRAPH_INPUT)                                               # input root = tensorRoot
    m = graph.m
    for steps in (0, m + 1):
        assert revert_name(s.post_entries, rb, [success(graph, 0, steps=steps)], sender=chain.operator) == \
            ("StepsOutOfRange", {"steps": steps, "maxSteps": m})
    leaves_in = [success(graph, i) for i in range(3)]
    assert revert_name(s.post_entries, rb, leaves_in, [graph.output] * 2 + [b"x" * 16], sender=chain.operator) == \
        ("OutputMismatch", {"index": 2})
    batch_id, leaves = post(chain, rb, leaves_in, [graph.output] * 3)
    advance_time(s.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    assert s.balance(chain.operator) == 3 * (FEE + chain.bond)
    got = s.leaf_outcome(batch_id, 2, leaves[2], proofs(leaves, 2))
    assert got == (entry_ref(rb, 2), int(Outcome.SUCCESS), 0, m, tensor_root(graph.output))   # not keccak256
    read = entry_outcome(s, entry_ref(rb, 2))   # a reader's: the calldata output checked against the tensor root
    assert (read.output, read.steps, read.outcome) == (graph.output, m, Outcome.SUCCESS)
    ether_check(chain, 0)


def test_a_lying_graph_leaf_loses_its_two_phase_game(chain: Chain, graph: Graph) -> None:
    """A leaf with a false C_m (node 2's output changed): disputeLeaf creates the entry's request with C_0 from the
    input root alone and opens the two-phase game over nodes 0..m; phase 1 ends at node 2, where the liar has no
    true transition: it loses on its clock. Only its entry reopens."""
    s = chain.system
    rb = request(chain, 3)
    lie = lying_trace(graph, 2)
    fake_out = bytes([graph.output[0] ^ 1]) + graph.output[1:]
    batch_id, leaves = post(chain, rb, [success(graph, 0), success(graph, 1, lie, fake_out), success(graph, 2)])
    proof = input_proof([root()] * 3, 1)
    gid = s.dispute_leaf(batch_id, 1, leaves[1], proofs(leaves, 1), sender=chain.challenger, input_root=root(),
                         input_proof=proof)
    ref = entry_ref(rb, 1)
    req = s.get_request(ref)
    assert (req.requester, req.model_id, req.fee, req.status) == (chain.requester, chain.model_id, FEE,
                                                                   RequestStatus.POSTED)
    assert req.initial_state_hash == s.initial_state_hash(chain.model_id, GRAPH_INPUT) == graph.c(0)
    res = s.result(leaf_result_id(batch_id, 1))
    assert res.graph and res.steps == graph.m
    g = s.game(gid)
    assert g.over_nodes and (g.lo, g.hi, g.lo_hash, g.hi_hash) == (0, graph.m, graph.c(0), lie[graph.m].root())
    while (g := s.game(gid)).phase != Phase.TRANSITION:
        if g.phase == Phase.MIDPOINT:
            s.post_midpoint(gid, g.mid, lie[g.mid].root(), sender=chain.operator)
        else:
            s.respond(gid, g.mid, g.mid_hash == graph.c(g.mid), sender=chain.challenger)
    g = s.game(gid)
    assert (g.lo, g.hi) == (1, 2)
    with pytest.raises(ContractRevert, match="OutputRootMismatch"):   # the true node 2 does not give its C_2
        s.enter_node(gid, graph.entry(2), sender=chain.operator)
    advance_time(s.w3, CLOCK + 1)
    s.timeout(gid, sender=chain.challenger)
    assert s.game(gid).status == GameStatus.CHALLENGER_WON
    assert s.result(leaf_result_id(batch_id, 1)).status == ResultStatus.REJECTED
    assert s.get_request(ref).status == RequestStatus.OPEN and s.is_barred(ref, chain.operator)
    assert s.balance(chain.challenger) == s.params.challenge_bond + chain.bond - chain.burn
    advance_time(s.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    assert s.balance(chain.operator) == 2 * (FEE + chain.bond)
    # the reopened entry is an ordinary graph request now: another operator answers it with postResult
    other = chain.accounts[6]
    rid = s.post_graph_result(ref, graph.output, graph.c(graph.m), graph.trace[graph.m].proof(graph.m),
                              sender=other)
    advance_time(s.w3, WINDOW + 1)
    s.finalize(rid)
    assert s.get_request(ref).status == RequestStatus.FINALIZED
    ether_check(chain, 0)


def test_an_honest_graph_leaf_defends_its_game(chain: Chain, graph: Graph) -> None:
    """A challenger who believes node 3's output differs: phase 1 ends at node 3, the honest defender enters it
    (phase 2 from the node's initial state) and the challenger, agreeing with the true steps, loses at the proof."""
    s = chain.system
    rb = request(chain, 2)
    batch_id, leaves = post(chain, rb, [success(graph, i) for i in range(2)])
    gid = s.dispute_leaf(batch_id, 0, leaves[0], proofs(leaves, 0), sender=chain.challenger, input_root=root(),
                         input_proof=input_proof([root()] * 2, 0))
    wrong = lying_trace(graph, 3)
    while (g := s.game(gid)).phase != Phase.TRANSITION:
        if g.phase == Phase.MIDPOINT:
            s.post_midpoint(gid, g.mid, graph.c(g.mid), sender=chain.operator)
        else:
            s.respond(gid, g.mid, g.mid_hash == wrong[g.mid].root(), sender=chain.challenger)
    assert (s.game(gid).lo, s.game(gid).hi) == (2, 3)
    s.enter_node(gid, graph.entry(3), sender=chain.operator)
    run = graph.nodes[3].run
    while (g := s.game(gid)).status == GameStatus.ACTIVE:
        assert not g.over_nodes
        if g.phase == Phase.MIDPOINT:
            s.post_midpoint(gid, g.mid, run.hashes[g.mid], sender=chain.operator)
        elif g.phase == Phase.RESPONSE:
            s.respond(gid, g.mid, False, sender=chain.challenger)   # disagrees with every true step
        else:
            w = run.witness(g.lo)
            s.prove(gid, w.state, w.proof, sender=chain.challenger)
    assert s.game(gid).status == GameStatus.DEFENDER_WON
    advance_time(s.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    s.finalize(leaf_result_id(batch_id, 0))
    assert s.get_request(entry_ref(rb, 0)).status == RequestStatus.FINALIZED
    won = s.params.challenge_bond - s.params.burn_share(s.params.challenge_bond)
    assert s.balance(chain.operator) == 2 * (FEE + chain.bond) + won
    ether_check(chain, 0)


def children(slots: Slots) -> bytes:
    """The 64 bytes of a slot-tree root's two children (rejectEntry's evidence that the hash is no failure's)."""
    half = (32 << 16) // 2
    return slots._mem.subtree_root(0, half) + slots._mem.subtree_root(half, half)


@pytest.mark.parametrize("lie", ["output", "steps", "outcome", "failure_steps", "failure_as_success",
                                 "failure_exit_code", "intermediate_success", "intermediate_failure"])
def test_a_graph_leaf_contradicting_its_claim_is_rejected(chain: Chain, graph: Graph, lie: str) -> None:
    """The leaf names a true C_m (or a failure claim's hash) with other fields than postResult's graph claim derives
    from it (a game could not catch it): rejectEntry rejects it with the claim as graphClaim takes it; the entry
    reopens, the liar barred from it."""
    s = chain.system
    rb = request(chain, 2)
    m = graph.m
    evidence = (graph.c(m), tensor_root(graph.output), graph.trace[m].proof(m))
    if lie == "output":
        bad = success(graph, 0, output_hash=keccak256(b"another output"))
    elif lie == "steps":
        bad = success(graph, 0, steps=m - 1)
    elif lie == "outcome":
        bad = success(graph, 0, outcome=int(Outcome.FAILURE), exit_code=1, output_hash=keccak256(b""))
    elif lie.startswith("failure"):
        bad, claim = failure(graph, 0, 2, trapped(graph, 2))
        bad = dataclasses.replace(bad, **{"failure_steps": {"steps": 3}, "failure_exit_code": {"exit_code": 8},
                                          "failure_as_success": {"outcome": int(Outcome.SUCCESS), "exit_code": 0,
                                                                 "steps": m}}[lie])
        evidence = (claim, b"", [])
    else:   # the true C_2 claimed as a result (no postResult claim has it: m = 3)
        fields = {"steps": 2} if lie == "intermediate_success" else \
            {"steps": 2, "outcome": int(Outcome.FAILURE), "exit_code": 7, "output_hash": keccak256(b"")}
        bad = success(graph, 0, final_state_hash=graph.c(2), **fields)
        evidence = (children(graph.trace[2]), b"", [])
        assert keccak256(evidence[0]) == graph.c(2)
    batch_id, leaves = post(chain, rb, [bad, success(graph, 1)])
    args = (batch_id, 0, leaves[0], proofs(leaves, 0), root(), input_proof([root()] * 2, 0))
    assert revert_name(s.reject_entry, *args, *evidence, sender=chain.operator)[0] == "SelfChallenge"
    s.reject_entry(*args, *evidence, sender=chain.challenger)
    ev = next(e for e in s.events_since(s.last_receipt["blockNumber"]) if e.name == "EntryRejected")
    assert (ev["entryRef"], ev["malformed"]) == (entry_ref(rb, 0), False)
    assert s.balance(chain.challenger) == chain.bond - chain.burn
    assert not s.entry_taken(rb, 0) and s.batches.functions.entryBarred(entry_ref(rb, 0), chain.operator).call()
    advance_time(s.w3, 100)
    post(chain, rb, [success(graph, 0)], sender=chain.accounts[6])
    advance_time(s.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    s.finalize_entries(batch_id + 1)
    assert s.balance(chain.operator) == FEE + chain.bond and s.balance(chain.accounts[6]) == FEE + chain.bond
    ether_check(chain, 0)


def test_reject_graph_entry_refuses_a_consistent_leaf_and_bad_evidence(chain: Chain, graph: Graph) -> None:
    s = chain.system
    rb = request(chain, 2)
    fail_leaf, claim = failure(graph, 1, 2, trapped(graph, 2))
    # in the calldata, a failure's empty output matches keccak256("") (a graph Success's output its tensor root)
    batch_id, leaves = post(chain, rb, [success(graph, 0), fail_leaf], [graph.output, b""])
    m = graph.m
    args = (batch_id, 0, leaves[0], proofs(leaves, 0), root(), input_proof([root()] * 2, 0))
    c, out, slot = graph.c(m), tensor_root(graph.output), graph.trace[m].proof(m)
    ch = chain.challenger
    assert revert_name(s.reject_entry, *args, c, out, slot, sender=ch) == ("LeafConsistent", {})
    fail_args = (batch_id, 1, leaves[1], proofs(leaves, 1), root(), input_proof([root()] * 2, 1))
    assert revert_name(s.reject_entry, *fail_args, claim, b"", [], sender=ch) == ("LeafConsistent", {})
    assert revert_name(s.reject_entry, *fail_args, claim, out, [], sender=ch) == ("OutputNotEmpty", {})
    assert revert_name(s.reject_entry, *args, graph.c(m - 1), out, graph.trace[m - 1].proof(m), sender=ch)[0] == \
        "OutputProofMismatch"
    assert revert_name(s.reject_entry, *args, claim, b"", [], sender=ch)[0] == "WrongPreState"
    assert revert_name(s.reject_entry, *args, c[:-1], out, slot, sender=ch) == ("BadStateLength", {"got": 31})
    assert revert_name(s.reject_entry, *args, c, out[:-1], slot, sender=ch)[0] == "WrongOutputLength"
    assert revert_name(s.reject_entry, *args, c, out, slot[:-1], sender=ch)[0] == "WrongPathLength"
    # the children form shows only that the hash is a slot-tree root: a Success at m with any output is consistent
    assert revert_name(s.reject_entry, *args, children(graph.trace[m]), b"", [], sender=ch) == ("LeafConsistent", {})
    assert revert_name(s.reject_entry, *fail_args, children(graph.trace[1]), b"", [], sender=ch)[0] == \
        "WrongPreState"
    bent = bytes([out[0] ^ 1]) + out[1:]
    assert revert_name(s.reject_entry, *args, c, bent, slot, sender=ch)[0] == "OutputProofMismatch"
    advance_time(s.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    assert s.balance(chain.operator) == 2 * (FEE + chain.bond)
    ether_check(chain, 0)


def test_a_graph_leaf_answering_a_malformed_input_is_rejected(chain: Chain, graph: Graph) -> None:
    """An input root whose region holds a non-zero byte past the graph model's inputLength (60 of a 64-byte region):
    the leaf answering it is rejected, the entry void, its fee refunded."""
    s = chain.system
    short = s.register_graph_model(dataclasses.replace(graph.model_spec(), input_length=60))
    good, bad = GRAPH_INPUT[:60], GRAPH_INPUT[:60] + b"\0\0\x01\0"
    roots = [input_root(good, 60), input_root(bad, 60)]
    rb = s.request_batch(short, roots, 2 * FEE, sender=chain.requester)
    batch_id, leaves = post(chain, rb, [success(graph, 0), success(graph, 1)])
    ch = chain.challenger
    assert revert_name(s.reject_entry, batch_id, 0, leaves[0], proofs(leaves, 0), roots[0], input_proof(roots, 0),
                       input_region=good + bytes(4), sender=ch) == ("InputWellFormed", {})
    s.reject_entry(batch_id, 1, leaves[1], proofs(leaves, 1), roots[1], input_proof(roots, 1), input_region=bad,
                   sender=ch)
    ev = next(e for e in s.events_since(s.last_receipt["blockNumber"]) if e.name == "EntryRejected")
    assert ev["malformed"] and s.entry_taken(rb, 1)
    assert s.balance(ch) == chain.bond - chain.burn and s.balance(chain.requester) == FEE
    advance_time(s.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    ether_check(chain, 0)


def test_generation_models_are_refused(chain: Chain, graph: Graph) -> None:
    """A generation model's node count depends on input word 1 (its token count), which an input root does not
    tell: request batches refuse it by name."""
    s = chain.system
    gen = s.register_graph_model(dataclasses.replace(graph.model_spec(), period=1))
    assert revert_name(s.request_batch, gen, [root()], 0) == ("GenerationModel", {"modelId": gen})
    assert revert_name(s.request_batch_data, gen, [GRAPH_INPUT], 0) == ("GenerationModel", {"modelId": gen})
    assert revert_name(s.request_batch, 99, [root()], 0) == ("UnknownModel", {"modelId": 99})
    ether_check(chain, 0)



def test_an_accomplices_game_does_not_shield_a_contradicting_graph_leaf(chain: Chain, graph: Graph) -> None:
    """A graph leaf naming the true C_m with another output, disputed first by the liar's accomplice (a game the
    accomplice must lose: the phase-1 trace is true): rejectEntry still rejects it, in Optimist (rejectLeaf)."""
    s = chain.system
    rb = request(chain, 2)
    batch_id, leaves = post(chain, rb, [success(graph, 0, output_hash=keccak256(b"a lie")), success(graph, 1)])
    accomplice = chain.accounts[6]
    gid = s.dispute_leaf(batch_id, 0, leaves[0], proofs(leaves, 0), sender=accomplice, input_root=root(),
                         input_proof=input_proof([root()] * 2, 0))
    assert s.game(gid).over_nodes
    m = graph.m
    s.reject_entry(batch_id, 0, leaves[0], proofs(leaves, 0), root(), input_proof([root()] * 2, 0), graph.c(m),
                   tensor_root(graph.output), graph.trace[m].proof(m), sender=chain.challenger)
    assert s.result(leaf_result_id(batch_id, 0)).status == ResultStatus.REJECTED
    ref = entry_ref(rb, 0)
    assert s.get_request(ref).status == RequestStatus.OPEN and s.is_barred(ref, chain.operator)
    share = (chain.bond - chain.burn) // 2                # with the accomplice's game, active then
    assert s.balance(chain.challenger) == share
    s.cancel_game(gid, sender=accomplice)
    assert s.balance(accomplice) == s.params.challenge_bond + share
    advance_time(s.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    assert s.balance(chain.operator) == FEE + chain.bond
    ether_check(chain, FEE)                               # entry 0's fee waits for a new answer


BIG = 8192 + 100   # bytes: more than a rejection may carry (4 KB), and no power of two


def test_a_lying_big_output_is_rejected_with_its_tensor_root_alone(chain: Chain, graph: Graph) -> None:
    """A graph model with an 8 KB output: a leaf naming the true C_m with another output hash (a true trace: no game
    can catch it; here keccak256 of the true output, which is not a graph leaf's commitment) is rejected with C_m, the
    output's tensor root and its slot proof: under 4 KB of calldata whatever the output's size (GPT-2's 201 KB logits
    row would not fit a transaction the public mempool relays). The true leaf, the tensor root, is consistent; outputs
    in the calldata are checked against it."""
    s = chain.system
    big = bytes((i * 13 + 5) % 251 for i in range(BIG))
    model = s.register_graph_model(dataclasses.replace(graph.model_spec(), output_length=BIG))
    m = graph.m
    trace = graph.trace[m - 1].with_slot(m, tensor_root(big))   # C_m of a run whose output is `big`
    rb = s.request_batch_data(model, [GRAPH_INPUT] * 2, 2 * FEE, sender=chain.requester)
    assert s.request_batch_info(rb).graph
    true = EntryLeaf(0, trace.root(), tensor_root(big), m, int(Outcome.SUCCESS), 0)
    lie = dataclasses.replace(true, index=1, output_hash=keccak256(big))
    assert revert_name(post, chain, rb, [true, lie], [big, big]) == ("OutputMismatch", {"index": 1})
    assert revert_name(post, chain, rb, [lie], [big]) == ("OutputMismatch", {"index": 1})
    batch_id, leaves = post(chain, rb, [true])                  # the output in the calldata: its tensor root matches
    lie_batch, lies = post(chain, rb, [lie])                    # the output elsewhere (blobs): not checked on-chain
    ch = chain.challenger
    evidence = (trace.root(), tensor_root(big), trace.proof(m))
    assert revert_name(s.reject_entry, batch_id, 0, leaves[0], [], root(), input_proof([root()] * 2, 0), *evidence,
                       sender=ch) == ("LeafConsistent", {})
    s.reject_entry(lie_batch, 0, lies[0], [], root(), input_proof([root()] * 2, 1), *evidence, sender=ch)
    sent = bytes(s.w3.eth.get_transaction(s.last_receipt["transactionHash"])["input"])
    assert len(sent) < 4096 < len(big)
    ev = next(e for e in s.events_since(s.last_receipt["blockNumber"]) if e.name == "EntryRejected")
    assert (ev["batchId"], ev["entryRef"], ev["malformed"]) == (lie_batch, entry_ref(rb, 1), False)
    assert s.balance(ch) == chain.bond - chain.burn and not s.entry_taken(rb, 1)
    # wrong evidence: a root not at slot m of C_m, or the output's bytes instead of its root
    assert revert_name(s.reject_entry, batch_id, 0, leaves[0], [], root(), input_proof([root()] * 2, 0),
                       trace.root(), keccak256(big), trace.proof(m), sender=ch)[0] == "OutputProofMismatch"
    assert revert_name(s.reject_entry, batch_id, 0, leaves[0], [], root(), input_proof([root()] * 2, 0),
                       trace.root(), big, trace.proof(m), sender=ch) == ("WrongOutputLength",
                                                                          {"expected": 32, "got": BIG})
    advance_time(s.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    got = s.leaf_outcome(batch_id, 0, leaves[0], [])
    assert got[4] == tensor_root(big) == bytes(s.batches.functions.tensorRoot(big).call())
    ether_check(chain, FEE)                                     # entry 1's fee waits for a new answer


def test_a_graph_result_batch_commits_outputs_by_their_tensor_roots(chain: Chain, graph: Graph) -> None:
    """postBatch of graph results (checked on-chain with the bytes): a Success leaf's outputHash is its output's
    tensor root too, hashed from the posted bytes, and a failure's keccak256(""), so leafOutcome means one thing for
    every graph leaf; System.batch_posted and System.outcome rebuild them from ResultPosted."""
    s = chain.system
    rids = [s.request(chain.model_id, GRAPH_INPUT, FEE, sender=chain.requester) for _ in range(2)]
    m = graph.m
    _, claim = failure(graph, 0, 2, trapped(graph, 2))
    claims = [Claim(rids[0], graph.output, graph.c(m), graph.trace[m].proof(m)), Claim(rids[1], b"", claim, [])]
    batch_id = s.post_batch(chain.model_id, claims, sender=chain.operator)
    leaves, outputs = s.batch_posted(batch_id)
    assert [x.output_hash for x in leaves] == [tensor_root(graph.output), keccak256(b"")]
    assert outputs == [graph.output, b""]
    advance_time(s.w3, WINDOW + 1)
    s.finalize_batch(batch_id, leaves)
    assert s.leaf_outcome(batch_id, 0, leaves[0], proofs(leaves, 0)) == \
        (rids[0], int(Outcome.SUCCESS), 0, m, tensor_root(graph.output))
    assert s.leaf_outcome(batch_id, 1, leaves[1], proofs(leaves, 1))[1:] == \
        (int(Outcome.FAILURE), 7, 2, keccak256(b""))
    assert s.outcome(rids[0]).output_hash == tensor_root(graph.output)
    ether_check(chain, 0)


@pytest.mark.parametrize("length", [1, 16, 32, 33, 100, 4096, 5000])
def test_tensor_root_on_chain_is_the_python_one(chain: Chain, length: int) -> None:
    """OptimistBatches.tensorRoot (what a consumer contract checks output bytes with) is output_hash of a graph
    model's output, the slot value NodeChecker proves at slot m."""
    data = bytes((i * 31 + length) % 256 or 1 for i in range(length))
    assert bytes(chain.system.batches.functions.tensorRoot(data).call()) == output_hash(data, True) == \
        tensor_root(data) != keccak256(data)


def _tail_zero_model(chain: Chain, graph: Graph) -> tuple[int, bytes, EntryLeaf]:
    """A graph model of 100-byte outputs and the true Success leaf of a run whose output ends in 10 zero bytes (its
    C_m: the tiny graph's C_{m-1} with that output's tensor root at slot m)."""
    out = bytes((i * 7 + 1) % 251 or 1 for i in range(90)) + bytes(10)
    model = chain.system.register_graph_model(dataclasses.replace(graph.model_spec(), output_length=len(out)))
    c_m = graph.trace[graph.m - 1].with_slot(graph.m, tensor_root(out)).root()
    return model, out, EntryLeaf(0, c_m, tensor_root(out), graph.m, int(Outcome.SUCCESS), 0)


@pytest.mark.parametrize("form", ["padded", "truncated", "region"])
def test_a_graph_entry_calldata_output_is_exactly_outputlength_bytes(chain: Chain, graph: Graph, form: str) -> None:
    """A tensor root binds its bytes only up to the zeros that fill its region: the true output with zero bytes
    appended (up to its region's size), or without its trailing zero bytes, has the same root. postEntries must not
    let an operator publish such bytes as a true leaf's output (a reader would take logits padded with zeros, or a
    shorter tensor, as the committed output): a graph Success's calldata output is exactly outputLength bytes."""
    s = chain.system
    model, out, leaf = _tail_zero_model(chain, graph)
    fake = {"padded": out + bytes(20), "truncated": out[:-10], "region": out + bytes(128 - len(out))}[form]
    assert tensor_root(fake) == leaf.output_hash == bytes(s.batches.functions.tensorRoot(fake).call())
    rb = s.request_batch_data(model, [GRAPH_INPUT], FEE, sender=chain.requester)
    assert revert_name(post, chain, rb, [leaf], [fake]) == ("WrongOutputLength",
                                                             {"expected": len(out), "got": len(fake)})
    post(chain, rb, [leaf], [out])                              # the exact bytes
    ether_check(chain, FEE + chain.bond)


def test_a_graph_success_calldata_output_is_never_empty(chain: Chain, graph: Graph) -> None:
    """An empty calldata output matches keccak256(""), a failure's outputHash: a Success leaf claiming that hash (a
    lie rejectEntry catches) still must not publish "no output" as a Success's output."""
    rb = request(chain, 1)
    leaf = success(graph, 0, output_hash=keccak256(b""))
    assert revert_name(post, chain, rb, [leaf], [b""]) == ("WrongOutputLength",
                                                           {"expected": len(graph.output), "got": 0})
    ether_check(chain, FEE)


def test_readers_refuse_a_graph_blob_output_padded_with_zeros(graph: Graph, tmp_path) -> None:
    """Blob outputs are not checked on-chain: an operator publishes a true leaf's output with 20 zero bytes appended
    (same tensor root). The client (optimist.entries.entry_outcome), the challenger's store (challenger.entries.
    entry_outputs) and the explorer refuse those bytes and read the exact ones of another leaf."""
    from types import SimpleNamespace

    from eth_account import Account

    from challenger.entries import entry_outputs
    from contracts.chain import ANVIL_MNEMONIC, Anvil
    from optimist.entries import EntryError
    from optimist.explorer.data import ChainView
    from tests.test_daemon_anvil import _anvil_package_installed

    if not _anvil_package_installed():  # pragma: no cover
        pytest.skip("the npm anvil package is not installed (make setup)")
    Account.enable_unaudited_hdwallet_features()
    key = Account.from_mnemonic(ANVIL_MNEMONIC, account_path="m/44'/60'/0'/0/1")
    with Anvil() as node:
        w3 = node.web3()
        s = deploy_system(w3, challenge_window=WINDOW, clock=CLOCK, reopen_delay=100)
        chain = Chain(s, 0, w3.eth.accounts[0], key.address, w3.eth.accounts[2], list(w3.eth.accounts))
        model, out, leaf = _tail_zero_model(chain, graph)
        rb = s.request_batch_data(model, [GRAPH_INPUT] * 2, 2 * FEE, sender=chain.requester)
        leaves = [leaf, dataclasses.replace(leaf, index=1)]
        batch_id = s.post_entries(rb, leaves, private_key=key.key, blob_outputs=[out + bytes(20), out])
        [ev] = [e for e in s.events_since(s.last_receipt["blockNumber"]) if e.name == "EntriesPosted"]
        advance_time(w3, WINDOW + 2)
        s.finalize_entries(batch_id)
        with pytest.raises(EntryError, match="does not hash to the leaf's output hash"):
            entry_outcome(s, entry_ref(rb, 0))
        assert entry_outcome(s, entry_ref(rb, 1)).output == out
        daemon = SimpleNamespace(system=s, client=SimpleNamespace(rpc=lambda f, _name: f()), beacon_url=None,
                                 emit=lambda *a, **k: None)
        assert entry_outputs(daemon, ev, leaves, []) == [None, out]
        entries = ChainView(s).request_batch(rb)["entries"]
        assert "does not hash to the leaf's output hash" in entries[0]["output"]["note"]
        assert "note" not in entries[1]["output"]


def test_output_matches_binds_a_graph_success_to_its_length() -> None:
    """contracts.batches.output_matches (what every reader of published outputs calls): a graph Success's output is
    its exact outputLength bytes with the leaf's tensor root; a program's any bytes with the leaf's keccak256; a
    failure's the empty output."""
    from contracts.batches import output_matches

    out = bytes(range(1, 41)) + bytes(8)
    ok = EntryLeaf(0, bytes(32), tensor_root(out), 3, int(Outcome.SUCCESS), 0)
    assert output_matches(out, ok, len(out))
    for fake in (out + bytes(1), out + bytes(16), out[:-8], out[:-1], b""):
        assert tensor_root(fake) == ok.output_hash or not fake
        assert not output_matches(fake, ok, len(out))
    assert not output_matches(out, ok, None)                      # a program model: keccak256, not the root
    program = dataclasses.replace(ok, output_hash=keccak256(out))
    assert output_matches(out, program, None) and not output_matches(out + bytes(1), program, None)
    failed = EntryLeaf(0, bytes(32), keccak256(b""), 2, int(Outcome.FAILURE), 7)
    assert output_matches(b"", failed, len(out)) and not output_matches(out, failed, len(out))


def test_is_graph_model_does_not_cache_an_id_not_yet_registered(chain: Chain, graph: Graph) -> None:
    """System.is_graph_model caches a model's kind (it never changes), but an id nobody registered yet is no kind:
    asked before its graph is registered (a reader handed a future model id), it must not stay 'program' after, or a
    long-running reader would check that model's tensor-root leaves with keccak256."""
    s = chain.system
    future = chain.model_id + 1
    assert not s.is_graph_model(future)
    assert s.register_graph_model(graph.model_spec()) == future
    assert s.is_graph_model(future)


def test_a_graph_result_batch_cannot_publish_a_padded_output(chain: Chain, graph: Graph) -> None:
    """postBatch's ResultPosted outputs are what readers take (System.batch_posted, Request.leaf_proof): a graph
    Success's output with zero bytes appended has the true tensor root and slot proof, but NodeChecker.graphClaim
    takes exactly outputLength bytes, so result batches cannot carry it (passes on the reviewed code: a pin)."""
    s = chain.system
    rid = s.request(chain.model_id, GRAPH_INPUT, FEE, sender=chain.requester)
    m = graph.m
    padded = graph.output + bytes(16)
    assert tensor_root(padded) == tensor_root(graph.output)
    claim = Claim(rid, padded, graph.c(m), graph.trace[m].proof(m))
    assert revert_name(s.post_batch, chain.model_id, [claim], sender=chain.operator) == \
        ("WrongOutputLength", {"expected": len(graph.output), "got": len(padded)})
    ether_check(chain, FEE)
