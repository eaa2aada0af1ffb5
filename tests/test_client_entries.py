"""The dapp client's request batches (optimist.client, optimist.entries; docs/game-rules.md §3b) on eth-tester.

A requester sends 4 inputs in one requestBatchData through the client; an honest operator daemon (in process)
answers them in one postEntries; the client follows each entry in words (open, answered with its window, waiting
for finalizeEntries, finalized) and reads every finalized entry's output, checked against its leaf and the
leafOutcome view, equal to the honest run's. Then the refusals: blobs on a chain without them, a graph model, a
wrong input length, a bad entry ref, an unfinalized entry, and a cancelled batch.
"""

from __future__ import annotations

import struct

import pytest

from challenger.models import toy_model
from contracts.batches import entry_ref, leaf_result_id
from contracts.system import GraphModelSpec, Outcome
from mipsvm.memory import keccak256
from optimist.client import Client, ClientError, Entry
from optimist.entries import EntryError, format_ref, parse_ref, split_fee
from optimist.world import World

WINDOW = 600
FEE = 10**15
N = 4


def toy_input(word: int) -> bytes:
    return struct.pack("<16I", *range(1, 16), word)


@pytest.fixture(scope="module")
def model():
    return toy_model(engine="fast")


@pytest.fixture()
def world(model, tmp_path) -> World:
    return World.on_eth_tester(model, window=WINDOW, clock=300, db_dir=tmp_path, engine="fast", max_steps=60_000)


def test_client_reads_entries_an_honest_operator_answered(world: World) -> None:
    s = world.system
    client = Client.from_system(s, world.w3.eth.accounts[0])
    inputs = [toy_input(300 + i) for i in range(N)]
    batch = client.request_batch(world.model_id, inputs, fee_each=FEE)
    assert batch.submitted.via == "calldata" and batch.submitted.blob_gas == 0 and batch.submitted.gas > 0
    assert [e.id for e in batch.entries] == [entry_ref(batch.id, i) for i in range(N)]
    first = batch.entries[0]
    assert first.state.state == "OPEN" and first.state.fee == FEE
    with pytest.raises(ClientError, match="is not finalized: open"):
        first.result()
    with pytest.raises(ClientError, match="has no standing leaf: "):
        first.leaf_proof()

    op = world.operator(name="honest")
    world.run_until(lambda: all(s.entry_taken(batch.id, i) for i in range(N)), [op])
    st = first.state
    assert st.state == "ANSWERED" and "challenge window open until" in st.words and st.answer is not None
    world.advance_time(WINDOW + 2)
    assert first.state.state == "WINDOW_OVER" and "finalizeEntries" in first.state.words
    batch_id = st.answer.batch_id
    world.run_until(lambda: s.batch(batch_id).settled, [op])
    for i, entry in enumerate(batch.entries):
        got = client.get(entry.id)
        assert isinstance(got, Entry) and got.wait(timeout=5).state.state == "FINALIZED"
        res = got.result()
        honest = op.honest_trace(entry.id)
        assert res.outcome == Outcome.SUCCESS and res.output == honest.output and res.steps == honest.steps
        position = [x.request_id for x in st.answer.leaves].index(entry.id)
        assert res.result_id == leaf_result_id(batch_id, position)
        assert keccak256(res.output) == entry.state.answer.leaf.output_hash and res.operator == op.me
        assert i == entry.index
        # what a consumer contract pulls on-chain: the entry's leaf, its proof and output, checked by leafOutcome
        lp = got.leaf_proof()
        assert (lp.batch_id, lp.index, lp.output) == (batch_id, position, honest.output)
        assert s.batches.functions.leafOutcome(*lp.args()).call() == [
            entry.id, int(Outcome.SUCCESS), 0, honest.steps, keccak256(honest.output)]


def test_client_refusals(world: World) -> None:
    s = world.system
    client = Client.from_system(s, world.w3.eth.accounts[0])
    with pytest.raises(ClientError, match="does not support blob transactions"):
        client.request_batch(world.model_id, [toy_input(1)], fee_each=FEE, blobs=True)
    with pytest.raises(ClientError, match="takes 64 input bytes; input 1 has 10"):
        client.request_batch(world.model_id, [toy_input(1), bytes(10)], fee_each=FEE)
    with pytest.raises(ClientError, match="unknown model id 9"):
        client.request_batch(9, [toy_input(1)], fee_each=FEE)
    with pytest.raises(ClientError, match="1..1024 inputs, got 0"):
        client.request_batch(world.model_id, [], fee_each=FEE)
    gen_id = s.register_graph_model(GraphModelSpec(keccak256(b"nodes"), 3, 64, 40, period=1))
    with pytest.raises(ClientError, match=f"model {gen_id} is a generation model .* GenerationModel"):
        client.request_batch(gen_id, [toy_input(1)], fee_each=FEE)
    graph_id = s.register_graph_model(GraphModelSpec(keccak256(b"nodes"), 3, 64, 40))   # other graph models: taken
    with pytest.raises(ClientError, match="takes 64 input bytes; input 0 has 10"):
        client.request_batch(graph_id, [bytes(10)], fee_each=FEE)
    assert s.request_batch_info(client.request_batch(graph_id, [toy_input(1)], fee_each=FEE).id).max_steps == 3
    with pytest.raises(ClientError, match="unknown request batch 7"):
        client.entry(entry_ref(7, 0))
    batch = client.request_batch(world.model_id, [toy_input(5), toy_input(6)], fee_each=FEE,
                                 deadline=world.now() + 100)
    with pytest.raises(ClientError, match="has entries 0..1, not 2"):
        client.get(entry_ref(batch.id, 2))
    world.advance_time(200)
    assert batch.entries[1].state.state == "EXPIRED"
    assert batch.cancel() == 2
    assert [e.state.state for e in batch.entries] == ["CANCELLED", "CANCELLED"]
    assert "never answered" in batch.entries[0].state.words


def test_client_newcomer_mistakes(world: World) -> None:
    """The mistakes a first-time user makes are ClientErrors that say what to do, not numpy or web3 errors."""
    import numpy as np

    client = Client.from_system(world.system, world.w3.eth.accounts[0])
    m = world.model_id
    flat = np.arange(16, dtype=np.float32)   # one input passed as xs: its numbers taken as 16 inputs
    with pytest.raises(ClientError, match=r"input 0 has 4: xs looks like one input .* pass \[x\] for one input"):
        client.request_batch(m, flat)
    with pytest.raises(ClientError, match=r"xs is a list of inputs .* pass \[x\]"):
        client.request_batch(m, toy_input(1))
    for fee in (0.001, -1, "1000"):
        with pytest.raises(ClientError, match=r"fee_each is a whole number of wei, 0 or more \(e.g. 10\*\*15"):
            client.request_batch(m, [toy_input(1)], fee_each=fee)
    with pytest.raises(ClientError, match="fee is a whole number of wei"):
        client.request(m, toy_input(1), fee=0.01)
    with pytest.raises(ClientError, match=r"input 1 is not bytes or numbers \(could not convert string"):
        client.request_batch(m, [toy_input(1), ["a"] * 16])
    with pytest.raises(ClientError, match=r"deadline 3600 is past .* a unix time, not a duration"):
        client.request_batch(m, [toy_input(1)], deadline=3600)
    with pytest.raises(ClientError, match=r"deadline 60 is past .* a unix time, not a duration"):
        client.request(m, toy_input(1), deadline=60)
    with pytest.raises(ClientError, match="is more than 30 days after the chain's time"):
        client.request_batch(m, [toy_input(1)], deadline=world.now() + 31 * 86400)
    batch = client.request_batch(m, np.stack([flat, flat + 1]), fee_each=np.int64(7),   # rows of a stacked array
                                 deadline=world.now() + 3600)
    assert len(batch.entries) == 2 and world.system.request_batch_info(batch.id).fee == 7


def test_refs_and_fees() -> None:
    assert parse_ref("3:7") == entry_ref(3, 7) and format_ref(entry_ref(3, 7)) == "3:7"
    assert parse_ref(" 12 ") == 12 and format_ref(12) == "12"
    for bad in ("3:", ":1", "0:1", "a:b", "x", "3:1024", "-1", "\u00b2", "1:\u00b2", str(2**256), f"{2**44}:0"):
        with pytest.raises(EntryError):
            parse_ref(bad)
    assert parse_ref(str(2**256 - 1)) == 2**256 - 1 and parse_ref(f"{2**44 - 1}:0") == entry_ref(2**44 - 1, 0)
    assert split_fee(30, 3) == 10
    with pytest.raises(EntryError, match="give 30 or 33 wei"):
        split_fee(31, 3)


def test_entry_states_void_reopened_disputed_in_words(model, tmp_path) -> None:
    """A careless operator's leaves: one for a malformed input (rejected: VOID), one with its true final state
    but a wrong output hash (rejected: REOPENED), one with a wrong final state (disputed by a game: DISPUTED, an
    ordinary Optimist request from then on); none of them can be read as a result. The toy program registered
    with 60 input bytes: its 64-byte input region can hold bytes past them (a malformed input)."""
    from challenger.models import ProgramModel, Trace
    from contracts.batches import EntryLeaf, input_proof, input_region_size, input_roots, leaf_proof
    from mipsvm.regions import region_path

    model = ProgramModel(model.elf, 60, model.output_length, name="toy60", engine="fast")
    world = World.on_eth_tester(model, window=WINDOW, clock=300, db_dir=tmp_path, engine="fast", max_steps=60_000)
    s = world.system
    requester, operator, challenger = world.w3.eth.accounts[:3]
    client = Client.from_system(s, requester)
    inputs = [toy_input(1)[:60], toy_input(2)[4:], toy_input(3)]    # the last one is malformed for 60 bytes
    roots = input_roots(inputs, 60)
    rb = s.request_batch(world.model_id, roots, 3 * FEE, sender=requester)
    traces = [Trace(model, x, engine="fast", max_steps=60_000) for x in inputs[:2]]

    def leaf(i: int, t: Trace, **fields: object) -> EntryLeaf:
        x = EntryLeaf(i, keccak256(t.final_packed), keccak256(t.output), t.steps, int(t.outcome), t.exit_code)
        return EntryLeaf(**{**x.__dict__, **fields})

    entry_leaves = [leaf(0, traces[0], output_hash=keccak256(b"not the output")),
                    leaf(1, traces[1], final_state_hash=keccak256(b"not the state")), leaf(2, traces[0])]
    batch_id = s.post_entries(rb, entry_leaves, sender=operator)
    leaves = [x.leaf(rb) for x in entry_leaves]
    proofs = [leaf_proof([x.hash() for x in leaves], i) for i in range(3)]
    entries = [client.entry(entry_ref(rb, i)) for i in range(3)]
    assert [e.state.state for e in entries] == ["ANSWERED"] * 3

    s.reject_entry(batch_id, 2, leaves[2], proofs[2], roots[2], input_proof(roots, 2), sender=challenger,
                   input_region=inputs[2].ljust(input_region_size(60), b"\0"))
    st = traces[0].state_at(traces[0].steps)
    img = model.image
    s.reject_entry(batch_id, 0, leaves[0], proofs[0], roots[0], input_proof(roots, 0), st.encode(),
                   st.memory.read(img.output_base, img.output_size), region_path(st.memory, img.output_base,
                                                                                 img.output_size), sender=challenger)
    s.dispute_leaf(batch_id, 1, leaves[1], proofs[1], sender=challenger, input_root=roots[1],
                   input_proof=input_proof(roots, 1))
    states = [e.state for e in entries]
    assert [x.state for x in states] == ["REOPENED", "DISPUTED", "VOID"]
    assert "contradicted its own final state and was rejected; the entry takes answers again" in states[0].words
    assert states[1].words.startswith("disputed: a game runs on its answer")
    assert states[2].words.startswith("void: its input does not fit the model")
    for e, words in zip(entries, ("reopened", "disputed", "void"), strict=True):
        with pytest.raises(ClientError, match=f"is not finalized: {words}"):
            e.result()
    for e in (entries[0], entries[2]):   # rejected without a game, void: no leaf stands for them
        with pytest.raises(ClientError, match=f"entry {rb}:{e.index} has no standing leaf: "):
            e.leaf_proof()
    with pytest.raises(ClientError, match="has its outputs in blobs and the node"):   # its leaf stands (disputed),
        entries[1].leaf_proof()          # but its output bytes were posted nowhere this chain serves


@pytest.mark.anvil
def test_blob_inputs_and_blob_outputs_on_anvil(model, tmp_path) -> None:
    """On anvil the client sends the inputs in blobs by default; an operator posts its outputs in blobs; after
    finalizeEntries the client reads each output back from the blobs, checked against the leaf. A batch whose
    blobs hold outputs that do not hash to the leaves' finalizes all the same, and the client refuses to read it."""
    from eth_account import Account

    from challenger.models import Trace
    from contracts.batches import EntryLeaf
    from contracts.chain import ANVIL_MNEMONIC, Anvil
    from tests.test_daemon_anvil import _anvil_package_installed

    if not _anvil_package_installed():  # pragma: no cover
        pytest.skip("the npm anvil package is not installed (make setup)")
    Account.enable_unaudited_hdwallet_features()
    keys = [Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(2)]
    with Anvil() as node:
        world = World.deploy(node.web3(), model, window=WINDOW, clock=300, db_dir=tmp_path, engine="fast",
                             max_steps=60_000)
        s = world.system
        client = Client.from_system(s, keys[0].address, key=keys[0])
        inputs = [toy_input(700 + i) for i in range(3)]
        batch = client.request_batch(world.model_id, inputs, fee_each=FEE)
        sub = batch.submitted
        assert sub.via == "blobs" and sub.blobs == 1 and sub.blob_gas == 131_072 and sub.gas > 0
        traces = [Trace(model, x, engine="fast", max_steps=60_000) for x in inputs]
        leaves = [EntryLeaf(i, keccak256(t.final_packed), keccak256(t.output), t.steps, int(t.outcome), t.exit_code)
                  for i, t in enumerate(traces)]
        good = s.post_entries(batch.id, leaves[:2], private_key=keys[1].key, blob_outputs=[t.output for t in traces[:2]])
        bad = s.post_entries(batch.id, leaves[2:], private_key=keys[1].key, blob_outputs=[b"not the output"])
        world.advance_time(WINDOW + 2)
        s.finalize_entries(good)
        s.finalize_entries(bad)
        for i in range(2):
            res = batch.entries[i].result()
            assert res.output == traces[i].output and res.steps == traces[i].steps and res.operator == keys[1].address
        assert batch.entries[2].state.state == "FINALIZED"
        with pytest.raises(ClientError, match="the published output does not hash to the leaf's output hash"):
            batch.entries[2].result()


def test_a_disputed_entry_keeps_its_leaf_and_game_in_view(model, tmp_path) -> None:
    """An entry whose leaf lost its game (the lying operator let its clock run out) and that an honest operator
    answered again as an ordinary request: its words say so (not 'a game runs on its answer'), and `optimist
    status RB:I`'s report still lists the rejected leaf's result and the game (they have no ResultPosted event,
    and the request's result id moved on to the new answer)."""
    from challenger.models import Trace
    from contracts.batches import EntryLeaf, input_proof, input_roots, leaf_proof
    from optimist.commands.request import entry_report

    world = World.on_eth_tester(model, window=WINDOW, clock=300, db_dir=tmp_path, engine="fast", max_steps=60_000)
    s = world.system
    requester, liar, challenger = world.w3.eth.accounts[:3]
    client = Client.from_system(s, requester)
    inputs = [toy_input(41)]
    roots = input_roots(inputs, 64)
    batch = client.request_batch(world.model_id, inputs, fee_each=FEE)
    t = Trace(model, inputs[0], engine="fast", max_steps=60_000)
    lie = EntryLeaf(0, keccak256(b"not the state"), keccak256(t.output), t.steps, int(t.outcome), t.exit_code)
    batch_id = s.post_entries(batch.id, [lie], sender=liar)
    leaf = lie.leaf(batch.id)
    gid = s.dispute_leaf(batch_id, 0, leaf, leaf_proof([leaf.hash()], 0), sender=challenger, input_root=roots[0],
                         input_proof=input_proof(roots, 0))
    entry = batch.entries[0]
    assert entry.state.words.startswith("disputed: a game runs on its answer")
    world.advance_time(400)   # the defender never moved: its clock ran out
    s.timeout(gid, sender=challenger)
    assert "disputed and its answer rejected by a game: reopened" in entry.state.words
    op = world.operator(name="honest")
    world.run_until(lambda: s.get_request(entry.id).status.name == "POSTED", [op])
    st = entry.state
    rid = s.get_request(entry.id).result_id
    assert st.state == "DISPUTED" and st.words == ("disputed, its answer rejected by a game, and answered again as "
                                                   f"an ordinary Optimist request (result {rid}, in its challenge "
                                                   "window)")
    with pytest.raises(ClientError, match=f"is answered by single result {rid}, not a batch leaf"):
        entry.leaf_proof()
    report = entry_report(s, world.deploy_block, entry.id)["request_report"]
    leaf_rid = leaf_result_id(batch_id, 0)
    assert [(r["result"], r["status"], r["operator"]) for r in report["results"]] == \
        [(leaf_rid, "REJECTED", liar), (rid, "PENDING", op.me)]
    assert report["results"][0]["output_hex"] is None and report["results"][1]["steps"] == t.steps
    assert [(g["game"], g["result"], g["status"]) for g in report["games"]] == [(gid, leaf_rid, "CHALLENGER_WON")]
