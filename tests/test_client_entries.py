"""The dapp client's request batches (optimist.client, optimist.entries; docs/game-rules.md §3b) on eth-tester.

A requester sends 4 inputs in one requestBatchData through the client; an honest operator daemon (in process)
answers them in one postEntries; the client follows each entry in words (open, answered with its window, waiting
for finalizeEntries, finalized) and reads every finalized entry's output, checked against its leaf and the
entryOutcome view, equal to the honest run's. Then the refusals: blobs on a chain without them, a graph model, a
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
    graph_id = s.register_graph_model(GraphModelSpec(keccak256(b"nodes"), 3, 64, 40))
    with pytest.raises(ClientError, match=f"model {graph_id} is a graph model .* ProgramModelsOnly"):
        client.request_batch(graph_id, [toy_input(1)], fee_each=FEE)
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


def test_refs_and_fees() -> None:
    assert parse_ref("3:7") == entry_ref(3, 7) and format_ref(entry_ref(3, 7)) == "3:7"
    assert parse_ref(" 12 ") == 12 and format_ref(12) == "12"
    for bad in ("3:", ":1", "0:1", "a:b", "x", "3:1024", "-1"):
        with pytest.raises(EntryError):
            parse_ref(bad)
    assert split_fee(30, 3) == 10
    with pytest.raises(EntryError, match="give 30 or 33 wei"):
        split_fee(31, 3)
