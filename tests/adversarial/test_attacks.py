"""Issue 14, contract side: one test per attack, played against Optimist on eth-tester with the toy machine
(tests/fixtures/sol/MockMIPS.sol). Each test asserts the honest side's outcome and every account's ETH change
(gas paid added back), and that the liar's accounts together lose at least the burn share of the bond.
The gas each attack costs its author is printed (docs/game-rules.md §8 quotes it)."""

from __future__ import annotations

import pytest
from adversary import Ledger, burn_share, new_account, share
from contracts_world import (
    CHALLENGE_BOND,
    CLOCK,
    FIXTURES,
    MAX_STEPS,
    NEVER,
    OUTPUT_LEN,
    RESULT_BOND,
    WINDOW,
    ToyRun,
    World,
    check_invariant,
    final_memory,
    make_world,
    play,
    toy_input,
    true_output,
    with_field,
)

from contracts.compile import compile_contracts
from contracts.system import (
    ContractRevert,
    GameStatus,
    Outcome,
    RequestStatus,
    ResultStatus,
    advance_time,
    deploy_contract,
    deploy_system,
)
from mipsvm.layout import OUTPUT_BASE
from mipsvm.regions import region_path

HALT = 20
FEE = 5 * 10**16
TRAP = 0x84                    # the exit code of a `teq` trap (e.g. an integer division by zero)
FAKE = b"\x42" * OUTPUT_LEN
BURN_R, BURN_C = RESULT_BOND // 2, CHALLENGE_BOND // 2


def reverts(name: str):
    return pytest.raises(ContractRevert, match=rf": {name}\(")


def disagree_all(k: int) -> bytes:
    return b"\x00" * 32


def post_run(world: World, rid: int, run: ToyRun, out: bytes, sender: str) -> int:
    """Post the final state of `run`: with `out` and its proof on success, bare otherwise."""
    state = run.state(run.halt_at)
    if run.exit_code == 0:
        final = final_memory(world.image, toy_input(), out)
        return world.system.post_result(rid, out, state, region_path(final, OUTPUT_BASE, 64), sender=sender)
    return world.system.post_result(rid, b"", state, [], sender=sender)


def fabricated_success(world: World, halt_at: int = HALT) -> ToyRun:
    """A consistent lie: the run exits with code 0 and FAKE as output after `halt_at` steps."""
    return world.run_for(toy_input(), FAKE, halt_at)[0]


def no_halt_run(world: World) -> ToyRun:
    """The honest belief about a run that is still going at MAX_STEPS."""
    return ToyRun(world.run_for(toy_input(), FAKE, NEVER)[0].initial, NEVER, bytes(32))


def no_halt_state(run: ToyRun) -> bytes:
    return run.state(MAX_STEPS)


# ------------------------------------------------------------------------ 1. trapping input, fabricated success

def test_trapping_input_fabricated_success_loses_to_the_true_trap_outcome() -> None:
    """The true run traps (exit 0x84 at step HALT). A liar posts exit 0 with a made-up output; the honest
    challenger wins at the trapping step; the honest operator then posts the failure, which finalizes, pays
    the operator and tells the requester the exit code."""
    world, truth = make_world(HALT, exit_code=TRAP)
    s = world.system
    requester, liar, honest_op, challenger = world.accounts[9], world.accounts[1], world.accounts[7], world.accounts[2]
    ledger = Ledger(world, {"requester": requester, "liar": liar, "operator": honest_op, "challenger": challenger})
    rid = s.request(world.model_id, toy_input(), fee=FEE, sender=requester)
    lie = fabricated_success(world)
    lie_id = post_run(world, rid, lie, FAKE, liar)
    gid = s.open_game(lie_id, sender=challenger)
    g = play(world, gid, lie.hash, truth.hash, truth.state, prover=challenger)
    assert g.status == GameStatus.CHALLENGER_WON and (g.lo, g.hi) == (HALT - 1, HALT)   # the trapping step
    assert s.result(lie_id).status == ResultStatus.REJECTED

    with reverts("RequestNotFinalized"):
        s.outcome(rid)
    failure_id = post_run(world, rid, truth, b"", honest_op)
    assert (s.result(failure_id).outcome, s.result(failure_id).exit_code) == (Outcome.FAILURE, TRAP)
    # a lying challenger claiming the run succeeds loses the failure result's defence
    liar2 = world.accounts[3]
    ledger.accounts["liar2"] = liar2
    ledger.start["liar2"] = world.w3.eth.get_balance(liar2)
    gid2 = s.open_game(failure_id, sender=liar2)
    g2 = play(world, gid2, truth.hash, lie.hash, truth.state, prover=honest_op)
    assert g2.status == GameStatus.DEFENDER_WON
    advance_time(world.w3, WINDOW + 1)
    s.finalize(failure_id)
    out = s.outcome(rid)
    assert (out.outcome, out.exit_code, out.steps, out.result_id) == (Outcome.FAILURE, TRAP, HALT, failure_id)
    (ev,) = [e for e in s.events_since(0) if e.name == "ResultFinalized"]
    assert (ev["outcome"], ev["exitCode"], ev["fee"]) == (Outcome.FAILURE, TRAP, FEE)

    ledger.withdraw_all()
    check_invariant(world)
    assert ledger.net() == {
        "requester": -FEE, "liar": -RESULT_BOND, "operator": FEE + CHALLENGE_BOND - BURN_C,
        "challenger": RESULT_BOND - BURN_R, "liar2": -CHALLENGE_BOND, "burn": BURN_R + BURN_C, "contract": 0}
    print(f"\nfabricated success on a trapping input: liar gas {ledger.gas()['liar']:,}, "
          f"bond lost {RESULT_BOND}")


# ------------------------------------------------------------------------ 2. non-halting input

def test_non_halting_claims_above_max_steps_revert_and_the_no_halt_outcome_is_provable() -> None:
    """The true run never halts. Claims beyond the model's maxSteps revert; a fabricated success within it
    loses; the honest "did not halt" state at exactly maxSteps is defended and finalizes."""
    world, _ = make_world(NEVER)
    s = world.system
    requester, liar, honest_op, challenger, liar_ch = (world.accounts[i] for i in (9, 1, 7, 2, 3))
    ledger = Ledger(world, {"requester": requester, "liar": liar, "operator": honest_op,
                            "challenger": challenger, "lying challenger": liar_ch})
    rid = s.request(world.model_id, toy_input(), fee=FEE, sender=requester)
    truth = no_halt_run(world)
    beyond = fabricated_success(world, MAX_STEPS + 1)
    with reverts("StepsOutOfRange"):          # an exit claimed after maxSteps
        post_run(world, rid, beyond, FAKE, liar)
    with reverts("RunNotFinished"):           # "still running" claimed past maxSteps ...
        s.post_result(rid, b"", with_field(no_halt_state(truth), step=MAX_STEPS + 1), [], sender=liar)
    with reverts("RunNotFinished"):           # ... or before it
        s.post_result(rid, b"", truth.state(MAX_STEPS - 1), [], sender=liar)
    # mined anyway, such a post reverts and keeps no bond: the liar pays gas only (checked by the ledger)
    data = s.contract.encode_abi("postResult", [rid, b"", beyond.state(MAX_STEPS + 1), []])
    tx = world.w3.eth.send_transaction({"from": liar, "to": s.address, "value": RESULT_BOND, "gas": 300_000,
                                        "data": data})
    receipt = world.w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 0 and s.counts()[2] == 0
    print(f"\npost beyond maxSteps: reverted, {receipt['gasUsed']:,} gas")

    lie = fabricated_success(world, MAX_STEPS // 3)
    lie_id = post_run(world, rid, lie, FAKE, liar)
    gid = s.open_game(lie_id, sender=challenger)
    assert play(world, gid, lie.hash, truth.hash, truth.state).status == GameStatus.CHALLENGER_WON

    nohalt_id = s.post_result(rid, b"", no_halt_state(truth), [], sender=honest_op)
    res = s.result(nohalt_id)
    assert (res.outcome, res.steps) == (Outcome.NO_HALT, MAX_STEPS)
    gid2 = s.open_game(nohalt_id, sender=liar_ch)   # claims the run halts at step 100
    g2 = play(world, gid2, truth.hash, fabricated_success(world, 100).hash, truth.state, prover=honest_op)
    assert g2.status == GameStatus.DEFENDER_WON and g2.hi - g2.lo == 1 and g2.hi <= 100
    rounds = sum(1 for e in s.events_since(0) if e.name == "MoveMade" and e["gameId"] == gid2) // 2
    assert rounds <= MAX_STEPS.bit_length()   # the bisection is bounded by the model's maxSteps
    advance_time(world.w3, WINDOW + 1)
    s.finalize(nohalt_id)
    assert s.outcome(rid).outcome == Outcome.NO_HALT and s.get_request(rid).status == RequestStatus.FINALIZED

    ledger.withdraw_all()
    check_invariant(world)
    assert ledger.net() == {
        "requester": -FEE, "liar": -RESULT_BOND, "operator": FEE + CHALLENGE_BOND - BURN_C,
        "challenger": RESULT_BOND - BURN_R, "lying challenger": -CHALLENGE_BOND, "burn": BURN_R + BURN_C,
        "contract": 0}


def test_no_halt_claim_on_a_halting_run_loses() -> None:
    """The run halts at HALT with an output; a liar claims it is still running at maxSteps."""
    world, truth = make_world(HALT)
    s = world.system
    liar, challenger = world.accounts[1], world.accounts[2]
    ledger = Ledger(world, {"liar": liar, "challenger": challenger})
    rid = s.request(world.model_id, toy_input(), fee=FEE, sender=world.accounts[9])
    lie = no_halt_run(world)
    lie_id = s.post_result(rid, b"", no_halt_state(lie), [], sender=liar)
    gid = s.open_game(lie_id, sender=challenger)
    g = play(world, gid, lie.hash, truth.hash, truth.state)
    assert g.status == GameStatus.CHALLENGER_WON and (g.lo, g.hi) == (HALT - 1, HALT)
    ledger.withdraw_all()
    assert ledger.net() == {"liar": -RESULT_BOND, "challenger": RESULT_BOND - BURN_R, "burn": BURN_R,
                            "contract": FEE}


# ------------------------------------------------------------------------ 3. self-challenge bond recycling

@pytest.mark.parametrize("honest_challenger", [True, False])
def test_self_challenge_bond_recycling_costs_the_liar_the_burn_share(honest_challenger: bool) -> None:
    """The liar's second account disputes the liar's own lie and wins fast while the liar leaves the honest
    challenger's game idle. The liar's two accounts together lose at least the burn share; the honest
    challenger gets its bond back and an equal share of the unburnt bond."""
    world, truth = make_world(HALT)
    s = world.system
    liar, liar2, honest = world.accounts[1], world.accounts[4], world.accounts[2]
    names = {"liar": liar, "liar's 2nd account": liar2} | ({"challenger": honest} if honest_challenger else {})
    ledger = Ledger(world, names)
    rid = s.request(world.model_id, toy_input(), fee=FEE, sender=world.accounts[9])
    lie = fabricated_success(world)
    lie_id = post_run(world, rid, lie, FAKE, liar)
    honest_gid = s.open_game(lie_id, sender=honest) if honest_challenger else None
    own_gid = s.open_game(lie_id, sender=liar2)
    # the liar answers only its own account's game, with a midpoint its partner disagrees with: 5 rounds
    g = play(world, own_gid, lambda k: bytes([k + 1]) * 32, disagree_all, truth.state, prover=liar2)
    assert g.status == GameStatus.CHALLENGER_WON
    sharers = 2 if honest_challenger else 1
    assert s.result(lie_id).sharers == sharers
    if honest_gid is not None:
        s.cancel_game(honest_gid, sender=honest)
        assert s.game(honest_gid).status == GameStatus.CANCELLED
    ledger.withdraw_all()
    check_invariant(world)
    net = ledger.net()
    liar_total = net["liar"] + net["liar's 2nd account"]
    assert net["liar"] == -RESULT_BOND and net["liar's 2nd account"] == share(world, sharers)
    assert liar_total <= -burn_share(world, RESULT_BOND)
    assert net["burn"] == RESULT_BOND - sharers * share(world, sharers)
    if honest_challenger:
        assert net["challenger"] == share(world, 2) > 0
        assert liar_total == -RESULT_BOND + (RESULT_BOND - BURN_R) // 2
    liar_gas = sum(ledger.gas()[n] for n in ("liar", "liar's 2nd account"))
    print(f"\nself-challenge (honest challenger: {honest_challenger}): liar accounts lose {-liar_total} wei, "
          f"gas {liar_gas:,}")


# ------------------------------------------------------------------------ 4. re-post griefing

def test_repost_in_the_reopening_transaction_is_impossible() -> None:
    """A contract wallet wins a game against its partner's lie by timeout and posts a new lie in the same
    transaction: RequestReopening. From the next block on, the first valid post (the honest operator's)
    wins; the rejected operator is barred from the request."""
    world, truth = make_world(HALT)
    s, w3 = world.system, world.w3
    liar, owner, honest_op = world.accounts[1], world.accounts[5], world.accounts[7]
    wallet = deploy_contract(w3, compile_contracts(FIXTURES)["Reposter"], s.address, sender=owner)
    ledger = Ledger(world, {"liar": liar, "wallet owner": owner, "wallet": wallet.address,
                            "operator": honest_op, "requester": world.accounts[9]})
    rid = s.request(world.model_id, toy_input(), fee=FEE, sender=world.accounts[9])
    lie = fabricated_success(world)
    lie_id = post_run(world, rid, lie, FAKE, liar)
    wallet.functions.challenge(lie_id).transact({"from": owner, "value": CHALLENGE_BOND})
    gid = s.game_of(lie_id, wallet.address)
    advance_time(w3, CLOCK + 1)                  # the liar lets its clock run out on purpose
    state = lie.state(HALT)
    proof = region_path(final_memory(world.image, toy_input(), FAKE), OUTPUT_BASE, 64)
    wallet.functions.timeoutAndRepost(gid, rid, FAKE, state, proof).transact(
        {"from": owner, "value": RESULT_BOND, "gas": 2_000_000})
    assert s.game(gid).status == GameStatus.CHALLENGER_WON
    inner = wallet.functions.innerError().call()
    reopen_at = s.get_request(rid).reopen_at
    assert inner == w3.keccak(text="RequestReopening(uint256)")[:4] + reopen_at.to_bytes(32, "big")
    assert s.get_request(rid).status == RequestStatus.OPEN and s.counts()[2] == 1   # no new result
    with reverts("OperatorBarred"):
        post_run(world, rid, lie, FAKE, liar)
    honest_id = post_run(world, rid, truth, true_output(toy_input()), honest_op)   # the next block: in time
    with reverts("RequestNotOpen"):
        post_run(world, rid, lie, FAKE, world.accounts[6])
    advance_time(w3, WINDOW + 1)
    s.finalize(honest_id)
    wallet.functions.cashOut().transact({"from": owner})
    ledger.withdraw_all()
    check_invariant(world)
    assert ledger.net() == {
        "liar": -RESULT_BOND, "wallet owner": -(CHALLENGE_BOND + RESULT_BOND),
        "wallet": RESULT_BOND + CHALLENGE_BOND + (RESULT_BOND - BURN_R),   # the refused re-post bond + winnings
        "operator": FEE, "requester": -FEE, "burn": BURN_R, "contract": 0}
    net = ledger.net()
    assert net["liar"] + net["wallet owner"] + net["wallet"] == -BURN_R   # the attacker's accounts together


# ------------------------------------------------------------------------ 5. requests end

def test_requester_cancels_after_its_deadline_and_gets_the_fee_back() -> None:
    """A request nobody answers, and a request whose only result was a rejected lie: after the requester's
    deadline both are cancelled and the fee comes back; a pending result cannot be cancelled away."""
    world, truth = make_world(HALT)
    s, w3 = world.system, world.w3
    requester, liar, challenger = world.accounts[9], world.accounts[1], world.accounts[2]
    ledger = Ledger(world, {"requester": requester, "liar": liar, "challenger": challenger})
    now = world.now()
    with reverts("BadDeadline"):
        s.request(world.model_id, toy_input(), fee=FEE, sender=requester, deadline=now)
    with reverts("BadDeadline"):
        s.request(world.model_id, toy_input(), fee=FEE, sender=requester, deadline=now + 31 * 24 * 3600)
    unanswered = s.request(world.model_id, toy_input(), fee=FEE, sender=requester, deadline=now + 100)
    rid = s.request(world.model_id, toy_input(), fee=2 * FEE, sender=requester, deadline=now + 100)
    assert s.get_request(rid).deadline == now + 100
    with reverts("DeadlineNotReached"):
        s.cancel_request(unanswered, sender=requester)
    with reverts("NotRequester"):
        s.cancel_request(unanswered, sender=liar)
    lie = fabricated_success(world)
    lie_id = post_run(world, rid, lie, FAKE, liar)
    gid = s.open_game(lie_id, sender=challenger)
    advance_time(w3, 101)
    with reverts("RequestNotOpen"):             # a result is pending: its games decide first
        s.cancel_request(rid, sender=requester)
    assert s.cancel_request(unanswered, sender=requester) == FEE
    play(world, gid, lie.hash, truth.hash, truth.state)
    assert s.get_request(rid).status == RequestStatus.OPEN
    assert s.cancel_request(rid, sender=requester) == 2 * FEE
    assert s.get_request(rid).status == RequestStatus.CANCELLED
    with reverts("RequestNotOpen"):             # nobody can post on a cancelled request
        post_run(world, rid, truth, true_output(toy_input()), world.accounts[7])
    with reverts("RequestNotOpen"):
        s.cancel_request(rid, sender=requester)
    cancelled = [e for e in s.events_since(0) if e.name == "RequestCancelled"]
    assert [(e["requestId"], e["fee"]) for e in cancelled] == [(unanswered, FEE), (rid, 2 * FEE)]
    ledger.withdraw_all()
    check_invariant(world)
    assert ledger.net() == {"requester": 0, "liar": -RESULT_BOND, "challenger": RESULT_BOND - BURN_R,
                            "burn": BURN_R, "contract": 0}
    gas = ledger.gas()
    print(f"\ncancel: requester gas {gas['requester']:,} for 2 requests + 2 cancels + 1 withdraw")


# ------------------------------------------------------------------------ 6. many games at once

def test_many_games_at_once() -> None:
    """Twelve lying challengers against one honest result and eight honest challengers against one lie, all
    games open together: the honest side wins every game; the counters and bonds add up."""
    world, truth = make_world(HALT)
    s = world.system
    honest_op, liar = world.accounts[1], world.accounts[8]
    liars = [new_account(world) for _ in range(12)]
    honest = [new_account(world) for _ in range(8)]
    ledger = Ledger(world, {"operator": honest_op, "liar": liar} | {f"l{i}": a for i, a in enumerate(liars)}
                    | {f"h{i}": a for i, a in enumerate(honest)})
    rid_a = s.request(world.model_id, toy_input(), fee=FEE, sender=world.accounts[9])
    rid_b = s.request(world.model_id, toy_input(), fee=FEE, sender=world.accounts[9])
    good = post_run(world, rid_a, truth, true_output(toy_input()), honest_op)
    lie = fabricated_success(world)
    bad = post_run(world, rid_b, lie, FAKE, liar)
    games_a = [s.open_game(good, sender=a) for a in liars]
    games_b = [s.open_game(bad, sender=a) for a in honest]
    assert (s.result(good).open_games, s.result(bad).open_games) == (12, 8)
    for gid in games_a:
        assert play(world, gid, truth.hash, disagree_all, truth.state).status == GameStatus.DEFENDER_WON
    first = play(world, games_b[3], lie.hash, truth.hash, truth.state)
    assert first.status == GameStatus.CHALLENGER_WON and s.result(bad).sharers == 8
    for gid in games_b:
        if gid != games_b[3]:
            s.cancel_game(gid)
    assert (s.result(good).open_games, s.result(bad).open_games) == (0, 0)
    advance_time(world.w3, WINDOW + 1)
    s.finalize(good)
    ledger.withdraw_all()
    check_invariant(world)
    net = ledger.net()
    assert net["operator"] == FEE + 12 * (CHALLENGE_BOND - BURN_C)
    assert all(net[f"l{i}"] == -CHALLENGE_BOND for i in range(12))
    assert all(net[f"h{i}"] == share(world, 8) for i in range(8))
    assert net["liar"] == -RESULT_BOND
    assert net["burn"] == 12 * BURN_C + RESULT_BOND - 8 * share(world, 8)
    assert net["contract"] == FEE              # request b waits for an honest answer
    print(f"\nmany games: operator gas {ledger.gas()['operator']:,} for 12 games; "
          f"one lying challenger's gas {ledger.gas()['l0']:,}")


# ------------------------------------------------------------------------ 7. bad constructor arguments

GOOD = {"challenge_window": 600, "clock": 300, "result_bond": 10**17, "challenge_bond": 10**17,
        "burn_bps": 5000, "reopen_delay": 12}
BAD = [
    ("clock", {"clock": 0}), ("clock", {"clock": 29}), ("clock", {"clock": 7 * 24 * 3600 + 1}),
    ("challengeWindow", {"challenge_window": 0}), ("challengeWindow", {"challenge_window": 30 * 24 * 3600 + 1}),
    ("resultBond", {"result_bond": 0}), ("challengeBond", {"challenge_bond": 0}),
    ("resultBond", {"result_bond": 1}),                  # its burn share would round to 0 wei
    ("burnBps", {"burn_bps": 0}), ("burnBps", {"burn_bps": 10_001}),
    ("reopenDelay", {"reopen_delay": 0}), ("reopenDelay", {"reopen_delay": 3601}),
]


@pytest.fixture(scope="module")
def bare_chain():
    world, _ = make_world(HALT)
    return world


@pytest.mark.parametrize(("name", "override"), BAD, ids=[f"{n}={next(iter(o.values()))}" for n, o in BAD])
def test_bad_constructor_args_revert(bare_chain: World, name: str, override: dict[str, int]) -> None:
    from contracts.system import compile_system

    args = {**GOOD, **override}
    with pytest.raises(ValueError):             # the wrapper refuses first, with a sentence
        deploy_system(bare_chain.w3, mips_address=bare_chain.system.params.mips, **args)
    art = compile_system()["Optimist"]          # and the contract itself refuses
    with reverts("BadParameter") as exc:
        deploy_contract(bare_chain.w3, art, bare_chain.system.params.mips, bare_chain.system.checker.address,
                        args["challenge_window"], args["clock"], args["result_bond"], args["challenge_bond"],
                        args["burn_bps"], args["reopen_delay"])
    assert exc.value.fields["name"] == name


def test_mips_or_node_checker_without_code_is_refused(bare_chain: World) -> None:
    from contracts.system import compile_system

    checker = bare_chain.system.checker.address
    with reverts("BadParameter") as exc:
        deploy_contract(bare_chain.w3, compile_system()["Optimist"], bare_chain.accounts[3], checker, 600, 300,
                        10**17, 10**17, 5000, 12)
    assert exc.value.fields["name"] == "mips"
    with reverts("BadParameter") as exc:
        deploy_contract(bare_chain.w3, compile_system()["Optimist"], bare_chain.system.params.mips,
                        bare_chain.accounts[3], 600, 300, 10**17, 10**17, 5000, 12)
    assert exc.value.fields["name"] == "nodeChecker"
    system = deploy_system(bare_chain.w3, mips_address=bare_chain.system.params.mips, **GOOD)
    assert system.params.reopen_delay == 12 and system.params.burn_bps == 5000
