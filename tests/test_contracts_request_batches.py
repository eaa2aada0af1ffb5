"""Request batches and entry batches (OptimistBatches.requestBatch / postEntries / rejectEntry / finalizeEntries,
Optimist.disputeLeaf with an entry's input root, docs/game-rules.md §3b).

Toy machine (tests/contracts_world.py): every input's true run halts at HALT with the same final state; a lie is a
final state with another memory root (caught by a game) or a leaf that contradicts its true final state (rejected
without a game). Every test ends with the ether check: Optimist holds exactly the credits plus what is locked.
"""

from __future__ import annotations

import pytest
from test_contracts_boundaries import at, probe_at, reverts

from contracts.batches import (
    EntryLeaf,
    Leaf,
    batch_root,
    entry_input,
    entry_position,
    entry_ref,
    input_proof,
    input_region_size,
    input_root,
    input_roots,
    inputs_root,
    is_entry,
    leaf_proof,
    leaf_result_id,
)
from contracts.system import (
    ZERO_ADDRESS,
    ContractRevert,
    GameStatus,
    GraphModelSpec,
    Outcome,
    RequestStatus,
    ResultStatus,
    advance_time,
)
from mipsvm.layout import OUTPUT_BASE
from mipsvm.memory import keccak256
from mipsvm.regions import region_path
from tests.contracts_world import (
    CHALLENGE_BOND,
    INPUT_LEN,
    RESULT_BOND,
    WINDOW,
    ToyRun,
    World,
    final_memory,
    make_world,
    play,
    toy_input,
    true_output,
)

HALT = 20
FEE = 10**15
BURN = RESULT_BOND // 2   # deploy_system's default burn share: half


@pytest.fixture
def world() -> World:
    return make_world(HALT)[0]


def revert_name(fn, *args, **kwargs) -> tuple[str, dict]:
    with pytest.raises(ContractRevert) as info:
        fn(*args, **kwargs)
    return info.value.name, info.value.fields


def inputs(n: int, first: int = 1) -> list[bytes]:
    return [toy_input(seed) for seed in range(first, first + n)]


def roots(xs: list[bytes]) -> list[bytes]:
    return input_roots(xs, INPUT_LEN)


def proof_of(xs: list[bytes], i: int) -> list[bytes]:
    """Entry i's input root and its proof in the inputs root, as disputeLeaf takes them."""
    return input_proof(roots(xs), i)


def true_run(world: World, inp: bytes) -> ToyRun:
    """The toy machine's run on `inp` (every input ends in the same final state)."""
    return ToyRun(world.run_for(inp, true_output(toy_input()), HALT)[0].initial, HALT,
                  final_memory(world.image, toy_input(), true_output(toy_input())).root())


def output_region(world: World, out: bytes) -> tuple[bytes, list[bytes]]:
    """The whole output region of the true final memory and its proof."""
    final = final_memory(world.image, toy_input(), out)
    size = world.model.output_size
    return final.read(OUTPUT_BASE, size), region_path(final, OUTPUT_BASE, size)


def entry(world: World, index: int, inp: bytes, *, lie: bool = False, **fields) -> EntryLeaf:
    """The true answer to an entry (a lie: a final state with another memory root); `fields` override it."""
    run = true_run(world, inp)
    state = run.state(HALT)
    if lie:
        state = ToyRun(run.initial, HALT, keccak256(b"wrong root")).state(HALT)
    leaf = EntryLeaf(index, keccak256(state), keccak256(true_output(toy_input())), HALT, int(Outcome.SUCCESS), 0)
    return EntryLeaf(**{**leaf.__dict__, **fields})


def post(world: World, rb: int, leaves: list[EntryLeaf], sender: str | None = None) -> tuple[int, list[Leaf]]:
    batch_id = world.system.post_entries(rb, leaves, sender=sender or world.operator)
    return batch_id, [x.leaf(rb) for x in leaves]


def proofs(leaves: list[Leaf], i: int) -> list[bytes]:
    return leaf_proof([x.hash() for x in leaves], i)


def ether_check(world: World, locked: int) -> None:
    """Optimist's ether is every credit plus `locked` (fees and bonds not paid out yet) plus unsent burns;
    OptimistBatches holds none."""
    s = world.system
    credited = sum(s.balance(a) for a in world.accounts)
    assert world.w3.eth.get_balance(s.batches.address) == 0
    assert world.w3.eth.get_balance(s.address) == credited + locked + s.burned() - s.burn_sent()


def test_ids_and_roots_mirror_the_contract(world: World) -> None:
    ref = entry_ref(7, 513)
    assert is_entry(ref) and entry_position(ref) == (7, 513) and not is_entry(513)
    s = world.system
    xs = inputs(5)
    rb = s.request_batch_data(world.model_id, xs, 5 * FEE)
    info = s.request_batch_info(rb)
    assert info.inputs_root == inputs_root(roots(xs)) == batch_root([input_root(x, INPUT_LEN) for x in xs])
    # an input's root is its region's memory-tree root: what the registry climbs to an initial state
    assert roots(xs)[0] == final_memory(world.image, xs[0], b"").subtree_root(world.model.input_base,
                                                                                input_region_size(INPUT_LEN))
    assert (info.requester, info.model_id, info.count, info.fee, info.reopened, info.max_steps) == \
        (world.accounts[0], world.model_id, 5, FEE, False, world.model.max_steps)
    ev = next(e for e in s.events_since(s.last_receipt["blockNumber"]) if e.name == "RequestBatchPosted")
    assert [bytes(h) for h in ev["inputRoots"]] == roots(xs) and ev["blobHashes"] == []
    assert ev["fee"] == FEE and ev["inputsRoot"] == info.inputs_root
    rb2 = s.request_batch(world.model_id, roots(xs), 0)
    assert s.request_batch_info(rb2).inputs_root == info.inputs_root
    assert not any(s.entry_taken(rb, i) for i in range(5))


def test_request_batches_refuse_by_name(world: World) -> None:
    s = world.system
    hashes = roots(inputs(3))
    now = world.now()
    assert revert_name(s.request_batch, world.model_id, [], 0) == ("BadBatchSize", {"size": 0, "expected": 1024})
    assert revert_name(s.request_batch, world.model_id, [hashes[0]] * 1025, 0)[0] == "BadBatchSize"
    assert revert_name(s.request_batch, world.model_id, hashes, 10) == ("FeeNotDivisible", {"value": 10, "count": 3})
    assert revert_name(s.request_batch, world.model_id, hashes, 0, deadline=now)[0] == "BadDeadline"
    assert revert_name(s.request_batch, world.model_id, hashes, 0, deadline=now + 31 * 86400)[0] == "BadDeadline"
    assert revert_name(s.request_batch, 99, hashes, 0) == ("UnknownModel", {"modelId": 99})
    assert revert_name(s._send, "requestBatchData", world.model_id, hashes, [toy_input(1)], world.now() + 100) == \
        ("BadBatchSize", {"size": 1, "expected": 3})
    # a generation model is refused (its node count depends on its input's token count, which a root does not
    # tell); other graph models are taken (tests/test_contracts_graph_entries.py)
    from graph_world import build_graph

    from tests.contracts_world import load_tiny
    spec = build_graph(load_tiny()).model_spec()
    gen_id = s.register_graph_model(GraphModelSpec(spec.nodes_root, spec.node_count, spec.input_length,
                                                   spec.output_length, period=1))
    assert revert_name(s.request_batch, gen_id, hashes, 0) == ("GenerationModel", {"modelId": gen_id})
    ether_check(world, 0)


def test_entries_post_and_finalize_in_one_o1_call(world: World) -> None:
    s = world.system
    xs = inputs(6)
    rb = s.request_batch_data(world.model_id, xs, 6 * FEE)
    answered = [0, 2, 3, 4, 5]
    batch_id, leaves = post(world, rb, [entry(world, i, xs[i]) for i in answered])
    info = s.batch(batch_id)
    assert (info.count, info.request_batch, info.operator, info.settled) == (5, rb, world.operator, False)
    assert info.root == batch_root([x.hash() for x in leaves])
    assert [s.entry_taken(rb, i) for i in range(6)] == [True, False, True, True, True, True]
    assert revert_name(s.finalize_batch, batch_id, leaves) == ("EntryBatch", {"batchId": batch_id})
    assert revert_name(s.finalize_entries, batch_id)[0] == "ChallengeWindowOpen"
    assert revert_name(s.entry_outcome, batch_id, 1, leaves[1], proofs(leaves, 1)) == \
        ("NotFinalized", {"batchId": batch_id})
    advance_time(world.w3, WINDOW + 1)
    before = s.balance(world.operator)
    s.finalize_entries(batch_id, sender=world.accounts[7])   # anyone
    assert s.balance(world.operator) - before == 5 * (FEE + RESULT_BOND)
    assert s.batch(batch_id).settled
    assert revert_name(s.finalize_entries, batch_id) == ("BatchSettled", {"batchId": batch_id})
    # a reader proves a finalized entry's outcome with its leaf and inclusion proof
    got = s.entry_outcome(batch_id, 1, leaves[1], proofs(leaves, 1))
    assert got == (entry_ref(rb, 2), int(Outcome.SUCCESS), 0, HALT, keccak256(true_output(toy_input())))
    forged = Leaf(leaves[1].request_id, leaves[1].final_state_hash, keccak256(b"other"), HALT, 0, 0)
    assert revert_name(s.entry_outcome, batch_id, 1, forged, proofs(leaves, 1))[0] == "LeafMismatch"
    # the untaken entry is still open to anyone; a postBatch batch is not an entry batch
    batch2, _ = post(world, rb, [entry(world, 1, xs[1])], sender=world.accounts[6])
    assert revert_name(s.post_entries, rb, [entry(world, 1, xs[1])], sender=world.accounts[6]) == \
        ("EntryTaken", {"index": 1})
    rid = s.request(world.model_id, toy_input(9), FEE)
    run = true_run(world, toy_input(9))
    from contracts.batches import Claim
    final = final_memory(world.image, toy_input(), true_output(toy_input()))
    pb = s.post_batch(world.model_id, [Claim(rid, true_output(toy_input()), run.state(HALT),
                                             region_path(final, OUTPUT_BASE, world.model.output_size))],
                      sender=world.operator)
    assert revert_name(s.finalize_entries, pb) == ("NotEntryBatch", {"batchId": pb})
    ether_check(world, 2 * RESULT_BOND + 2 * FEE)


def test_finalize_entries_costs_the_same_for_1_and_64_leaves(world: World) -> None:
    """O(1) storage writes: finalizeEntries' gas does not grow with the batch (the first one creates the
    operator's credit slot: a warm-up)."""
    s = world.system
    gas = {}
    for n in (2, 1, 64):
        xs = inputs(n)
        rb = s.request_batch_data(world.model_id, xs, n * FEE)
        batch_id, _ = post(world, rb, [entry(world, i, xs[i]) for i in range(n)])
        advance_time(world.w3, WINDOW + 1)
        s.finalize_entries(batch_id)
        gas[n] = s.last_receipt["gasUsed"]
    assert gas[64] == gas[1]
    ether_check(world, 0)


def test_post_entries_refuses_by_name(world: World) -> None:
    s = world.system
    xs = inputs(3)
    rb = s.request_batch_data(world.model_id, xs, 3 * FEE)
    good = [entry(world, i, xs[i]) for i in range(3)]
    op = world.operator
    assert revert_name(s.post_entries, rb + 1, good, sender=op) == ("UnknownRequestBatch", {"requestBatchId": rb + 1})
    assert revert_name(s.post_entries, rb, [], sender=op) == ("BadBatchSize", {"size": 0, "expected": 3})
    assert revert_name(s.post_entries, rb, good + good[:1], sender=op) == ("BadBatchSize", {"size": 4, "expected": 3})
    assert revert_name(s.post_entries, rb, [good[0], good[1], good[0]], sender=op) == ("DuplicateEntry", {"index": 0})
    assert revert_name(s.post_entries, rb, [entry(world, 3, xs[0])], sender=op) == \
        ("EntryOutOfRange", {"index": 3, "count": 3})
    assert revert_name(s.post_entries, rb, [entry(world, 0, xs[0], outcome=3)], sender=op) == \
        ("BadOutcome", {"outcome": 3})
    max_steps = world.model.max_steps
    for steps in (0, max_steps + 1):
        assert revert_name(s.post_entries, rb, [entry(world, 0, xs[0], steps=steps)], sender=op) == \
            ("StepsOutOfRange", {"steps": steps, "maxSteps": max_steps})
    assert revert_name(s.post_entries, rb, good, sender=op, bond=RESULT_BOND) == \
        ("WrongBond", {"expected": 3 * RESULT_BOND, "sent": RESULT_BOND})
    out = true_output(toy_input())
    assert revert_name(s.post_entries, rb, good, [out, out], sender=op) == ("BadBatchSize", {"size": 2, "expected": 3})
    assert revert_name(s.post_entries, rb, good, [out, out + b"x", out], sender=op) == ("OutputMismatch", {"index": 1})
    s.post_entries(rb, good[1:], [out, out], sender=op)     # outputs in the calldata
    assert revert_name(s.post_entries, rb, good[:2], sender=op) == ("EntryTaken", {"index": 1})
    ether_check(world, 3 * FEE + 2 * RESULT_BOND)


def test_a_lying_leaf_loses_its_game_and_reopens_only_its_request(world: World) -> None:
    s = world.system
    xs = inputs(4)
    requester = world.accounts[8]
    rb = s.request_batch_data(world.model_id, xs, 4 * FEE, sender=requester)
    batch_id, leaves = post(world, rb, [entry(world, i, xs[i], lie=i == 2) for i in range(4)])
    ch = world.challengers[0]
    ref = entry_ref(rb, 2)
    args = (batch_id, 2, leaves[2], proofs(leaves, 2))
    # the input root must be the committed one, with its proof in the inputs root
    root = roots(xs)[2]
    assert revert_name(s.dispute_leaf, *args, sender=ch, input_root=roots(xs)[1], input_proof=proof_of(xs, 2))[0] == \
        "InputMismatch"
    assert revert_name(s.dispute_leaf, *args, sender=ch, input_root=root, input_proof=proof_of(xs, 2)[:-1]) == \
        ("WrongPathLength", {"expected": 2, "got": 1})
    assert revert_name(s.dispute_leaf, *args, sender=ch)[0] == "WrongPathLength"   # no input root given
    assert revert_name(s.dispute_leaf, *args, sender=world.operator, input_root=root,
                       input_proof=proof_of(xs, 2))[0] == "SelfChallenge"
    gid = s.dispute_leaf(*args, sender=ch, input_root=root, input_proof=proof_of(xs, 2))
    # the entry's request exists from now on, its initial state computed on-chain only now, from the root alone
    req = s.get_request(ref)
    assert (req.requester, req.model_id, req.fee, req.status, req.result_id) == \
        (requester, world.model_id, FEE, RequestStatus.POSTED, leaf_result_id(batch_id, 2))
    # the request batch's deadline, never reopened, and no callback (batches take none): all of it the entry's
    assert (req.deadline, req.reopen_at, req.callback, req.callback_gas) == \
        (s.request_batch_info(rb).deadline, 0, ZERO_ADDRESS, 0)
    assert req.initial_state_hash == s.initial_state_hash(world.model_id, xs[2]) == true_run(world, xs[2]).hash(0)
    assert revert_name(s.dispute_leaf, *args, sender=world.challengers[1], input_root=root,
                       input_proof=proof_of(xs, 2)) == ("LeafDisputed", {"resultId": leaf_result_id(batch_id, 2)})
    # rejectEntry still takes a game-disputed leaf (Optimist.rejectLeaf), but this one names a wrong final state:
    # it is consistent with no state anyone can show, so only its game decides
    region, oproof = output_region(world, true_output(toy_input()))
    assert revert_name(s.reject_entry, *args, root, proof_of(xs, 2), true_run(world, xs[2]).state(HALT), region,
                       oproof, sender=world.challengers[1])[0] == "WrongPreState"
    lie = ToyRun(true_run(world, xs[2]).initial, HALT, keccak256(b"wrong root"))
    honest = true_run(world, xs[2])
    g = play(world, gid, lie.hash, honest.hash, prover_state=honest.state)
    assert g.status == GameStatus.CHALLENGER_WON
    assert s.get_request(ref).status == RequestStatus.OPEN and s.is_barred(ref, world.operator)
    assert s.balance(ch) == CHALLENGE_BOND + RESULT_BOND - BURN
    advance_time(world.w3, WINDOW + 1)
    before = s.balance(world.operator)
    s.finalize_entries(batch_id)
    assert s.balance(world.operator) - before == 3 * (FEE + RESULT_BOND)
    assert revert_name(s.entry_outcome, batch_id, 2, leaves[2], proofs(leaves, 2)) == \
        ("LeafDisputed", {"resultId": leaf_result_id(batch_id, 2)})
    # the reopened request is an ordinary request: the liar is barred, another operator answers it
    final = final_memory(world.image, toy_input(), true_output(toy_input()))
    assert revert_name(world.post, ref, honest, final, true_output(toy_input()))[0] == "OperatorBarred"
    rid = world.post(ref, honest, final, true_output(toy_input()), sender=world.accounts[6])
    advance_time(world.w3, WINDOW + 1)
    s.finalize(rid)
    assert s.get_request(ref).status == RequestStatus.FINALIZED
    assert s.outcome(ref).result_id == rid
    assert s.balance(world.accounts[6]) == FEE + RESULT_BOND
    ether_check(world, 0)


def test_an_honest_leaf_defends_its_game_and_settles_alone(world: World) -> None:
    s = world.system
    xs = inputs(3)
    rb = s.request_batch_data(world.model_id, xs, 3 * FEE)
    batch_id, leaves = post(world, rb, [entry(world, i, xs[i]) for i in range(3)])
    liar_ch = world.challengers[0]
    gid = s.dispute_leaf(batch_id, 1, leaves[1], proofs(leaves, 1), sender=liar_ch, input_root=roots(xs)[1],
                         input_proof=proof_of(xs, 1))
    honest = true_run(world, xs[1])
    wrong = ToyRun(honest.initial, HALT, keccak256(b"wrong"))
    assert play(world, gid, honest.hash, wrong.hash, prover_state=honest.state).status == GameStatus.DEFENDER_WON
    advance_time(world.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    s.finalize(leaf_result_id(batch_id, 1))
    won = CHALLENGE_BOND - s.params.burn_share(CHALLENGE_BOND)
    assert s.balance(world.operator) == 3 * (FEE + RESULT_BOND) + won
    assert s.get_request(entry_ref(rb, 1)).status == RequestStatus.FINALIZED
    assert s.result(leaf_result_id(batch_id, 1)).status == ResultStatus.FINALIZED
    ether_check(world, 0)


def test_a_leaf_answering_a_malformed_input_is_rejected_without_a_game(world: World) -> None:
    """Inputs in blobs are only committed by their roots: an entry may name a region whose bytes past the input
    length are not zeros (no input of the model). A leaf answering it loses its bond to whoever shows the region's
    bytes; the entry is void and its fee goes back to the requester. Shorter bytes are the zero-padded input."""
    s = world.system
    xs = inputs(3)
    xs[1] = xs[1] + b"\x01\x02\x03"          # malformed: non-zero bytes past the input length
    assert entry_input(xs[1], INPUT_LEN) is None and entry_input(xs[0][:-3], INPUT_LEN) == xs[0][:-3] + bytes(3)
    requester = world.accounts[8]
    rb = s.request_batch(world.model_id, roots(xs), 3 * FEE, sender=requester)
    batch_id, leaves = post(world, rb, [entry(world, i, toy_input(i + 1)) for i in range(3)])
    ch = world.challengers[0]
    args = (batch_id, 1, leaves[1], proofs(leaves, 1), roots(xs)[1], proof_of(xs, 1))
    region = xs[1].ljust(input_region_size(INPUT_LEN), b"\0")
    assert revert_name(s.reject_entry, *args, sender=world.operator, input_region=region)[0] == "SelfChallenge"
    # the evidence is the whole region of the committed root, with a non-zero byte past the input length
    assert revert_name(s.reject_entry, *args, sender=ch, input_region=region[:-1]) == \
        ("WrongInputLength", {"expected": len(region), "got": len(region) - 1})
    assert revert_name(s.reject_entry, *args, sender=ch, input_region=region[:-1] + b"\x01")[0] == "InputMismatch"
    good = (batch_id, 0, leaves[0], proofs(leaves, 0), roots(xs)[0], proof_of(xs, 0))
    assert revert_name(s.reject_entry, *good, sender=ch, input_region=xs[0].ljust(len(region), b"\0")) == \
        ("InputWellFormed", {})
    s.reject_entry(*args, sender=ch, input_region=region)
    ev = next(e for e in s.events_since(s.last_receipt["blockNumber"]) if e.name == "EntryRejected")
    assert (ev["entryRef"], ev["malformed"], ev["challenger"], ev["reopenAt"]) == (entry_ref(rb, 1), True, ch, 0)
    assert s.balance(ch) == RESULT_BOND - BURN and s.burned() == BURN
    assert s.balance(requester) == FEE
    assert s.entry_taken(rb, 1)   # void: nobody answers it again
    assert revert_name(s.reject_entry, *args, sender=world.challengers[1], input_region=region) == \
        ("LeafDisputed", {"resultId": leaf_result_id(batch_id, 1)})
    assert revert_name(s.dispute_leaf, *args[:4], sender=world.challengers[1], input_root=roots(xs)[1],
                       input_proof=proof_of(xs, 1)) == ("LeafDisputed", {"resultId": leaf_result_id(batch_id, 1)})
    advance_time(world.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    assert s.balance(world.operator) == 2 * (FEE + RESULT_BOND)
    # the first byte past the input counts, the last byte of the input does not (the bounds, to the byte)
    edge = [toy_input(7), toy_input(8) + b"\x05"]
    assert entry_input(edge[1], INPUT_LEN) is None
    rb2 = s.request_batch(world.model_id, roots(edge), 2 * FEE, sender=requester)
    b2, l2 = post(world, rb2, [entry(world, i, toy_input(i + 1)) for i in range(2)])
    other = world.challengers[1]
    assert revert_name(s.reject_entry, b2, 0, l2[0], proofs(l2, 0), roots(edge)[0], proof_of(edge, 0), sender=other,
                       input_region=edge[0].ljust(len(region), b"\0")) == ("InputWellFormed", {})
    assert edge[0][-1] != 0                  # non-zero up to the input's last byte: well formed
    s.reject_entry(b2, 1, l2[1], proofs(l2, 1), roots(edge)[1], proof_of(edge, 1), sender=other,
                   input_region=edge[1].ljust(len(region), b"\0"))
    assert s.balance(other) == RESULT_BOND - BURN and s.balance(requester) == 2 * FEE
    ether_check(world, FEE + RESULT_BOND)    # b2's other leaf, in its window


def test_one_wei_credits_and_burns_are_kept() -> None:
    """rejectEntry pays through Optimist.fund, which skips only zero amounts: with a result bond of 2 wei (burn
    share 1) and a fee of 1 wei, a malformed entry's rejection credits the challenger 1, burns 1 and refunds 1."""
    world = make_world(HALT, result_bond=2)[0]
    s = world.system
    xs = [toy_input(1), toy_input(2) + b"\x01"]
    requester, ch = world.accounts[8], world.challengers[0]
    rb = s.request_batch(world.model_id, roots(xs), 2, sender=requester)
    batch_id, leaves = post(world, rb, [entry(world, i, toy_input(i + 1)) for i in range(2)])
    region = xs[1].ljust(input_region_size(INPUT_LEN), b"\0")
    s.reject_entry(batch_id, 1, leaves[1], proofs(leaves, 1), roots(xs)[1], proof_of(xs, 1), sender=ch,
                   input_region=region)
    assert (s.balance(ch), s.burned(), s.balance(requester)) == (1, 1, 1)
    ether_check(world, 1 + 2)                # entry 0's fee and bond, in its window


@pytest.mark.parametrize("field", ["output", "steps", "outcome", "exit_code", "failure_output"])
def test_a_leaf_contradicting_its_final_state_is_rejected_and_its_entry_reopens(field: str) -> None:
    """The leaf names the true final state but other fields than postResult would derive from it (a game could
    not catch it: the trace is right). Its true final state and output region reject it; the entry reopens."""
    world = make_world(HALT, reopen_delay=100)[0]
    s = world.system
    xs = inputs(3)
    rb = s.request_batch_data(world.model_id, xs, 3 * FEE)
    out = true_output(toy_input())
    wrong = {"output": {"output_hash": keccak256(out[::-1])}, "steps": {"steps": HALT + 1},
             "outcome": {"outcome": int(Outcome.FAILURE)}, "exit_code": {"exit_code": 3},
             "failure_output": {"outcome": int(Outcome.FAILURE), "exit_code": 0}}[field]
    batch_id, leaves = post(world, rb, [entry(world, i, xs[i], **(wrong if i == 0 else {})) for i in range(3)])
    ch = world.challengers[0]
    state = true_run(world, xs[0]).state(HALT)
    region, oproof = output_region(world, out)
    args = (batch_id, 0, leaves[0], proofs(leaves, 0), roots(xs)[0], proof_of(xs, 0))
    s.reject_entry(*args, state, region, oproof, sender=ch)
    ev = next(e for e in s.events_since(s.last_receipt["blockNumber"]) if e.name == "EntryRejected")
    reopen = world.now() + s.params.reopen_delay
    assert (ev["malformed"], ev["reopenAt"]) == (False, reopen)
    assert s.balance(ch) == RESULT_BOND - BURN
    assert not s.entry_taken(rb, 0) and s.request_batch_info(rb).reopened
    # the entry takes answers again after the reopen delay, but not from the liar
    honest = entry(world, 0, xs[0])
    assert revert_name(s.post_entries, rb, [honest], sender=world.operator) == \
        ("OperatorBarred", {"requestId": entry_ref(rb, 0), "operator": world.operator.lower()})
    assert revert_name(s.post_entries, rb, [honest], sender=world.accounts[6]) == \
        ("EntryReopening", {"reopenAt": reopen})
    advance_time(world.w3, s.params.reopen_delay)
    batch2, _ = post(world, rb, [honest], sender=world.accounts[6])
    advance_time(world.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    s.finalize_entries(batch2)
    assert s.balance(world.operator) == 2 * (FEE + RESULT_BOND)
    assert s.balance(world.accounts[6]) == FEE + RESULT_BOND
    ether_check(world, 0)


def test_reject_entry_refuses_a_consistent_leaf_and_bad_evidence(world: World) -> None:
    s = world.system
    xs = inputs(2)
    rb = s.request_batch_data(world.model_id, xs, 0)
    batch_id, leaves = post(world, rb, [entry(world, i, xs[i]) for i in range(2)])
    ch = world.challengers[0]
    state = true_run(world, xs[0]).state(HALT)
    out = true_output(toy_input())
    region, oproof = output_region(world, out)
    args = (batch_id, 0, leaves[0], proofs(leaves, 0), roots(xs)[0], proof_of(xs, 0))
    assert revert_name(s.reject_entry, *args, state, region, oproof, sender=ch) == ("LeafConsistent", {})
    assert revert_name(s.reject_entry, *args, state[:-1], region, oproof, sender=ch) == \
        ("BadStateLength", {"got": len(state) - 1})
    other = true_run(world, xs[0]).state(HALT - 1)
    assert revert_name(s.reject_entry, *args, other, region, oproof, sender=ch)[0] == "WrongPreState"
    assert revert_name(s.reject_entry, *args, state, region[:-1], oproof, sender=ch)[0] == "WrongOutputLength"
    assert revert_name(s.reject_entry, *args, state, region, oproof[:-1], sender=ch)[0] == "WrongPathLength"
    bent = bytes([region[0] ^ 1]) + region[1:]   # a region that is not the state's
    assert revert_name(s.reject_entry, *args, state, bent, oproof, sender=ch)[0] == "OutputProofMismatch"
    assert revert_name(s.reject_entry, batch_id, 0, leaves[1], proofs(leaves, 0), roots(xs)[0], proof_of(xs, 0),
                       state, region, oproof, sender=ch)[0] == "LeafMismatch"
    # only entry batches, only within the window
    advance_time(world.w3, WINDOW + 1)
    assert revert_name(s.reject_entry, *args, state, region, oproof, sender=ch)[0] == "ChallengeWindowClosed"
    assert revert_name(s.dispute_leaf, batch_id, 0, leaves[0], proofs(leaves, 0), sender=ch,
                       input_root=roots(xs)[0], input_proof=proof_of(xs, 0))[0] == "ChallengeWindowClosed"
    s.finalize_entries(batch_id)
    ether_check(world, 0)


def test_an_entry_batchs_window_to_the_second(world: World) -> None:
    """EntriesPosted's deadline is postedAt + challengeWindow: rejectEntry (like disputeLeaf) runs until that second
    inclusive, finalizeEntries from the next one."""
    s = world.system
    xs = inputs(3)
    rb = s.request_batch_data(world.model_id, xs, 3 * FEE)
    lying = {"output_hash": keccak256(b"not the output")}
    batch_id, leaves = post(world, rb, [entry(world, i, xs[i], **(lying if i < 2 else {})) for i in range(3)])
    deadline = s.batch(batch_id).posted_at + WINDOW
    assert s.batch(batch_id).posted_at == world.now()
    ev = next(e for e in s.events_since(s.last_receipt["blockNumber"]) if e.name == "EntriesPosted")
    assert ev["deadline"] == deadline
    region, oproof = output_region(world, true_output(toy_input()))

    def reject(i: int) -> object:
        return s.reject_entry(batch_id, i, leaves[i], proofs(leaves, i), roots(xs)[i], proof_of(xs, i),
                              true_run(world, xs[i]).state(HALT), region, oproof, sender=world.challengers[0])

    with probe_at(world, deadline + 1), reverts("ChallengeWindowClosed", deadline=deadline):
        reject(0)
    with probe_at(world, deadline), reverts("ChallengeWindowOpen", deadline=deadline):
        s.finalize_entries(batch_id)
    at(world, deadline, lambda: reject(0))
    with probe_at(world, deadline + 1), reverts("ChallengeWindowClosed", deadline=deadline):
        reject(1)
    at(world, deadline + 1, lambda: s.finalize_entries(batch_id))
    assert s.balance(world.operator) == 2 * (FEE + RESULT_BOND)     # the rejected leaf 0 is not paid
    assert s.balance(world.challengers[0]) == RESULT_BOND - BURN
    ether_check(world, FEE)                                         # entry 0's fee waits for a new answer


def test_a_rejection_reopens_exactly_its_entry_in_any_bitmap_word() -> None:
    """rejectEntry clears the taken bit of its own entry (word index >> 8, bit index & 255 of the entry's
    reference) and bars the liar from that entry only; here in the second bitmap word at an odd index."""
    world = make_world(HALT, reopen_delay=100)[0]
    s = world.system
    xs = inputs(300)
    requester = world.accounts[8]
    rb = s.request_batch(world.model_id, roots(xs), 300 * FEE, deadline=world.now() + 5000, sender=requester)
    answered = [0, 1, 256, 257, 299]
    lie = 257
    batch_id, leaves = post(world, rb, [entry(world, i, xs[i], **({"steps": HALT + 1} if i == lie else {}))
                                        for i in answered])
    k = answered.index(lie)
    region, oproof = output_region(world, true_output(toy_input()))
    s.reject_entry(batch_id, k, leaves[k], proofs(leaves, k), roots(xs)[lie], proof_of(xs, lie),
                   true_run(world, xs[lie]).state(HALT), region, oproof, sender=world.challengers[0])
    assert [i for i in range(300) if s.entry_taken(rb, i)] == [0, 1, 256, 299]
    views = s.batches.functions
    assert [i for i in answered if views.entryBarred(entry_ref(rb, i), world.operator).call()] == [lie]
    assert [views.entryReopenAt(entry_ref(rb, i)).call() for i in answered] == [0, 0, 0, world.now() + 100, 0]
    # the reopened entry takes another operator's answer; the liar still answers other untaken entries
    advance_time(world.w3, 100)
    post(world, rb, [entry(world, lie, xs[lie])], sender=world.accounts[6])
    post(world, rb, [entry(world, 258, xs[258])])
    advance_time(world.w3, 5000)
    assert s.cancel_entries(rb, sender=requester) == 300 - 6
    ether_check(world, 6 * FEE + 6 * RESULT_BOND)


def test_entry_outcome_refuses_exactly_the_rejected_leaves_in_any_bitmap_word() -> None:
    """rejectEntry marks its leaf in the entry batch's rejected-leaf bitmap (word index >> 8, bit index & 255 of
    the leaf's index in the entry batch): that leaf, and no other, cannot be rejected or disputed again, and
    entryOutcome refuses it after finalization; here leaves 1 and 258 (first and second word) of 300."""
    world = make_world(HALT)[0]
    s = world.system
    xs = inputs(1) * 300                     # one input for every entry: one true run to compute
    rb = s.request_batch(world.model_id, roots(xs), 300 * FEE, deadline=world.now() + 5000)
    honest = entry(world, 0, xs[0])
    lies = (1, 258)
    answers = [EntryLeaf(i, honest.final_state_hash, honest.output_hash, HALT + (i in lies), honest.outcome, 0)
               for i in range(300)]
    batch_id, leaves = post(world, rb, answers)
    state = true_run(world, xs[0]).state(HALT)
    region, oproof = output_region(world, true_output(toy_input()))

    def evidence(i: int) -> tuple:
        return (batch_id, i, leaves[i], proofs(leaves, i), roots(xs)[i], proof_of(xs, i), state, region, oproof)

    for i in lies:
        s.reject_entry(*evidence(i), sender=world.challengers[0])
        assert revert_name(s.reject_entry, *evidence(i), sender=world.challengers[1]) == \
            ("LeafDisputed", {"resultId": leaf_result_id(batch_id, i)})
    advance_time(world.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    for i in (0, 1, 2, 256, 257, 258, 259):
        if i in lies:
            assert revert_name(s.entry_outcome, batch_id, i, leaves[i], proofs(leaves, i)) == \
                ("LeafDisputed", {"resultId": leaf_result_id(batch_id, i)})
        else:
            assert s.entry_outcome(batch_id, i, leaves[i], proofs(leaves, i))[:2] == \
                (entry_ref(rb, i), int(Outcome.SUCCESS))
    assert s.balance(world.operator) == 298 * (FEE + RESULT_BOND)
    ether_check(world, 2 * FEE)              # the two reopened entries' fees wait for new answers


@pytest.mark.parametrize("lie", ["output", "unfinished"])
def test_an_accomplices_game_does_not_shield_a_contradicting_leaf(lie: str) -> None:
    """A leaf naming a true state hash but other fields than postResult derives from that state cannot lose a
    game (the trace is right): only rejectEntry catches it. If the liar's accomplice disputes it first
    (disputeLeaf), rejectEntry still rejects it, in Optimist (rejectLeaf): else the lie would finalize as the
    entry's outcome (`output`: a wrong output hash at the true final state; `unfinished`: the true state after
    one step, not halted, claimed as a Success with any output) for the burn share of one challenge bond. The
    rejecter shares the leaf's bond with the game active then, as a winning game would."""
    world = make_world(HALT)[0]
    s = world.system
    xs = inputs(2)
    rb = s.request_batch_data(world.model_id, xs, 2 * FEE, sender=world.accounts[8])
    out = true_output(toy_input())
    honest = true_run(world, xs[0])
    fields = {"output": {"output_hash": keccak256(out[::-1])},
              "unfinished": {"final_state_hash": honest.hash(1), "steps": 1,
                             "output_hash": keccak256(b"any output the liar likes")}}[lie]
    batch_id, leaves = post(world, rb, [entry(world, 0, xs[0], **fields), entry(world, 1, xs[1])])
    accomplice, ch = world.accounts[6], world.challengers[0]
    gid = s.dispute_leaf(batch_id, 0, leaves[0], proofs(leaves, 0), sender=accomplice, input_root=roots(xs)[0],
                         input_proof=proof_of(xs, 0))
    steps = leaves[0].steps
    state = honest.state(steps)
    region, oproof = output_region(world, out)
    leaf_id = leaf_result_id(batch_id, 0)
    ref = entry_ref(rb, 0)
    # a consistent claim is still refused; the contradicting one is rejected in Optimist
    assert revert_name(s.reject_entry, batch_id, 1, leaves[1], proofs(leaves, 1), roots(xs)[1], proof_of(xs, 1),
                       true_run(world, xs[1]).state(HALT), region, oproof, sender=ch) == ("LeafConsistent", {})
    s.reject_entry(batch_id, 0, leaves[0], proofs(leaves, 0), roots(xs)[0], proof_of(xs, 0), state, region, oproof,
                   sender=ch)
    events = {e.name: e for e in s.events_since(s.last_receipt["blockNumber"])}
    # Optimist's rejection names no game (0: rejectEntry's, not a game's) and the reopen time, as EntryRejected
    reopen = world.now() + s.params.reopen_delay
    rejected = events["ResultRejected"]
    assert (rejected["resultId"], rejected["requestId"], rejected["gameId"], rejected["reopenAt"]) == \
        (leaf_result_id(batch_id, 0), entry_ref(rb, 0), 0, reopen)
    assert (events["EntryRejected"]["entryRef"], events["EntryRejected"]["reopenAt"]) == (entry_ref(rb, 0), reopen)
    share = (RESULT_BOND - BURN) // 2                     # with the accomplice's game, active then
    assert s.balance(ch) == share
    assert s.result(leaf_id).status == ResultStatus.REJECTED
    req = s.get_request(ref)
    assert req.status == RequestStatus.OPEN and s.is_barred(ref, world.operator)
    assert revert_name(s.reject_entry, batch_id, 0, leaves[0], proofs(leaves, 0), roots(xs)[0], proof_of(xs, 0),
                       state, region, oproof, sender=world.challengers[1])[0] == "ResultNotPending"
    # the accomplice's game is void: its bond comes back with the other share
    s.cancel_game(gid, sender=accomplice)
    assert s.balance(accomplice) == CHALLENGE_BOND + share
    advance_time(world.w3, WINDOW + 1)
    assert revert_name(s.finalize, leaf_id)[0] == "ResultNotPending"
    s.finalize_entries(batch_id)                         # the other leaf
    assert s.balance(world.operator) == FEE + RESULT_BOND
    assert s.get_request(ref).status != RequestStatus.FINALIZED
    ether_check(world, FEE)                              # entry 0's fee waits for a new answer


def test_a_game_lost_before_the_rejection_is_settled_to_the_wei() -> None:
    """The accomplice may also lose its game before rejectEntry (the trace is true): the rejection in Optimist then
    settles that defended game as any rejection does, the liar credited challengeBond - burn (1 wei here: a
    challenge bond of 2), and the rejecter takes the whole unburnt result bond (no game active)."""
    world = make_world(HALT, challenge_bond=2)[0]
    s = world.system
    xs = inputs(2)
    rb = s.request_batch_data(world.model_id, xs, 2 * FEE, sender=world.accounts[8])
    out = true_output(toy_input())
    lying = {"output_hash": keccak256(out[::-1])}
    batch_id, leaves = post(world, rb, [entry(world, 0, xs[0], **lying), entry(world, 1, xs[1])])
    gid = s.dispute_leaf(batch_id, 0, leaves[0], proofs(leaves, 0), sender=world.accounts[6],
                         input_root=roots(xs)[0], input_proof=proof_of(xs, 0))
    honest = true_run(world, xs[0])
    wrong = ToyRun(honest.initial, HALT, keccak256(b"wrong"))
    assert play(world, gid, honest.hash, wrong.hash, prover_state=honest.state).status == GameStatus.DEFENDER_WON
    region, oproof = output_region(world, out)
    ch = world.challengers[0]
    s.reject_entry(batch_id, 0, leaves[0], proofs(leaves, 0), roots(xs)[0], proof_of(xs, 0),
                   honest.state(HALT), region, oproof, sender=ch)
    assert s.result(leaf_result_id(batch_id, 0)).status == ResultStatus.REJECTED
    assert (s.balance(ch), s.balance(world.operator), s.burned()) == (RESULT_BOND - BURN, 1, BURN + 1)
    advance_time(world.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    assert s.balance(world.operator) == 1 + FEE + RESULT_BOND
    ether_check(world, FEE)                              # entry 0's fee waits for a new answer


def test_the_requester_cancels_untaken_entries_after_the_deadline(world: World) -> None:
    s = world.system
    xs = inputs(300)                         # two bitmap words
    requester = world.accounts[8]
    deadline = world.now() + 5000
    rb = s.request_batch(world.model_id, roots(xs), 300 * FEE, deadline=deadline, sender=requester)
    taken = [0, 255, 256, 299]
    post(world, rb, [entry(world, i, xs[i]) for i in taken])
    assert revert_name(s.cancel_entries, rb, sender=requester) == ("DeadlineNotReached", {"deadline": deadline})
    advance_time(world.w3, 5001)
    assert revert_name(s.cancel_entries, rb, sender=world.operator)[0] == "NotRequester"
    assert revert_name(s.cancel_entries, rb + 1, sender=requester)[0] == "UnknownRequestBatch"
    assert s.cancel_entries(rb, sender=requester) == 296
    assert s.balance(requester) == 296 * FEE
    assert all(s.entry_taken(rb, i) for i in range(300))
    assert revert_name(s.cancel_entries, rb, sender=requester) == ("NothingToCancel", {})
    assert revert_name(s.post_entries, rb, [entry(world, 1, xs[1])], sender=world.operator) == \
        ("EntryTaken", {"index": 1})
    ether_check(world, 4 * (FEE + RESULT_BOND))


def test_the_hooks_answer_only_their_contracts(world: World) -> None:
    """Optimist's entry-batch hooks take calls from OptimistBatches alone (takeRequests and settleLeaves:
    test_contracts_batches.py); rejectLeaf on a pending result that it would reject."""
    s = world.system
    assert revert_name(s._send, "fund", world.operator, 1, 0)[0] == "NotBatches"
    rid = s.request(world.model_id, toy_input(1), FEE)
    run = true_run(world, toy_input(1))
    final = final_memory(world.image, toy_input(), true_output(toy_input()))
    result_id = world.post(rid, run, final, true_output(toy_input()))       # a pending result
    assert revert_name(s._send, "rejectLeaf", result_id, world.accounts[6])[0] == "NotBatches"
    assert s.result(result_id).status == ResultStatus.PENDING
    xs = inputs(1)
    rb = s.request_batch_data(world.model_id, xs, 0)
    batch_id, leaves = post(world, rb, [entry(world, 0, xs[0])])
    with pytest.raises(Exception) as info:
        s.batches.functions.verifyLeaf(batch_id, 0, leaves[0].as_tuple(), [], roots(xs)[0], []).call(
            {"from": world.operator})
    assert s._revert("verifyLeaf", info.value).name == "NotOptimist"
