"""The daemons' decisions one by one, on eth-tester with the real MIPS.sol and the toy program: which
transaction each decision sends (function, key, arguments the contract checks), what it logs (event
name and fields), what it records in the store, what `tick()` reports, and the exact time boundaries
of timeouts and finalization. Complements test_daemon_inprocess.py (who wins, where the money goes)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from challenger.challenger_daemon import RACES as CHALLENGER_RACES
from challenger.challenger_daemon import Challenger
from challenger.client import ChainClient, RpcUnavailable
from challenger.daemon import Daemon
from challenger.models import ModelError, Trace, toy_model
from challenger.operator_daemon import RACES as OPERATOR_RACES
from challenger.operator_daemon import Operator
from contracts.system import GameStatus, Phase, RequestStatus, ResultStatus
from mipsvm.memory import keccak256
from optimist.world import World

WINDOW, CLOCK = 600, 300
BOND, CH_BOND = 10**17, 3 * 10**16
FEE = 10**16
TOY_INPUT = bytes(range(64))
Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def model():
    return toy_model(engine="stepper")


@pytest.fixture
def world(model, tmp_path) -> World:
    return World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=CH_BOND,
                               db_dir=tmp_path, trace_interval=4096, engine="stepper")


class Wrapped:
    """The toy model with its native runtime replaced (`infer`) or broken (`initial_state` raising)."""

    def __init__(self, base: Any, *, infer: Callable[[bytes], bytes] | None = None,
                 broken: str | None = None) -> None:
        self.base, self._infer, self.broken = base, infer, broken
        self.name = base.name

    @property
    def image(self) -> Any:
        return self.base.image

    def initial_state(self, input_bytes: bytes) -> Any:
        if self.broken is not None:
            raise ModelError(self.broken)
        return self.base.initial_state(input_bytes)

    def infer(self, input_bytes: bytes) -> bytes:
        return (self._infer or self.base.infer)(input_bytes)


def daemon(world: World, cls: type[Daemon], models: Sequence[Any], name: str, *, attempts: int = 8,
           **options: Any) -> Any:
    """A daemon on a new funded account (`attempts`: its client's tries per RPC read)."""
    client = ChainClient(world.system, world.fund(), world.store(name), attempts=attempts)
    return cls(client, list(models), start_block=world.deploy_block, trace_interval=world.trace_interval,
               engine=world.engine, **options)


def record(d: Daemon) -> Events:
    events: Events = []
    d.listeners.append(lambda event, fields: events.append((event, dict(fields))))
    return events


def of(events: Events, name: str) -> list[dict[str, Any]]:
    return [f for e, f in events if e == name]


def tick(d: Daemon) -> int:
    """d.tick(), checking that the count it returns is the number of its transactions that mined."""
    seen = {t.id for t in d.store.txs()}
    sent = d.tick()
    mined = [t.key for t in d.store.txs() if t.id not in seen and t.status == "mined"]
    assert sent == len(mined), (sent, mined)
    return sent


def play(done: Callable[[], bool], daemons: Sequence[Daemon], max_ticks: int = 300) -> None:
    for _ in range(max_ticks):
        if done():
            return
        if not sum(tick(d) for d in daemons) and not done():
            raise AssertionError("no daemon acted and the condition does not hold")
    raise AssertionError("condition not reached")


def keys(d: Daemon, function: str) -> list[str]:
    return [t.key for t in d.store.txs() if t.function == function and t.status == "mined"]


def moves(world: World) -> list[Any]:
    return [e for e in world.system.events_since(world.deploy_block) if e.name == "MoveMade"]


def set_clock(world: World, at: int) -> None:
    """Mine a block at time `at` - 1, so that a daemon's `now` (latest + 1) is exactly `at`."""
    for _ in range(3):              # eth-tester's time travel to t mines its block at t - 1
        gap = at - 1 - world.now()
        if gap > 0:
            world.advance_time(gap + 1)
    assert world.now() == at - 1


def unserved_model(world: World, model) -> int:
    """The toy image registered again with another entry point: no daemon here serves it."""
    return world.system.register_model(dataclasses.replace(model.image, entry=model.image.entry + 4))


def gauge(d: Daemon, name: str) -> float | None:
    return d.metrics.registry.get_sample_value(name, {"role": d.role})


# ------------------------------------------------------------------------------------ the race lists

def test_race_lists_name_errors_the_contract_has() -> None:
    """A misspelt name would turn a lost race into a 'tx_reverted' error line."""
    from pathlib import Path

    source = (Path(__file__).resolve().parents[1] / "contracts" / "src" / "Optimist.sol").read_text()
    for name in {*OPERATOR_RACES, *CHALLENGER_RACES}:
        assert f"error {name}(" in source, name


# ------------------------------------------------------------------------------------ operator: requests

def test_operator_posts_best_fee_first_and_logs_each_post(world: World, model) -> None:
    op = world.operator(min_fee=FEE)
    events = record(op)
    unserved = world.system.request(unserved_model(world, model), TOY_INPUT, fee=9 * FEE)
    low = world.request(TOY_INPUT, fee=FEE)              # exactly the minimum: answered
    high = world.request(bytes(64), fee=3 * FEE)
    tie = world.request(bytes(range(1, 65)), fee=3 * FEE)
    cheap = world.request(TOY_INPUT, fee=FEE - 1)
    assert tick(op) == 3
    order = [high, tie, low]
    assert keys(op, "postResult") == [f"post:{rid}:0" for rid in order]
    traces = {rid: Trace(model, bytes(op.store.request(rid)["input"]), interval=4096, engine="stepper")
              for rid in order}
    assert of(events, "posted") == [
        {"request": rid, "steps": traces[rid].steps, "outcome": "SUCCESS", "exit_code": 0,
         "output": keccak256(traces[rid].output), "dishonest": False} for rid in order]
    assert of(events, "fee_too_low") == [{"request": cheap, "fee": FEE - 1, "min_fee": FEE}]
    for rid in order:
        res = world.system.result(world.system.get_request(rid).result_id)
        assert (res.request_id, res.operator, res.steps, res.final_state_hash) == \
            (rid, op.me, traces[rid].steps, traces[rid].final_hash)
        row = op.store.request(rid)
        assert (row["status"], row["posts"]) == ("posted", 1)
    for rid in (unserved, cheap):
        assert op.store.request(rid)["status"] == "open"
    assert tick(op) == 0                                 # reads its three results back
    assert gauge(op, "optimist_bonds_at_stake_wei") == 3 * BOND
    assert len(of(events, "fee_too_low")) == 1           # said once per request, not every tick


def test_operator_takes_the_chains_word_for_requests_others_answered(world: World) -> None:
    """Its store says open (events not read yet); the chain says finalized / posted / cancelled."""
    op, rival = world.operator(), world.operator(min_fee=2 * FEE)
    events = record(op)
    finalized = world.request(TOY_INPUT, fee=3 * FEE)
    posted = world.request(TOY_INPUT, fee=2 * FEE)
    cancelled = world.system.request(world.model_id, TOY_INPUT, fee=FEE, deadline=world.now() + 50)
    op.ingest()
    assert tick(rival) == 2                              # answers the first two
    world.advance_time(WINDOW + 2)
    world.system.finalize(world.system.get_request(finalized).result_id)
    world.system.cancel_request(cancelled)
    op.client.begin_tick()                               # a new tick reads the new head, no events yet
    assert op.answer_requests() == 0
    assert [op.store.request(r)["status"] for r in (finalized, posted, cancelled)] == \
        ["finalized", "posted", "cancelled"]
    assert op.store.txs() == [] and of(events, "posted") == []


def test_operator_never_posts_what_its_native_runtime_disagrees_with(world: World, model) -> None:
    liar_native = Wrapped(model, infer=lambda data: bytes(b ^ 1 for b in model.infer(data)))
    op = daemon(world, Operator, [liar_native], "native")
    events = record(op)
    first, second = world.request(TOY_INPUT, fee=2 * FEE), world.request(bytes(64), fee=FEE)
    assert tick(op) == 0
    assert of(events, "native_vm_mismatch") == [{"request": first}, {"request": second}]
    for rid in (first, second):
        row = op.store.request(rid)
        assert (row["status"], row["note"], row["posts"]) == ("failed", "native output != VM output", 0)
    assert op.store.txs() == []
    assert world.system.get_request(first).status == RequestStatus.OPEN


def test_operator_whose_model_cannot_run_marks_the_request_failed(world: World, model) -> None:
    op = daemon(world, Operator, [Wrapped(model, broken="model file gone")], "broken")
    events = record(op)
    first, second = world.request(TOY_INPUT, fee=2 * FEE), world.request(bytes(64), fee=FEE)
    assert tick(op) == 0
    assert of(events, "request_failed") == [{"request": first, "error": "model file gone"},
                                            {"request": second, "error": "model file gone"}]
    assert [(op.store.request(r)["status"], op.store.request(r)["note"]) for r in (first, second)] == \
        [("failed", "model file gone")] * 2
    assert op.store.txs() == []


def test_operator_barred_after_its_lie_was_rejected_says_so(world: World) -> None:
    """The liar's account, restarted honest: the contract refuses its post (a race the daemon expects),
    and the request is recorded as barred for it."""
    account = world.fund()
    liar = world.operator(dishonest=True, account=account, name="liar")
    ch = world.challenger()
    rid = world.request(TOY_INPUT, fee=FEE)
    assert tick(liar) == 1
    play(lambda: world.system.result(1).status == ResultStatus.REJECTED, [liar, ch])
    assert liar.store.result(1)["status"] == "pending"                  # the rejection not read yet
    liar.client.begin_tick()                                             # the head now, no events yet
    assert liar.finalize_results() == 0 and liar.store.result(1)["status"] == "rejected"
    assert liar.tick() == 0 and liar.store.request(rid)["posts"] == 1     # a liar lies once
    world.advance_time(2)                                                # past the reopening delay
    again = world.operator(account=account, name="again")
    events = record(again)
    assert tick(again) == 0
    assert of(events, "race_lost") == [{"key": f"post:{rid}:0", "error": "OperatorBarred"}]
    row = again.store.request(rid)
    assert (row["status"], row["note"], row["posts"]) == ("barred", "a result of ours was rejected here", 0)
    assert of(events, "posted") == []


# ------------------------------------------------------------------------------------ games, move by move

def check_moves(world: World, gid: int, defender: Events, challenger: Events, op: Daemon, ch: Daemon) -> None:
    """Every midpoint / response the daemons logged and keyed is the move the chain recorded."""
    chain = [m for m in moves(world) if m["gameId"] == gid]
    mids = [m for m in chain if m["kind"] == 0]
    answers = [m for m in chain if m["kind"] != 0]
    logged_mids = [f for f in of(defender, "midpoint") if f["game"] == gid]
    assert [f["mid"] for f in logged_mids] == [m["mid"] for m in mids]
    assert all(f["mid"] == f["lo"] + (f["hi"] - f["lo"]) // 2 for f in logged_mids)
    assert [k for k in keys(op, "postMidpoint") if k.startswith(f"midpoint:{gid}:")] == \
        [f"midpoint:{gid}:{f['lo']}:{f['hi']}" for f in logged_mids]
    responded = of(challenger, "responded")
    assert [(f["game"], f["mid"], f["agree"]) for f in responded] == \
        [(gid, m["mid"], m["kind"] == 1) for m in answers]
    assert [(f["lo"], f["hi"]) for f in responded] == [(f["lo"], f["hi"]) for f in logged_mids[:len(responded)]]
    assert keys(ch, "respond") == [f"respond:{gid}:{f['lo']}:{f['hi']}" for f in responded]


def test_honest_defender_plays_and_proves_against_a_lying_challenger(world: World) -> None:
    op, liar, bystander = world.operator(), world.challenger(dishonest=True), world.operator()
    ev_op, ev_ch = record(op), record(liar)
    rid = world.request(TOY_INPUT, fee=FEE)
    assert tick(op) == 1
    play(lambda: bool(liar.store.games()), [liar])
    (game,) = liar.store.games()
    gid = game["game_id"]
    assert gauge(liar, "optimist_bonds_at_stake_wei") == CH_BOND
    play(lambda: world.system.game(gid).status != GameStatus.ACTIVE, [op, liar, bystander])
    tick(op)
    tick(liar)
    g = world.system.game(gid)
    assert g.status == GameStatus.DEFENDER_WON
    assert (op.store.game(gid)["role"], liar.store.game(gid)["role"]) == ("defender", "challenger")
    assert bystander.store.games() == []                  # not its result: not its game
    check_moves(world, gid, ev_op, ev_ch, op, liar)
    assert of(ev_op, "proved") == [{"game": gid, "step": g.lo}]
    assert keys(op, "prove") == [f"prove:{gid}"] and keys(liar, "prove") == []
    assert (op.store.game(gid)["status"], op.store.game(gid)["reason"]) == ("defender_won", "proof")
    assert of(ev_op, "timeout_claimed") == [] and of(ev_ch, "timeout_claimed") == []
    assert rid not in liar._traces and rid not in liar._honest      # a lost game: the result stands, runs dropped


def test_defender_waiting_for_one_run_still_defends_its_other_games(world: World,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A game whose run is not ready (being recomputed, e.g. after a restart) waits for a later tick; the
    operator's other games are defended in this one, whichever of them comes first."""
    op, liar = world.operator(), world.challenger(dishonest=True)
    requests = [world.request(TOY_INPUT, fee=FEE), world.request(TOY_INPUT, fee=FEE)]
    play(lambda: all(world.system.get_request(r).status == RequestStatus.POSTED for r in requests), [op])
    play(lambda: len(liar.store.games()) == 2, [liar])
    game_of = {world.system.result(world.system.game(row["game_id"]).result_id).request_id: row["game_id"]
               for row in liar.store.games()}
    ready = op.ready_trace
    for waiting, other in (requests, requests[::-1]):
        monkeypatch.setattr(op, "ready_trace", lambda rid, *, urgent, w=waiting: None if rid == w else
                            ready(rid, urgent=urgent))
        assert world.system.game(game_of[other]).phase == Phase.MIDPOINT
        assert tick(op) == 1
        assert world.system.game(game_of[other]).phase == Phase.RESPONSE
        assert keys(op, "postMidpoint")[-1].startswith(f"midpoint:{game_of[other]}:")


def test_honest_challenger_disputes_plays_and_proves_a_lie(world: World) -> None:
    """... while a second challenger, whose game the liar also defends, cancels it once the first game
    rejected the result, and a third one that had not read the rejection yet takes the chain's word."""
    liar, ch, second, late = world.operator(dishonest=True), world.challenger(), world.challenger(), \
        world.challenger()
    ev_op, ev_ch, ev_second = record(liar), record(ch), record(second)
    rid = world.request(TOY_INPUT, fee=FEE)
    assert tick(liar) == 1
    assert tick(second) == 1
    late.ingest()
    assert tick(ch) == 1                                   # checks the result and opens a game at once
    res = world.system.result(1)
    assert of(ev_ch, "checked") == [{"result": 1, "request": rid, "verdict": "disagree"}]
    assert of(ev_ch, "game_opened") == [{"result": 1, "request": rid, "steps": res.steps}]
    assert keys(ch, "openGame") == ["open:1"]
    gid = world.system.game_of(1, ch.me)
    assert world.system.game(gid).challenger == ch.me
    assert tick(ch) == 0                                   # its game is open: no second one
    assert ch.store.result(1)["verdict"] == "disagree"
    play(lambda: world.system.game(gid).status != GameStatus.ACTIVE, [liar, ch])
    tick(ch)
    g = world.system.game(gid)
    assert g.status == GameStatus.CHALLENGER_WON
    check_moves(world, gid, ev_op, ev_ch, liar, ch)
    assert of(ev_ch, "proved") == [{"game": gid, "step": g.lo}]
    assert keys(ch, "prove") == [f"prove:{gid}"]
    assert keys(liar, "prove") == [] and of(ev_op, "proved") == []   # the liar cannot win the last step
    assert rid in ch._traces and rid in ch._honest     # won: the request reopens, its run is kept for the next result
    other = world.system.game_of(1, second.me)
    assert tick(second) == 1                               # cancels; the head it read predates the refund,
    assert keys(second, "withdraw") == []                  # so it withdraws in the next tick
    assert of(ev_second, "game_cancelled") == [{"game": other, "result": 1}]
    assert keys(second, "cancelGame") == [f"cancel:{other}"]
    assert world.system.game(other).status == GameStatus.CANCELLED
    (cancel,) = [e for e in world.system.events_since(world.deploy_block) if e.name == "GameCancelled"]
    assert tick(second) == 1                               # reads GameCancelled, withdraws the refunded bond
    assert world.system.balance(second.me) == 0
    assert cancel["refund"] > CH_BOND                      # its bond and a share of the liar's
    assert rid in second._traces and rid in second._honest  # the result was rejected: runs kept for the next one
    assert tick(second) == 0                               # reads its Withdrawn event: logs the amount
    assert [f["amount_wei"] for f in of(ev_second, "withdrawn")] == [cancel["refund"]]
    late.client.begin_tick()
    assert late.check_results() == 0
    assert (late.store.result(1)["status"], late.store.result(1)["verdict"]) == ("rejected", "disagree")
    assert late.store.txs() == []
    honest = world.operator()
    world.advance_time(2)                                  # past the reopening delay
    assert tick(honest) == 1
    runs = len(of(ev_ch, "vm_run"))
    assert tick(ch) == 0
    assert of(ev_ch, "checked")[-1] == {"result": 2, "request": rid, "verdict": "agree"}
    assert len(of(ev_ch, "vm_run")) == runs == 1           # judged on the run kept from the game


def test_challenger_judges_only_what_it_can_run_in_result_order(world: World, model) -> None:
    """A result of a model it does not serve is 'unknown-model'; a result of a model whose run fails is
    'error' (logged); the lie after them is still disputed."""
    broken_ch = daemon(world, Challenger, [Wrapped(model, broken="model file gone")], "broken")
    ch = world.challenger()
    ev_broken, ev_ch = record(broken_ch), record(ch)
    other = unserved_model(world, model)
    truth = Trace(model, TOY_INPUT, interval=4096, engine="stepper")
    poster = world.w3.eth.accounts[1]
    r_other = world.system.request(other, TOY_INPUT, fee=FEE)
    world.system.post_result(r_other, truth.output, truth.final_packed, truth.output_proof(), sender=poster)
    liar = world.operator(dishonest=True)
    r_lie = world.request(TOY_INPUT, fee=FEE)
    assert tick(liar) == 1
    assert tick(ch) == 1
    assert [ch.store.result(i)["verdict"] for i in (1, 2)] == ["unknown-model", "disagree"]
    assert of(ev_ch, "checked") == [{"result": 2, "request": r_lie, "verdict": "disagree"}]
    assert keys(ch, "openGame") == ["open:2"]
    assert tick(broken_ch) == 0
    assert [broken_ch.store.result(i)["verdict"] for i in (1, 2)] == ["unknown-model", "error"]
    assert of(ev_broken, "recompute_failed") == [{"result": 2, "request": r_lie, "error": "model file gone"}]
    assert broken_ch.store.txs() == []


# ------------------------------------------------------------------------------------ clocks and windows

@pytest.mark.parametrize("claimer", ["defender", "challenger"])
def test_timeout_is_claimed_one_second_after_the_deadline_not_at_it(world: World, claimer: str) -> None:
    """The side whose opponent went silent claims at deadline + 1 (`now` = latest block + 1) and sends
    nothing at the deadline itself."""
    op = world.operator(dishonest=claimer == "challenger")
    ch = world.challenger(dishonest=claimer == "defender")
    world.request(TOY_INPUT, fee=FEE)
    assert tick(op) == 1 and tick(ch) == 1                # posted; game opened
    assert tick(op) == 1                                  # first midpoint
    if claimer == "challenger":
        assert tick(ch) == 1                              # responds; now the defender goes silent
    me = op if claimer == "defender" else ch
    events = record(me)
    gid = world.system.game_of(1, ch.me)
    set_clock(world, world.system.game(gid).clock_deadline)
    assert tick(me) == 0 and me.store.tx(f"timeout:{gid}") is None
    set_clock(world, world.now() + 2)
    assert tick(me) == 1
    assert of(events, "timeout_claimed") == [{"game": gid}]
    assert keys(me, "timeout") == [f"timeout:{gid}"]
    tick(me)
    row = me.store.game(gid)
    assert (row["status"], row["reason"], row["winner"]) == (f"{claimer}_won", "timeout", me.me)


def test_operator_finalizes_one_second_after_the_window_not_at_its_end(world: World) -> None:
    op = world.operator()
    events = record(op)
    rid = world.request(TOY_INPUT, fee=FEE)
    assert tick(op) == 1 and tick(op) == 0
    set_clock(world, world.system.result(1).deadline)
    assert tick(op) == 0 and op.store.tx("finalize:1") is None
    assert op.last_revert is None        # not even tried at the deadline (the contract would say ChallengeWindowOpen)
    set_clock(world, world.now() + 2)
    assert tick(op) == 1
    assert of(events, "finalized") == [{"result": 1, "request": rid}]
    assert keys(op, "finalize") == ["finalize:1"] and op.store.result(1)["status"] == "finalized"
    assert world.system.get_request(rid).status == RequestStatus.FINALIZED
    assert rid not in op._traces and rid not in op._honest  # nothing left to defend: its runs are dropped
    assert ("requests", (rid,)) not in op.views_to_read()   # nor read again
    assert tick(op) == 1 and keys(op, "withdraw")          # fee and bond credited: withdrawn
    assert world.contract_balance() == 0


def test_operator_finalizes_every_due_result_in_one_tick(world: World) -> None:
    op = world.operator()
    requests = [world.request(TOY_INPUT, fee=FEE) for _ in range(2)]
    play(lambda: all(world.system.get_request(r).status == RequestStatus.POSTED for r in requests), [op])
    set_clock(world, max(world.system.result(i).deadline for i in (1, 2)) + 1)
    assert tick(op) == 2 and keys(op, "finalize") == ["finalize:1", "finalize:2"]


def test_operator_withdraws_what_its_own_finalize_credited_and_logs_it(world: World) -> None:
    """A result finalized by someone else is owed at the head it reads; its own finalize in that tick
    credits more after that head: it withdraws (and logs) both, in the next tick, not the head's part."""
    op = world.operator()
    events = record(op)
    world.request(TOY_INPUT, fee=FEE)
    world.request(bytes(64), fee=FEE)
    assert tick(op) == 2 and tick(op) == 0
    world.advance_time(WINDOW + 2)
    world.system.finalize(1)                               # anyone may finalize: fee and bond owed to op
    assert tick(op) == 1 and keys(op, "finalize") == ["finalize:2"] and keys(op, "withdraw") == []
    assert tick(op) == 1 and len(keys(op, "withdraw")) == 1
    assert world.system.balance(op.me) == 0 and tick(op) == 0   # reads its Withdrawn event: logs the amount
    assert [f["amount_wei"] for f in of(events, "withdrawn")] == [2 * (FEE + BOND)]


def test_operator_finalizes_past_a_rivals_result_and_one_someone_else_finalized(world: World) -> None:
    """Its store holds a rival's pending result first, then two of its own, the first of which was
    finalized by someone else (events not read): it skips the rival's, records that one as finalized,
    and still finalizes the last in the same pass."""
    op, rival = world.operator(), world.operator(min_fee=2 * FEE)
    world.request(TOY_INPUT, fee=2 * FEE)
    assert tick(rival) == 1                                # result 1: the rival's
    world.request(TOY_INPUT, fee=FEE)
    world.request(bytes(64), fee=FEE)
    assert tick(op) == 2 and tick(op) == 0                 # results 2 and 3: its own
    world.advance_time(WINDOW + 2)
    world.system.finalize(2)
    op.client.begin_tick()
    assert op.finalize_results() == 1 and keys(op, "finalize") == ["finalize:3"]
    assert [op.store.result(r)["status"] for r in (1, 2, 3)] == ["pending", "finalized", "finalized"]
    assert world.system.result(1).status == ResultStatus.PENDING


def test_operator_does_not_finalize_while_a_game_is_open(model, tmp_path) -> None:
    world = World.on_eth_tester(model, window=60, clock=CLOCK, result_bond=BOND, challenge_bond=CH_BOND,
                                db_dir=tmp_path, trace_interval=4096, engine="stepper")
    op, liar = world.operator(), world.challenger(dishonest=True)
    world.request(TOY_INPUT, fee=FEE)
    assert tick(op) == 1 and tick(liar) == 1 and tick(op) == 1   # posted, disputed, first midpoint
    world.advance_time(100)                               # the window is over; the liar's clock runs
    assert tick(op) == 0 and op.store.tx("finalize:1") is None
    assert world.system.result(1).status == ResultStatus.PENDING


@pytest.mark.parametrize("before_end", [1, 0], ids=["last-second", "window-closed"])
def test_challenger_disputes_until_the_last_second_of_the_window(world: World, before_end: int) -> None:
    """`now` = deadline - 1: the game is opened; `now` = deadline: the verdict is disagree-too-late."""
    liar, ch = world.operator(dishonest=True), world.challenger()
    events = record(ch)
    world.request(TOY_INPUT, fee=FEE)
    assert tick(liar) == 1
    ch.ingest()
    set_clock(world, world.system.result(1).deadline - before_end)
    assert tick(ch) == before_end
    if before_end:
        assert keys(ch, "openGame") == ["open:1"] and ch.store.result(1)["verdict"] == "disagree"
    else:
        assert ch.store.txs() == [] and ch.store.result(1)["verdict"] == "disagree-too-late"
        assert of(events, "window_missed") == [{"result": 1}]


# ------------------------------------------------------------------------------------ RPC outages

def _outage(world: World, fn_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The node stops answering the eth_call of the contract view `fn_name` (every other read works)."""
    selector = world.system.call_data(fn_name, *{"gameOf": (0, "0x" + "00" * 20)}.get(fn_name, (0,)))[:10]
    call = world.w3.eth.call

    def down(transaction: Any, *args: Any, **kwargs: Any) -> Any:
        if str(transaction.get("data", "")).startswith(selector):
            raise ConnectionError("node down")
        return call(transaction, *args, **kwargs)

    monkeypatch.setattr(world.w3.eth, "call", down)


@pytest.mark.parametrize("role, view, args, past_window", [
    ("operator", "requests", "1", False),             # is the request still open?
    ("operator", "results", "1", False),              # is our result still pending?
    ("operator", "requests", "1", True),              # does the request name a callback?
    ("challenger", "results", "1", False),            # is the disputed result still pending?
    ("challenger", "gameOf", "1, {me}", False),       # did we open a game on it already?
])
def test_an_outage_names_the_read_that_failed(world: World, model, monkeypatch: pytest.MonkeyPatch, role: str,
                                              view: str, args: str, past_window: bool) -> None:
    """With one attempt per read, a dead node stops the tick with RpcUnavailable naming the read: the
    view, its arguments and the block it was read at."""
    op = daemon(world, Operator, [model], "op", attempts=1, dishonest=role == "challenger")
    world.request(TOY_INPUT, fee=FEE)
    me = op
    if role == "operator" and view == "results" or past_window:
        assert tick(op) == 1 and tick(op) == 0             # posted, and read back
    # a new block: views are read once per block, so a tick at the same head would not read again
    world.advance_time(WINDOW + 2 if past_window else 2)   # (eth-tester mines its block at t - 1)
    if role == "challenger":
        assert tick(op) == 1
        me = daemon(world, Challenger, [model], "ch", attempts=1)
    _outage(world, view, monkeypatch)
    read = re.escape(f"{view}({args.format(me=me.me)}) at block {world.w3.eth.block_number}")
    with pytest.raises(RpcUnavailable, match=f"^{read}: the node did not answer after 1 attempts"):
        me.tick()


# ------------------------------------------------------------------------------------ lost races

def lose_race(loser: Daemon, winner: Daemon) -> Events:
    """Tick `loser`; its first transaction is beaten by `winner` (the same account's other instance),
    which ticks between the loser's reading of the chain and its send."""
    send = loser.client.send

    def beaten(*args: Any, **kwargs: Any) -> Any:
        loser.client.send = send               # type: ignore[method-assign]
        winner.tick()
        return send(*args, **kwargs)

    loser.client.send = beaten                 # type: ignore[method-assign]
    events = record(loser)
    loser.tick()
    return events


@pytest.mark.parametrize("move", ["midpoint", "timeout", "finalize"])
def test_operator_instance_that_loses_a_race_logs_it(world: World, move: str) -> None:
    account = world.fund()
    a, b = world.operator(account=account, name="a"), world.operator(account=account, name="b")
    liar = world.challenger(dishonest=True)
    world.request(TOY_INPUT, fee=FEE)
    assert tick(a) == 1
    if move == "finalize":
        world.advance_time(WINDOW + 2)
        key, error = "finalize:1", "ResultNotPending"
    else:
        assert tick(liar) == 1
        gid = world.system.game_of(1, liar.me)
        key, error = f"midpoint:{gid}:0:{world.system.result(1).steps}", "WrongPhase"
        if move == "timeout":
            assert tick(a) == 1                                 # first midpoint; the liar goes silent
            world.advance_time(CLOCK + 2)
            key, error = f"timeout:{gid}", "GameNotActive"
    events = lose_race(b, a)
    assert of(events, "race_lost") == [{"key": key, "error": error}]
    assert of(events, "tx_reverted") == []


@pytest.mark.parametrize("move", ["open", "respond", "timeout"])
def test_challenger_instance_that_loses_a_race_logs_it(world: World, move: str) -> None:
    account = world.fund()
    a, b = world.challenger(account=account, name="a"), world.challenger(account=account, name="b")
    liar = world.operator(dishonest=True)
    world.request(TOY_INPUT, fee=FEE)
    assert tick(liar) == 1
    key, error = "open:1", "AlreadyChallenged"
    if move != "open":
        assert tick(a) == 1 and tick(liar) == 1                # game opened; first midpoint
        gid = world.system.game_of(1, account.address)
        key, error = f"respond:{gid}:0:{world.system.result(1).steps}", "WrongPhase"
        if move == "timeout":
            assert tick(a) == 1                                 # responds; the liar goes silent
            world.advance_time(CLOCK + 2)
            key, error = f"timeout:{gid}", "GameNotActive"
    events = lose_race(b, a)
    assert of(events, "race_lost") == [{"key": key, "error": error}]
    assert of(events, "tx_reverted") == []
