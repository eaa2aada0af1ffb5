"""Attacks played end to end with the real daemons (eth-tester, real MIPS.sol, the toy program).

The toy program traps (`break`, exit 0x85) when its last input word is TOY_TRAP and never halts when it
is TOY_SPIN. An honest operator posts those outcomes as they are; a liar fabricates a clean exit; the
honest challenger disputes every final state that differs from its own state at the claimed step,
whatever its own run did, and wins by the one-step proof. Every lie costs the liar at least the burnt
share of its bond; every request ends with an outcome.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from challenger.models import LyingTrace, Trace, toy_model
from contracts.system import GameStatus, Outcome, RequestStatus
from mipsvm.state import State
from optimist.world import World

WINDOW, CLOCK = 600, 300
BOND = 10**17
FEE = 10**16
MAX_STEPS = 60_000            # the toy's clean run takes ~36k steps
TOY_TRAP, TOY_SPIN = 0x7A7A7A7A, 0x5B5B5B5B
BREAK_EXIT = 0x85


def toy_input(last_word: int = 7) -> bytes:
    return struct.pack("<16I", *range(1, 16), last_word)


@pytest.fixture(scope="module")
def model():
    return toy_model(engine="stepper")


@pytest.fixture
def world(model, tmp_path) -> World:
    return World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                               db_dir=tmp_path, trace_interval=4096, engine="stepper", max_steps=MAX_STEPS)


def net_change(world: World, daemon, before: int) -> int:
    """Ether gained by the daemon's account since `before`, gas added back."""
    gas = sum(v["fee"] for v in daemon.store.gas_summary().values())
    return world.w3.eth.get_balance(daemon.me) - before + gas



def post_and_check(world: World, rid: int, operator, challenger) -> dict:
    world.run_until(lambda: world.system.get_request(rid).status == RequestStatus.POSTED, [operator, challenger])
    world.run_until(lambda: challenger.store.results()[-1]["verdict"] is not None, [challenger])
    return dict(challenger.store.results()[-1])


@pytest.mark.parametrize("last_word, outcome, exit_code, steps", [
    (TOY_TRAP, Outcome.FAILURE, BREAK_EXIT, None),
    (TOY_SPIN, Outcome.NO_HALT, 0, MAX_STEPS),
])
def test_failed_runs_are_outcomes_that_finalize(world: World, last_word: int, outcome: Outcome, exit_code: int,
                                                 steps: int | None) -> None:
    op, ch = world.operator(), world.challenger()
    before = world.w3.eth.get_balance(op.me)
    rid = world.request(toy_input(last_word), fee=FEE)
    result = post_and_check(world, rid, op, ch)
    assert result["verdict"] == "agree" and ch.store.games() == []
    world.settle([op, ch], max_ticks=20)
    final = world.system.outcome(rid)
    assert (final.outcome, final.exit_code) == (outcome, exit_code)
    if steps is not None:
        assert final.steps == steps
    assert world.system.get_request(rid).status == RequestStatus.FINALIZED
    assert net_change(world, op, before) == FEE        # the fee, bond back: a failure is paid work
    assert world.contract_balance() == 0


def play_lie(world: World, model, request_input: bytes, lie: Callable[[Trace], LyingTrace] | None = None
             ) -> tuple[int, int]:
    """A liar answers first; the honest challenger must win; an honest operator answers again and the
    request finalizes. Returns (liar's net ether change, request id)."""
    liar, ch, honest = world.operator(dishonest=True, name="liar"), world.challenger(), world.operator()
    if lie is not None:
        liar.lie = lie
    before = world.w3.eth.get_balance(liar.me)
    rid = world.request(request_input, fee=FEE)
    liar.tick()
    assert world.system.get_request(rid).status == RequestStatus.POSTED
    world.run_until(lambda: bool(ch.store.games()) and ch.store.games()[0]["status"] != "active",
                    [liar, ch], max_ticks=2000)
    (game,) = ch.store.games()
    assert world.system.game(game["game_id"]).status == GameStatus.CHALLENGER_WON, game
    world.advance_time(2)                                        # past the reopening delay
    world.run_until(lambda: world.system.get_request(rid).status == RequestStatus.POSTED,
                    [honest, liar, ch], advance_when_idle=2)
    world.settle([honest, liar, ch], max_ticks=20)
    assert world.system.get_request(rid).status == RequestStatus.FINALIZED
    assert world.contract_balance() == 0
    return net_change(world, liar, before), rid


@pytest.mark.parametrize("last_word, truth", [(TOY_TRAP, Outcome.FAILURE), (TOY_SPIN, Outcome.NO_HALT)])
def test_fabricated_success_on_a_failing_input_is_caught(world: World, model, last_word: int,
                                                         truth: Outcome) -> None:
    liar_net, rid = play_lie(world, model, toy_input(last_word))
    assert world.system.outcome(rid).outcome == truth
    assert liar_net <= -world.system.params.burn_share(BOND)


def _last_output_byte(st: State) -> None:
    from mipsvm.layout import OUTPUT_BASE

    last = OUTPUT_BASE + 31
    st.memory.write(last, bytes([st.memory.read(last, 1)[0] ^ 0x80]))


def _exit_code_only(st: State) -> None:
    st.exit_code = 3


def _one_step_early(st: State) -> None:
    st.step -= 1


@pytest.mark.parametrize("edit", [_last_output_byte, _exit_code_only, _one_step_early],
                         ids=["last-output-byte", "exit-code", "step-count"])
def test_small_lies_are_caught(world: World, model, edit: Callable[[State], None]) -> None:
    liar_net, rid = play_lie(world, model, toy_input(), lambda honest: LyingTrace(honest, edit))
    assert world.system.outcome(rid).outcome == Outcome.SUCCESS
    assert liar_net <= -world.system.params.burn_share(BOND)
