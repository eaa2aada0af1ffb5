"""The bisection game on eth-tester with the toy MockMIPS machine: honest and lying players, clocks,
turn order, several challengers, finalize rules and the bond accounting invariant."""

from __future__ import annotations

import pytest
from contracts_world import (
    CHALLENGE_BOND,
    CLOCK,
    RESULT_BOND,
    WINDOW,
    ToyRun,
    World,
    check_invariant,
    make_world,
    play,
    toy_input,
    true_output,
    with_field,
)

from contracts.system import (
    BURN_ADDRESS,
    ContractRevert,
    GameStatus,
    Phase,
    RequestStatus,
    ResultStatus,
    advance_time,
)

HALT = 20          # steps of the toy run: ceil(log2(20)) = 5 rounds
FEE = 5 * 10**16
WRONG_OUT = b"\x42" * 40
BURN_C = CHALLENGE_BOND // 2           # default burn share: half of the losing bond
BURN_R = RESULT_BOND // 2
DEFENDER_GAIN = CHALLENGE_BOND - BURN_C


def challenger_payout(sharers: int = 1) -> int:
    """Bond back + an equal share of the unburnt result bond among the games active at rejection."""
    return CHALLENGE_BOND + (RESULT_BOND - BURN_R) // sharers


def reverts(name: str):
    return pytest.raises(ContractRevert, match=rf": {name}\(")


@pytest.fixture
def setup() -> tuple[World, ToyRun, int]:
    world, truth = make_world(HALT)
    rid = world.system.request(world.model_id, toy_input(), fee=FEE, sender=world.accounts[9])
    return world, truth, rid


def post_honest(world: World, rid: int, sender: str | None = None) -> int:
    run, final = world.run_for(toy_input(), true_output(toy_input()), HALT)
    return world.post(rid, run, final, true_output(toy_input()), sender=sender)


def post_lie(world: World, rid: int, halt_at: int = HALT) -> tuple[int, ToyRun]:
    run, final = world.run_for(toy_input(), WRONG_OUT, halt_at)
    return world.post(rid, run, final, WRONG_OUT), run


def balances(world: World) -> dict[str, int]:
    return {a: world.system.balance(a) for a in world.accounts}


# ----------------------------------------------------------------------------- outcomes

def test_honest_defender_beats_lying_challenger(setup) -> None:
    world, truth, rid = setup
    s = world.system
    res_id = post_honest(world, rid)
    challenger = world.challengers[0]
    gid = s.open_game(res_id, sender=challenger)
    lie, _ = world.run_for(toy_input(), WRONG_OUT, HALT)
    g = play(world, gid, truth.hash, lie.hash, truth.state, prover=world.operator)
    assert g.status == GameStatus.DEFENDER_WON and (g.lo, g.hi) == (HALT - 1, HALT)
    # the win is settled with the result (finalize here): nothing credited or burnt yet
    assert s.balance(world.operator) == 0 and s.balance(challenger) == 0 and s.burned() == 0
    res = s.result(res_id)
    assert res.status == ResultStatus.PENDING and res.open_games == 0 and res.defended == 1
    resolved = [e for e in s.events_since(0) if e.name == "GameResolved"]
    assert resolved[0]["winner"] == world.operator and not resolved[0]["challengerWon"]
    assert (resolved[0]["paid"], resolved[0]["burnt"]) == (DEFENDER_GAIN, BURN_C)
    check_invariant(world)
    advance_time(world.w3, WINDOW + 1)
    s.finalize(res_id)
    assert s.balance(world.operator) == FEE + RESULT_BOND + DEFENDER_GAIN and s.balance(challenger) == 0
    assert s.burned() == BURN_C and s.burn_sent() == 0 and world.w3.eth.get_balance(BURN_ADDRESS) == 0
    check_invariant(world)
    assert s.send_burn() == BURN_C
    assert s.burn_sent() == BURN_C == world.w3.eth.get_balance(BURN_ADDRESS)
    with reverts("NothingToWithdraw"):
        s.send_burn()
    check_invariant(world)


def test_honest_challenger_beats_lying_defender_and_request_reopens(setup) -> None:
    world, truth, rid = setup
    s = world.system
    res_id, lie = post_lie(world, rid)
    challenger = world.challengers[0]
    gid = s.open_game(res_id, sender=challenger)
    g = play(world, gid, lie.hash, truth.hash, truth.state)
    assert g.status == GameStatus.CHALLENGER_WON and (g.lo, g.hi) == (HALT - 1, HALT)
    assert s.balance(challenger) == challenger_payout() and s.burned() == BURN_R
    assert s.result(res_id).status == ResultStatus.REJECTED and s.result(res_id).sharers == 1
    req = s.get_request(rid)
    assert req.status == RequestStatus.OPEN and req.result_id == 0
    assert req.reopen_at == world.now() + 1     # the rejection's block time + the reopen delay
    assert s.is_barred(rid, world.operator) and not s.is_barred(rid, world.accounts[7])
    with reverts("OperatorBarred"):      # the rejected operator cannot post on this request again
        post_honest(world, rid, sender=world.operator)
    names = [e.name for e in s.events_since(0)]
    assert names[-2:] == ["GameResolved", "ResultRejected"]
    with reverts("ResultNotPending"):
        s.finalize(res_id)
    # another operator serves the reopened request and is paid after the window
    second = world.accounts[7]
    res2 = post_honest(world, rid, sender=second)
    with reverts("ChallengeWindowOpen"):
        s.finalize(res2)
    advance_time(world.w3, WINDOW + 1)
    s.finalize(res2)
    assert s.balance(second) == FEE + RESULT_BOND
    assert s.get_request(rid).status == RequestStatus.FINALIZED


def test_defender_lying_in_midpoints_loses(setup) -> None:
    """The final claim is true but the defender posts garbage midpoints: it loses where it lied."""
    world, truth, rid = setup
    res_id = post_honest(world, rid)
    gid = world.system.open_game(res_id, sender=world.challengers[0])
    g = play(world, gid, lambda k: bytes([k]) * 32, truth.hash, truth.state)
    assert g.status == GameStatus.CHALLENGER_WON and g.hi - g.lo == 1 and g.lo == 0


def test_unreachable_final_state_loses(setup) -> None:
    """The operator claims the run halts at 2 * HALT steps; the true run halts at HALT."""
    world, truth, rid = setup
    res_id, lie = post_lie(world, rid, halt_at=2 * HALT)
    lie_with_true_prefix = ToyRun(truth.initial, 2 * HALT, lie.final_root)
    gid = world.system.open_game(res_id, sender=world.challengers[0])
    g = play(world, gid, lie_with_true_prefix.hash, truth.hash, truth.state)
    assert g.status == GameStatus.CHALLENGER_WON and (g.lo, g.hi) == (HALT - 1, HALT)


def test_short_claim_loses(setup) -> None:
    """The operator claims an exit at HALT // 2; past the true prefix, its claims cannot be proven."""
    world, truth, rid = setup
    res_id, lie = post_lie(world, rid, halt_at=HALT // 2)
    gid = world.system.open_game(res_id, sender=world.challengers[0])
    g = play(world, gid, lie.hash, truth.hash, truth.state)
    assert g.status == GameStatus.CHALLENGER_WON and g.hi == HALT // 2


def test_challenger_disagreeing_with_everything_loses(setup) -> None:
    world, truth, rid = setup
    res_id = post_honest(world, rid)
    gid = world.system.open_game(res_id, sender=world.challengers[0])
    g = play(world, gid, truth.hash, lambda k: b"\x00" * 32, truth.state, prover=world.accounts[8])
    assert (g.lo, g.hi) == (0, 1) and g.status == GameStatus.DEFENDER_WON


def test_single_step_result_starts_in_proof_phase() -> None:
    world, truth = make_world(1)
    s = world.system
    rid = s.request(world.model_id, toy_input())
    run, final = world.run_for(toy_input(), true_output(toy_input()), 1)
    res_id = world.post(rid, run, final, true_output(toy_input()))
    gid = s.open_game(res_id, sender=world.challengers[0])
    g = s.game(gid)
    assert g.phase == Phase.PROOF and (g.lo, g.hi) == (0, 1)
    with reverts("WrongPhase"):
        s.post_midpoint(gid, 0, b"\x01" * 32, sender=world.operator)
    s.prove(gid, truth.state(0), bytes(1792), sender=world.operator)
    assert s.game(gid).status == GameStatus.DEFENDER_WON


# ----------------------------------------------------------------------------- clocks

def test_defender_timeout(setup) -> None:
    world, truth, rid = setup
    s = world.system
    res_id = post_honest(world, rid)
    challenger = world.challengers[0]
    gid = s.open_game(res_id, sender=challenger)
    with reverts("ClockNotExpired"):
        s.timeout(gid)
    advance_time(world.w3, CLOCK + 1)
    with reverts("ClockExpired"):
        s.post_midpoint(gid, HALT // 2, truth.hash(HALT // 2), sender=world.operator)
    s.timeout(gid, sender=world.accounts[8])
    g = s.game(gid)
    assert g.status == GameStatus.CHALLENGER_WON
    assert s.balance(challenger) == challenger_payout()
    assert s.result(res_id).status == ResultStatus.REJECTED


def test_challenger_timeout_in_response_and_clock_accounting(setup) -> None:
    world, truth, rid = setup
    s = world.system
    res_id = post_honest(world, rid)
    challenger = world.challengers[0]
    gid = s.open_game(res_id, sender=challenger)
    advance_time(world.w3, 100)
    s.post_midpoint(gid, HALT // 2, truth.hash(HALT // 2), sender=world.operator)
    g = s.game(gid)
    assert CLOCK - 110 <= g.defender_clock <= CLOCK - 100 and g.challenger_clock == CLOCK
    assert s.clock_deadline(gid) == g.last_move_at + CLOCK
    advance_time(world.w3, CLOCK - 20)
    with reverts("ClockNotExpired"):
        s.timeout(gid)
    advance_time(world.w3, 21)
    with reverts("ClockExpired"):
        s.respond(gid, HALT // 2, True, sender=challenger)
    s.timeout(gid)
    assert s.game(gid).status == GameStatus.DEFENDER_WON
    assert s.result(res_id).defended == 1 and s.balance(world.operator) == 0   # settled with the result


def test_challenger_timeout_in_proof_phase(setup) -> None:
    """At one step left the burden of proof is on the challenger; the defender may also prove."""
    world, truth, rid = setup
    s = world.system
    res_id = post_honest(world, rid)
    gid = s.open_game(res_id, sender=world.challengers[0])
    # the challenger plays along (agrees with every true hash) but never proves
    while s.game(gid).phase != Phase.PROOF:
        g = s.game(gid)
        if g.phase == Phase.MIDPOINT:
            s.post_midpoint(gid, g.mid, truth.hash(g.mid), sender=world.operator)
        else:
            s.respond(gid, g.mid, True, sender=world.challengers[0])
    advance_time(world.w3, CLOCK + 1)
    with reverts("ClockExpired"):
        s.prove(gid, truth.state(HALT - 1), bytes(1792))
    s.timeout(gid)
    assert s.game(gid).status == GameStatus.DEFENDER_WON


# ----------------------------------------------------------------------------- turn order

def test_moves_out_of_turn_repeated_and_stale(setup) -> None:
    world, truth, rid = setup
    s = world.system
    res_id = post_honest(world, rid)
    ch = world.challengers[0]
    gid = s.open_game(res_id, sender=ch)
    mid = HALT // 2
    with reverts("NotDefender"):
        s.post_midpoint(gid, mid, truth.hash(mid), sender=ch)
    with reverts("WrongPhase"):
        s.respond(gid, mid, True, sender=ch)
    with reverts("WrongStep"):
        s.post_midpoint(gid, mid + 1, truth.hash(mid + 1), sender=world.operator)
    with reverts("WrongPhase"):
        s.prove(gid, truth.state(0), bytes(1792))
    s.post_midpoint(gid, mid, truth.hash(mid), sender=world.operator)
    with reverts("WrongPhase"):   # repeated midpoint
        s.post_midpoint(gid, mid, truth.hash(mid), sender=world.operator)
    with reverts("NotChallenger"):
        s.respond(gid, mid, True, sender=world.operator)
    with reverts("NotChallenger"):
        s.respond(gid, mid, True, sender=world.challengers[1])
    s.respond(gid, mid, True, sender=ch)
    with reverts("WrongPhase"):   # repeated response
        s.respond(gid, mid, True, sender=ch)
    nxt = s.game(gid).mid
    s.post_midpoint(gid, nxt, truth.hash(nxt), sender=world.operator)
    with reverts("WrongStep"):    # a stale response for the previous midpoint
        s.respond(gid, mid, False, sender=ch)
    g = s.game(gid)
    assert (g.lo, g.hi, g.phase) == (mid, HALT, Phase.RESPONSE)


def test_moves_on_a_finished_game(setup) -> None:
    world, truth, rid = setup
    s = world.system
    res_id = post_honest(world, rid)
    ch = world.challengers[0]
    gid = s.open_game(res_id, sender=ch)
    g = play(world, gid, truth.hash, lambda k: b"\x00" * 32, truth.state)
    assert g.status == GameStatus.DEFENDER_WON
    with reverts("GameNotActive"):
        s.post_midpoint(gid, 0, b"\x01" * 32, sender=world.operator)
    with reverts("GameNotActive"):
        s.respond(gid, 0, True, sender=ch)
    with reverts("GameNotActive"):
        s.prove(gid, truth.state(0), bytes(1792))
    with reverts("GameNotActive"):
        s.timeout(gid)
    with reverts("GameNotActive"):
        s.cancel_game(gid)
    with reverts("GameNotActive"):
        s.timeout(12345)


def test_one_step_proof_for_the_wrong_step(setup) -> None:
    world, truth, rid = setup
    s = world.system
    res_id, lie = post_lie(world, rid)
    gid = s.open_game(res_id, sender=world.challengers[0])
    while s.game(gid).phase != Phase.PROOF:
        g = s.game(gid)
        if g.phase == Phase.MIDPOINT:
            s.post_midpoint(gid, g.mid, lie.hash(g.mid), sender=world.operator)
        else:
            s.respond(gid, g.mid, g.mid_hash == truth.hash(g.mid), sender=world.challengers[0])
    g = s.game(gid)
    for wrong in (truth.state(g.lo - 1), truth.state(g.hi), lie.state(g.hi),
                  with_field(truth.state(g.lo), pc=4)):
        with reverts("WrongPreState"):
            s.prove(gid, wrong, bytes(1792))
    with reverts("BadStateLength"):
        s.prove(gid, truth.state(g.lo)[:-1], bytes(1792))
    s.prove(gid, truth.state(g.lo), bytes(1792))
    assert s.game(gid).status == GameStatus.CHALLENGER_WON


# ----------------------------------------------------------------------------- several challengers

def test_several_lying_challengers_all_lose_then_finalize(setup) -> None:
    world, truth, rid = setup
    s = world.system
    res_id = post_honest(world, rid)
    lie, _ = world.run_for(toy_input(), WRONG_OUT, HALT)
    games = [s.open_game(res_id, sender=c) for c in world.challengers[:3]]
    assert s.result(res_id).open_games == 3
    play(world, games[0], truth.hash, lie.hash, truth.state)
    play(world, games[1], truth.hash, lambda k: b"\x00" * 32, truth.state)
    s.post_midpoint(games[2], HALT // 2, truth.hash(HALT // 2), sender=world.operator)
    advance_time(world.w3, WINDOW + 1)
    with reverts("ChallengeWindowClosed"):
        s.open_game(res_id, sender=world.challengers[3])
    with reverts("GamesOpen"):
        s.finalize(res_id)
    s.timeout(games[2])            # the third challenger never answered
    assert [s.game(g).status for g in games] == [GameStatus.DEFENDER_WON] * 3
    s.finalize(res_id)
    assert s.balance(world.operator) == FEE + RESULT_BOND + 3 * DEFENDER_GAIN
    assert s.burned() == 3 * BURN_C
    assert s.result(res_id).status == ResultStatus.FINALIZED


def test_several_challengers_lying_defender_first_win_rejects_and_others_cancel(setup) -> None:
    world, truth, rid = setup
    s = world.system
    res_id, lie = post_lie(world, rid)
    c0, c1, c2 = world.challengers[:3]
    g0, g1, g2 = (s.open_game(res_id, sender=c) for c in (c0, c1, c2))
    s.post_midpoint(g1, HALT // 2, lie.hash(HALT // 2), sender=world.operator)
    g = play(world, g0, lie.hash, truth.hash, truth.state)
    assert g.status == GameStatus.CHALLENGER_WON
    with reverts("ResultNotPending"):
        s.respond(g1, HALT // 2, True, sender=c1)
    with reverts("ResultNotPending"):
        s.timeout(g2)
    s.cancel_game(g1)
    s.cancel_game(g2, sender=world.accounts[8])
    assert [s.game(x).status for x in (g1, g2)] == [GameStatus.CANCELLED] * 2
    # three games were active at the rejection: each gets its bond back and a third of the unburnt bond
    assert s.result(res_id).sharers == 3
    assert s.balance(c0) == s.balance(c1) == s.balance(c2) == challenger_payout(3)
    assert s.burned() == RESULT_BOND - 3 * ((RESULT_BOND - BURN_R) // 3)   # the burn share + rounding dust
    cancelled = [e for e in s.events_since(0) if e.name == "GameCancelled"]
    assert [e["refund"] for e in cancelled] == [challenger_payout(3)] * 2
    assert s.result(res_id).open_games == 0


def test_cancel_needs_a_rejected_result(setup) -> None:
    world, _, rid = setup
    res_id = post_honest(world, rid)
    gid = world.system.open_game(res_id, sender=world.challengers[0])
    with reverts("ResultNotRejected"):
        world.system.cancel_game(gid)


# ----------------------------------------------------------------------------- finalize and money

def test_finalize_rules(setup) -> None:
    world, truth, rid = setup
    s = world.system
    res_id = post_honest(world, rid)
    with reverts("ChallengeWindowOpen"):
        s.finalize(res_id)
    gid = s.open_game(res_id, sender=world.challengers[0])
    s.post_midpoint(gid, HALT // 2, truth.hash(HALT // 2), sender=world.operator)
    advance_time(world.w3, WINDOW + 1)
    with reverts("GamesOpen"):
        s.finalize(res_id)
    s.timeout(gid)                                 # challenger silent: defender wins
    s.finalize(res_id, sender=world.accounts[8])   # anyone may finalize
    assert s.balance(world.operator) == FEE + RESULT_BOND + DEFENDER_GAIN
    with reverts("ResultNotPending"):
        s.finalize(res_id)
    with reverts("UnknownResult"):
        s.finalize(77)


def test_bond_accounting_invariant(setup) -> None:
    """Nothing is created or lost: deposits == withdrawable balances + withdrawals + still locked."""
    world, truth, rid = setup
    s, w3 = world.system, world.w3
    rid2 = s.request(world.model_id, toy_input(), fee=3 * FEE, sender=world.accounts[9])
    # request 1: a lie, beaten by c0; c1 cancelled; an honest second operator then finalizes
    res_a, lie = post_lie(world, rid)
    ga, gb = s.open_game(res_a, sender=world.challengers[0]), s.open_game(res_a, sender=world.challengers[1])
    play(world, ga, lie.hash, truth.hash, truth.state)
    s.cancel_game(gb)
    res_b = post_honest(world, rid, sender=world.accounts[7])
    # request 2: honest, beats a lying challenger; a second challenger still open when checked
    res_c = post_honest(world, rid2)
    gc = s.open_game(res_c, sender=world.challengers[2])
    play(world, gc, truth.hash, lambda k: b"\x00" * 32, truth.state)
    s.open_game(res_c, sender=world.challengers[3])

    withdrawn = 0
    for acct in (world.challengers[0], world.challengers[1]):
        withdrawn += s.withdraw(sender=acct)
    with reverts("NothingToWithdraw"):
        s.withdraw(sender=world.challengers[0])

    events = s.events_since(0)
    deposits = sum(e["fee"] for e in events if e.name == "RequestCreated")
    deposits += RESULT_BOND * sum(e.name == "ResultPosted" for e in events)
    deposits += CHALLENGE_BOND * sum(e.name == "GameOpened" for e in events)
    assert withdrawn == sum(e["amount"] for e in events if e.name == "Withdrawn")
    credited = sum(balances(world).values())
    # req2 fee, req1 fee, res_b, res_c, game 4, and gc's bond: the defender won it, settled with res_c
    locked = 3 * FEE + FEE + RESULT_BOND * 2 + CHALLENGE_BOND + CHALLENGE_BOND
    burned = BURN_R                                             # res_a's lie (gc's burn comes with res_c)
    assert s.burned() == burned and w3.eth.get_balance(BURN_ADDRESS) == 0
    assert credited + withdrawn + locked + burned == deposits
    assert w3.eth.get_balance(s.address) == credited + locked + burned
    assert check_invariant(world) == {"deposits": deposits, "credited": credited, "withdrawn": withdrawn,
                                      "locked": locked, "burned": burned}

    advance_time(w3, WINDOW + CLOCK + 2)
    operator_before = s.balance(world.operator)
    s.timeout(s.game_of(res_c, world.challengers[3]))   # defender silent: res_c rejected
    assert s.balance(world.operator) == operator_before + DEFENDER_GAIN   # gc's win settled by the rejection
    assert s.burned() == burned + BURN_C + BURN_R
    s.finalize(res_b)
    assert s.send_burn() == burned + BURN_C + BURN_R == w3.eth.get_balance(BURN_ADDRESS)
    assert w3.eth.get_balance(s.address) == sum(balances(world).values()) + 3 * FEE   # req2 open again
    for acct, amount in balances(world).items():
        if amount:
            before = w3.eth.get_balance(acct)
            got = s.withdraw(sender=acct)
            fee_paid = s.last_receipt["gasUsed"] * s.last_receipt["effectiveGasPrice"]
            assert got == amount and w3.eth.get_balance(acct) == before + amount - fee_paid
    assert w3.eth.get_balance(s.address) == 3 * FEE
    check_invariant(world)
    # the requester of req2 gives up after its deadline: the fee comes back, nothing stays locked
    with reverts("DeadlineNotReached"):
        s.cancel_request(rid2, sender=world.accounts[9])
    advance_time(w3, 30 * 24 * 3600 + 1)
    assert s.cancel_request(rid2, sender=world.accounts[9]) == 3 * FEE
    s.withdraw(sender=world.accounts[9])
    assert w3.eth.get_balance(s.address) == 0
    assert check_invariant(world)["locked"] == 0


def test_withdraw_cannot_be_reentered(setup) -> None:
    """A contract challenger re-entering withdraw from its receive hook gets Reentrancy()."""
    from contracts_world import FIXTURES

    from contracts.compile import compile_contracts
    from contracts.system import deploy_contract

    world, truth, rid = setup
    s, w3 = world.system, world.w3
    res_id, _ = post_lie(world, rid)
    attacker = deploy_contract(w3, compile_contracts(FIXTURES)["Reenterer"], s.address)
    attacker.functions.challenge(res_id).transact({"value": CHALLENGE_BOND})
    gid = s.game_of(res_id, attacker.address)
    advance_time(w3, CLOCK + 1)
    s.timeout(gid)                          # the defender never moved: the attacker contract wins
    owed = challenger_payout()
    assert s.balance(attacker.address) == owed
    attacker.functions.cashOut().transact({"gas": 1_000_000})
    assert attacker.functions.innerError().call() == w3.keccak(text="Reentrancy()")[:4]
    assert attacker.functions.received().call() == owed
    assert s.balance(attacker.address) == 0 and w3.eth.get_balance(s.address) == FEE + s.burned()


def test_failed_transfer_keeps_the_balance(setup) -> None:
    """A withdrawal whose transfer is refused reverts with TransferFailed: nothing is lost, it can be retried."""
    from contracts_world import FIXTURES
    from eth_tester.exceptions import TransactionFailed

    from contracts.compile import compile_contracts
    from contracts.system import deploy_contract

    world, _, rid = setup
    s, w3 = world.system, world.w3
    res_id, _ = post_lie(world, rid)
    wallet = deploy_contract(w3, compile_contracts(FIXTURES)["Rejecter"], s.address)
    wallet.functions.challenge(res_id).transact({"value": CHALLENGE_BOND})
    advance_time(w3, CLOCK + 1)
    s.timeout(s.game_of(res_id, wallet.address))            # the defender never moved: the wallet wins
    owed = CHALLENGE_BOND + RESULT_BOND - s.params.burn_share(RESULT_BOND)   # the rest of the liar's bond is burnt
    with pytest.raises(TransactionFailed) as exc:              # eth-tester names the raw revert data
        wallet.functions.cashOut().call({"gas": 1_000_000})
    assert repr(bytes(w3.keccak(text="TransferFailed()")[:4])) in str(exc.value)
    assert s.balance(wallet.address) == owed
    tx = wallet.functions.cashOut().transact({"gas": 1_000_000})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 0
    assert s.balance(wallet.address) == owed and w3.eth.get_balance(s.address) == FEE + owed + s.burned()
    wallet.functions.setAccept(True).transact()
    wallet.functions.cashOut().transact({"gas": 1_000_000})
    assert s.balance(wallet.address) == 0 and w3.eth.get_balance(wallet.address) == owed
