"""Two-phase games played by the real daemons, tick by tick on eth-tester with the real MIPS.sol
(docs/two-phase.md, challenger/graph_games.py): a graph model (minidnn.examples.digits_mlp, four
nodes) registered by its nodesRoot; honest results finalize without a game; a lie in phase 1, a lie
in phase 2 and a bad transition each lose, and the honest answer finalizes; a killed daemon resumes
a game in phase 2 from its database."""

from __future__ import annotations

import pytest
from graph_world import game_over
from graph_world import request_status as status

from challenger.graph_games import GraphModel, GraphTrace, LyingGraphTrace
from contracts.system import GameStatus, Phase, RequestStatus, ResultStatus
from minidnn.examples import digits_mlp, sample_input
from optimist.world import World

WINDOW, CLOCK = 600, 300
BOND = 10**17
FEE = 10**16


@pytest.fixture(scope="module")
def model() -> GraphModel:
    blob, _ = digits_mlp()
    model = GraphModel(blob, "digits_mlp")
    model.commitment    # noqa: B018 -- measured once for the module (every node runs in the VM)
    return model


@pytest.fixture(scope="module")
def x(model: GraphModel) -> bytes:
    return sample_input(model.blob, seed=3).astype("<f4").tobytes()


@pytest.fixture
def world(model: GraphModel, tmp_path) -> World:
    return World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                               db_dir=tmp_path, trace_interval=1024)


def phase_moves(daemon, gid: int) -> tuple[int, int]:
    """(phase-1 moves, phase-2 moves) of a game, from the daemon's store (NodeEntered splits them)."""
    entered = daemon.store.game_node(gid)
    moves = daemon.store.moves(gid)
    if entered is None:
        return len(moves), 0
    before = [m for m in moves if m["block"] < entered["block"]]
    return len(before), len(moves) - len(before)


def test_honest_graph_result_finalizes_without_a_game(world: World, model: GraphModel, x: bytes) -> None:
    op, ch = world.operator(), world.challenger()
    assert world.system.graph_model(world.model_id).nodes_root == model.nodes_root
    rid = world.request(x, fee=FEE)
    world.run_until(lambda: status(world, rid) == RequestStatus.POSTED, [op, ch])
    res = world.system.result(1)
    honest = GraphTrace(model, x)
    assert res.graph and res.steps == model.node_count and res.final_state_hash == honest.hash_at(model.node_count)
    ch.tick()
    (row,) = ch.store.results()
    assert row["verdict"] == "agree" and bytes(row["output"]) == model.infer(x)
    assert ch.store.games() == []
    world.settle([op, ch])
    assert status(world, rid) == RequestStatus.FINALIZED
    assert world.contract_balance() == 0


def counted(d):
    """`d`, whose tick() is checked to return the number of its transactions that mined in it."""
    tick = d.tick

    def checked_tick() -> int:
        seen = {t.id for t in d.store.txs()}
        sent = tick()
        mined = [t.key for t in d.store.txs() if t.id not in seen and t.status == "mined"]
        assert sent == len(mined), (d.role, sent, mined)
        return sent

    d.tick = checked_tick
    return d


def play_lie(world: World, x: bytes, kind: str):
    liar, ch, honest = (counted(d) for d in (world.operator(dishonest=True), world.challenger(), world.operator()))
    liar.graph_lie = kind
    rid = world.request(x, fee=FEE)
    liar.tick()
    assert status(world, rid) == RequestStatus.POSTED
    assert isinstance(liar._traces[rid], LyingGraphTrace)
    world.run_until(lambda: game_over(ch), [liar, ch], advance_when_idle=CLOCK + 1)
    (game,) = ch.store.games()
    assert world.system.result(1).status == ResultStatus.REJECTED
    world.run_until(lambda: status(world, rid) == RequestStatus.POSTED, [honest, liar, ch])
    assert world.system.result(2).operator == honest.me
    world.settle([honest, liar, ch])
    assert status(world, rid) == RequestStatus.FINALIZED
    assert world.system.outcome(rid).result_id == 2
    assert world.contract_balance() == 0
    return liar, ch, game


def test_lie_in_phase_1_loses_at_the_node_and_the_honest_answer_finalizes(world: World, model: GraphModel,
                                                                         x: bytes) -> None:
    liar, ch, game = play_lie(world, x, "phase1")
    assert game["status"] == "challenger_won" and game["reason"] == "proof"
    gid = game["game_id"]
    lie = liar._traces[1]
    node = ch.store.game_node(gid)
    assert node["node"] == lie.node == 2          # the first node whose C_j is wrong
    p1, p2 = phase_moves(ch, gid)
    assert p1 >= 2 and p2 >= 2 * 10               # node indices, then a real bisection in the node's run
    # the only phase-2 lie is the final state: every posted midpoint of phase 2 was true, and the
    # proof was of the node run's last step
    honest_run = GraphTrace(model, x).node_run(2)
    assert node["steps"] == honest_run.steps
    mids = [m for m in ch.store.moves(gid)[p1:] if m["kind"] == "midpoint"]
    assert len(mids) >= 10
    for m in mids:
        assert bytes(m["mid_hash"]) == honest_run.hash_at(m["mid"])
    assert world.system.game(gid).lo == honest_run.steps - 1


def test_lie_in_phase_2_only_loses_inside_the_node_run(world: World, x: bytes) -> None:
    liar, ch, game = play_lie(world, x, "phase2")
    assert game["status"] == "challenger_won" and game["reason"] == "proof"
    gid = game["game_id"]
    lie = liar._traces[1]
    m = liar.served[world.model_id].node_count
    assert lie.node == m and ch.store.game_node(gid)["node"] == m
    # phase 1: every midpoint was true (the challenger agreed with all of them)
    p1, p2 = phase_moves(ch, gid)
    assert [r["kind"] for r in ch.store.moves(gid)[:p1] if r["kind"] != "midpoint"] == ["agree"] * (p1 // 2)
    # phase 2: the game ended at the liar's first false midpoint's neighbourhood, inside the run
    run = lie.node_run(m)
    assert 0 < run.diverge < run.steps and p2 >= 2 * 10
    assert world.system.game(gid).lo == run.diverge - 1   # the proof was of the step into the first false state


def test_bad_transition_loses_on_the_operators_clock(world: World, x: bytes) -> None:
    liar, ch, game = play_lie(world, x, "transition")
    assert game["status"] == "challenger_won" and game["reason"] == "timeout"
    assert ch.store.game_node(game["game_id"]) is None        # phase 2 never started
    assert not [t for t in liar.store.txs() if t.function == "enterNode"]   # every attempt reverted on the call


def test_lying_challenger_loses_in_phase_2_and_the_result_finalizes(world: World, x: bytes) -> None:
    op, liar = world.operator(), world.challenger(dishonest=True)
    liar.graph_lie = "phase2"
    rid = world.request(x, fee=FEE)
    op.tick()
    world.run_until(lambda: game_over(liar), [op, liar])
    (game,) = liar.store.games()
    assert game["status"] == "defender_won"
    assert liar.store.game_node(game["game_id"])["node"] == op.served[world.model_id].node_count
    world.settle([op, liar])
    assert status(world, rid) == RequestStatus.FINALIZED
    assert world.contract_balance() == 0


def test_two_lying_challengers_are_defended_in_the_same_ticks(world: World, x: bytes) -> None:
    """Two graph games on one result move in step: the operator answers both in one tick, and its tick()
    counts the moves of both games (`counted`)."""
    op = counted(world.operator())
    liars = [counted(world.challenger(dishonest=True)) for _ in range(2)]
    for liar in liars:
        liar.graph_lie = "phase2"
    rid = world.request(x, fee=FEE)
    op.tick()
    sent: list[int] = []
    checked_tick = op.tick
    op.tick = lambda: sent.append(checked_tick()) or sent[-1]
    world.run_until(lambda: all(game_over(liar) for liar in liars), [op, *liars])
    assert [liar.store.games()[0]["status"] for liar in liars] == ["defender_won"] * 2
    assert max(sent) >= 2                                    # some tick moved in both games
    world.settle([op, *liars])
    assert status(world, rid) == RequestStatus.FINALIZED and world.contract_balance() == 0


def test_killed_daemons_resume_a_graph_game_in_phase_2(world: World, model: GraphModel, x: bytes) -> None:
    liar, ch = world.operator(dishonest=True, name="liar"), world.challenger(name="ch")
    rid = world.request(x, fee=FEE)
    liar.tick()
    world.run_until(lambda: bool(ch.store.games()) and ch.store.game_node(ch.store.games()[0]["game_id"])
                    is not None, [liar, ch])
    gid = ch.store.games()[0]["game_id"]
    g = world.system.game(gid)
    assert g.status == GameStatus.ACTIVE and not g.over_nodes and g.phase in (Phase.MIDPOINT, Phase.RESPONSE)
    # kill both: new daemons on the same databases and accounts, with empty memories
    liar_account, ch_account = liar.client.account, ch.client.account
    liar.close(), ch.close()
    liar.store.close(), ch.store.close()
    liar2 = world.operator(dishonest=True, account=liar_account, name="liar")
    ch2 = world.challenger(account=ch_account, name="ch")
    assert ch2.store.game_node(gid) is not None
    world.run_until(lambda: game_over(ch2), [liar2, ch2])
    assert ch2.store.games()[0]["status"] == "challenger_won"
    assert world.system.result(1).status == ResultStatus.REJECTED
    assert status(world, rid) == RequestStatus.OPEN


def test_bench_measures_a_two_phase_dispute(model: GraphModel, x: bytes) -> None:
    from optimist.bench.two_phase import measure_two_phase_dispute

    d = measure_two_phase_dispute(model, x, "eth-tester")
    assert (d.nodes, d.node) == (model.node_count, 2)
    assert d.node_steps == GraphTrace(model, x).node_run(2).steps < d.model_steps
    assert d.phase1_rounds == 2                   # m = 4: [0, 4] -> (C_2 wrong) [0, 2] -> (C_1 right) [1, 2]
    assert d.phase2_rounds >= 10 and d.enter_gas > 21_000 and d.prove_gas > 21_000
    assert d.operator_gas > d.enter_gas and d.challenger_gas > d.prove_gas


def test_background_daemons_run_the_disputed_node_off_their_loop(world: World, x: bytes) -> None:
    liar, ch = world.operator(dishonest=True, background=True), world.challenger(background=True)
    seen: dict[str, list[str]] = {"liar": [], "ch": []}
    liar.listeners.append(lambda event, fields: seen["liar"].append(event))
    ch.listeners.append(lambda event, fields: seen["ch"].append(
        "phase2_response" if event == "responded" and not fields["over_nodes"] else event))
    world.request(x, fee=FEE)
    try:
        world.run_until(lambda: game_over(ch), [liar, ch])
    finally:
        liar.close(), ch.close()
    assert ch.store.games()[0]["status"] == "challenger_won"
    # each side's node run went to its game lane, once; the challenger's started at Transition
    assert seen["liar"].count("node_run_started") == 1 and seen["ch"].count("node_run_started") == 1
    assert seen["ch"].index("node_run_started") < seen["ch"].index("phase2_response")
    assert not liar._node_runs and not ch._node_runs   # every node run was collected
