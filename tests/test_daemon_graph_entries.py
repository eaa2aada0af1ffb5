"""Request batches of a graph model with the real daemons (eth-tester, real MIPS.sol, calldata inputs; docs/game-rules.md
§3b, docs/two-phase.md): the model is minidnn.examples.digits_mlp served with two-phase games.

A requester sends 4 inputs in one requestBatchData; an operator lying on one of them (a phase-1 lie: node 2's
output negated) answers all 4 in one postEntries whose leaves are postResult's graph claims (C_m, m, the output);
the honest challenger judges them against its own phase-1 traces, disputes exactly the lie with disputeLeaf and wins
the two-phase game on the entry's request; the other 3 finalize in one finalizeEntries and the reopened entry is
answered by an honest operator with postResult. Leaves contradicting their own claims (a true C_m with another
output, or with keccak256 of the true output instead of its tensor root; the true intermediate C_2 claimed as a
Failure) are rejected by the challenger with rejectEntry (no game; a Success's output proven by its tensor root).
"""

from __future__ import annotations

import pytest

from challenger.graph_games import GraphModel, GraphTrace, lie_graph
from contracts.batches import (
    EntryLeaf,
    batch_root,
    entry_ref,
    leaf_position,
    leaf_result_id,
    output_hash,
)
from contracts.system import GameStatus, Outcome, RequestStatus, ResultStatus
from minidnn.examples import digits_mlp, sample_input
from mipsvm.memory import keccak256
from optimist.world import World

WINDOW, CLOCK = 600, 300
BOND = 10**17
FEE = 10**16
N, LIE = 4, 2


@pytest.fixture(scope="module")
def model() -> GraphModel:
    blob, _ = digits_mlp()
    model = GraphModel(blob, "digits_mlp")
    model.commitment    # noqa: B018 -- measured once for the module (every node runs in the VM)
    return model


@pytest.fixture(scope="module")
def inputs(model: GraphModel) -> list[bytes]:
    return [sample_input(model.blob, seed=10 + i).astype("<f4").tobytes() for i in range(N)]


@pytest.fixture
def world(model: GraphModel, tmp_path) -> World:
    return World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                               db_dir=tmp_path, trace_interval=1024)


def test_a_lying_graph_entry_loses_its_game_and_the_honest_ones_finalize(world: World, model: GraphModel,
                                                                        inputs: list[bytes]) -> None:
    s = world.system

    def lie(honest: GraphTrace) -> GraphTrace:
        return lie_graph(honest, "phase1") if honest.input == inputs[LIE] else honest

    liar = world.operator(dishonest=True, name="liar")
    liar.lie = lie
    ch = world.challenger()
    rb = s.request_batch_data(world.model_id, inputs, N * FEE)
    assert s.request_batch_info(rb).max_steps == model.node_count
    refs = [entry_ref(rb, i) for i in range(N)]
    world.run_until(lambda: all(s.entry_taken(rb, i) for i in range(N)), [liar])
    [posted] = [e for e in s.events_since(world.deploy_block) if e.name == "EntriesPosted"]
    assert posted["count"] == N
    batch_id = posted["batchId"]
    fn, args = s.batches.decode_function_input(s.w3.eth.get_transaction(posted.tx_hash)["input"])
    for i, raw in enumerate(args["leaves"]):   # the leaves are postResult's graph claims
        leaf, truth = EntryLeaf.from_args(raw), GraphTrace(model, inputs[i])
        assert (leaf.steps, leaf.outcome, leaf.exit_code) == (model.node_count, int(Outcome.SUCCESS), 0)
        assert (leaf.final_state_hash == truth.hash_at(model.node_count)) == (i != LIE)
        assert bytes(args["outputs"][i]) == (liar.trace(refs[i]).output)

    world.run_until(lambda: bool(ch.store.games()) and ch.store.games()[0]["status"] != "active", [liar, ch],
                    advance_when_idle=CLOCK + 1, max_ticks=3000)
    [game] = ch.store.games()
    g = s.game(game["game_id"])
    assert g.status == GameStatus.CHALLENGER_WON and leaf_position(g.result_id) == (batch_id, LIE)
    assert ch.store.game_node(game["game_id"])["node"] == 2      # phase 1 over nodes, then the node's VM run
    verdicts = {row["request_id"]: row["verdict"] for row in ch.store.results()}
    assert [verdicts[r] for r in refs] == ["disagree" if i == LIE else "agree" for i in range(N)]
    req = s.get_request(refs[LIE])
    assert req.status == RequestStatus.OPEN and req.initial_state_hash == s.initial_state_hash(world.model_id,
                                                                                               inputs[LIE])
    assert s.result(leaf_result_id(batch_id, LIE)).status == ResultStatus.REJECTED

    honest = world.operator(name="honest")
    world.advance_time(WINDOW + 2)
    world.run_until(lambda: s.batch(batch_id).settled, [liar, honest, ch])
    finals = [e for e in s.events_since(world.deploy_block) if e.name == "EntriesFinalized"]
    assert [(e["finalized"], e["fees"]) for e in finals] == [(N - 1, (N - 1) * FEE)]
    world.run_until(lambda: s.get_request(refs[LIE]).status == RequestStatus.POSTED, [liar, honest, ch],
                    advance_when_idle=2)
    world.settle([liar, honest, ch], max_ticks=40)
    assert s.get_request(refs[LIE]).status == RequestStatus.FINALIZED
    assert s.outcome(refs[LIE]).output_hash == keccak256(model.infer(inputs[LIE]))
    assert len(ch.store.games()) == 1
    assert s.balance(liar.me) == s.balance(honest.me) == s.balance(ch.me) == 0
    assert world.contract_balance() == 0


def test_contradicting_graph_leaves_are_rejected_without_a_game(world: World, model: GraphModel,
                                                                inputs: list[bytes]) -> None:
    """Leaves naming true hashes with other fields than postResult's claim of them: a game could not catch them;
    the challenger rejects them with rejectEntry and the graph evidence (C_m with the output's tensor root and its
    slot proof, 32 bytes whatever the output's size; the intermediate C_2's two children). A leaf committing the
    true output by keccak256 (not by its tensor root, as a graph leaf must) is such a lie too."""
    s = world.system
    operator = world.w3.eth.accounts[1]
    ch = world.challenger()
    rb = s.request_batch_data(world.model_id, inputs, N * FEE)
    m = model.node_count
    traces = [GraphTrace(model, x) for x in inputs]
    true = [EntryLeaf(i, t.final_hash, output_hash(t.output, True), m, int(Outcome.SUCCESS), 0)
            for i, t in enumerate(traces)]
    not_output = b"not the output".ljust(len(traces[0].output), b".")   # outputLength bytes (postEntries checks)
    wrong_output = EntryLeaf(0, traces[0].final_hash, output_hash(not_output, True), m, int(Outcome.SUCCESS), 0)
    intermediate = EntryLeaf(1, traces[1].hash_at(2), keccak256(b""), 2, int(Outcome.FAILURE), 3)
    keccak_output = EntryLeaf(3, traces[3].final_hash, keccak256(traces[3].output), m, int(Outcome.SUCCESS), 0)
    batch_id = s.post_entries(rb, [wrong_output, intermediate, true[2]],
                              [not_output, b"", traces[2].output], sender=operator)
    other = s.post_entries(rb, [keccak_output], sender=operator)   # its output elsewhere: unchecked on-chain
    world.run_until(lambda: sum(e.name == "EntryRejected" for e in s.events_since(world.deploy_block)) == 3, [ch],
                    max_ticks=200)
    rejected = [e for e in s.events_since(world.deploy_block) if e.name == "EntryRejected"]
    assert sorted((e["batchId"], e["index"]) for e in rejected) == [(batch_id, 0), (batch_id, 1), (other, 0)]
    assert not any(e["malformed"] for e in rejected)
    verdicts = {row["result_id"]: row["verdict"] for row in ch.store.results()}
    assert [verdicts[leaf_result_id(batch_id, i)] for i in range(3)] == ["contradicts", "contradicts", "agree"]
    assert verdicts[leaf_result_id(other, 0)] == "contradicts"
    sent = s.w3.eth.get_transaction(next(e for e in rejected if e["batchId"] == other).tx_hash)["input"]
    args = s.batches.decode_function_input(sent)[1]
    assert args["x"]["outputRegion"] == output_hash(traces[3].output, True)   # its tensor root, not its bytes
    assert ch.store.games() == []
    assert s.balance(ch.me) == 3 * (BOND - s.params.burn_share(BOND))
    world.advance_time(WINDOW + 2)
    s.finalize_entries(batch_id)
    s.finalize_entries(other)
    assert s.balance(operator) == FEE + BOND


def test_a_graph_result_batch_commits_tensor_roots_and_its_lie_loses(world: World, model: GraphModel,
                                                                     inputs: list[bytes]) -> None:
    """Single graph requests answered by a batching operator (postBatch) lying on one: every leaf commits its output
    by its tensor root (as an entry leaf does); the challenger rebuilds the leaves from ResultPosted that way,
    disputes the lie with disputeLeaf and wins; a requester's leaf_proof is accepted by leafOutcome with the root."""
    from challenger.batching import batch_leaves
    from minidnn.nodes import tensor_root
    from optimist.client import Client

    s = world.system

    def lie(honest: GraphTrace) -> GraphTrace:
        return lie_graph(honest, "phase1") if honest.input == inputs[LIE] else honest

    liar = world.operator(dishonest=True, name="liar", batch_interval=0)
    liar.lie = lie
    ch = world.challenger()
    rids = [world.request(x, fee=FEE) for x in inputs]
    world.run_until(lambda: all(s.get_request(r).status == RequestStatus.POSTED for r in rids), [liar])
    leaf_ids = [s.get_request(r).result_id for r in rids]
    batch_id = leaf_position(leaf_ids[0])[0]
    assert {leaf_position(x)[0] for x in leaf_ids} == {batch_id}
    posted = s.batch(batch_id)
    truth = [GraphTrace(model, x) for x in inputs]
    leaves = batch_leaves(ch, batch_id, next(e.block for e in s.events_since(world.deploy_block)
                                             if e.name == "BatchPosted"))
    assert [x.output_hash for x in leaves] == [tensor_root(liar.trace(r).output) for r in rids]
    assert batch_root([x.hash() for x in leaves]) == posted.root and s.batch_posted(batch_id)[0] == leaves
    world.run_until(lambda: bool(ch.store.games()) and ch.store.games()[0]["status"] != "active", [liar, ch],
                    advance_when_idle=CLOCK + 1, max_ticks=3000)
    [game] = ch.store.games()
    g = s.game(game["game_id"])
    assert g.status == GameStatus.CHALLENGER_WON and g.result_id == leaf_ids[LIE]
    world.advance_time(WINDOW + 2)
    world.run_until(lambda: s.batch(batch_id).settled, [liar, ch])
    client = Client.from_system(s, from_block=world.deploy_block)
    lp = client.get(rids[0]).leaf_proof()
    assert lp.output == truth[0].output
    assert s.leaf_outcome(lp.batch_id, lp.index, lp.leaf, lp.proof) == \
        (rids[0], int(Outcome.SUCCESS), 0, model.node_count, tensor_root(truth[0].output))
