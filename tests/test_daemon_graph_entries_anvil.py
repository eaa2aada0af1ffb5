"""A graph model's request batch with blobs on anvil (docs/game-rules.md §3b "Graph models"): the requester sends 3
inputs of minidnn.examples.digits_mlp (served with two-phase games) in blobs; the operator daemon answers them in one
postEntries with the outputs in blobs; the challenger daemon reads inputs and outputs back from the blobs, agrees
with every leaf (its own phase-1 traces) and opens no game; at the window the operator finalizes the batch and the
client reads each entry's output from the blobs."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_daemon_entries_anvil import key

from challenger.graph_games import GraphModel
from contracts.batches import entry_ref, leaf_result_id
from contracts.chain import Anvil
from minidnn.examples import digits_mlp, sample_input
from optimist.client import Client
from optimist.world import World
from tests.test_daemon_anvil import _anvil_package_installed

pytestmark = pytest.mark.anvil

if not _anvil_package_installed():  # pragma: no cover
    pytest.skip("the npm anvil package is not installed (make setup)", allow_module_level=True)

WINDOW, CLOCK = 600, 300
BOND = 10**17
FEE = 10**16
N = 3


def test_graph_entries_travel_in_blobs_both_ways(tmp_path: Path) -> None:
    blob, _ = digits_mlp()
    model = GraphModel(blob, "digits_mlp")
    inputs = [sample_input(blob, seed=40 + i).astype("<f4").tobytes() for i in range(N)]
    with Anvil() as node:
        world = World.deploy(node.web3(), model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                             db_dir=tmp_path, trace_interval=1024)
        s = world.system
        op, ch = world.operator(name="op"), world.challenger()
        rb = s.request_batch_blobs(world.model_id, inputs, N * FEE, key(0))
        world.run_until(lambda: all(s.entry_taken(rb, i) for i in range(N)), [op, ch])
        [posted] = [e for e in s.events_since(world.deploy_block) if e.name == "EntriesPosted"]
        assert posted["blobHashes"]                                   # the outputs in blobs
        batch_id = posted["batchId"]
        world.run_until(lambda: len(ch.store.results()) == N and all(
            r["verdict"] is not None for r in ch.store.results()), [op, ch], max_ticks=200)
        rows = {r["result_id"]: r for r in ch.store.results()}
        for i in range(N):
            row = rows[leaf_result_id(batch_id, i)]
            assert row["verdict"] == "agree" and bytes(row["output"]) == model.infer(inputs[i])
        assert ch.store.games() == []
        world.advance_time(WINDOW + 2)
        world.run_until(lambda: s.batch(batch_id).settled, [op, ch])
        client = Client.from_system(s, node.web3().eth.accounts[0])
        for i in range(N):
            assert client.entry(entry_ref(rb, i)).result().output == model.infer(inputs[i])
