"""The daemons' log lines (issue #18): every game outcome is a `game_won` / `game_lost` line with the
reason and the amounts of the contract's events in ether; `withdrawn` too; under `--log-json` every
line of the daemons and their chain client is fields (rpc_retry included); a stop signal ends the
RPC retry waits at once."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from challenger import client as client_module
from challenger.client import StopFlag, Stopped, ether, with_retries
from challenger.models import toy_model
from contracts.system import Event
from optimist.commands.daemons import JsonLines
from optimist.world import World

WINDOW, CLOCK = 600, 300
BOND = 10**17             # 0.1 ether, both bonds; the default burn share is half (burn_bps 5000)
FEE = 10**16
TOY_INPUT = bytes(range(64))


class JsonCapture(logging.Handler):
    """Keeps the JSON line of every record of the `optimist` loggers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonLines())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def events(self, event: str, role: str | None = None) -> list[dict[str, Any]]:
        return [ln for ln in self.lines if ln.get("event") == event and (role is None or ln.get("role") == role)]


@pytest.fixture
def json_logs() -> Iterator[JsonCapture]:
    logger = logging.getLogger("optimist")
    handler, level = JsonCapture(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture(scope="module")
def model():
    return toy_model(engine="stepper")


@pytest.fixture
def world(model, tmp_path) -> World:
    return World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                               db_dir=tmp_path, trace_interval=4096, engine="stepper")


def record(daemon) -> list[tuple[str, dict[str, Any]]]:
    """The (event, fields) the daemon emits from now on."""
    seen: list[tuple[str, dict[str, Any]]] = []
    daemon.listeners.append(lambda event, fields: seen.append((event, dict(fields))))
    return seen


def outcomes(seen: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    return [(e, f) for e, f in seen if e in ("game_won", "game_lost")]


def events(world: World, name: str) -> list[Event]:
    return [ev for ev in world.system.events_since(world.deploy_block) if ev.name == name]


def test_ether_is_exact() -> None:
    assert [ether(w) for w in (0, 1, 10**18, 125 * 10**15, 10**17 + 1, -5 * 10**16, 3 * 10**24)] == \
        ["0", "0.000000000000000001", "1", "0.125", "0.100000000000000001", "-0.05", "3000000"]
    for wei in (1, 123456789, 10**18 - 1, 7 * 10**21 + 3):
        assert Decimal(ether(wei)) * 10**18 == wei


def test_timeout_and_cancelled_games_log_who_won_and_the_amounts(world: World, json_logs: JsonCapture) -> None:
    """A lie disputed by two challengers; the liar never answers: the first challenger wins on time,
    the second game is cancelled. Every side logs its outcome with the amounts of the events."""
    liar, ch1, ch2 = world.operator(dishonest=True), world.challenger(), world.challenger()
    seen = {d.me: record(d) for d in (liar, ch1, ch2)}
    world.request(TOY_INPUT, fee=FEE)
    liar.tick()
    for _ in range(3):                     # both challengers open a game and see it opened
        ch1.tick()
        ch2.tick()
    assert len(ch1.store.games()) == len(ch2.store.games()) == 1
    world.advance_time(CLOCK + 2)          # the liar's clock ran out in both games
    for _ in range(4):                     # ch1 claims the timeout, ch2 cancels; both withdraw
        ch1.tick()
        ch2.tick()
    for _ in range(2):
        liar.tick()
    (resolved,) = events(world, "GameResolved")
    (cancelled,) = events(world, "GameCancelled")
    g1, g2 = ch1.store.games()[0]["game_id"], ch2.store.games()[0]["game_id"]
    assert (resolved["gameId"], cancelled["gameId"]) == (g1, g2)

    # the unburnt half of the liar's 0.1 ether bond is shared by the two games: 0.025 each
    assert outcomes(seen[ch1.me]) == [("game_won", {
        "game": g1, "result": 1, "role_in_game": "challenger", "reason": "timeout", "winner": ch1.me,
        "paid_ether": "0.125", "paid_wei": resolved["paid"], "bond_ether": "0.1", "share_ether": "0.025",
        "burnt_ether": "0.05"})]
    assert outcomes(seen[ch2.me]) == [("game_won", {
        "game": g2, "result": 1, "role_in_game": "challenger", "reason": "cancelled", "winner": ch2.me,
        "paid_ether": "0.125", "paid_wei": cancelled["refund"], "bond_ether": "0.1", "share_ether": "0.025"})]
    assert outcomes(seen[liar.me]) == [
        ("game_lost", {"game": g1, "result": 1, "role_in_game": "defender", "reason": "timeout",
                       "winner": ch1.me, "lost_ether": "0.1", "lost_wei": BOND, "to_winner_ether": "0.025",
                       "burnt_ether": "0.05"}),
        ("game_lost", {"game": g2, "result": 1, "role_in_game": "defender", "reason": "cancelled",
                       "winner": ch2.me, "lost_ether": "0", "lost_wei": 0, "to_winner_ether": "0.025"})]
    # withdrawn: the amount of each Withdrawn event, in ether
    for ch in (ch1, ch2):
        (w,) = [ev for ev in events(world, "Withdrawn") if ev["account"] == ch.me]
        assert [f for e, f in seen[ch.me] if e == "withdrawn"] == [
            {"amount_ether": "0.125", "amount_wei": w["amount"], "block": w.block}]
    # the same lines as JSON objects, their fields as keys
    (line,) = [ln for ln in json_logs.events("game_won") if ln["game"] == g1]
    assert line["role"] == "challenger" and line["paid_ether"] == "0.125" and "msg" not in line
    assert {ln["amount_ether"] for ln in json_logs.events("withdrawn")} == {"0.125"}
    # and counted by outcome and reason
    won = ch2.metrics.registry.get_sample_value("optimist_games_ended_total",
                                                {"role": "challenger", "outcome": "won", "reason": "cancelled"})
    assert won == 1


def test_proof_games_log_the_operator_winning_and_the_challenger_losing(world: World) -> None:
    op, liar = world.operator(), world.challenger(dishonest=True)
    seen_op, seen_liar = record(op), record(liar)
    world.request(TOY_INPUT, fee=FEE)
    op.tick()
    world.run_until(lambda: bool(liar.store.games()) and liar.store.games()[0]["status"] != "active", [op, liar])
    op.tick()
    liar.tick()
    (resolved,) = events(world, "GameResolved")
    assert resolved["reason"] == 0 and not resolved["challengerWon"]
    gid = resolved["gameId"]
    # the operator gets the unburnt half of the challenger's bond; its own bond returns with finalize
    assert outcomes(seen_op) == [("game_won", {
        "game": gid, "result": 1, "role_in_game": "defender", "reason": "proof", "winner": op.me,
        "paid_ether": "0.05", "paid_wei": resolved["paid"], "bond_ether": "0", "share_ether": "0.05",
        "burnt_ether": "0.05"})]
    assert outcomes(seen_liar) == [("game_lost", {
        "game": gid, "result": 1, "role_in_game": "challenger", "reason": "proof", "winner": op.me,
        "lost_ether": "0.1", "lost_wei": BOND, "to_winner_ether": "0.05", "burnt_ether": "0.05"})]


def test_two_phase_game_outcomes_carry_the_amounts(tmp_path) -> None:
    """A graph model's game (two-phase) whose liar sends a bad transition and loses on its clock."""
    from challenger.graph_games import GraphModel
    from minidnn.examples import digits_mlp, sample_input

    blob, _ = digits_mlp()
    model = GraphModel(blob, "digits_mlp")
    world = World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                                db_dir=tmp_path, trace_interval=1024)
    liar, ch = world.operator(dishonest=True), world.challenger()
    liar.graph_lie = "transition"
    seen_liar, seen_ch = record(liar), record(ch)
    world.request(sample_input(blob, seed=3).astype("<f4").tobytes(), fee=FEE)
    liar.tick()
    world.run_until(lambda: bool(ch.store.games()) and ch.store.games()[0]["status"] != "active", [liar, ch],
                    advance_when_idle=CLOCK + 1)
    liar.tick()
    (resolved,) = events(world, "GameResolved")
    assert resolved["reason"] == 1 and resolved["challengerWon"]
    gid = resolved["gameId"]
    assert ch.store.game_node(gid) is None        # it ended at the transition, in phase 1
    assert outcomes(seen_ch) == [("game_won", {
        "game": gid, "result": 1, "role_in_game": "challenger", "reason": "timeout", "winner": ch.me,
        "paid_ether": "0.15", "paid_wei": resolved["paid"], "bond_ether": "0.1", "share_ether": "0.05",
        "burnt_ether": "0.05"})]
    assert outcomes(seen_liar) == [("game_lost", {
        "game": gid, "result": 1, "role_in_game": "defender", "reason": "timeout", "winner": ch.me,
        "lost_ether": "0.1", "lost_wei": BOND, "to_winner_ether": "0.05", "burnt_ether": "0.05"})]


def test_rpc_retry_is_fields_under_log_json(json_logs: JsonCapture) -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise requests.exceptions.ConnectionError("refused")
        return "ok"

    assert with_retries(flaky, base_delay=0.01, what="eth_blockNumber") == "ok"
    lines = json_logs.events("rpc_retry")
    assert [(ln["method"], ln["attempt"], ln["delay"], ln["error"], ln["logger"], ln["level"]) for ln in lines] == [
        ("eth_blockNumber", 1, 0.01, "ConnectionError", "optimist.client", "WARNING"),
        ("eth_blockNumber", 2, 0.02, "ConnectionError", "optimist.client", "WARNING")]
    assert all("msg" not in ln and "role" not in ln for ln in lines)


def test_a_stop_ends_the_retry_backoff_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stop signal arrives while the node is down: no further attempt, no long sleep (a fake
    clock records every wait), the caller gets `Stopped` (an RpcUnavailable: an outage's path)."""
    slept: list[float] = []

    class FakeTime:
        now = 0.0

        def monotonic(self) -> float:
            return self.now

        def sleep(self, seconds: float) -> None:
            slept.append(seconds)
            self.now += seconds

    monkeypatch.setattr(client_module, "time", FakeTime())
    stop, calls = StopFlag(), []

    def down() -> None:
        calls.append(1)
        if len(calls) == 2:
            stop.set()                     # SIGTERM during the second attempt
        raise requests.exceptions.ConnectionError("refused")

    with pytest.raises(Stopped):
        with_retries(down, base_delay=5.0, max_delay=5.0, stop=stop)
    assert len(calls) == 2
    assert sum(slept) == pytest.approx(5.0)  # the first backoff only, in slices; none after the stop
    assert max(slept) <= StopFlag.SLICE


def test_stop_flag_wakes_a_sleeper() -> None:
    stop = StopFlag()
    threading.Timer(0.05, stop.set).start()
    t0 = time.monotonic()
    assert stop.sleep(60) is True
    assert time.monotonic() - t0 < 30      # a bound far from both outcomes (0.05 s vs 60 s)
    assert StopFlag().sleep(0.01) is False
