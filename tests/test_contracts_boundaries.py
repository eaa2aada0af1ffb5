"""Exact time boundaries of the game contract, and real-MIPS.sol games with the lie at every position.

Every deadline is probed at `deadline` (allowed, or still too early) and `deadline + 1` (too late, or
allowed), with the challenger's and the defender's clocks unequal, so a deadline computed from the
wrong clock or off by one second fails here. The eth-tester chain mines the next transaction exactly at
the time `time_travel` sets (checked on every probe), so no boundary depends on wall-clock time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from contracts_world import (
    CLOCK,
    WINDOW,
    ToyRun,
    VMRun,
    World,
    deploy_tiny,
    load_tiny,
    make_world,
    toy_input,
    true_output,
)

from contracts.system import (
    ContractRevert,
    GameStatus,
    Phase,
    ResultStatus,
    System,
)
from mipsvm.layout import OUTPUT_BASE
from mipsvm.memory import keccak256
from mipsvm.stepper import step_with_witness


@contextmanager
def reverts(name: str, **fields: int) -> Iterator[None]:
    """Expect the custom error `name`, with these argument values (e.g. the deadline it reports)."""
    with pytest.raises(ContractRevert, match=rf": {name}\(") as exc:
        yield
    for key, value in fields.items():
        assert exc.value.fields[key] == value, (name, exc.value.fields)


# ----------------------------------------------------------------------------- time control

def _travel(w3: Any, t: int) -> None:
    """Make the next transaction run in a block with timestamp exactly `t`."""
    tester = w3.provider.ethereum_tester
    assert w3.eth.get_block("latest")["timestamp"] < t, "cannot travel back in time"
    tester.time_travel(t)
    assert w3.eth.get_block("pending")["timestamp"] == t


def at(world: World, t: int, action: Callable[[], Any]) -> Any:
    """Run `action` (one transaction) in a block at time `t`; the chain keeps its effects."""
    _travel(world.w3, t)
    out = action()
    receipt = world.system.last_receipt
    assert receipt is not None
    assert world.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == t
    return out


@contextmanager
def probe_at(world: World, t: int) -> Iterator[None]:
    """Try something at time `t`, then roll the chain back to before it (to probe both sides of a boundary)."""
    tester = world.w3.provider.ethereum_tester
    snapshot = tester.take_snapshot()
    try:
        _travel(world.w3, t)
        yield
    finally:
        tester.revert_to_snapshot(snapshot)


# ----------------------------------------------------------------------------- challenge window

@pytest.fixture
def posted() -> tuple[World, ToyRun, int]:
    """A toy world with one honest result posted; returns (world, truth, result id)."""
    world, truth = make_world(2)
    s = world.system
    rid = s.request(world.model_id, toy_input(), sender=world.accounts[9])
    run_, final = world.run_for(toy_input(), true_output(toy_input()), 2)
    return world, truth, world.post(rid, run_, final, true_output(toy_input()))


def test_window_deadline_is_posted_at_plus_window(posted) -> None:
    world, _, res_id = posted
    res = world.system.result(res_id)
    assert res.deadline == res.posted_at + WINDOW
    assert world.system.contract.functions.resultDeadline(res_id).call() == res.deadline   # the view agrees
    event = [e for e in world.system.events_since(0) if e.name == "ResultPosted"][-1]
    assert event["deadline"] == res.deadline


def test_open_game_until_the_window_deadline_inclusive(posted) -> None:
    world, _, res_id = posted
    s, deadline = world.system, world.system.result(res_id).deadline
    with probe_at(world, deadline + 1), reverts("ChallengeWindowClosed", deadline=deadline):
        s.open_game(res_id, sender=world.challengers[0])
    gid = at(world, deadline, lambda: s.open_game(res_id, sender=world.challengers[0]))
    assert s.game(gid).last_move_at == deadline and s.result(res_id).open_games == 1


def test_finalize_only_after_the_window_deadline(posted) -> None:
    world, _, res_id = posted
    s, deadline = world.system, world.system.result(res_id).deadline
    with probe_at(world, deadline), reverts("ChallengeWindowOpen", deadline=deadline):
        s.finalize(res_id)
    at(world, deadline + 1, lambda: s.finalize(res_id))
    assert s.result(res_id).status == ResultStatus.FINALIZED


def test_game_opened_at_the_deadline_blocks_finalize(posted) -> None:
    world, truth, res_id = posted
    s, deadline = world.system, world.system.result(res_id).deadline
    gid = at(world, deadline, lambda: s.open_game(res_id, sender=world.challengers[0]))
    with probe_at(world, deadline + 1), reverts("GamesOpen", count=1):
        s.finalize(res_id)
    at(world, deadline + 1, lambda: s.post_midpoint(gid, 1, truth.hash(1), sender=world.operator))
    assert s.game(gid).phase == Phase.RESPONSE


# ----------------------------------------------------------------------------- clocks

@dataclass
class Clocks:
    """A game brought to a phase with known, unequal clocks; `last` is its lastMoveAt."""

    world: World
    truth: ToyRun
    game_id: int
    last: int

    @property
    def system(self) -> System:
        return self.world.system


def _opened(halt: int) -> tuple[World, ToyRun, int, int]:
    world, truth = make_world(halt)
    s = world.system
    rid = s.request(world.model_id, toy_input())
    run_, final = world.run_for(toy_input(), true_output(toy_input()), halt)
    res_id = world.post(rid, run_, final, true_output(toy_input()))
    gid = s.open_game(res_id, sender=world.challengers[0])
    return world, truth, gid, s.game(gid).last_move_at


def proof_phase(defender_spends: int, challenger_spends: int) -> Clocks:
    """Two-step run: one midpoint (defender) and one response (challenger) lead to the Proof phase."""
    world, truth, gid, t0 = _opened(2)
    s = world.system
    t1 = t0 + defender_spends
    at(world, t1, lambda: s.post_midpoint(gid, 1, truth.hash(1), sender=world.operator))
    t2 = t1 + challenger_spends
    at(world, t2, lambda: s.respond(gid, 1, True, sender=world.challengers[0]))
    g = s.game(gid)
    assert g.phase == Phase.PROOF and (g.lo, g.hi) == (1, 2) and g.last_move_at == t2
    assert (g.defender_clock, g.challenger_clock) == (CLOCK - defender_spends, CLOCK - challenger_spends)
    return Clocks(world, truth, gid, t2)


UNEQUAL = [pytest.param(300, 50, id="defender-clock-shorter"), pytest.param(10, 400, id="challenger-clock-shorter")]


@pytest.mark.parametrize(("defender_spends", "challenger_spends"), UNEQUAL)
def test_prove_until_the_challengers_clock_runs_out(defender_spends: int, challenger_spends: int) -> None:
    c = proof_phase(defender_spends, challenger_spends)
    s, deadline = c.system, c.last + CLOCK - challenger_spends
    assert s.clock_deadline(c.game_id) == deadline
    assert s.game(c.game_id).clock_deadline == deadline   # the wrapper's local copy agrees
    with probe_at(c.world, deadline + 1), reverts("ClockExpired", deadline=deadline):
        s.prove(c.game_id, c.truth.state(1), bytes(1792))
    at(c.world, deadline, lambda: s.prove(c.game_id, c.truth.state(1), bytes(1792)))
    assert s.game(c.game_id).status == GameStatus.DEFENDER_WON


@pytest.mark.parametrize(("defender_spends", "challenger_spends"), UNEQUAL)
def test_timeout_in_proof_phase_after_the_challengers_clock(defender_spends: int, challenger_spends: int) -> None:
    c = proof_phase(defender_spends, challenger_spends)
    s, deadline = c.system, c.last + CLOCK - challenger_spends
    with probe_at(c.world, deadline), reverts("ClockNotExpired", deadline=deadline):
        s.timeout(c.game_id)
    at(c.world, deadline + 1, lambda: s.timeout(c.game_id))
    assert s.game(c.game_id).status == GameStatus.DEFENDER_WON   # the challenger failed to prove


def response_phase(defender_spends: int) -> Clocks:
    world, truth, gid, t0 = _opened(2)
    s = world.system
    at(world, t0 + defender_spends, lambda: s.post_midpoint(gid, 1, truth.hash(1), sender=world.operator))
    return Clocks(world, truth, gid, t0 + defender_spends)


def midpoint_phase(defender_spends: int, challenger_spends: int) -> Clocks:
    """Four-step run: after one midpoint and one disagreement, the defender is to move again."""
    world, truth, gid, t0 = _opened(4)
    s = world.system
    t1 = t0 + defender_spends
    at(world, t1, lambda: s.post_midpoint(gid, 2, truth.hash(2), sender=world.operator))
    t2 = t1 + challenger_spends
    at(world, t2, lambda: s.respond(gid, 2, True, sender=world.challengers[0]))
    g = s.game(gid)
    assert g.phase == Phase.MIDPOINT and (g.lo, g.hi) == (2, 4)
    assert (g.defender_clock, g.challenger_clock) == (CLOCK - defender_spends, CLOCK - challenger_spends)
    return Clocks(world, truth, gid, t2)


@pytest.mark.parametrize(("defender_spends", "challenger_spends"), UNEQUAL)
def test_defender_timeout_after_the_defenders_clock(defender_spends: int, challenger_spends: int) -> None:
    c = midpoint_phase(defender_spends, challenger_spends)
    s, deadline = c.system, c.last + CLOCK - defender_spends
    assert s.clock_deadline(c.game_id) == deadline
    assert s.game(c.game_id).clock_deadline == deadline   # the wrapper's local copy agrees
    with probe_at(c.world, deadline), reverts("ClockNotExpired", deadline=deadline):
        s.timeout(c.game_id)
    with probe_at(c.world, deadline + 1), reverts("ClockExpired", deadline=deadline):
        s.post_midpoint(c.game_id, 3, c.truth.hash(3), sender=c.world.operator)
    with probe_at(c.world, deadline):                      # the last second is still the defender's
        s.post_midpoint(c.game_id, 3, c.truth.hash(3), sender=c.world.operator)
        assert s.game(c.game_id).defender_clock == 0
    at(c.world, deadline + 1, lambda: s.timeout(c.game_id))
    assert s.game(c.game_id).status == GameStatus.CHALLENGER_WON


@pytest.mark.parametrize("defender_spends", [30, 450])
def test_challenger_timeout_in_response_phase(defender_spends: int) -> None:
    c = response_phase(defender_spends)
    s, deadline = c.system, c.last + CLOCK                  # the challenger has not spent anything yet
    assert s.clock_deadline(c.game_id) == deadline
    assert s.game(c.game_id).clock_deadline == deadline   # the wrapper's local copy agrees
    with probe_at(c.world, deadline), reverts("ClockNotExpired", deadline=deadline):
        s.timeout(c.game_id)
    with probe_at(c.world, deadline + 1), reverts("ClockExpired", deadline=deadline):
        s.respond(c.game_id, 1, True, sender=c.world.challengers[0])
    with probe_at(c.world, deadline):
        s.respond(c.game_id, 1, True, sender=c.world.challengers[0])
        g = s.game(c.game_id)
        assert g.challenger_clock == 0 and g.defender_clock == CLOCK - defender_spends
    at(c.world, deadline + 1, lambda: s.timeout(c.game_id))
    assert s.game(c.game_id).status == GameStatus.DEFENDER_WON


def test_first_midpoint_deadline_counts_from_opening() -> None:
    world, truth, gid, t0 = _opened(2)
    s = world.system
    assert s.clock_deadline(gid) == t0 + CLOCK
    assert s.game(gid).clock_deadline == t0 + CLOCK   # the wrapper's local copy agrees
    with probe_at(world, t0 + CLOCK + 1), reverts("ClockExpired", deadline=t0 + CLOCK):
        s.post_midpoint(gid, 1, truth.hash(1), sender=world.operator)
    with probe_at(world, t0 + CLOCK), reverts("ClockNotExpired", deadline=t0 + CLOCK):
        s.timeout(gid)
    at(world, t0 + CLOCK, lambda: s.post_midpoint(gid, 1, truth.hash(1), sender=world.operator))
    g = s.game(gid)
    assert (g.defender_clock, g.challenger_clock, g.last_move_at) == (0, CLOCK, t0 + CLOCK)


def test_move_events_report_the_interval_after_each_move() -> None:
    """Daemons rebuild games from MoveMade: each event carries the interval and phase after the move."""
    world, truth, gid, _ = _opened(8)
    s = world.system
    for agree in (True, False, True):
        g = s.game(gid)
        s.post_midpoint(gid, g.mid, truth.hash(g.mid), sender=world.operator)
        posted = s.events_since(s.last_receipt["blockNumber"])[-1]
        assert (posted.name, posted["lo"], posted["hi"], posted["mid"], posted["next"]) == (
            "MoveMade", g.lo, g.hi, g.mid, Phase.RESPONSE)
        s.respond(gid, g.mid, agree, sender=world.challengers[0])
        ev = s.events_since(s.last_receipt["blockNumber"])[-1]
        after = s.game(gid)
        assert (after.lo, after.hi) == ((g.mid, g.hi) if agree else (g.lo, g.mid))
        assert (ev["lo"], ev["hi"], ev["mid"], ev["midHash"], ev["kind"], ev["next"]) == (
            after.lo, after.hi, g.mid, truth.hash(g.mid), 1 if agree else 2, after.phase)
    assert s.game(gid).phase == Phase.PROOF


# ----------------------------------------------------------------------------- real MIPS.sol games

INPUT = bytes((i * 11 + 3) % 256 for i in range(64))
OUT_LEN = 16


@pytest.fixture(scope="module")
def program():
    return load_tiny()


@pytest.fixture(scope="module")
def vm_run(program) -> VMRun:
    truth = VMRun.record(program, INPUT)
    assert truth.final.exit_code == 0 and truth.steps > 7
    return truth


def _real_system(program) -> tuple[System, int, list[str]]:
    return deploy_tiny(program, OUT_LEN)


def _lie_hash(k: int) -> bytes:
    return keccak256(b"lie" + k.to_bytes(8, "big"))


@pytest.mark.parametrize("where", ["first-step", "mid-run", "last-step"])
def test_real_mips_game_catches_the_lie(program, vm_run: VMRun, where: str) -> None:
    """The operator's claims agree with the truth before step k0 and differ from k0 on (its final state has
    a wrong output); an honest challenger bisects to (k0 - 1, k0) and wins with the stepper's witness."""
    system, model_id, acct = _real_system(program)
    operator, challenger = acct[1], acct[2]
    n = vm_run.steps
    k0 = {"first-step": 1, "mid-run": n // 2 + 1, "last-step": n}[where]
    rid = system.request(model_id, INPUT)
    fake_mem = vm_run.final.memory.copy()
    true_out = fake_mem.read(OUTPUT_BASE, OUT_LEN)
    fake_out = true_out[:-1] + bytes([true_out[-1] ^ 1])            # only the last output byte differs
    fake_mem.write(OUTPUT_BASE, fake_out)
    fake_final = vm_run.final.encode(fake_mem.root())
    res_id = system.post_result(rid, fake_out, fake_final, system.output_proof(model_id, fake_mem),
                                sender=operator)

    def claim(k: int) -> bytes:
        if k < k0:
            return vm_run.hashes[k]
        return keccak256(fake_final) if k == n else _lie_hash(k)

    gid = system.open_game(res_id, sender=challenger)
    while (g := system.game(gid)).phase != Phase.PROOF:
        if g.phase == Phase.MIDPOINT:
            system.post_midpoint(gid, g.mid, claim(g.mid), sender=operator)
        else:
            system.respond(gid, g.mid, g.mid_hash == vm_run.hashes[g.mid], sender=challenger)
    assert (g.lo, g.hi) == (k0 - 1, k0) and g.lo_hash == vm_run.hashes[k0 - 1]
    w = step_with_witness(vm_run.state_at(k0 - 1))
    assert w.post_hash == vm_run.hashes[k0] != g.hi_hash
    if k0 > 1:                      # a witness of another step does not match the agreed state
        other = step_with_witness(vm_run.state_at(k0 - 2))
        with reverts("WrongPreState"):
            system.prove(gid, other.state, other.proof, sender=operator)
    system.prove(gid, w.state, w.proof, sender=operator)             # anyone may prove; the truth decides
    assert system.game(gid).status == GameStatus.CHALLENGER_WON
    assert system.result(res_id).status == ResultStatus.REJECTED


def test_real_mips_game_defender_wins_the_last_step(program, vm_run: VMRun) -> None:
    """An honest result disputed at the exit syscall: the real step reproduces the posted final state."""
    system, model_id, acct = _real_system(program)
    operator, challenger = acct[1], acct[2]
    rid = system.request(model_id, INPUT)
    out = vm_run.final.memory.read(OUTPUT_BASE, OUT_LEN)
    res_id = system.post_result(rid, out, vm_run.final.encode(),
                                system.output_proof(model_id, vm_run.final.memory), sender=operator)
    gid = system.open_game(res_id, sender=challenger)
    while (g := system.game(gid)).phase != Phase.PROOF:
        if g.phase == Phase.MIDPOINT:
            system.post_midpoint(gid, g.mid, vm_run.hashes[g.mid], sender=operator)
        else:
            system.respond(gid, g.mid, True, sender=challenger)      # agrees with everything: last step
    assert (g.lo, g.hi) == (vm_run.steps - 1, vm_run.steps)
    w = step_with_witness(vm_run.state_at(vm_run.steps - 1))
    system.prove(gid, w.state, w.proof, sender=challenger)
    assert system.game(gid).status == GameStatus.DEFENDER_WON
