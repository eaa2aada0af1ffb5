"""Request batches with the real daemons (eth-tester, real MIPS.sol, the toy program; docs/game-rules.md §3b).

A requester sends 12 inputs in one requestBatchData; an operator lying on two of them answers all 12 in one
postEntries; the honest challenger reads the inputs from the request's calldata, disputes exactly the two lies
(disputeLeaf with the input bytes: their requests are created on-chain then) and wins both games; the other 10
finalize in one finalizeEntries at the window; an honest operator answers the two reopened requests (ordinary
requests now) and they finalize too. No wei stays behind.
"""

from __future__ import annotations

import struct

import pytest

from challenger.models import LyingTrace, Trace, toy_model
from contracts.batches import entry_ref, leaf_position
from contracts.system import GameStatus, RequestStatus
from mipsvm.memory import keccak256
from optimist.world import World

WINDOW, CLOCK = 600, 300
BOND = 10**17
FEE = 10**16
MAX_STEPS = 60_000
N, LIES = 12, (3, 8)


def toy_input(word: int) -> bytes:
    return struct.pack("<16I", *range(1, 16), word)


@pytest.fixture(scope="module")
def model():
    return toy_model(engine="fast")


def test_a_request_batch_with_two_lies(model, tmp_path) -> None:
    world = World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                                db_dir=tmp_path, trace_interval=4096, engine="fast", max_steps=MAX_STEPS)
    s = world.system
    inputs = [toy_input(200 + i) for i in range(N)]
    lying_inputs = {inputs[i] for i in LIES}

    def lie(honest: Trace) -> LyingTrace:
        return LyingTrace(honest) if honest.input in lying_inputs else LyingTrace(honest, edit=lambda st: None)

    liar = world.operator(dishonest=True, name="liar")
    liar.lie = lie
    ch = world.challenger()
    rb = s.request_batch_data(world.model_id, inputs, N * FEE)
    refs = [entry_ref(rb, i) for i in range(N)]
    world.run_until(lambda: all(s.entry_taken(rb, i) for i in range(N)), [liar])
    posted = [e for e in s.events_since(world.deploy_block) if e.name == "EntriesPosted"]
    assert len(posted) == 1 and posted[0]["count"] == N       # one transaction for all 12
    assert posted[0]["blobHashes"] == []                      # eth-tester takes no blobs: outputs in the calldata
    batch_id = posted[0]["batchId"]

    # the challenger reads the inputs from the request's calldata, checks all 12 and disputes the two lies
    world.run_until(lambda: sum(g["status"] != "active" for g in ch.store.games()) == len(LIES), [liar, ch],
                    max_ticks=3000)
    games = [s.game(g["game_id"]) for g in ch.store.games()]
    assert sorted(leaf_position(g.result_id)[1] for g in games) == list(LIES)
    assert all(g.status == GameStatus.CHALLENGER_WON for g in games)
    verdicts = {row["request_id"]: row["verdict"] for row in ch.store.results()}
    assert [verdicts[r] for r in refs] == ["disagree" if i in LIES else "agree" for i in range(N)]
    for i in LIES:   # created on-chain by the dispute, rejected, reopened
        req = s.get_request(refs[i])
        assert req.status == RequestStatus.OPEN and req.initial_state_hash == s.initial_state_hash(
            world.model_id, inputs[i])

    # at the window the other 10 finalize in one call; the two reopened requests go to an honest operator
    honest = world.operator(name="honest")
    world.advance_time(WINDOW + 2)
    world.run_until(lambda: s.batch(batch_id).settled, [liar, honest, ch])
    finals = [e for e in s.events_since(world.deploy_block) if e.name == "EntriesFinalized"]
    assert [(e["finalized"], e["fees"]) for e in finals] == [(N - len(LIES), (N - len(LIES)) * FEE)]
    world.run_until(lambda: all(s.get_request(refs[i]).status == RequestStatus.POSTED for i in LIES),
                    [liar, honest, ch], advance_when_idle=2)
    world.settle([liar, honest, ch], max_ticks=40)
    assert all(s.get_request(refs[i]).status == RequestStatus.FINALIZED for i in LIES)
    for i in LIES:
        assert s.outcome(refs[i]).output_hash == keccak256(honest.honest_trace(refs[i]).output)
    assert len(ch.store.games()) == len(LIES)   # the honest answers were checked and left alone
    assert s.balance(liar.me) == s.balance(honest.me) == s.balance(ch.me) == 0
    assert world.contract_balance() == 0


def test_blob_outputs_on_a_chain_without_blobs_fall_back_to_calldata(model, tmp_path, caplog) -> None:
    """`entry_outputs="blobs"` on eth-tester (no blob transactions): a warning, then the outputs in the calldata."""
    world = World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                                db_dir=tmp_path, trace_interval=4096, engine="fast", max_steps=MAX_STEPS)
    s = world.system
    op = world.operator(name="honest", entry_outputs="blobs")
    inputs = [toy_input(700 + i) for i in range(2)]
    rb = s.request_batch_data(world.model_id, inputs, 2 * FEE)
    world.run_until(lambda: s.entry_taken(rb, 0) and s.entry_taken(rb, 1), [op])
    [posted] = [e for e in s.events_since(world.deploy_block) if e.name == "EntriesPosted"]
    assert posted["blobHashes"] == []
    assert "entry_outputs_unsupported" in caplog.text
    outputs = s.batches.decode_function_input(s.w3.eth.get_transaction(posted.tx_hash)["input"])[1]["outputs"]
    assert [bytes(o) for o in outputs] == [op.honest_trace(entry_ref(rb, i)).output for i in range(2)]


def test_a_lying_challenger_loses_its_games_on_entry_leaves(model, tmp_path) -> None:
    """A dishonest challenger disputes both leaves of an honest entry batch: the operator defends each game to the
    one-step proof and wins; past the window the two disputed entries finalize as results in Optimist (their
    requests created by the disputes) with the honest outputs, and every wei is paid out."""
    world = World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                                db_dir=tmp_path, trace_interval=4096, engine="fast", max_steps=MAX_STEPS)
    s = world.system
    op, liar = world.operator(name="op"), world.challenger(dishonest=True)
    inputs = [toy_input(300), toy_input(301)]
    rb = s.request_batch_data(world.model_id, inputs, 2 * FEE)
    refs = [entry_ref(rb, i) for i in range(2)]
    world.run_until(lambda: all(s.entry_taken(rb, i) for i in range(2)), [op])
    world.run_until(lambda: len(liar.store.games()) == 2 and all(g["status"] != "active" for g in liar.store.games()),
                    [op, liar], max_ticks=300)
    assert [s.game(g["game_id"]).status for g in liar.store.games()] == [GameStatus.DEFENDER_WON] * 2
    world.settle([op, liar], max_ticks=40)
    for ref, x in zip(refs, inputs, strict=True):
        assert s.get_request(ref).status == RequestStatus.FINALIZED
        assert s.outcome(ref).output_hash == keccak256(op.honest_trace(ref).output)
        assert s.get_request(ref).initial_state_hash == s.initial_state_hash(world.model_id, x)
    assert s.balance(op.me) == s.balance(liar.me) == 0
    assert world.contract_balance() == 0


def test_an_accomplices_game_does_not_shield_a_contradicting_leaf_from_the_challenger(model, tmp_path) -> None:
    """An operator's leaf names its entry's true final state with a wrong output hash, and an accomplice disputes
    it first (a game the accomplice will lose: the trace is true). The challenger daemon does not open a game of
    its own (it would lose too): it rejects the leaf with rejectEntry, which rejects it in Optimist."""
    from contracts.batches import EntryLeaf, input_proof, input_roots, leaf_proof, leaf_result_id
    from contracts.system import ResultStatus

    world = World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                                db_dir=tmp_path, trace_interval=4096, engine="fast", max_steps=MAX_STEPS)
    s = world.system
    operator, accomplice = world.w3.eth.accounts[1], world.w3.eth.accounts[2]
    inputs = [toy_input(700 + i) for i in range(2)]
    rb = s.request_batch_data(world.model_id, inputs, 2 * FEE)
    traces = [Trace(model, x, engine="fast", max_steps=MAX_STEPS) for x in inputs]
    leaves = [EntryLeaf(i, keccak256(t.final_packed), keccak256(t.output if i else b"a lie"), t.steps,
                        int(t.outcome), t.exit_code) for i, t in enumerate(traces)]
    batch_id = s.post_entries(rb, leaves, [b"a lie", traces[1].output], sender=operator)
    tree = [x.leaf(rb) for x in leaves]
    roots = input_roots(inputs, len(inputs[0]))
    gid = s.dispute_leaf(batch_id, 0, tree[0], leaf_proof([x.hash() for x in tree], 0), sender=accomplice,
                         input_root=roots[0], input_proof=input_proof(roots, 0))
    ch = world.challenger()
    leaf_id = leaf_result_id(batch_id, 0)
    world.run_until(lambda: s.result(leaf_id).status == ResultStatus.REJECTED, [ch], max_ticks=200)
    assert [g["game_id"] for g in ch.store.games()] == []            # no game of its own
    assert ch.store.result(leaf_id)["verdict"] == "contradicts"
    sent = [e for e in s.events_since(world.deploy_block) if e.name == "EntryRejected"]
    assert [(e["index"], e["challenger"]) for e in sent] == [(0, ch.me)]
    assert s.get_request(entry_ref(rb, 0)).status == RequestStatus.OPEN   # an Optimist request from now on
    assert s.game(gid).status == GameStatus.ACTIVE                    # void: the accomplice may cancel it
    assert s.balance(ch.me) == (BOND - s.params.burn_share(BOND)) // 2   # shared with the accomplice's game


def test_calldata_with_dirty_padding_neither_crashes_nor_blinds_the_daemons(model, tmp_path) -> None:
    """solc ignores the padding bytes of a `bytes` argument; web3's decode_function_input refuses non-zero ones. A
    requestBatchData and a postEntries whose last padding byte is 0x77 are both taken on-chain; the daemons read
    them as solc does (contracts.system.decode_call): they did raise at ingest (every daemon on the deployment dead
    on that block, restart after restart, and every lie after it final). Here the operator answers the entries,
    the challenger rejects the liar's contradicting leaf, and the operator answers the reopened entry."""
    from contracts.batches import EntryLeaf, input_roots, leaf_result_id
    from contracts.system import ResultStatus
    from optimist.entries import answer_output, entry_state

    world = World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                                db_dir=tmp_path, trace_interval=4096, engine="fast", max_steps=MAX_STEPS)
    s, w3 = world.system, world.w3
    requester, liar = w3.eth.accounts[3], w3.eth.accounts[1]

    def send_dirty(fn, sender: str, value: int) -> None:
        data = bytearray(bytes.fromhex(fn._encode_transaction_data()[2:]))
        assert data[-1] == 0   # the last bytes are the padding of the last `bytes` item
        data[-1] = 0x77
        tx = w3.eth.send_transaction({"from": sender, "to": s.batches.address, "data": bytes(data), "value": value,
                                      "gas": 2_000_000})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        with pytest.raises(Exception, match="Padding bytes"):
            s.batches.decode_function_input(bytes(data))

    # an input cut short stands for its zero-padded self (its last word is 0): its 60 bytes leave 4 of padding
    inputs = [toy_input(701), toy_input(0)]
    sent = [inputs[0], inputs[1][:60]]
    send_dirty(s.batches.functions.requestBatchData(world.model_id, input_roots(inputs, len(inputs[0])), sent,
                                                    world.now() + 10_000), requester, 2 * FEE)
    rb = 1
    assert s.request_batch_info(rb).count == 2
    traces = [Trace(model, x, engine="fast", max_steps=MAX_STEPS) for x in inputs]
    leaves = [EntryLeaf(i, keccak256(t.final_packed), keccak256(t.output if i == 0 else b"a lie"), t.steps,
                        int(t.outcome), t.exit_code) for i, t in enumerate(traces)]
    send_dirty(s.batches.functions.postEntries(rb, [x.as_tuple() for x in leaves], [traces[0].output, b"a lie"]),
               liar, 2 * BOND)
    ch, op = world.challenger(), world.operator(name="honest")
    leaf_id = leaf_result_id(1, 1)
    world.run_until(lambda: s.batches.functions.entryBarred(entry_ref(rb, 1), liar).call(), [op, ch], max_ticks=200)
    assert s.result(leaf_id).status == ResultStatus.NONE   # rejected without a game
    assert ch.store.result(leaf_result_id(1, 0))["verdict"] == "agree"
    assert ch.store.result(leaf_id)["verdict"] == "contradicts"
    assert ch.store.request(entry_ref(rb, 1))["input"] == inputs[1]
    answer = entry_state(s, entry_ref(rb, 0)).answer
    assert answer is not None and answer_output(s, answer) == traces[0].output
    world.run_until(lambda: s.entry_taken(rb, 1), [op, ch], max_ticks=200, advance_when_idle=2)
    world.settle([op, ch], max_ticks=40)
    assert s.balance(op.me) == FEE + BOND and s.balance(ch.me) == BOND - s.params.burn_share(BOND)
    locked = 0 if s.batch(1).settled else FEE + BOND   # the liar's true leaf
    assert world.contract_balance() == s.balance(op.me) + s.balance(ch.me) + s.balance(liar) + locked + \
        s.burned() - s.burn_sent()


def test_an_entry_leaf_someone_else_disputed_gets_the_challengers_own_game(model, tmp_path) -> None:
    """A lying entry leaf (a wrong final state) is disputed first by another account that never plays: the honest
    challenger opens its own game on it with disputeLeaf and the leaf's proof (no input root needed: the entry's
    request exists; openGame reverts LeafResult on a leaf) and wins it; the entry reopens as an Optimist request,
    the idle game is cancelled with its bond and its share back, and the honest leaf finalizes."""
    from contracts.batches import EntryLeaf, input_proof, input_roots, leaf_proof, leaf_result_id
    from contracts.system import ResultStatus, decode_call

    world = World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                                db_dir=tmp_path, trace_interval=4096, engine="fast", max_steps=MAX_STEPS)
    s = world.system
    inputs = [toy_input(900 + i) for i in range(2)]
    liar = world.operator(dishonest=True, name="liar")
    liar.lie = lambda honest: LyingTrace(honest) if honest.input == inputs[1] else \
        LyingTrace(honest, edit=lambda st: None)
    rb = s.request_batch_data(world.model_id, inputs, 2 * FEE)
    world.run_until(lambda: s.entry_taken(rb, 0) and s.entry_taken(rb, 1), [liar])
    [posted] = [e for e in s.events_since(world.deploy_block) if e.name == "EntriesPosted"]
    batch_id = posted["batchId"]
    _, args = decode_call(s.batches, s.w3.eth.get_transaction(posted.tx_hash)["input"])
    tree = [EntryLeaf.from_args(x).leaf(rb) for x in args["leaves"]]
    [index] = [p for p, x in enumerate(tree) if x.request_id == entry_ref(rb, 1)]
    leaf_id = leaf_result_id(batch_id, index)
    proof = leaf_proof([x.hash() for x in tree], index)
    roots = input_roots(inputs, len(inputs[0]))
    other = world.w3.eth.accounts[5]
    idle = s.dispute_leaf(batch_id, index, tree[index], proof, sender=other, input_root=roots[1],
                          input_proof=input_proof(roots, 1))
    ch = world.challenger()
    world.run_until(lambda: any(g["status"] != "active" for g in ch.store.games()), [liar, ch], max_ticks=3000)
    (game,) = ch.store.games()
    g = s.game(game["game_id"])
    assert (g.result_id, g.status) == (leaf_id, GameStatus.CHALLENGER_WON) and game["game_id"] != idle
    assert ch.store.result(leaf_id)["verdict"] == "disagree"
    assert s.result(leaf_id).status == ResultStatus.REJECTED
    assert s.get_request(entry_ref(rb, 1)).status == RequestStatus.OPEN   # an Optimist request from now on
    assert s.is_barred(entry_ref(rb, 1), liar.me)
    s.cancel_game(idle, sender=other)
    assert s.game(idle).status == GameStatus.CANCELLED
    share = (BOND - s.params.burn_share(BOND)) // 2   # two games were active at the rejection
    [won] = [e for e in s.events_since(world.deploy_block) if e.name == "GameResolved" and e["resultId"] == leaf_id]
    assert (won["winner"], won["paid"]) == (ch.me, BOND + share) and s.balance(other) == BOND + share
    world.advance_time(WINDOW + 2)
    world.run_until(lambda: s.batch(batch_id).settled, [liar, ch])
    assert s.batch(batch_id).disputed == 1   # counted once for both games
