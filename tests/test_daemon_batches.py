"""Batched results with the real daemons (eth-tester, real MIPS.sol, the toy program; docs/game-rules.md §3a).

A batching operator (`batch_interval=0`: whatever is ready each tick) posts 20 results in one postBatch, two of
them lies; the honest challenger disputes exactly those two leaves (disputeLeaf with their inclusion proofs)
and wins both games by the one-step proof; the other 18 finalize in one finalizeBatch at the window; an honest
batching operator answers the two reopened requests, and they finalize too. Nothing stays in the contracts.
"""

from __future__ import annotations

import struct

import pytest

from challenger.models import LyingTrace, Trace, toy_model
from contracts.batches import Leaf, is_leaf, leaf_position, leaf_proof
from contracts.system import GameStatus, RequestStatus
from mipsvm.memory import keccak256
from optimist.client import Client, ClientError
from optimist.commands.request import request_report
from optimist.world import World

WINDOW, CLOCK = 600, 300
BOND = 10**17
FEE = 10**16
MAX_STEPS = 60_000


def toy_input(word: int) -> bytes:
    return struct.pack("<16I", *range(1, 16), word)


@pytest.fixture(scope="module")
def model():
    return toy_model(engine="fast")


@pytest.fixture
def world(model, tmp_path) -> World:
    return World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                               db_dir=tmp_path, trace_interval=4096, engine="fast", max_steps=MAX_STEPS)


def test_a_batch_of_20_with_two_lies(world: World) -> None:
    play_batch_with_lies(world, 20, (4, 13))


def play_batch_with_lies(world: World, n: int, lies: tuple[int, ...]) -> None:
    """n requests answered in one batch by an operator lying on the requests at `lies`: the honest challenger
    disputes exactly those leaves and wins; the rest finalize in one finalizeBatch at the window; an honest
    operator answers the reopened requests; every outcome is the true run's and no wei stays behind."""
    N, LIES = n, lies
    lying_inputs = {toy_input(100 + i) for i in LIES}

    def lie(honest: Trace) -> LyingTrace:   # the liar's belief: the truth except on two inputs
        return LyingTrace(honest) if honest.input in lying_inputs else LyingTrace(honest, edit=lambda st: None)

    liar = world.operator(dishonest=True, name="liar", batch_interval=0)
    liar.lie = lie
    ch = world.challenger()
    rids = [world.request(toy_input(100 + i), fee=FEE) for i in range(N)]
    world.run_until(lambda: all(world.system.get_request(r).status == RequestStatus.POSTED for r in rids), [liar])
    posts = [e for e in world.system.events_since(world.deploy_block) if e.name in ("BatchPosted", "ResultPosted")]
    assert [e.name for e in posts].count("BatchPosted") == 1               # one transaction for all 20
    leaf_ids = [world.system.get_request(r).result_id for r in rids]
    assert all(is_leaf(x) for x in leaf_ids) and [leaf_position(x)[1] for x in leaf_ids] == list(range(N))

    # the challenger checks all 20 and disputes the two lies (and nothing else) while the window is open
    world.run_until(lambda: sum(g["status"] != "active" for g in ch.store.games()) == len(LIES), [liar, ch],
                    max_ticks=3000)
    games = ch.store.games()
    assert sorted(world.system.game(g["game_id"]).result_id for g in games) == [leaf_ids[i] for i in LIES]
    assert all(world.system.game(g["game_id"]).status == GameStatus.CHALLENGER_WON for g in games)
    verdicts = {row["result_id"]: row["verdict"] for row in ch.store.results()}
    assert [verdicts[x] for x in leaf_ids] == ["disagree" if i in LIES else "agree" for i in range(N)]
    for i, rid in enumerate(rids):
        assert world.system.get_request(rid).status == (RequestStatus.OPEN if i in LIES else RequestStatus.POSTED)

    # at the window the other 18 finalize in one call; the two reopened requests go to an honest operator
    honest = world.operator(name="honest", batch_interval=0)
    world.advance_time(WINDOW + 2)
    world.run_until(lambda: all(world.system.get_request(r).status == RequestStatus.FINALIZED
                                for i, r in enumerate(rids) if i not in LIES), [liar, honest, ch])
    finals = [e for e in world.system.events_since(world.deploy_block) if e.name == "BatchFinalized"]
    assert [(e["finalized"], e["fees"]) for e in finals] == [(N - len(LIES), (N - len(LIES)) * FEE)]
    world.run_until(lambda: all(world.system.get_request(rids[i]).status == RequestStatus.POSTED for i in LIES),
                    [liar, honest, ch], advance_when_idle=2)
    world.settle([liar, honest, ch], max_ticks=40)
    assert all(world.system.get_request(r).status == RequestStatus.FINALIZED for r in rids)
    assert len(ch.store.games()) == len(LIES)   # the honest answers were checked and left alone
    for rid in rids:                     # every outcome is the true run's
        assert world.system.outcome(rid).output_hash == keccak256(honest.honest_trace(rid).output)
    assert world.system.balance(liar.me) == world.system.balance(honest.me) == world.system.balance(ch.me) == 0
    assert world.contract_balance() == 0
    # what a requester reads: an undisputed leaf's outcome and output (its event), a re-posted request's (a result)
    client = Client.from_system(world.system, from_block=world.deploy_block)
    for rid in (rids[0], rids[LIES[0]]):
        got = client.get(rid).result()
        want = honest.honest_trace(rid)
        assert (got.output, got.steps, got.outcome) == (want.output, want.steps, want.outcome)
        report = request_report(world.system, world.deploy_block, rid)
        final = [r for r in report["results"] if r["status"] == "FINALIZED"]
        assert [(r["steps"], r["output_hex"]) for r in final] == [(want.steps, "0x" + want.output.hex())]
    assert got.operator == honest.me and client.get(rids[0]).result().operator == liar.me
    # what a consumer contract pulls on-chain: the leaf, its proof and output, checked by leafOutcome
    for rid in (rids[0], rids[LIES[0]]):
        lp = client.get(rid).leaf_proof()
        want = honest.honest_trace(rid)
        assert lp.output == want.output and world.system.leaf_outcome(lp.batch_id, lp.index, lp.leaf, lp.proof) == \
            (rid, int(want.outcome), want.exit_code, want.steps, keccak256(want.output))
    other = world.request(toy_input(999), fee=FEE)
    with pytest.raises(ClientError, match="no result yet"):
        client.get(other).leaf_proof()


def test_a_leaf_someone_else_disputed_gets_the_challengers_own_game(world: World) -> None:
    """Another account disputed the lying leaf first and never plays: the honest challenger opens its own game on
    the leaf with disputeLeaf and its proof (Optimist keeps no final state hash for a leaf: openGame reverts
    LeafResult) and wins it; the idle game is cancelled with its bond and share back."""
    liar = world.operator(dishonest=True, name="liar", batch_interval=0)
    liar.lie = lambda honest: LyingTrace(honest) if honest.input == toy_input(201) else \
        LyingTrace(honest, edit=lambda st: None)
    s = world.system
    rids = [world.request(toy_input(200 + i), fee=FEE) for i in range(3)]
    world.run_until(lambda: all(s.get_request(r).status == RequestStatus.POSTED for r in rids), [liar])
    leaf_id = s.get_request(rids[1]).result_id
    batch_id, index = leaf_position(leaf_id)
    posted = [e for e in s.events_since(world.deploy_block) if e.name == "ResultPosted" and is_leaf(e["resultId"])
              and leaf_position(e["resultId"])[0] == batch_id]
    leaves = [Leaf.from_posted(e.args, graph=False) for e in sorted(posted, key=lambda e: e["resultId"])]
    other = world.w3.eth.accounts[5]
    idle = s.dispute_leaf(batch_id, index, leaves[index], leaf_proof([x.hash() for x in leaves], index), sender=other)
    ch = world.challenger()
    world.run_until(lambda: any(g["status"] != "active" for g in ch.store.games()), [liar, ch], max_ticks=3000)
    (game,) = ch.store.games()
    g = s.game(game["game_id"])
    assert (g.result_id, g.status) == (leaf_id, GameStatus.CHALLENGER_WON) and game["game_id"] != idle
    assert s.get_request(rids[1]).status == RequestStatus.OPEN
    s.cancel_game(idle, sender=other)
    assert s.game(idle).status == GameStatus.CANCELLED
