"""Graph-model outcomes other than Success, played by the real daemons on eth-tester (docs/two-phase.md
§3a): a node that fails (a Gather index out of range: exit code 15) or does not halt within its
descriptor's maxSteps ends the phase-1 trace with a failure hash; the result claims Failure / NoHalt;
the game resolves it, and every liar that tries to exploit it loses: a challenger disputing a true
failure, an operator claiming success for a failing node, an operator claiming a failure for a node
that succeeds."""

from __future__ import annotations

import numpy as np
import pytest
from graph_world import game_over, gather_model
from graph_world import request_status as status

from challenger.graph_games import GraphModel, GraphTrace, LyingGraphTrace, lie_graph
from contracts.system import Outcome, RequestStatus, ResultStatus
from minidnn.format import ERROR_CODES
from minidnn.phase1 import failure_hash
from optimist.world import World

WINDOW, CLOCK = 600, 300
BOND = 10**17
FEE = 10**16
GOOD = np.array([0, 1, 2, 3], "<f4").tobytes()
BAD = np.array([0, 1, 9, 3], "<f4").tobytes()     # Relu(9) = 9: node 2's Gather index is out of range
NO_HALT_BOUND = 1000                               # node 2's registered maxSteps in the NoHalt model


@pytest.fixture(scope="module")
def model() -> GraphModel:
    m = GraphModel(gather_model(), "gather")
    m.commitment   # noqa: B018 -- measured once for the module
    return m


@pytest.fixture(scope="module")
def bounded() -> GraphModel:
    """The same graph registered with node 2 bounded at 1000 steps (its run takes ~2400): every request
    is a NoHalt at node 2; its daemons run every node in the VM (`verify_nodes`) to see it."""
    m = GraphModel(gather_model(), "bounded", verify_nodes=True, max_steps={2: NO_HALT_BOUND})
    m.commitment   # noqa: B018
    return m


def deploy(model: GraphModel, tmp_path) -> World:
    return World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                               db_dir=tmp_path, trace_interval=256)


def test_failing_node_trace(model: GraphModel) -> None:
    """The native run fails at node 2; the VM run of node 2 gives the failure; C_2 is its failure hash."""
    ok, bad = GraphTrace(model, GOOD), GraphTrace(model, BAD)
    assert (ok.outcome, ok.steps, ok.failed) == (Outcome.SUCCESS, 3, None)
    assert (bad.outcome, bad.exit_code, bad.steps, bad.failed) == (Outcome.FAILURE, ERROR_CODES["INDEX"], 2, 2)
    assert bad.output == b"" and bad.output_proof() == [] and len(bad.final_packed) == 32 + 32 + 186
    final = bad.node_run(2).final
    assert final.exited and final.exit_code == ERROR_CODES["INDEX"]
    assert bad.final_packed == bad.hash_at(1) + (2).to_bytes(32, "big") + final.encode()
    assert bad.hash_at(2) == bad.final_hash == failure_hash(bad.hash_at(1), 2, final.hash())
    assert bad.hash_at(3) == bad.hash_at(2)       # later nodes are skipped: any claim past it differs
    with pytest.raises(ValueError, match="every node succeeds"):
        lie_graph(bad, "fail")
    with pytest.raises(ValueError, match="needs a request whose node fails"):
        lie_graph(ok, "nofail")


def test_true_failure_finalizes_and_a_lying_challenger_loses(model: GraphModel, tmp_path) -> None:
    world = deploy(model, tmp_path)
    op, liar = world.operator(), world.challenger(dishonest=True)
    liar.graph_lie = "nofail"                      # believes node 2 succeeds (with zeros)
    rid = world.request(BAD, fee=FEE)
    op.tick()
    res = world.system.result(1)
    assert (res.outcome, res.exit_code, res.steps) == (Outcome.FAILURE, ERROR_CODES["INDEX"], 2)
    world.run_until(lambda: game_over(liar), [op, liar])
    (game,) = liar.store.games()
    assert game["status"] == "defender_won"
    assert liar.store.game_node(game["game_id"])["node"] == 2    # phase 2 on the failing node's run
    world.settle([op, liar])
    out = world.system.outcome(rid)
    assert status(world, rid) == RequestStatus.FINALIZED
    assert (out.outcome, out.exit_code, out.result_id) == (Outcome.FAILURE, ERROR_CODES["INDEX"], 1)
    assert world.contract_balance() == 0


def play_lie(world: World, x: bytes, kind: str):
    """A lying operator answers first; the honest challenger wins; the honest operator's answer finalizes."""
    liar, ch, honest = world.operator(dishonest=True), world.challenger(), world.operator()
    liar.graph_lie = kind
    rid = world.request(x, fee=FEE)
    liar.tick()
    assert status(world, rid) == RequestStatus.POSTED and isinstance(liar._traces[rid], LyingGraphTrace)
    world.run_until(lambda: game_over(ch), [liar, ch], advance_when_idle=CLOCK + 1)
    (game,) = ch.store.games()
    assert game["status"] == "challenger_won"
    assert world.system.result(1).status == ResultStatus.REJECTED
    world.run_until(lambda: status(world, rid) == RequestStatus.POSTED, [honest, liar, ch])
    assert world.system.result(2).operator == honest.me
    world.settle([honest, liar, ch])
    assert status(world, rid) == RequestStatus.FINALIZED and world.system.outcome(rid).result_id == 2
    assert world.contract_balance() == 0
    return ch, game, world.system.outcome(rid)


def test_success_claimed_for_a_failing_node_loses(model: GraphModel, tmp_path) -> None:
    world = deploy(model, tmp_path)
    ch, game, out = play_lie(world, BAD, "nofail")
    assert world.system.result(1).outcome == Outcome.SUCCESS
    assert game["reason"] == "proof" and ch.store.game_node(game["game_id"])["node"] == 2
    assert (out.outcome, out.exit_code) == (Outcome.FAILURE, ERROR_CODES["INDEX"])


def test_failure_claimed_for_a_node_that_succeeds_loses(model: GraphModel, tmp_path) -> None:
    world = deploy(model, tmp_path)
    ch, game, out = play_lie(world, GOOD, "fail")
    first = world.system.result(1)
    assert (first.outcome, first.exit_code, first.steps) == (Outcome.FAILURE, 1, 2)
    assert game["reason"] == "proof" and ch.store.game_node(game["game_id"])["node"] == 2
    assert (out.outcome, out.exit_code, out.steps) == (Outcome.SUCCESS, 0, 3)


def test_no_halt_at_a_node_finalizes_and_liars_lose(bounded: GraphModel, tmp_path) -> None:
    """NoHalt at node 2: the honest operator posts it (its node run still going at maxSteps); a liar
    claiming success (the node 'exited' at maxSteps) loses to the honest challenger."""
    world = deploy(bounded, tmp_path)
    ch, game, out = play_lie(world, GOOD, "nofail")
    assert game["reason"] == "proof"
    assert ch.store.game_node(game["game_id"])["steps"] == NO_HALT_BOUND
    assert (out.outcome, out.exit_code, out.steps) == (Outcome.NO_HALT, 0, 2)


def test_native_challenger_checks_a_claimed_no_halt_in_the_vm(bounded: GraphModel, tmp_path) -> None:
    """A challenger that runs nodes natively only (verify_nodes off) sees the NoHalt claim differ from its
    native trace, runs that node in the VM, and agrees; a lying challenger (node 2's output negated in
    its native trace) loses the game in phase 2 of node 2's NoHalt run."""
    world = deploy(bounded, tmp_path)
    op = world.operator()
    rid = world.request(GOOD, fee=FEE)
    op.tick()
    assert world.system.result(1).outcome == Outcome.NO_HALT
    bounded.verify_nodes = False
    try:
        ch, liar = world.challenger(), world.challenger(dishonest=True)
        liar.graph_lie = "phase1"
        ch.tick()
        (row,) = ch.store.results()
        assert row["verdict"] == "agree" and ch._traces[rid].failed == 2
        world.run_until(lambda: game_over(liar), [op, ch, liar])
    finally:
        bounded.verify_nodes = True
    assert liar.store.games()[0]["status"] == "defender_won"
    world.settle([op, ch, liar])
    assert world.system.outcome(rid).outcome == Outcome.NO_HALT
    assert world.contract_balance() == 0


def test_native_success_of_a_no_halt_node_cannot_be_defended(bounded: GraphModel, tmp_path) -> None:
    """An operator that answers natively only posts Success for the NoHalt request; a verifying challenger
    disputes; at node 2 the operator finds its VM run still going at maxSteps, has no transition to send
    (it says so, the daemon goes on) and loses on its clock; the request reopens."""
    world = deploy(bounded, tmp_path)
    events: list[tuple[str, dict]] = []
    bounded.verify_nodes = False
    try:
        op = world.operator()
        op.listeners.append(lambda event, fields: events.append((event, fields)))
        rid = world.request(GOOD, fee=FEE)
        op.tick()
    finally:
        bounded.verify_nodes = True
    assert world.system.result(1).outcome == Outcome.SUCCESS
    ch = world.challenger()
    world.run_until(lambda: game_over(ch), [op, ch], advance_when_idle=CLOCK + 1)
    (game,) = ch.store.games()
    assert game["status"] == "challenger_won" and game["reason"] == "timeout"
    assert [f["node"] for e, f in events if e == "transition_impossible"][:1] == [2]
    assert world.system.result(1).status == ResultStatus.REJECTED and status(world, rid) == RequestStatus.OPEN
