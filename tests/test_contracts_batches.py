"""Batched results (OptimistBatches.postBatch / Optimist.disputeLeaf / finalizeBatch, docs/game-rules.md §3a).

Toy machine (tests/contracts_world.py): every request's true run halts at `halt_at` with the same final memory
root; a lie is a final state with another root. Each test checks the ETH accounting invariant at the end.
"""

from __future__ import annotations

import pytest
from test_contracts_boundaries import at, probe_at, reverts

from contracts.batches import (
    MAX_BATCH,
    Claim,
    Leaf,
    batch_root,
    depth_of,
    is_leaf,
    leaf_position,
    leaf_proof,
    leaf_result_id,
    output_hash,
)
from contracts.system import (
    REVERTS,
    ContractRevert,
    GameStatus,
    Outcome,
    RequestStatus,
    ResultStatus,
    advance_time,
)
from mipsvm.layout import OUTPUT_BASE
from mipsvm.memory import Memory, keccak256
from mipsvm.regions import region_path
from tests.contracts_world import (
    CHALLENGE_BOND,
    RESULT_BOND,
    WINDOW,
    ToyRun,
    World,
    check_invariant,
    final_memory,
    make_world,
    play,
    toy_input,
    true_output,
)

HALT = 20
FEE = 10**15


def requests(world: World, n: int, first_seed: int = 1, model_id: int | None = None) -> list[int]:
    s = world.system
    return [s.request(world.model_id if model_id is None else model_id, toy_input(seed), FEE)
            for seed in range(first_seed, first_seed + n)]


def truth(world: World, request_id: int, *, lie: bool = False) -> tuple[ToyRun, Memory, bytes]:
    """(run, final memory, output) of a request: the toy machine (MockMIPS) reaches the same final memory
    whatever the input; a lie has one output bit flipped (so another final memory root)."""
    out = true_output(toy_input())
    if lie:
        out = bytes([out[0] ^ 1]) + out[1:]
    final = final_memory(world.image, toy_input(), out)
    initial = world.run_for(toy_input(request_id), out, HALT)[0].initial
    return ToyRun(initial, HALT, final.root()), final, out


def claim(world: World, request_id: int, *, lie: bool = False) -> tuple[Claim, ToyRun]:
    """The claim of the true run of a request (or of a run whose output and final memory are wrong)."""
    run, final, out = truth(world, request_id, lie=lie)
    proof = region_path(final, OUTPUT_BASE, world.model.output_size)
    return Claim(request_id, out, run.state(HALT), proof), run


def leaves_of(claims: list[Claim]) -> list[Leaf]:
    return [Leaf(c.request_id, keccak256(c.final_state), keccak256(c.output), HALT, int(Outcome.SUCCESS), 0)
            for c in claims]


def post(world: World, rids: list[int], lies: tuple[int, ...] = ()) -> tuple[int, list[Claim], list[ToyRun]]:
    made = [claim(world, rid, lie=i in lies) for i, rid in enumerate(rids)]
    claims = [c for c, _ in made]
    batch_id = world.system.post_batch(world.model_id, claims, sender=world.operator)
    return batch_id, claims, [r for _, r in made]


def revert_name(fn, *args, **kwargs) -> tuple[str, dict]:
    with pytest.raises(ContractRevert) as info:
        fn(*args, **kwargs)
    return info.value.name, info.value.fields


@pytest.fixture
def world() -> World:
    w, _ = make_world(HALT)
    return w


def test_ids_roots_and_proofs_mirror_the_contract(world: World) -> None:
    s = world.system
    for n in (1, 2, 3, 5, 8, 9):
        hashes = [keccak256(bytes([n, i])) for i in range(n)]
        assert s.batches.functions.rootOf(hashes).call() == batch_root(hashes)
        assert s.batches.functions.depthOf(n).call() == depth_of(n)
        for i in range(n):
            assert len(leaf_proof(hashes, i)) == depth_of(n)
    rid = leaf_result_id(7, 513)
    assert is_leaf(rid) and leaf_position(rid) == (7, 513) and not is_leaf(7)


def test_batch_posts_and_finalizes_in_one_call(world: World) -> None:
    s = world.system
    rids = requests(world, 5)
    batch_id, claims, _ = post(world, rids)
    gas_post = s.last_receipt["gasUsed"]
    info = s.batch(batch_id)
    leaves = leaves_of(claims)
    assert (info.count, info.operator, info.model_id, info.settled) == (5, world.operator, world.model_id, False)
    assert info.root == batch_root([leaf.hash() for leaf in leaves])
    events = [e for e in s.events_since(s.last_receipt["blockNumber"]) if e.name == "ResultPosted"]
    assert [Leaf.from_posted(e.args, graph=False) for e in events] == leaves
    for i, rid in enumerate(rids):
        req = s.get_request(rid)
        assert req.status == RequestStatus.POSTED and req.result_id == leaf_result_id(batch_id, i)
        assert s.result(req.result_id).status == ResultStatus.NONE   # nothing stored per leaf
    assert revert_name(s.finalize_batch, batch_id, leaves)[0] == "ChallengeWindowOpen"
    advance_time(world.w3, WINDOW + 1)
    before = s.balance(world.operator)
    s.finalize_batch(batch_id, leaves, sender=world.accounts[7])   # anyone may
    gas_finalize = s.last_receipt["gasUsed"]
    assert s.balance(world.operator) - before == 5 * (FEE + RESULT_BOND)
    assert all(s.get_request(rid).status == RequestStatus.FINALIZED for rid in rids)
    assert s.batch(batch_id).settled
    final = [e for e in s.events_since(s.last_receipt["blockNumber"]) if e.name == "ResultFinalized"]
    assert [(e["requestId"], e["resultId"], e["fee"]) for e in final] == \
        [(rid, leaf_result_id(batch_id, i), FEE) for i, rid in enumerate(rids)]
    # on-chain readers: outcomeOf names the leaf (only the root is stored); System.outcome reads the leaf's event
    assert revert_name(s._call, "outcomeOf", rids[2]) == ("OutcomeInBatch", {"resultId": leaf_result_id(batch_id, 2)})
    got = s.outcome(rids[2])
    assert (got.outcome, got.steps, got.output_hash, got.result_id) == \
        (Outcome.SUCCESS, HALT, keccak256(claims[2].output), leaf_result_id(batch_id, 2))
    assert revert_name(s.finalize_batch, batch_id, leaves) == ("BatchSettled", {"batchId": batch_id})
    print(f"\nbatch of 5: postBatch {gas_post} gas, finalizeBatch {gas_finalize} gas")
    check_invariant(world)


def test_a_lying_leaf_is_rejected_alone_and_its_bond_pays_the_challenger(world: World) -> None:
    s = world.system
    rids = requests(world, 4)
    batch_id, claims, runs = post(world, rids, lies=(2,))
    leaves = leaves_of(claims)
    hashes = [leaf.hash() for leaf in leaves]
    challenger = world.challengers[0]
    gid = s.dispute_leaf(batch_id, 2, leaves[2], leaf_proof(hashes, 2), sender=challenger)
    leaf_id = leaf_result_id(batch_id, 2)
    res = s.result(leaf_id)
    assert (res.status, res.operator, res.request_id, res.steps, res.open_games) == \
        (ResultStatus.PENDING, world.operator, rids[2], HALT, 1)
    assert s.game(gid).hi_hash == keccak256(claims[2].final_state)   # the leaf's, from the dispute's calldata
    honest = truth(world, rids[2])[0]
    g = play(world, gid, runs[2].hash, honest.hash, prover_state=honest.state)
    assert g.status == GameStatus.CHALLENGER_WON
    assert s.result(leaf_id).status == ResultStatus.REJECTED
    assert s.get_request(rids[2]).status == RequestStatus.OPEN          # only its request reopens
    assert all(s.get_request(r).status == RequestStatus.POSTED for i, r in enumerate(rids) if i != 2)
    assert s.balance(challenger) == CHALLENGE_BOND + RESULT_BOND // 2  # the liar's bond for this leaf
    advance_time(world.w3, WINDOW + 1)
    before = s.balance(world.operator)
    s.finalize_batch(batch_id, leaves)
    assert s.balance(world.operator) - before == 3 * (FEE + RESULT_BOND)
    assert [s.get_request(r).status for r in rids] == [RequestStatus.FINALIZED] * 2 + [RequestStatus.OPEN,
                                                                                      RequestStatus.FINALIZED]
    # the reopened request takes a single honest result from another operator (the liar is barred)
    run, final, out = truth(world, rids[2])
    assert revert_name(world.post, rids[2], run, final, out)[0] == "OperatorBarred"
    rid2 = world.post(rids[2], run, final, out, sender=world.accounts[6])
    advance_time(world.w3, WINDOW + 1)
    s.finalize(rid2)
    assert s.get_request(rids[2]).status == RequestStatus.FINALIZED
    check_invariant(world)


def test_two_lies_two_challengers_and_an_honest_leaf_defended(world: World) -> None:
    s = world.system
    rids = requests(world, 6)
    batch_id, claims, runs = post(world, rids, lies=(0, 5))
    leaves = leaves_of(claims)
    hashes = [leaf.hash() for leaf in leaves]
    c1, c2, liar_c = world.challengers[:3]
    games = {i: s.dispute_leaf(batch_id, i, leaves[i], leaf_proof(hashes, i), sender=c)
             for i, c in ((0, c1), (5, c2), (3, liar_c))}
    for i, gid in games.items():
        honest = truth(world, rids[i])[0]
        if i == 3:   # a lying challenger against a true leaf: believes a wrong final state
            wrong = ToyRun(honest.initial, HALT, keccak256(b"wrong"))
            g = play(world, gid, honest.hash, wrong.hash, prover_state=honest.state)
            assert g.status == GameStatus.DEFENDER_WON
        else:
            g = play(world, gid, runs[i].hash, honest.hash, prover_state=honest.state)
            assert g.status == GameStatus.CHALLENGER_WON
    advance_time(world.w3, WINDOW + 1)
    # leafOutcome proves a leaf's outcome on-chain only once it is final
    assert revert_name(s.leaf_outcome, batch_id, 1, leaves[1], leaf_proof(hashes, 1)) == \
        ("NotFinalized", {"batchId": batch_id})
    for i in (0, 3):   # rejected; defended but not finalized yet
        assert revert_name(s.leaf_outcome, batch_id, i, leaves[i], leaf_proof(hashes, i)) == \
            ("LeafDisputed", {"resultId": leaf_result_id(batch_id, i)})
    before = s.balance(world.operator)
    s.finalize_batch(batch_id, leaves)
    s.finalize(leaf_result_id(batch_id, 3))    # the defended leaf settles as a single result
    # ... now the undisputed and the defended leaf read alike; Optimist kept no output hash for the disputed one
    assert s.result(leaf_result_id(batch_id, 3)).output_hash == bytes(32)
    for i in (1, 3):
        assert s.leaf_outcome(batch_id, i, leaves[i], leaf_proof(hashes, i)) == \
            (rids[i], int(Outcome.SUCCESS), 0, HALT, keccak256(claims[i].output))
        assert revert_name(s._call, "outcomeOf", rids[i]) == \
            ("OutcomeInBatch", {"resultId": leaf_result_id(batch_id, i)})
        assert s.outcome(rids[i]).output_hash == keccak256(claims[i].output)   # System reads the leaf's event
    assert revert_name(s.leaf_outcome, batch_id, 0, leaves[0], leaf_proof(hashes, 0))[0] == "LeafDisputed"
    wrong = Leaf(rids[3], leaves[3].final_state_hash, keccak256(b"another output"), HALT, 0, 0)
    assert revert_name(s.leaf_outcome, batch_id, 3, wrong, leaf_proof(hashes, 3))[0] == "LeafMismatch"
    won = CHALLENGE_BOND - s.params.burn_share(CHALLENGE_BOND)
    assert s.balance(world.operator) - before == 4 * (FEE + RESULT_BOND) + won
    assert [s.get_request(r).status for r in rids] == [RequestStatus.OPEN] + [RequestStatus.FINALIZED] * 4 + \
        [RequestStatus.OPEN]
    assert s.balance(c1) == s.balance(c2) == CHALLENGE_BOND + RESULT_BOND // 2
    assert s.balance(liar_c) == 0
    check_invariant(world)


def test_duplicate_unknown_taken_and_foreign_requests_revert_by_name(world: World) -> None:
    s = world.system
    rids = requests(world, 3)
    c = [claim(world, rid)[0] for rid in rids]
    op = world.operator
    assert revert_name(s.post_batch, world.model_id, [c[0], c[1], c[0]], sender=op) == \
        ("DuplicateRequest", {"requestId": rids[0]})
    ghost = claim(world, 99)[0]
    assert revert_name(s.post_batch, world.model_id, [c[0], ghost], sender=op) == ("UnknownRequest", {"requestId": 99})
    # another model's request in this model's batch
    other = s.register_model(world.model.__class__(**{**world.model.__dict__, "metadata_uri": "other"}))
    foreign = requests(world, 1, first_seed=rids[-1] + 1, model_id=other)[0]
    fc = claim(world, foreign)[0]
    assert revert_name(s.post_batch, world.model_id, [c[0], fc], sender=op) == \
        ("WrongModel", {"requestId": foreign, "modelId": other})
    # a claim postResult would refuse is refused here too (the output does not match the final memory)
    bad = Claim(c[1].request_id, bytes(len(c[1].output)), c[1].final_state, c[1].output_proof)
    assert revert_name(s.post_batch, world.model_id, [c[0], bad], sender=op)[0] == "OutputProofMismatch"
    assert revert_name(s.post_batch, world.model_id, [], sender=op)[0] == "BadBatchSize"
    assert revert_name(s.post_batch, world.model_id, c, sender=op, bond=RESULT_BOND * 2) == \
        ("WrongBond", {"expected": 3 * RESULT_BOND, "sent": 2 * RESULT_BOND})
    # a request that already has a result: a single post won the race
    world.post(rids[1], *truth(world, rids[1]), sender=world.accounts[6])
    assert revert_name(s.post_batch, world.model_id, c, sender=op) == ("RequestNotOpen", {"requestId": rids[1]})
    # the batch won the race: a single post (or another batch) on its requests reverts
    s.post_batch(world.model_id, [c[0], c[2]], sender=op)
    assert revert_name(world.post, rids[0], *truth(world, rids[0]))[0] == "RequestNotOpen"
    assert revert_name(s.post_batch, world.model_id, [c[2]], sender=world.accounts[6]) == \
        ("RequestNotOpen", {"requestId": rids[2]})
    # a finalized request
    advance_time(world.w3, WINDOW + 1)
    s.finalize_batch(2 if s.batches.functions.batchCount().call() == 2 else 1, leaves_of([c[0], c[2]]))
    assert revert_name(s.post_batch, world.model_id, [c[0]], sender=op) == ("RequestNotOpen", {"requestId": rids[0]})
    check_invariant(world)


def test_barred_reopening_and_callback_requests_revert_by_name() -> None:
    world, _ = make_world(HALT, reopen_delay=100)
    s = world.system
    rids = requests(world, 2)
    batch_id, claims, runs = post(world, rids, lies=(0,))
    leaves = leaves_of(claims)
    gid = s.dispute_leaf(batch_id, 0, leaves[0], leaf_proof([x.hash() for x in leaves], 0),
                         sender=world.challengers[0])
    honest = truth(world, rids[0])[0]
    play(world, gid, runs[0].hash, honest.hash, prover_state=honest.state)
    c0 = claim(world, rids[0])[0]
    # reopened this very second: nobody may post yet; later the liar is barred from its request
    assert revert_name(s.post_batch, world.model_id, [c0], sender=world.accounts[6])[0] == "RequestReopening"
    advance_time(world.w3, 100)
    assert revert_name(s.post_batch, world.model_id, [c0], sender=world.operator) == \
        ("OperatorBarred", {"requestId": rids[0], "operator": world.operator.lower()})
    s.post_batch(world.model_id, [c0], sender=world.accounts[6])
    # a request with a callback is posted alone (its finalization needs the output bytes)
    cb = s.request(world.model_id, toy_input(50), FEE, callback=s.params.mips, callback_gas=100_000)
    assert revert_name(s.post_batch, world.model_id, [claim(world, cb)[0]], sender=world.accounts[6]) == \
        ("CallbackInBatch", {"requestId": cb})
    check_invariant(world)


def test_leaf_proofs_disputes_and_finalization_attacks(world: World) -> None:
    s = world.system
    rids = requests(world, 5)
    batch_id, claims, runs = post(world, rids, lies=(1,))
    leaves = leaves_of(claims)
    hashes = [x.hash() for x in leaves]
    ch = world.challengers[0]
    proof = leaf_proof(hashes, 1)
    assert revert_name(s.dispute_leaf, batch_id, 1, leaves[1], proof[:-1], sender=ch) == \
        ("WrongPathLength", {"expected": 3, "got": 2})
    assert revert_name(s.dispute_leaf, batch_id, 1, leaves[1], proof + [bytes(32)], sender=ch)[0] == "WrongPathLength"
    assert revert_name(s.dispute_leaf, batch_id, 2, leaves[1], proof, sender=ch)[0] == "LeafMismatch"   # wrong index
    assert revert_name(s.dispute_leaf, batch_id, 5, leaves[1], proof, sender=ch) == \
        ("LeafIndexOutOfRange", {"index": 5, "count": 5})
    forged = Leaf(leaves[1].request_id, keccak256(b"x"), leaves[1].output_hash, HALT, 0, 0)
    assert revert_name(s.dispute_leaf, batch_id, 1, forged, proof, sender=ch)[0] == "LeafMismatch"
    assert revert_name(s.dispute_leaf, batch_id + 1, 1, leaves[1], proof, sender=ch)[0] == "UnknownBatch"
    assert revert_name(s.dispute_leaf, batch_id, 1, leaves[1], proof, sender=world.operator)[0] == "SelfChallenge"
    assert revert_name(s.dispute_leaf, batch_id, 1, leaves[1], proof, sender=ch, bond=1)[0] == "WrongBond"
    s.dispute_leaf(batch_id, 1, leaves[1], proof, sender=ch)
    leaf_id = leaf_result_id(batch_id, 1)
    # the leaf's record keeps no hashes (they stay in the root): every game on it comes with the leaf and its proof
    res = s.result(leaf_id)
    assert (res.final_state_hash, res.output_hash, res.request_id, res.steps) == (bytes(32), bytes(32), rids[1], HALT)
    assert revert_name(s.open_game, leaf_id, sender=world.challengers[1]) == ("LeafResult", {"resultId": leaf_id})
    assert revert_name(s.dispute_leaf, batch_id, 1, leaves[1], proof, sender=ch)[0] == "AlreadyChallenged"
    assert revert_name(s.dispute_leaf, batch_id, 1, forged, proof, sender=world.challengers[1])[0] == "LeafMismatch"
    gid2 = s.dispute_leaf(batch_id, 1, leaves[1], proof, sender=world.challengers[1])
    g2 = s.game(gid2)
    assert (g2.hi, g2.lo_hash, g2.hi_hash) == (HALT, s.get_request(rids[1]).initial_state_hash,
                                               leaves[1].final_state_hash)
    assert s.result(leaf_id).open_games == 2 and s.batch(batch_id).disputed == 1   # the leaf counted once
    # the hooks are for the two contracts only
    assert revert_name(s._send, "takeRequests", world.operator, world.model_id, [rids[0]], 1 << 62)[0] == "NotBatches"
    assert revert_name(s._send, "settleLeaves", world.operator, [rids[0]], 1 << 62, False)[0] == "NotBatches"
    with pytest.raises(REVERTS) as info:
        s.batches.functions.verifyLeaf(batch_id, 0, leaves[0].as_tuple(), leaf_proof(hashes, 0), bytes(32), []).call(
            {"from": ch})
    assert s._revert("verifyLeaf", info.value).name == "NotOptimist"
    # finalization: not before the window, all leaves in order, once
    assert revert_name(s.finalize_batch, batch_id, leaves)[0] == "ChallengeWindowOpen"
    advance_time(world.w3, WINDOW + 1)
    assert revert_name(s.dispute_leaf, batch_id, 3, leaves[3], leaf_proof(hashes, 3), sender=ch)[0] == \
        "ChallengeWindowClosed"
    assert revert_name(s.finalize_batch, batch_id, leaves[:4]) == ("BadBatchSize", {"size": 4, "expected": 5})
    swapped = [leaves[1], leaves[0], *leaves[2:]]
    assert revert_name(s.finalize_batch, batch_id, swapped)[0] == "LeafMismatch"
    s.finalize_batch(batch_id, leaves)
    # the disputed leaf waits for its games, whatever finalizeBatch did
    assert s.get_request(rids[1]).status == RequestStatus.POSTED
    assert revert_name(s.finalize, leaf_id)[0] == "GamesOpen"
    check_invariant(world)


def test_a_batchs_window_is_posted_at_plus_window_to_the_second(world: World) -> None:
    """The deadline in every ResultPosted and in BatchPosted is postedAt + challengeWindow (the daemons schedule
    their disputes and finalizeBatch by it); a leaf is disputed until that second inclusive, finalizeBatch runs
    from the next one."""
    s = world.system
    rids = requests(world, 3)
    batch_id, claims, _ = post(world, rids)
    deadline = s.batch(batch_id).posted_at + WINDOW
    assert s.batch(batch_id).posted_at == world.now()
    events = s.events_since(s.last_receipt["blockNumber"])
    assert [e["deadline"] for e in events if e.name in ("ResultPosted", "BatchPosted")] == [deadline] * 4
    leaves = leaves_of(claims)
    with probe_at(world, deadline), reverts("ChallengeWindowOpen", deadline=deadline):
        s.finalize_batch(batch_id, leaves)
    with probe_at(world, deadline + 1), reverts("ChallengeWindowClosed", deadline=deadline):
        s.dispute_leaf(batch_id, 0, leaves[0], leaf_proof([x.hash() for x in leaves], 0), sender=world.challengers[0])
    at(world, deadline, lambda: s.dispute_leaf(batch_id, 0, leaves[0], leaf_proof([x.hash() for x in leaves], 0),
                                               sender=world.challengers[0]))
    at(world, deadline + 1, lambda: s.finalize_batch(batch_id, leaves))
    assert s.batch(batch_id).settled and s.batch(batch_id).disputed == 1
    assert [s.get_request(r).status for r in rids] == [RequestStatus.POSTED] + [RequestStatus.FINALIZED] * 2
    check_invariant(world)


def test_batch_size_bound(world: World) -> None:
    s = world.system
    assert s.batches.functions.MAX_BATCH().call() == MAX_BATCH
    c = Claim(requests(world, 1)[0], b"", b"", [])
    assert revert_name(s.post_batch, world.model_id, [c] * (MAX_BATCH + 1), sender=world.operator,
                       bond=0) == ("BadBatchSize", {"size": MAX_BATCH + 1, "expected": MAX_BATCH})


def test_a_graph_models_leaf_opens_a_two_phase_game() -> None:
    """A batch of a graph model (docs/two-phase.md): claims are C_m with its slot proof; a lying leaf's game
    starts in phase 1 over the nodes, played down to the node where the lie starts."""
    from graph_world import GRAPH_INPUT, build_graph
    from test_contracts_two_phase import Chain, lying_trace, play_nodes

    from contracts.chain import eth_tester_web3
    from contracts.system import Phase, deploy_system
    from tests.contracts_world import load_tiny

    graph = build_graph(load_tiny())
    w3 = eth_tester_web3()
    s = deploy_system(w3, challenge_window=WINDOW, clock=500)
    model_id = s.register_graph_model(graph.model_spec())
    acct = list(w3.eth.accounts)
    chain = Chain(s, model_id, acct[1], acct[2], acct)
    m = graph.m
    rids = [s.request(model_id, GRAPH_INPUT, FEE) for _ in range(3)]
    lie = lying_trace(graph, 2)
    claims = [Claim(rid, graph.output, (lie if i == 1 else graph.trace)[m].root(),
                    (lie if i == 1 else graph.trace)[m].proof(m)) for i, rid in enumerate(rids)]
    batch_id = s.post_batch(model_id, claims, sender=chain.operator)
    # a graph Success leaf commits its output by its tensor root (contracts.batches.output_hash)
    leaves = [Leaf(c.request_id, c.final_state, output_hash(c.output, True), m, int(Outcome.SUCCESS), 0)
              for c in claims]
    assert s.batch_posted(batch_id)[0] == leaves
    gid = s.dispute_leaf(batch_id, 1, leaves[1], leaf_proof([x.hash() for x in leaves], 1), sender=chain.challenger)
    g = s.game(gid)
    assert s.result(leaf_result_id(batch_id, 1)).graph
    assert g.over_nodes and (g.lo, g.hi, g.lo_hash, g.hi_hash) == (0, m, graph.c(0), lie[m].root())
    play_nodes(chain, gid, lie, graph.trace)
    g = s.game(gid)
    assert g.phase == Phase.TRANSITION and (g.lo, g.hi) == (1, 2)   # the lie starts at node 2


def two_batches_in_one_transaction(world: World) -> tuple[int, list[list[Claim]]]:
    """A contract wallet (Multicall) posts batches 1 and 2 (2 and 3 claims) in one transaction; (block, claims)."""
    from contracts.compile import compile_contracts
    from contracts.system import deploy_contract
    from tests.contracts_world import FIXTURES

    s, w3 = world.system, world.w3
    wallet = deploy_contract(w3, compile_contracts(FIXTURES)["Multicall"])
    rids = requests(world, 5)
    groups = [[claim(world, rid)[0] for rid in rids[:2]], [claim(world, rid)[0] for rid in rids[2:]]]
    data = [s.batches.functions.postBatch(world.model_id, [c.as_tuple() for c in g])._encode_transaction_data()
            for g in groups]
    values = [RESULT_BOND * len(g) for g in groups]
    tx = wallet.functions.calls(s.batches.address, data, values).transact(
        {"from": world.operator, "value": sum(values), "gas": 5_000_000})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1 and [s.batch(b).count for b in (1, 2)] == [2, 3]
    return receipt["blockNumber"], groups


def test_client_leaf_proofs_of_two_batches_in_one_transaction_and_unreadable_batches(world: World) -> None:
    """An operator's contract wallet posts two batches in one transaction (their ResultPosted events share it): each
    request's leaf proof is read from its own batch's events, and leafOutcome takes it. A client whose from_block is
    past the batch, and a request answered by an entry leaf, get a ClientError, not a traceback."""
    from optimist.client import Client, ClientError

    s, w3 = world.system, world.w3
    _, groups = two_batches_in_one_transaction(world)
    advance_time(w3, WINDOW + 1)
    for b, g in ((1, groups[0]), (2, groups[1])):
        s.finalize_batch(b, leaves_of(g))
    client = Client.from_system(s, from_block=s.deploy_block)
    for b, g in ((1, groups[0]), (2, groups[1])):
        want = leaves_of(g)
        for i, c in enumerate(g):
            lp = client.get(c.request_id).leaf_proof()
            assert (lp.batch_id, lp.index, lp.leaf, lp.output) == (b, i, want[i], c.output)
            assert s.leaf_outcome(lp.batch_id, lp.index, lp.leaf, lp.proof)[0] == c.request_id
    late = Client(w3, address=s.address, from_block=w3.eth.block_number + 1)
    with pytest.raises(ClientError, match="from_block"):
        late.get(groups[0][0].request_id).leaf_proof()


def test_batch_posted_reads_each_batch_of_a_transaction_and_only_what_hashes_to_its_root(world: World) -> None:
    """System.batch_posted, the one reader of a result batch's leaves: each of two batches posted in one transaction
    from its own events, whether it looks up the posting block or is given it (and its reader of a block's events);
    events that do not hash to BatchPosted's root (an output changed), another transaction's ResultPosted of the same
    leaf id, a missing leaf or a block without the batch give a ValueError or are left out, never wrong leaves."""
    from contracts.system import Event

    s = world.system
    block, groups = two_batches_in_one_transaction(world)
    read: list[int] = []
    for b, g in ((1, groups[0]), (2, groups[1])):
        want = (leaves_of(g), [c.output for c in g])
        assert s.batch_posted(b) == want
        assert s.batch_posted(b, block, lambda n: read.append(n) or s.events_since(n, n)) == want
    assert read == [block, block]
    events = s.events_since(block, block)

    def changed(ev: Event, **args: object) -> Event:
        return Event(ev.name, {**ev.args, **args}, ev.block, ev.tx_hash, ev.log_index)

    first = next(i for i, e in enumerate(events) if e.name == "ResultPosted" and e["resultId"] == leaf_result_id(1, 0))
    lie = changed(events[first], output=b"another output")
    with pytest.raises(ValueError, match="do not hash to its root"):
        s.batch_posted(1, block, lambda n: events[:first] + [lie] + events[first + 1:])
    decoy = Event(lie.name, lie.args, lie.block, keccak256(b"another transaction"), lie.log_index + 100)
    assert s.batch_posted(1, block, lambda n: events + [decoy]) == (leaves_of(groups[0]), [c.output for c in groups[0]])
    with pytest.raises(ValueError, match="has 2 leaves"):
        s.batch_posted(1, block, lambda n: events[:first] + events[first + 1:])
    with pytest.raises(ValueError, match="0 BatchPosted events of batch 1"):
        s.batch_posted(1, block - 1)


def test_the_daemons_batch_reader_reads_through_their_rpc_once(world: World) -> None:
    """challenger.batching.batch_leaves keeps only what is its own: System.batch_posted's events and the model's kind
    read through the daemon's retrying RPC wrapper, once per batch (cached)."""
    from types import SimpleNamespace

    from challenger.batching import batch_leaves

    s = world.system
    block, groups = two_batches_in_one_transaction(world)
    calls: list[str] = []

    def rpc(fn, what: str = "rpc"):
        calls.append(what)
        return fn()

    daemon = SimpleNamespace(system=s, client=SimpleNamespace(rpc=rpc))
    for _ in range(2):
        assert [batch_leaves(daemon, b, block) for b in (1, 2)] == [leaves_of(g) for g in groups]
    assert calls == ["get_logs", "graphs"] * 2   # each batch's block and its model's kind (System caches the latter)


def test_a_later_game_on_a_leaf_takes_only_that_leaf(world: World) -> None:
    """Once a leaf is on-chain, a later disputeLeaf on its id must still bring that very leaf: another index's leaf
    with its own valid proof, or another batch's leaf at the same index, reverts LeafMismatch (the leaf's record
    keeps no hash to compare with: the batch root decides); a valid other leaf opens a game on its own id with its
    own hash. Past the window a finalized leaf takes no game (ResultNotPending); finalizeWithOutput cannot finalize
    a leaf (Optimist keeps no output hash for it) while finalize does."""
    s = world.system
    rids = requests(world, 6)
    b1, claims1, runs1 = post(world, rids[:3], lies=(1,))
    b2, claims2, _ = post(world, rids[3:])
    l1, l2 = leaves_of(claims1), leaves_of(claims2)
    h1, h2 = [x.hash() for x in l1], [x.hash() for x in l2]
    ch, ch2 = world.challengers[0], world.challengers[1]
    gid = s.dispute_leaf(b1, 1, l1[1], leaf_proof(h1, 1), sender=ch)
    leaf_id = leaf_result_id(b1, 1)
    assert revert_name(s.dispute_leaf, b1, 1, l1[2], leaf_proof(h1, 2), sender=ch2)[0] == "LeafMismatch"
    assert revert_name(s.dispute_leaf, b1, 1, l2[1], leaf_proof(h2, 1), sender=ch2)[0] == "LeafMismatch"
    other = s.dispute_leaf(b1, 2, l1[2], leaf_proof(h1, 2), sender=ch2)
    assert (s.game(other).result_id, s.game(other).hi_hash) == (leaf_result_id(b1, 2), l1[2].final_state_hash)
    assert s.result(leaf_id).open_games == 1 and s.batch(b1).disputed == 2
    honest = truth(world, rids[1])[0]
    assert play(world, gid, runs1[1].hash, honest.hash, prover_state=honest.state).status == GameStatus.CHALLENGER_WON
    assert revert_name(s.dispute_leaf, b1, 1, l1[1], leaf_proof(h1, 1), sender=ch2) == \
        ("ResultNotPending", {"resultId": leaf_id})
    true2 = truth(world, rids[2])[0]
    wrong = ToyRun(true2.initial, HALT, keccak256(b"wrong"))
    assert play(world, other, true2.hash, wrong.hash, prover_state=true2.state).status == GameStatus.DEFENDER_WON
    advance_time(world.w3, WINDOW + 1)
    s.finalize_batch(b1, l1)
    leaf2 = leaf_result_id(b1, 2)
    assert revert_name(s.finalize, leaf2, output=claims1[2].output)[0] == "OutputMismatch"
    s.finalize(leaf2)
    assert s.result(leaf2).status == ResultStatus.FINALIZED
    assert revert_name(s.dispute_leaf, b1, 2, l1[2], leaf_proof(h1, 2), sender=world.challengers[2]) == \
        ("ResultNotPending", {"resultId": leaf2})
    assert s.leaf_outcome(b1, 2, l1[2], leaf_proof(h1, 2))[0] == rids[2]
    check_invariant(world)
