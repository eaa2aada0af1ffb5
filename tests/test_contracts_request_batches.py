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
    assert revert_name(s.leaf_outcome, batch_id, 1, leaves[1], proofs(leaves, 1)) == \
        ("NotFinalized", {"batchId": batch_id})
    advance_time(world.w3, WINDOW + 1)
    before = s.balance(world.operator)
    s.finalize_entries(batch_id, sender=world.accounts[7])   # anyone
    assert s.balance(world.operator) - before == 5 * (FEE + RESULT_BOND)
    assert s.batch(batch_id).settled
    assert revert_name(s.finalize_entries, batch_id) == ("BatchSettled", {"batchId": batch_id})
    # a reader proves a finalized entry's outcome with its leaf and inclusion proof
    got = s.leaf_outcome(batch_id, 1, leaves[1], proofs(leaves, 1))
    assert got == (entry_ref(rb, 2), int(Outcome.SUCCESS), 0, HALT, keccak256(true_output(toy_input())))
    forged = Leaf(leaves[1].request_id, leaves[1].final_state_hash, keccak256(b"other"), HALT, 0, 0)
    assert revert_name(s.leaf_outcome, batch_id, 1, forged, proofs(leaves, 1))[0] == "LeafMismatch"
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
    assert revert_name(s.dispute_leaf, *args, sender=ch, input_root=root, input_proof=proof_of(xs, 2))[0] == \
        "AlreadyChallenged"   # later games on the leaf need no input root: its request exists
    assert revert_name(s.dispute_leaf, *args, sender=ch)[0] == "AlreadyChallenged"
    assert s.batch(batch_id).disputed == 1
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
    assert revert_name(s.leaf_outcome, batch_id, 2, leaves[2], proofs(leaves, 2)) == \
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


def test_leaf_outcome_refuses_exactly_the_rejected_leaves_in_any_bitmap_word() -> None:
    """rejectEntry marks its leaf in the entry batch's rejected-leaf bitmap (word index >> 8, bit index & 255 of
    the leaf's index in the entry batch): that leaf, and no other, cannot be rejected or disputed again, and
    leafOutcome refuses it after finalization; here leaves 1 and 258 (first and second word) of 300."""
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
            assert revert_name(s.leaf_outcome, batch_id, i, leaves[i], proofs(leaves, i)) == \
                ("LeafDisputed", {"resultId": leaf_result_id(batch_id, i)})
        else:
            assert s.leaf_outcome(batch_id, i, leaves[i], proofs(leaves, i))[:2] == \
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
    assert revert_name(s._send, "rejectLeaf", result_id, world.accounts[6], False)[0] == "NotBatches"
    assert s.result(result_id).status == ResultStatus.PENDING
    xs = inputs(1)
    rb = s.request_batch_data(world.model_id, xs, 0)
    batch_id, leaves = post(world, rb, [entry(world, 0, xs[0])])
    with pytest.raises(Exception) as info:
        s.batches.functions.verifyLeaf(batch_id, 0, leaves[0].as_tuple(), [], roots(xs)[0], []).call(
            {"from": world.operator})
    assert s._revert("verifyLeaf", info.value).name == "NotOptimist"


def test_entries_are_posted_only_by_a_direct_call() -> None:
    """EntriesPosted carries only the leaves' root: challengers read the leaves from the transaction's input. An
    operator posting through a contract (a wallet, a forwarder) would leave them out of it (the input is the
    wallet's call, or a decoy postEntries of honest leaves while the wallet posts lies), so nobody could dispute
    its lies: postEntries takes only a call sent straight to it by an account without code (NotDirectCall)."""
    from contracts.compile import compile_contracts
    from contracts.system import deploy_contract
    from tests.contracts_world import FIXTURES

    world = make_world(HALT)[0]
    s, w3 = world.system, world.w3
    xs = inputs(2)
    rb = s.request_batch_data(world.model_id, xs, 2 * FEE)
    owner = world.operator
    wallet = deploy_contract(w3, compile_contracts(FIXTURES)["Forwarder"], sender=owner)
    lies = [entry(world, i, xs[i], lie=True) for i in range(2)]
    data = s.batches.functions.postEntries(rb, [x.as_tuple() for x in lies], [])._encode_transaction_data()
    with pytest.raises(Exception) as info:
        wallet.functions.forward(s.batches.address, data).call({"from": owner, "value": 2 * RESULT_BOND})
    assert s._revert("postEntries", info.value).name == "NotDirectCall"
    tx = wallet.functions.forward(s.batches.address, data).transact(
        {"from": owner, "value": 2 * RESULT_BOND, "gas": 1_000_000})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 0
    assert not any(s.entry_taken(rb, i) for i in range(2))
    post(world, rb, [entry(world, i, xs[i]) for i in range(2)])   # the same account, directly
    ether_check(world, 2 * (FEE + RESULT_BOND))


def test_post_entries_calldata_is_read_back_as_solc_reads_it(world: World) -> None:
    """The daemons read an entry batch's leaves from its transaction's input (EntriesPosted has only their root):
    contracts.batches.decode_post_entries reads what solc took, whatever web3's strict decoder thinks of it (dirty
    padding, tails in another order), and refuses truncated or oversized arrays at once."""
    from eth_abi import encode as abi_encode

    from contracts.batches import POST_ENTRIES, decode_post_entries
    from contracts.system import decode_call

    s, w3 = world.system, world.w3
    xs = inputs(2)
    rb = s.request_batch_data(world.model_id, xs, 2 * FEE)
    leaves = [entry(world, i, xs[i]) for i in range(2)]
    outs = [true_output(toy_input()), b"five!"]
    leaves[1] = EntryLeaf(**{**leaves[1].__dict__, "output_hash": keccak256(outs[1])})
    tuples = [x.as_tuple() for x in leaves]
    clean = bytes.fromhex(s.batches.functions.postEntries(rb, tuples, outs)._encode_transaction_data()[2:])
    expected = {"requestBatchId": rb, "leaves": tuples, "outputs": outs}
    assert decode_post_entries(clean) == expected
    assert decode_call(s.batches, clean) == ("postEntries", expected)
    # the outputs' tail before the leaves' (offsets say where), and the last output's padding dirty
    leaf_tail = abi_encode(["(uint256,bytes32,bytes32,uint64,uint8,uint8)[]"], [tuples])[32:]
    out_tail = bytearray(abi_encode(["bytes[]"], [outs])[32:])
    out_tail[-1] = 0x77
    odd = POST_ENTRIES + abi_encode(["uint256", "uint256", "uint256"], [rb, 96 + len(out_tail), 96]) + \
        bytes(out_tail) + leaf_tail
    tx = w3.eth.send_transaction({"from": world.operator, "to": s.batches.address, "data": odd,
                                  "value": 2 * RESULT_BOND, "gas": 2_000_000})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1                                  # solc took it
    with pytest.raises(Exception, match="Padding bytes"):
        s.batches.decode_function_input(odd)                       # web3 does not
    assert decode_post_entries(odd) == expected
    [posted] = [e for e in s.decode_logs(receipt["logs"]) if e.name == "EntriesPosted"]
    assert posted["root"] == batch_root([x.leaf(rb).hash() for x in leaves])
    # refused, never looped over: a length word of 2**255 leaves, a call cut short, another function
    huge = bytearray(clean)
    huge[4 + 96:4 + 128] = (1 << 255).to_bytes(32, "big")
    for bad in (bytes(huge), clean[:-40], b"\x12\x34\x56\x78" + clean[4:]):
        with pytest.raises(ValueError):
            decode_post_entries(bad)
    with pytest.raises(ValueError):
        decode_call(s.batches, bytes(huge))
    ether_check(world, 2 * (FEE + RESULT_BOND))


def test_posted_entries_takes_what_solc_took_and_only_what_hashes_to_the_root(world: World) -> None:
    """contracts.batches.posted_entries, the one reader of an entry batch's postEntries input (the daemons, the
    explorer, optimist.entries and System read leaves through it): a call with dirty padding that solc took reads
    back as posted; the same call against another root is refused; outputs come one per leaf, or none when they
    travel in blobs."""
    from contracts.batches import posted_entries
    from contracts.system import decode_call

    s, w3 = world.system, world.w3
    xs = inputs(3)
    rb = s.request_batch_data(world.model_id, xs, 3 * FEE)
    leaves = [entry(world, 0, xs[0]), entry(world, 1, xs[1], lie=True)]
    outs = [true_output(toy_input())] * 2
    data = bytearray(bytes.fromhex(s.batches.functions.postEntries(
        rb, [x.as_tuple() for x in leaves], outs)._encode_transaction_data()[2:]))
    assert data[-1] == 0
    data[-1] = 0x77   # the last output's padding
    tx = w3.eth.send_transaction({"from": world.operator, "to": s.batches.address, "data": bytes(data),
                                  "value": 2 * RESULT_BOND, "gas": 2_000_000})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    with pytest.raises(Exception, match="Padding bytes"):
        s.batches.decode_function_input(bytes(data))
    [posted] = [e for e in s.decode_logs(receipt["logs"]) if e.name == "EntriesPosted"]
    call = decode_call(s.batches, w3.eth.get_transaction(tx)["input"])
    assert posted_entries(call, rb, posted["root"]) == (leaves, outs)
    assert s.entry_batch_leaves(posted["batchId"]) == [x.leaf(rb) for x in leaves]
    with pytest.raises(ValueError, match="do not hash to the batch's root"):
        posted_entries(call, rb, keccak256(b"another root"))
    fn, args = call   # n outputs or none (the contract refuses any other count): fewer read as none
    assert posted_entries((fn, {**args, "outputs": outs[:1]}), rb, posted["root"]) == (leaves, [])
    third = [entry(world, 2, xs[2])]
    batch_id = s.post_entries(rb, third)   # no outputs in the calldata: they travel in blobs
    call = decode_call(s.batches, w3.eth.get_transaction(s.last_receipt["transactionHash"])["input"])
    assert posted_entries(call, rb, s.batch(batch_id).root) == (third, [])
    ether_check(world, 3 * (FEE + RESULT_BOND))


def test_a_decoy_transaction_yields_no_leaves_and_each_reader_says_so(world: World) -> None:
    """An entry batch's leaves are read only from its own postEntries call: a postEntries of honest leaves for its
    request batch (a decoy beside a batch of lies), the same leaves for another request batch, another function's
    call and a wallet's call are refused. On an EntriesPosted whose transaction is no such call (a deployment of other
    contracts), the challenger logs entry_leaves_unreadable and skips the batch and optimist.entries raises an
    EntryError saying so, never a traceback."""
    from types import SimpleNamespace

    from challenger.entries import posted_leaves
    from contracts.batches import posted_entries
    from contracts.compile import compile_contracts
    from contracts.system import Event, decode_call, deploy_contract
    from optimist.entries import EntryError, entry_states
    from tests.contracts_world import FIXTURES

    s, w3 = world.system, world.w3
    xs = inputs(2)
    rb = s.request_batch_data(world.model_id, xs, 2 * FEE)
    request_tx = s.last_receipt["transactionHash"]
    rb2 = s.request_batch_data(world.model_id, xs, 2 * FEE)
    lies = [entry(world, i, xs[i], lie=True) for i in range(2)]
    post(world, rb, lies)
    [posted] = [e for e in s.events_since(s.last_receipt["blockNumber"]) if e.name == "EntriesPosted"]

    def encoded(fn) -> bytes:
        return bytes.fromhex(fn._encode_transaction_data()[2:])

    honest = [entry(world, i, xs[i]) for i in range(2)]
    decoy = encoded(s.batches.functions.postEntries(rb, [x.as_tuple() for x in honest], []))
    for data, why in ((decoy, "its leaves do not hash to the batch's root"),
                      (encoded(s.batches.functions.postEntries(rb2, [x.as_tuple() for x in lies], [])),
                       f"calls postEntries, not postEntries\\({rb}, "),
                      (bytes(w3.eth.get_transaction(request_tx)["input"]), "calls requestBatchData, not postEntries")):
        with pytest.raises(ValueError, match=why):
            posted_entries(decode_call(s.batches, data), rb, posted["root"])
    own = decode_call(s.batches, w3.eth.get_transaction(posted.tx_hash)["input"])
    assert posted_entries(own, rb, posted["root"]) == (lies, [])
    wallet = deploy_contract(w3, compile_contracts(FIXTURES)["Forwarder"])
    with pytest.raises(ValueError, match="not a decodable call"):
        decode_call(s.batches, encoded(wallet.functions.forward(s.batches.address, decoy)))
    fake = Event(posted.name, posted.args, posted.block, bytes(request_tx), posted.log_index)
    logged: list[tuple[str, dict]] = []
    daemon = SimpleNamespace(system=s, client=SimpleNamespace(rpc=lambda fn, what="rpc": fn()),
                             _log=lambda level, event, **fields: logged.append((event, fields)))
    assert posted_leaves(daemon, fake) is None
    assert [(e, f["batch"], "requestBatchData" in f["error"]) for e, f in logged] == \
        [("entry_leaves_unreadable", posted["batchId"], True)]
    assert posted_leaves(daemon, posted) == (lies, [])
    events = [fake if e == posted else e for e in s.events_since(s.deploy_block)]
    with pytest.raises(EntryError, match=f"entry batch {posted['batchId']} is not readable: the transaction calls "
                                         "requestBatchData"):
        entry_states(s, rb, events)
    assert [len(x.answers) for x in entry_states(s, rb, s.events_since(s.deploy_block))] == [1, 1]
    ether_check(world, 4 * FEE + 2 * RESULT_BOND)


def test_every_path_of_an_entry_at_once_pays_out_every_wei_exactly_once() -> None:
    """One request batch whose four entries take four paths, with every settlement call tried twice: entry 0 a
    wrong final state (lost game: an Optimist request, answered then by a §3a postBatch whose leaf a lying challenger
    disputes and loses), entry 1 a contradicting leaf shielded by an accomplice's game (rejectEntry rejects it in
    Optimist; answered by the same postBatch, undisputed), entry 2 true (finalizeEntries), entry 3 never answered
    (cancelEntries). After everything, every account withdraws and the burns are sent: Optimist holds 0 wei, and
    each account's gain is what the rules say."""
    from contracts.batches import Claim

    world = make_world(HALT)[0]
    s, w3 = world.system, world.w3
    requester, liar, accomplice, ch, honest, lying_ch = (world.accounts[k] for k in (8, 1, 6, 2, 7, 3))
    xs = inputs(4)
    rb = s.request_batch_data(world.model_id, xs, 4 * FEE, deadline=world.now() + 5000, sender=requester)
    out = true_output(toy_input())
    b1, leaves = post(world, rb, [entry(world, 0, xs[0], lie=True),
                                  entry(world, 1, xs[1], output_hash=keccak256(b"not the output")),
                                  entry(world, 2, xs[2])], sender=liar)
    refs = [entry_ref(rb, i) for i in range(4)]

    def dispute(i: int, who: str) -> int:
        return s.dispute_leaf(b1, i, leaves[i], proofs(leaves, i), sender=who, input_root=roots(xs)[i],
                              input_proof=proof_of(xs, i))

    g_acc = dispute(1, accomplice)
    g0 = dispute(0, ch)
    region, oproof = output_region(world, out)
    reject = (b1, 1, leaves[1], proofs(leaves, 1), roots(xs)[1], proof_of(xs, 1), true_run(world, xs[1]).state(HALT),
              region, oproof)
    s.reject_entry(*reject, sender=ch)
    assert revert_name(s.reject_entry, *reject, sender=honest)[0] == "ResultNotPending"
    s.cancel_game(g_acc)
    assert revert_name(s.cancel_game, g_acc)[0] == "GameNotActive"
    truth0 = true_run(world, xs[0])
    play(world, g0, ToyRun(truth0.initial, HALT, keccak256(b"wrong root")).hash, truth0.hash,
         prover_state=truth0.state)
    assert [s.get_request(r).status for r in refs[:2]] == [RequestStatus.OPEN] * 2
    assert revert_name(s.dispute_leaf, b1, 0, leaves[0], proofs(leaves, 0), sender=honest, input_root=roots(xs)[0],
                       input_proof=proof_of(xs, 0))[0] == "ResultNotPending"   # its game rejected it
    # the two reopened entries are Optimist requests now: a §3a batch answers both (the liar is barred there)
    advance_time(w3, 1)
    final = final_memory(world.image, toy_input(), out)
    claims = [Claim(r, out, true_run(world, xs[i]).state(HALT), region_path(final, OUTPUT_BASE,
                                                                          world.model.output_size))
              for i, r in enumerate(refs[:2])]
    assert revert_name(s.post_batch, world.model_id, claims, sender=liar)[0] == "OperatorBarred"
    b2 = s.post_batch(world.model_id, claims, sender=honest)
    leaves2 = [Leaf(r, keccak256(c.final_state), keccak256(out), HALT, 0, 0) for r, c in zip(refs[:2], claims, strict=True)]
    assert s.batch(b2).root == batch_root([x.hash() for x in leaves2])
    g2 = s.dispute_leaf(b2, 0, leaves2[0], proofs(leaves2, 0), sender=lying_ch)
    play(world, g2, truth0.hash, ToyRun(truth0.initial, HALT, keccak256(b"x")).hash, prover_state=truth0.state)
    advance_time(w3, WINDOW + 1)
    for settle in (lambda: s.finalize_entries(b1), lambda: s.finalize_batch(b2, leaves2),
                   lambda: s.finalize(leaf_result_id(b2, 0))):
        settle()
        with pytest.raises(ContractRevert):
            settle()
    assert [s.get_request(r).status for r in refs[:2]] == [RequestStatus.FINALIZED] * 2
    assert s.outcome(refs[0]).result_id == leaf_result_id(b2, 0)
    assert s.outcome(refs[1]).result_id == leaf_result_id(b2, 1)   # read from its ResultPosted:
    with pytest.raises(Exception) as info:                             # the view has no record of it
        s.contract.functions.outcomeOf(refs[1]).call()
    assert s._revert("outcomeOf", info.value).name == "OutcomeInBatch"
    assert s.leaf_outcome(b1, 2, leaves[2], proofs(leaves, 2))[0] == refs[2]
    for i in (0, 1):
        assert revert_name(s.leaf_outcome, b1, i, leaves[i], proofs(leaves, i))[0] == "LeafDisputed"
    advance_time(w3, 5000)
    assert s.cancel_entries(rb, sender=requester) == 1
    assert revert_name(s.cancel_entries, rb, sender=requester)[0] == "NothingToCancel"
    for r in refs[:2]:
        assert revert_name(s.cancel_request, r, sender=requester)[0] == "RequestNotOpen"
    ether_check(world, 0)
    share = (RESULT_BOND - BURN) // 2                 # leaf 1: the rejecter's and the accomplice's game's
    cburn = s.params.burn_share(CHALLENGE_BOND)
    expected = {requester: FEE, liar: FEE + RESULT_BOND, accomplice: CHALLENGE_BOND + share,
                ch: share + CHALLENGE_BOND + RESULT_BOND - BURN, honest: 2 * (FEE + RESULT_BOND) + CHALLENGE_BOND - cburn,
                lying_ch: 0}
    assert {a: s.balance(a) for a in expected} == expected
    for a, amount in expected.items():
        if amount:
            s.withdraw(sender=a)
    s.send_burn()
    assert s.burned() == 2 * BURN + cburn + (RESULT_BOND - BURN) % 2
    assert w3.eth.get_balance(s.address) == 0 and w3.eth.get_balance(s.batches.address) == 0


def test_a_malformed_entry_stays_void_when_a_game_brought_its_leaf_in(world: World) -> None:
    """Without a game, a leaf answering a malformed input voids its entry and refunds the requester: answering a
    malformed request does not pay (§3b). An accomplice's game on the leaf first must not change that: else the
    entry becomes an ordinary Optimist request after the rejection, and whoever answers it (the liar's second
    account) is paid the fee for an input no request of the model can have."""
    s = world.system
    xs = inputs(2)
    xs[1] = xs[1] + b"\x01"
    requester = world.accounts[8]
    rb = s.request_batch(world.model_id, roots(xs), 2 * FEE, sender=requester)
    batch_id, leaves = post(world, rb, [entry(world, i, toy_input(i + 1)) for i in range(2)])
    s.dispute_leaf(batch_id, 1, leaves[1], proofs(leaves, 1), sender=world.accounts[6], input_root=roots(xs)[1],
                   input_proof=proof_of(xs, 1))
    region = xs[1].ljust(input_region_size(INPUT_LEN), b"\0")
    s.reject_entry(batch_id, 1, leaves[1], proofs(leaves, 1), roots(xs)[1], proof_of(xs, 1),
                   sender=world.challengers[0], input_region=region)
    ev = next(e for e in s.events_since(s.last_receipt["blockNumber"]) if e.name == "EntryRejected")
    assert ev["malformed"] and ev["reopenAt"] == 0
    rejected = next(e for e in s.events_since(s.last_receipt["blockNumber"]) if e.name == "ResultRejected")
    assert (rejected["requestId"], rejected["gameId"], rejected["reopenAt"]) == (entry_ref(rb, 1), 0, 0)   # void
    assert s.balance(requester) == FEE
    ref = entry_ref(rb, 1)
    assert s.get_request(ref).status == RequestStatus.CANCELLED
    advance_time(world.w3, 2)
    run = true_run(world, xs[0])
    final = final_memory(world.image, toy_input(), true_output(toy_input()))
    assert revert_name(world.post, ref, run, final, true_output(toy_input()), sender=world.accounts[7])[0] == \
        "RequestNotOpen"


@pytest.mark.parametrize("n", [1, 1024])
def test_the_smallest_and_largest_batches_dispute_reject_and_settle_their_edge_leaves(n: int) -> None:
    """A request batch and an entry batch of 1 (no proof siblings: the roots are the input root and the leaf hash)
    and of MAX_BATCH = 1024 (10 siblings; the last leaves in the fourth bitmap word of the taken and rejected
    bits): the last leaf is rejected without a game, the one before it lost by a game (n = 1024), the rest finalize
    in one call; the requester cancels the reopened entry."""
    world = make_world(HALT, reopen_delay=100)[0]
    s = world.system
    xs = inputs(n)
    requester = world.accounts[8]
    rb = s.request_batch(world.model_id, roots(xs), n * FEE, deadline=world.now() + 5000, sender=requester)
    assert s.request_batch_info(rb).inputs_root == (roots(xs)[0] if n == 1 else inputs_root(roots(xs)))
    last = n - 1
    lies = {last: {"steps": HALT + 1}}
    if n > 1:
        lies[n - 2] = {"final_state_hash": keccak256(b"wrong")}
    batch_id, leaves = post(world, rb, [entry(world, i, xs[i], **lies.get(i, {})) for i in range(n)])
    assert s.batch(batch_id).root == (leaves[0].hash() if n == 1 else batch_root([x.hash() for x in leaves]))
    assert len(proofs(leaves, last)) == (0 if n == 1 else 10)
    ch = world.challengers[0]
    region, oproof = output_region(world, true_output(toy_input()))
    # the proof's length is fixed by the count: a leaf cannot pass for an inner node's child (or the reverse)
    assert revert_name(s.reject_entry, batch_id, last, leaves[last], proofs(leaves, last) + [bytes(32)],
                       roots(xs)[last], proof_of(xs, last), true_run(world, xs[last]).state(HALT), region, oproof,
                       sender=ch)[0] == "WrongPathLength"
    assert revert_name(s.reject_entry, batch_id, n, leaves[last], proofs(leaves, last), roots(xs)[last],
                       proof_of(xs, last), sender=ch) == ("LeafIndexOutOfRange", {"index": n, "count": n})
    s.reject_entry(batch_id, last, leaves[last], proofs(leaves, last), roots(xs)[last], proof_of(xs, last),
                   true_run(world, xs[last]).state(HALT), region, oproof, sender=ch)
    assert [i for i in range(max(0, n - 3), n) if not s.entry_taken(rb, i)] == [last]
    paid = n - 1
    if n > 1:
        k = n - 2
        gid = s.dispute_leaf(batch_id, k, leaves[k], proofs(leaves, k), sender=ch, input_root=roots(xs)[k],
                             input_proof=proof_of(xs, k))
        truth = true_run(world, xs[k])
        play(world, gid, ToyRun(truth.initial, HALT, keccak256(b"wrong root")).hash, truth.hash,
             prover_state=truth.state)
        assert s.get_request(entry_ref(rb, k)).status == RequestStatus.OPEN
        paid -= 1
    advance_time(world.w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    assert s.balance(world.operator) == paid * (FEE + RESULT_BOND)
    if n > 1:
        assert s.leaf_outcome(batch_id, n - 3, leaves[n - 3], proofs(leaves, n - 3))[0] == entry_ref(rb, n - 3)
    advance_time(world.w3, 5000)
    assert s.cancel_entries(rb, sender=requester) == 1      # the entry reopened by rejectEntry
    ether_check(world, 0 if n == 1 else FEE)                # the game-lost entry: an Optimist request now


def test_request_batch_deadlines_to_the_second() -> None:
    """A request batch's deadline lies in now+1 .. now + 30 days (the block's time); its requester cancels from the
    second after it, not at it; an entry reopened by a rejection takes answers from its reopen time on, to the
    second, and the liar never."""
    world = make_world(HALT, reopen_delay=100)[0]
    s = world.system
    xs = inputs(2)
    hashes = roots(xs)
    t = world.now() + 10
    month = 30 * 86400
    for deadline in (t, t + month + 1):
        with probe_at(world, t), reverts("BadDeadline", deadline=deadline, latest=t + month):
            s.request_batch(world.model_id, hashes, 2 * FEE, deadline=deadline)
    with probe_at(world, t):
        s.request_batch(world.model_id, hashes, 2 * FEE, deadline=t + 1)
    requester = world.accounts[8]
    rb = at(world, t, lambda: s.request_batch(world.model_id, hashes, 2 * FEE, deadline=t + month,
                                              sender=requester))
    batch_id, leaves = post(world, rb, [entry(world, 0, xs[0], exit_code=9)])
    region, oproof = output_region(world, true_output(toy_input()))
    s.reject_entry(batch_id, 0, leaves[0], proofs(leaves, 0), hashes[0], proof_of(xs, 0),
                   true_run(world, xs[0]).state(HALT), region, oproof, sender=world.challengers[0])
    reopen = s.batches.functions.entryReopenAt(entry_ref(rb, 0)).call()
    assert reopen == world.now() + s.params.reopen_delay
    honest, other = entry(world, 0, xs[0]), world.accounts[6]
    with probe_at(world, reopen - 1), reverts("EntryReopening", reopenAt=reopen):
        post(world, rb, [honest], sender=other)
    with probe_at(world, reopen + 5), reverts("OperatorBarred"):
        post(world, rb, [honest])
    at(world, reopen, lambda: post(world, rb, [honest], sender=other))
    with probe_at(world, t + month), reverts("DeadlineNotReached", deadline=t + month):
        s.cancel_entries(rb, sender=requester)
    assert at(world, t + month + 1, lambda: s.cancel_entries(rb, sender=requester)) == 1
    assert s.balance(requester) == FEE
    ether_check(world, FEE + RESULT_BOND)    # the answer to entry 0, not finalized here


def test_a_contradicting_output_is_rejected_with_the_output_alone_whatever_the_output_region() -> None:
    """A leaf naming the true final state with another output hash loses no game (the trace is true): only
    rejectEntry catches it. Its evidence was the whole output region (`outputSize` bytes); the registry takes any
    power-of-two region holding the output, so a model of 40 output bytes in a 1 MiB region made the rejection
    carry 1 MiB of calldata (more than a node relays: the lie final). The output alone (`outputLength` bytes,
    zero-padded to the region as postResult proves it) is evidence enough; the whole region still serves for a state
    with non-zero bytes past the output (no postResult claim has it)."""
    import dataclasses

    world = make_world(HALT)[0]
    s = world.system
    big = 1 << 20
    model_id = s.register_model(dataclasses.replace(world.model, output_size=big))
    xs = inputs(2)
    rb = s.request_batch_data(model_id, xs, 2 * FEE)
    out = true_output(toy_input())
    batch_id, leaves = post(world, rb, [entry(world, 0, xs[0], output_hash=keccak256(out[::-1])),
                                        entry(world, 1, xs[1])])
    final = final_memory(world.image, toy_input(), out)
    proof = region_path(final, OUTPUT_BASE, big)
    state = true_run(world, xs[0]).state(HALT)
    args = (batch_id, 0, leaves[0], proofs(leaves, 0), roots(xs)[0], proof_of(xs, 0), state)
    ch = world.challengers[0]
    assert revert_name(s.reject_entry, *args, out[:-1], proof, sender=ch)[0] == "WrongOutputLength"
    assert revert_name(s.reject_entry, *args, out[::-1], proof, sender=ch)[0] == "OutputProofMismatch"
    consistent = (batch_id, 1, leaves[1], proofs(leaves, 1), roots(xs)[1], proof_of(xs, 1),
                  true_run(world, xs[1]).state(HALT), out, proof)
    assert revert_name(s.reject_entry, *consistent, sender=ch) == ("LeafConsistent", {})
    s.reject_entry(*args, out, proof, sender=ch)
    assert s.balance(ch) == RESULT_BOND - BURN and not s.entry_taken(rb, 0)
    ether_check(world, 2 * FEE + RESULT_BOND)


def test_a_disputed_entry_leafs_outcome_is_read_whoever_opened_its_games_and_how() -> None:
    """The only game on an entry leaf is opened by a disputeLeaf whose two array offsets point into its head (solc
    takes any offset inside the calldata; web3's decoder refuses it with InvalidPointer), and a second through a
    contract wallet: once the leaf is defended and finalized, System.outcome reads the entry's answer from its
    postEntries calldata instead of raising from the decoder or OutcomeInBatch; the client's leaf_proof names the
    entry batch in a ClientError."""
    from contracts.compile import compile_contracts
    from contracts.system import deploy_contract
    from optimist.client import Client, ClientError, Request
    from tests.contracts_world import FIXTURES

    world = make_world(HALT)[0]
    s, w3 = world.system, world.w3
    xs = inputs(1)
    rb = s.request_batch_data(world.model_id, xs, FEE)
    batch_id, leaves = post(world, rb, [entry(world, 0, xs[0])])
    data = bytearray(bytes.fromhex(s.contract.functions.disputeLeaf(
        batch_id, 0, leaves[0].as_tuple(), [], roots(xs)[0], [])._encode_transaction_data()[2:]))
    for word in (8, 10):   # proof and inputProof: empty arrays read at word 1 (index, 0)
        data[4 + 32 * word:4 + 32 * word + 32] = (32).to_bytes(32, "big")
    with pytest.raises(Exception, match="(?i)pointer"):
        s.contract.decode_function_input(bytes(data))
    odd = world.challengers[0]
    tx = w3.eth.send_transaction({"from": odd, "to": s.address, "data": bytes(data), "value": CHALLENGE_BOND,
                                  "gas": 2_000_000})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    leaf_id = leaf_result_id(batch_id, 0)
    [gid] = [e["gameId"] for e in s.events_since(s.deploy_block) if e.name == "GameOpened"]
    wallet = deploy_contract(w3, compile_contracts(FIXTURES)["Forwarder"])
    later = s.contract.functions.disputeLeaf(batch_id, 0, leaves[0].as_tuple(), [], bytes(32), [])
    w3.eth.wait_for_transaction_receipt(wallet.functions.forward(s.address, later._encode_transaction_data()).transact(
        {"from": world.challengers[1], "value": CHALLENGE_BOND, "gas": 2_000_000}))
    assert s.result(leaf_id).open_games == 2
    honest = true_run(world, xs[0])
    wrong = ToyRun(honest.initial, HALT, keccak256(b"wrong"))
    assert play(world, gid, honest.hash, wrong.hash, prover_state=honest.state).status == GameStatus.DEFENDER_WON
    mid = s.game(gid + 1).mid   # the wallet's game: it never answers the defender's midpoint
    s.post_midpoint(gid + 1, mid, honest.hash(mid), sender=world.operator)
    advance_time(w3, s.clock_deadline(gid + 1) - world.now() + 1)
    s.timeout(gid + 1)
    assert s.game(gid + 1).status == GameStatus.DEFENDER_WON
    advance_time(w3, WINDOW + 1)
    s.finalize_entries(batch_id)
    s.finalize(leaf_id)
    ref = entry_ref(rb, 0)
    assert s.get_request(ref).status == RequestStatus.FINALIZED
    assert s.disputed_leaf(leaf_id) is None   # neither game's transaction is a readable disputeLeaf call
    got = s.outcome(ref)
    assert (got.outcome, got.exit_code, got.steps, bytes(got.output_hash), got.result_id) == \
        (Outcome.SUCCESS, 0, HALT, leaves[0].output_hash, leaf_id)
    client = Client.from_system(s, from_block=s.deploy_block)
    with pytest.raises(ClientError, match="entry batch"):
        Request(client, ref).leaf_proof()   # client.get(ref) is an Entry: Entry.result() reads it
    ether_check(world, 0)


def test_a_program_entry_output_is_checked_by_keccak256_never_by_a_tensor_root(world: World) -> None:
    """Kind confusion (a graph leaf commits its output by its tensor root): a program model's request batch is no
    graph one (RequestBatchInfo.graph false, no output length) and postEntries checks its calldata outputs by
    keccak256 alone: a leaf naming the output's tensor root (for an output of at most 32 bytes, the bytes themselves)
    does not match, nor does the output padded with zeros (passes on the reviewed code: a pin)."""
    from minidnn.nodes import tensor_root

    s = world.system
    xs = inputs(2)
    rb = s.request_batch_data(world.model_id, xs, 2 * FEE)
    info = s.request_batch_info(rb)
    assert not info.graph and info.output_length == 0
    out = true_output(toy_input())
    op = world.operator
    as_root = entry(world, 0, xs[0], output_hash=tensor_root(out))
    assert revert_name(s.post_entries, rb, [as_root], [out], sender=op) == ("OutputMismatch", {"index": 0})
    assert revert_name(s.post_entries, rb, [entry(world, 0, xs[0])], [out + bytes(4)], sender=op) == \
        ("OutputMismatch", {"index": 0})
    s.post_entries(rb, [entry(world, 0, xs[0])], [out], sender=op)
    ether_check(world, 2 * FEE + RESULT_BOND)
