"""Operator and challenger daemons driven tick by tick on eth-tester with the real MIPS.sol and the toy
program (challenger/data/toy_model.c, ~36k steps, 16 rounds): honest results finalize, lies are
beaten by the one-step proof, lying challengers lose, several challengers share a dispute, restarts
resume from SQLite, clocks run out, bonds end where docs/game-rules.md says."""

from __future__ import annotations

import pytest

from challenger.client import ChainClient
from challenger.models import toy_model
from challenger.store import Store, StoreError
from contracts.system import ContractRevert, GameStatus, GraphModelSpec, RequestStatus, ResultStatus
from mipsvm.memory import keccak256
from optimist.world import World

WINDOW, CLOCK = 600, 300
BOND = 10**17
FEE = 10**16
TOY_INPUT = bytes(range(64))


@pytest.fixture(scope="module")
def model():
    return toy_model(engine="stepper")   # the reference stepper: the toy runs in 0.1 s


@pytest.fixture
def world(model, tmp_path) -> World:
    return World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                               db_dir=tmp_path, trace_interval=4096, engine="stepper")


def request_status(world: World, rid: int) -> RequestStatus:
    return world.system.get_request(rid).status


def game_status(world: World, gid: int) -> GameStatus:
    return world.system.game(gid).status



def test_honest_result_finalizes_without_a_game(world: World, model) -> None:
    op, ch = world.operator(), world.challenger()
    rid = world.request(TOY_INPUT, fee=FEE)
    world.run_until(lambda: request_status(world, rid) == RequestStatus.POSTED, [op, ch])
    ch.tick()
    (result,) = ch.store.results()
    assert result["verdict"] == "agree"
    assert bytes(result["output"]) == model.infer(TOY_INPUT)
    assert ch.store.games() == []
    before = world.w3.eth.get_balance(op.me)
    world.settle([op, ch])
    assert request_status(world, rid) == RequestStatus.FINALIZED
    gained = world.w3.eth.get_balance(op.me) - before
    gas = sum(v["fee"] for v in op.store.gas_summary().values())
    assert gained + gas >= FEE + BOND - sum(v["fee"] for k, v in op.store.gas_summary().items()
                                            if k == "postResult")
    assert world.contract_balance() == 0


def test_dishonest_operator_loses_to_the_one_step_proof(world: World, model) -> None:
    liar, ch, honest = world.operator(dishonest=True), world.challenger(), world.operator()
    rid = world.request(TOY_INPUT, fee=FEE)
    liar.tick()                                   # the liar answers first
    assert request_status(world, rid) == RequestStatus.POSTED
    world.run_until(lambda: bool(ch.store.games()) and ch.store.games()[0]["status"] != "active",
                    [liar, ch])
    (game,) = ch.store.games()
    assert game["status"] == "challenger_won" and game["reason"] == "proof"
    moves = ch.store.moves(game["game_id"])
    assert len(moves) >= 2 * 10                   # a real bisection: ~log2(36k) rounds of two moves
    assert world.system.result(1).status == ResultStatus.REJECTED
    assert request_status(world, rid) == RequestStatus.OPEN
    # the challenger took both bonds; the request is answered again, correctly, and finalizes
    assert ch.store.gas_summary()["withdraw"]["count"] == 1
    world.run_until(lambda: request_status(world, rid) == RequestStatus.POSTED, [honest, liar, ch])
    assert world.system.result(2).operator == honest.me
    world.settle([honest, liar, ch])
    assert request_status(world, rid) == RequestStatus.FINALIZED
    assert world.contract_balance() == 0
    assert liar.store.request(rid)["posts"] == 1   # the liar did not post twice


def test_callback_consumes_only_the_honest_output(world: World, model) -> None:
    """requestWithCallback -> a lying operator posts first -> the challenger wins -> an honest operator
    posts -> its daemon finalizes with the output -> the consumer got the honest bytes, once."""
    from contracts.compile import compile_contracts
    from contracts.system import deploy_contract
    from tests.contracts_world import FIXTURES

    consumer = deploy_contract(world.w3, compile_contracts(FIXTURES)["RecordingConsumer"])
    liar, ch, honest = world.operator(dishonest=True), world.challenger(), world.operator()
    rid = world.system.request(world.model_id, TOY_INPUT, fee=FEE, callback=consumer.address, callback_gas=300_000)
    liar.tick()
    lie = world.system.result(1)
    assert lie.output_hash != keccak256(model.infer(TOY_INPUT))
    world.run_until(lambda: world.system.result(1).status == ResultStatus.REJECTED, [liar, ch])
    world.run_until(lambda: request_status(world, rid) == RequestStatus.POSTED, [honest, liar, ch])
    assert world.system.result(2).operator == honest.me
    world.settle([honest, liar, ch])
    assert request_status(world, rid) == RequestStatus.FINALIZED
    f = consumer.functions
    assert (f.calls().call(), f.lastRequestId().call(), f.lastOutcome().call()) == (1, rid, 0)
    assert f.lastOutput().call() == model.infer(TOY_INPUT)
    (ev,) = [e for e in world.system.events_since(world.deploy_block) if e.name == "CallbackCalled"]
    assert ev["ok"] is True
    assert [t.function for t in honest.store.txs() if t.function.startswith("finalize")] == ["finalizeWithOutput"]
    assert world.contract_balance() == 0


@pytest.mark.slow
def test_lying_challenger_loses_its_bond(world: World) -> None:
    op, liar = world.operator(), world.challenger(dishonest=True)
    rid = world.request(TOY_INPUT, fee=FEE)
    op.tick()
    world.run_until(lambda: bool(liar.store.games()) and liar.store.games()[0]["status"] != "active",
                    [op, liar])
    (game,) = liar.store.games()
    assert game["status"] == "defender_won"
    assert world.system.result(1).status == ResultStatus.PENDING
    world.settle([op, liar])
    assert request_status(world, rid) == RequestStatus.FINALIZED
    assert world.contract_balance() == 0
    withdrawn = [t for t in op.store.txs() if t.function == "withdraw"]
    assert withdrawn, "the operator withdrew fee + bond + the challenger's bond"


@pytest.mark.slow
def test_several_challengers_one_wins_the_others_are_refunded(world: World) -> None:
    liar = world.operator(dishonest=True)
    challengers = [world.challenger() for _ in range(3)]
    world.request(TOY_INPUT, fee=FEE)
    liar.tick()
    daemons = [liar, *challengers]
    world.run_until(lambda: all(c.store.games() and c.store.games()[0]["status"] != "active"
                                for c in challengers), daemons)
    statuses = sorted(c.store.games()[0]["status"] for c in challengers)
    assert statuses == ["cancelled", "cancelled", "challenger_won"]
    for _ in range(3):
        for d in daemons:
            d.tick()
    assert world.contract_balance() == FEE   # the reopened request's fee waits for an honest answer
    for c in challengers:
        assert world.system.balance(c.me) == 0


@pytest.mark.slow   # the multi-process kill/restart test on anvil covers this in the default run
def test_challenger_restart_resumes_the_game(world: World, tmp_path) -> None:
    liar = world.operator(dishonest=True)
    account = world.fund()
    ch = world.challenger(account=account, name="restart")
    world.request(TOY_INPUT, fee=FEE)
    liar.tick()
    for _ in range(5):
        ch.tick()
        liar.tick()
    gid = ch.store.games()[0]["game_id"]
    moves_before = len(world.system.events_since(world.deploy_block))
    ch.store.close()                               # the process dies ...
    again = world.challenger(account=account, name="restart")   # ... and restarts on the same database
    assert again.store.games()[0]["game_id"] == gid
    world.run_until(lambda: game_status(world, gid) != GameStatus.ACTIVE, [liar, again])
    assert game_status(world, gid) == GameStatus.CHALLENGER_WON
    assert len(world.system.events_since(world.deploy_block)) > moves_before
    keys = [t.key for t in again.store.txs()]
    assert len(keys) == len(set(keys))


def test_signed_but_not_broadcast_is_sent_once_after_a_crash(world: World, tmp_path) -> None:
    account = world.fund()
    store = Store(tmp_path / "crash.db")
    client = ChainClient(world.system, account, store)

    def crash(record):  # dies right after the write-ahead record
        raise KeyboardInterrupt

    client._broadcast = crash  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        client.send("request:once", "request", world.model_id, TOY_INPUT, value=FEE)
    assert store.tx("request:once").status == "signed"
    store.close()
    store = Store(tmp_path / "crash.db")
    client = ChainClient(world.system, account, store)
    (outcome,) = client.resume_pending()
    again = client.send("request:once", "request", world.model_id, TOY_INPUT, value=FEE)
    assert again.tx_hash == outcome.tx_hash
    assert world.w3.eth.get_transaction_count(account.address) == 1
    assert world.system.counts()[1] == 1


def test_defender_that_stops_answering_loses_on_time(world: World) -> None:
    liar, ch = world.operator(dishonest=True), world.challenger()
    world.request(TOY_INPUT, fee=FEE)
    liar.tick()
    ch.tick()        # opens the game
    ch.tick()        # sees it opened
    gid = ch.store.games()[0]["game_id"]
    liar.tick()      # first midpoint
    ch.tick()        # response
    assert not ch.tick()                           # the defender's clock runs, nothing to do yet
    world.advance_time(CLOCK + 2)
    ch.tick()        # claims the timeout
    ch.tick()        # sees the game resolved
    g = world.system.game(gid)
    assert g.status == GameStatus.CHALLENGER_WON
    assert ch.store.game(gid)["reason"] == "timeout"


def test_defender_moves_just_before_its_clock_runs_out(world: World) -> None:
    op, liar = world.operator(), world.challenger(dishonest=True)
    world.request(TOY_INPUT, fee=FEE)
    op.tick()
    liar.tick()
    liar.tick()
    gid = liar.store.games()[0]["game_id"]
    world.advance_time(CLOCK - 30)                      # 30 s left on the defender's clock
    assert op.tick() >= 1                          # still in time: it posts its midpoint
    g = world.system.game(gid)
    assert g.status == GameStatus.ACTIVE and 0 < g.defender_clock <= 30


def test_revert_is_named(world: World) -> None:
    op = world.operator()
    rid = world.request(TOY_INPUT, fee=FEE)
    op.tick()
    with pytest.raises(ContractRevert, match="ChallengeWindowOpen"):
        op.client.send("finalize:early", "finalize", world.system.get_request(rid).result_id)
    with pytest.raises(ContractRevert, match="UnknownResult"):
        op.client.send("open:none", "openGame", 99, value=BOND)


def test_one_database_per_daemon(tmp_path) -> None:
    first = Store(tmp_path / "d.db")
    with pytest.raises(StoreError, match="in use by another daemon"):
        Store(tmp_path / "d.db")
    first.close()
    Store(tmp_path / "d.db").close()


def test_busy_operator_skips_cheap_requests_and_defends_in_the_background(world: World) -> None:
    """Zero-fee spam is left alone (min fee), the paid request is answered from a background run, and
    the operator's game against a lying challenger is played from its game lane to a win."""
    op = world.operator(background=True, min_fee=FEE, max_queue=1)
    liar = world.challenger(dishonest=True)
    skipped: list[int] = []
    op.listeners.append(lambda event, f: skipped.append(f["request"]) if event == "fee_too_low" else None)
    spam = [world.request(bytes([i]) * 64, fee=0) for i in range(5)]
    paid = world.request(TOY_INPUT, fee=FEE)
    try:
        world.run_until(lambda: request_status(world, paid) == RequestStatus.POSTED, [op, liar])
        world.run_until(lambda: bool(liar.store.games()) and liar.store.games()[0]["status"] != "active",
                        [op, liar])
        op.tick()                                 # reads the GameResolved event
    finally:
        op.close()
    (game,) = liar.store.games()
    assert game["status"] == "defender_won"
    won = op.metrics.registry.get_sample_value("optimist_games_ended_total",
                                               {"role": "operator", "outcome": "won", "reason": game["reason"]})
    assert won == 1
    assert sorted(skipped) == spam
    assert all(request_status(world, rid) == RequestStatus.OPEN for rid in spam)


def test_lie_seen_after_the_window_is_not_disputed_and_says_why(world: World) -> None:
    """A challenger that first looks after the window closed cannot open a game: it records the verdict
    'disagree-too-late' and logs window_missed (the result then finalizes, as the rules say)."""
    liar, ch = world.operator(dishonest=True), world.challenger()
    events: list[tuple[str, dict]] = []
    ch.listeners.append(lambda event, fields: events.append((event, fields)))
    world.request(TOY_INPUT, fee=FEE)
    liar.tick()
    world.advance_time(WINDOW + 2)
    for _ in range(3):
        ch.tick()
    (result,) = ch.store.results()
    assert result["verdict"] == "disagree-too-late"
    assert ("window_missed", {"result": result["result_id"]}) in events
    assert ch.store.games() == []


def test_defender_midpoints_are_the_contracts_mid_steps(world: World) -> None:
    """Every midpoint the operator posts (and logs) is lo + (hi - lo) // 2 of the game at that moment."""
    op, liar = world.operator(), world.challenger(dishonest=True)
    posted: list[dict] = []
    op.listeners.append(lambda event, fields: posted.append(fields) if event == "midpoint" else None)
    world.request(TOY_INPUT, fee=FEE)
    op.tick()
    world.run_until(lambda: bool(liar.store.games()) and liar.store.games()[0]["status"] != "active", [op, liar])
    assert len(posted) >= 10
    assert all(f["mid"] == f["lo"] + (f["hi"] - f["lo"]) // 2 for f in posted)
    chain_mids = [e["mid"] for e in world.system.events_since(world.deploy_block)
                  if e.name == "MoveMade" and e["kind"] == 0]
    assert [f["mid"] for f in posted] == chain_mids


def test_graph_models_are_skipped(world: World, model) -> None:
    """A graph model on the chain (two-phase games, not served by the daemons yet) and a request for it
    leave the daemons serving the program model as before."""
    op, ch = world.operator(), world.challenger()
    graph_id = world.system.register_graph_model(GraphModelSpec(b"\x01" * 32, 2, 64, 16))
    world.system.request(graph_id, bytes(64), fee=FEE)
    rid = world.request(TOY_INPUT, fee=FEE)
    world.run_until(lambda: request_status(world, rid) == RequestStatus.POSTED, [op, ch])
    assert graph_id not in op.served and graph_id not in ch.served
    assert request_status(world, rid - 1) == RequestStatus.OPEN
    world.settle([op, ch])
    assert request_status(world, rid) == RequestStatus.FINALIZED
