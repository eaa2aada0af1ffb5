"""Request callbacks (Optimist.requestWithCallback / finalizeWithOutput, IOptimistConsumer) on the toy
machine (tests/contracts_world.py): the consumer gets the outcome and the proven output, a failing or
greedy consumer never blocks finalization, the finalizer cannot starve it, and the example dapp
(contracts/examples/DigitBounty.sol) pays only for a finalized result whose argmax is its target, also when the
answer came in a batch and is judged by its leaf."""

from __future__ import annotations

import struct

import pytest
from eth_utils import keccak
from web3.logs import DISCARD

from contracts.batches import Claim, Leaf, leaf_proof
from contracts.compile import compile_contracts
from contracts.system import (
    MAX_CALLBACK_GAS,
    MAX_REQUEST_TIME,
    REVERTS,
    ContractRevert,
    Outcome,
    RequestStatus,
    ResultStatus,
    _revert_data,
    advance_time,
    compile_examples,
    deploy_contract,
)
from mipsvm.layout import OUTPUT_BASE
from mipsvm.memory import keccak256
from mipsvm.regions import region_path
from optimist.client import Client
from tests.contracts_world import (
    CHALLENGE_BOND,
    FIXTURES,
    OUTPUT_LEN,
    RESULT_BOND,
    WINDOW,
    World,
    check_invariant,
    make_world,
    play,
    toy_input,
    true_output,
)

FEE = 10**16
GAS = 200_000


def consumer(world: World, name: str = "RecordingConsumer"):
    return deploy_contract(world.w3, compile_contracts(FIXTURES)[name])


def posted(world: World, truth, *, gas: int = GAS, callback=None, out: bytes | None = None) -> tuple[int, int]:
    """A request with `callback` (its address) answered with `out` (default: the truth); (request, result)."""
    inp = toy_input()
    rid = world.system.request(world.model_id, inp, fee=FEE, callback=callback, callback_gas=gas)
    out = true_output(inp) if out is None else out
    run, final = world.run_for(inp, out, truth.halt_at)
    return rid, world.post(rid, run, final, out)


def callback_events(world: World) -> list:
    return [e for e in world.system.events_since(0) if e.name == "CallbackCalled"]


def test_callback_gets_the_outcome_and_the_output() -> None:
    world, truth = make_world()
    c = consumer(world)
    rid, res = posted(world, truth, callback=c.address)
    req = world.system.get_request(rid)
    assert (req.callback, req.callback_gas, req.has_callback) == (c.address, GAS, True)
    advance_time(world.w3, WINDOW + 1)
    out = true_output(toy_input())
    world.system.finalize(res, output=out, sender=world.accounts[7])   # anyone may finalize
    assert world.system.get_request(rid).status == RequestStatus.FINALIZED
    f = c.functions
    assert (f.calls().call(), f.lastRequestId().call(), f.lastOutcome().call(), f.lastExitCode().call()) == (
        1, rid, Outcome.SUCCESS, 0)
    assert f.lastOutput().call() == out and f.caller().call() == world.system.address
    (ev,) = callback_events(world)
    assert ev.args == {"requestId": rid, "callback": c.address, "ok": True, "reason": b""}
    assert world.system.balance(world.operator) == FEE + RESULT_BOND
    check_invariant(world)


def test_a_success_with_a_callback_needs_the_right_output() -> None:
    world, truth = make_world()
    c = consumer(world)
    _, res = posted(world, truth, callback=c.address)
    advance_time(world.w3, WINDOW + 1)
    out = true_output(toy_input())
    with pytest.raises(ContractRevert) as exc:
        world.system.finalize(res)
    assert exc.value.name == "OutputMismatch" and exc.value.fields == {"expected": keccak(out), "got": keccak(b"")}
    with pytest.raises(ContractRevert) as exc:
        world.system.finalize(res, output=out[:-1] + b"\x00")
    assert exc.value.name == "OutputMismatch"
    assert world.system.result(res).status == ResultStatus.PENDING and c.functions.calls().call() == 0
    world.system.finalize(res, output=out)
    assert c.functions.calls().call() == 1


def test_finalize_with_output_checks_the_hash_without_a_callback_too() -> None:
    world, truth = make_world()
    _, res = posted(world, truth)
    advance_time(world.w3, WINDOW + 1)
    with pytest.raises(ContractRevert) as exc:
        world.system.finalize(res, output=b"\x01" * OUTPUT_LEN)
    assert exc.value.name == "OutputMismatch"
    world.system.finalize(res, output=true_output(toy_input()))
    assert callback_events(world) == []


def test_failure_outcome_reaches_the_callback_with_its_exit_code_and_no_output() -> None:
    world, truth = make_world(exit_code=3)
    c = consumer(world)
    inp = toy_input()
    rid = world.system.request(world.model_id, inp, fee=FEE, callback=c.address, callback_gas=GAS)
    res = world.system.post_result(rid, b"", truth.state(truth.halt_at), [], sender=world.operator)
    advance_time(world.w3, WINDOW + 1)
    world.system.finalize(res)          # no output to pass: plain finalize works
    f = c.functions
    assert (f.lastOutcome().call(), f.lastExitCode().call(), f.lastOutput().call()) == (Outcome.FAILURE, 3, b"")


@pytest.mark.parametrize(("mode", "reason"), [
    (1, "Refused"),      # a custom error: its data is recorded
    (2, ""),             # loops until out of gas: no data
    (3, "huge"),         # 100 kB of revert data: only the first 256 bytes are copied
])
def test_a_failing_callback_is_recorded_and_finalization_stands(mode: int, reason: str) -> None:
    world, truth = make_world()
    c = consumer(world)
    c.functions.setMode(mode, 0).transact()
    rid, res = posted(world, truth, callback=c.address, gas=300_000)
    advance_time(world.w3, WINDOW + 1)
    world.system.finalize(res, output=true_output(toy_input()))
    assert world.system.get_request(rid).status == RequestStatus.FINALIZED
    assert world.system.balance(world.operator) == FEE + RESULT_BOND
    (ev,) = callback_events(world)
    assert ev["ok"] is False
    if reason == "Refused":
        assert ev["reason"] == keccak(text="Refused(uint256)")[:4] + rid.to_bytes(32, "big")
    elif reason == "huge":
        assert ev["reason"] == bytes(95) + b"\x80" + bytes(160)   # its memory from 0: the free pointer at 0x40
    else:
        assert ev["reason"] == b""
    assert world.system.last_receipt["gasUsed"] < 300_000 + 120_000   # the finalizer pays the limit, no more
    check_invariant(world)


def test_the_callback_cannot_reenter_optimist() -> None:
    world, truth = make_world()
    c = consumer(world)
    c.functions.setMode(4, 0).transact()
    _, res = posted(world, truth, callback=c.address)
    advance_time(world.w3, WINDOW + 1)
    world.system.finalize(res, output=true_output(toy_input()))
    assert c.functions.innerError().call() == keccak(text="Reentrancy()")[:4]
    assert callback_events(world)[0]["ok"] is True


def test_request_with_callback_checks_its_arguments() -> None:
    world, _ = make_world()
    c = consumer(world)
    inp = toy_input()
    cases = [
        ({"callback": world.accounts[5]}, "BadParameter", "callback"),          # no code
        ({"callback": c.address, "callback_gas": 0}, "BadParameter", "callbackGas"),
        ({"callback": c.address, "callback_gas": MAX_CALLBACK_GAS + 1}, "BadParameter", "callbackGas"),
        ({"callback": c.address, "deadline": 1}, "BadDeadline", None),
    ]
    for kwargs, name, field in cases:
        with pytest.raises(ContractRevert) as exc:
            world.system.request(world.model_id, inp, fee=FEE, **kwargs)
        assert exc.value.name == name
        if field:
            assert exc.value.fields["name"] == field
    rid = world.system.request(world.model_id, inp, callback=c.address, callback_gas=MAX_CALLBACK_GAS)
    req = world.system.get_request(rid)
    assert req.callback_gas == MAX_CALLBACK_GAS
    # deadline 0: the latest allowed, MAX_REQUEST_TIME after the request's block
    assert req.deadline == world.w3.eth.get_block("latest")["timestamp"] + MAX_REQUEST_TIME


def test_a_finalizer_cannot_starve_the_callback() -> None:
    """The consumer burns its gas down to `keep` and records the gas it got: whatever gas the finalizer
    sends, finalization either reverts or the consumer got (almost) its whole limit; also with the least
    gas that passes (found to the unit), one unit less reverts."""
    world, truth = make_world()
    c = consumer(world)
    limit, keep = 500_000, 200_000
    c.functions.setMode(5, keep).transact()
    _, res = posted(world, truth, callback=c.address, gas=limit)
    _, second = posted(world, truth, callback=c.address, gas=limit)
    advance_time(world.w3, WINDOW + 1)
    out = true_output(toy_input())
    fn = world.system.contract.functions.finalizeWithOutput(res, out)
    sender = world.accounts[6]
    data = fn._encode_transaction_data()

    def passes(gas: int) -> bool:
        try:
            world.w3.eth.call({"to": world.system.address, "from": sender, "data": data, "gas": gas})
        except REVERTS:
            return False
        return True

    lo, hi = 400_000, 800_000                 # the least gas that passes, to the unit: the guard's threshold
    assert not passes(lo) and passes(hi)
    while hi - lo > 1:
        lo, hi = (lo, (lo + hi) // 2) if passes((lo + hi) // 2) else ((lo + hi) // 2, hi)
    reverted = 0
    for gas in (hi - 1, *range(hi, 800_000, 5_000)):
        try:
            receipt = world.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender, "gas": gas}))
        except REVERTS:
            reverted += 1
            continue
        if receipt["status"] == 1:
            break
        reverted += 1
    else:
        pytest.fail("finalization never went through")
    assert reverted > 0 and world.system.result(res).status == ResultStatus.FINALIZED
    assert c.functions.calls().call() == 1
    starved_try = c.functions.gasAtEntry().call()
    world.system.finalize(second, output=out)            # with gas to spare (20M)
    assert c.functions.calls().call() == 2
    assert starved_try == c.functions.gasAtEntry().call()   # the same gas both times: the whole limit
    assert limit - 1_000 < starved_try < limit               # less the consumer's own prologue
    assert gas == hi                # finalized with the least gas that passes: the consumer got its whole limit


def _logits(winner: int, n: int = 10) -> bytes:
    vals = [-1.5 - 0.25 * i for i in range(n)]
    vals[winner] = 7.25
    return struct.pack(f"<{n}f", *vals)


def deploy_bounty(world: World, target: int, bounty: int = 10**18):
    """DigitBounty for the toy model (ten float32 logits), funded with `bounty` wei."""
    art = compile_examples()["DigitBounty"]
    factory = world.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    tx = factory.constructor(world.system.address, world.model_id, 10, target).transact(
        {"from": world.accounts[0], "value": bounty})
    address = world.w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return world.w3.eth.contract(address=address, abi=art["abi"])


def submit(world: World, dapp, inp: bytes, who: str) -> int:
    """`who` submits `inp` to the dapp; returns the Optimist request id."""
    tx = dapp.functions.submit(inp).transact({"from": who, "value": FEE, "gas": 1_000_000})
    receipt = world.w3.eth.wait_for_transaction_receipt(tx)
    (ev,) = dapp.events.Submitted().process_receipt(receipt, errors=DISCARD)
    return ev.args.requestId


def test_digit_bounty_pays_for_the_target_class_only() -> None:
    world, truth = make_world()
    assert OUTPUT_LEN == 40   # ten float32 logits, as the digits MLP
    bounty = 10**18
    dapp = deploy_bounty(world, 7, bounty)
    f = dapp.functions
    for winner in (0, 7, 8, 1, 9):
        assert f.argmax(_logits(winner)).call() == winner
    assert f.argmax(struct.pack("<3f", -0.0, 0.0, -1.0)).call() == 1           # +0 above -0
    assert f.argmax(struct.pack("<3f", float("-inf"), -3e38, -1e-45)).call() == 2
    alice, bob = world.accounts[8], world.accounts[9]
    inp = toy_input()
    results = []
    for who, cls in ((alice, 3), (bob, 7)):
        rid = submit(world, dapp, inp, who)
        assert f.submitterOf(rid).call() == who
        out = _logits(cls)
        run, final = world.run_for(inp, out, truth.halt_at)
        results.append((world.post(rid, run, final, out), out))
    advance_time(world.w3, WINDOW + 1)
    for res, out in results:
        world.system.finalize(res, output=out)
    judged = dapp.events.Judged().get_logs(from_block=0)
    assert [(e.args.submitter, e.args.predicted, e.args.won) for e in judged] == [(alice, 3, False), (bob, 7, True)]
    assert f.winner().call() == bob
    with pytest.raises(REVERTS):
        f.claim().call({"from": alice})
    before = world.w3.eth.get_balance(bob)
    receipt = world.w3.eth.wait_for_transaction_receipt(f.claim().transact({"from": bob}))
    assert world.w3.eth.get_balance(bob) == before + bounty - receipt["gasUsed"] * receipt["effectiveGasPrice"]
    with pytest.raises(REVERTS) as exc:
        f.submit(inp).call({"from": alice, "value": FEE})
    assert _revert_data(exc.value)[:4] == keccak(text="BountyWon(address)")[:4]


def test_a_lie_never_reaches_the_bounty() -> None:
    """The liar posts logits for the target class; the challenger wins the game; the honest output
    (argmax not the target) finalizes and is what the dapp judges."""
    world, truth = make_world()
    inp = toy_input()
    honest = true_output(inp)
    honest_class = deploy_bounty(world, 0).functions.argmax(honest).call()
    target = (honest_class + 1) % 10
    dapp = deploy_bounty(world, target)
    rid = submit(world, dapp, inp, world.accounts[8])
    lie = _logits(target)
    lie_run, lie_final = world.run_for(inp, lie, truth.halt_at)
    bad = world.post(rid, lie_run, lie_final, lie)
    ch = world.challengers[0]
    gid = world.system.open_game(bad, sender=ch)
    g = play(world, gid, lie_run.hash, truth.hash, prover_state=truth.state)
    assert world.system.result(bad).status == ResultStatus.REJECTED and g.challenger == ch
    advance_time(world.w3, WINDOW + 1)
    with pytest.raises(ContractRevert):
        world.system.finalize(bad, output=lie)
    good_run, good_final = world.run_for(inp, honest, truth.halt_at)
    good = world.post(rid, good_run, good_final, honest, sender=world.accounts[2 + 4])
    advance_time(world.w3, WINDOW + 1)
    world.system.finalize(good, output=honest)
    (judged,) = dapp.events.Judged().get_logs(from_block=0)
    assert judged.args.won is False and judged.args.predicted == dapp.functions.argmax(honest).call()
    assert dapp.functions.winner().call() == "0x" + "00" * 20
    assert world.system.balance(ch) == CHALLENGE_BOND + RESULT_BOND // 2
    check_invariant(world)


def test_callback_gas_overhead_is_within_budget() -> None:
    """requestWithCallback + finalizeWithOutput (a 40-byte output, a consumer that does nothing) against
    request + finalize: the extra gas (docs/game-rules.md §8) stays within 100k."""
    world, truth = make_world()
    noop = consumer(world, "NoopConsumer")
    gas: dict[str, int] = {}
    _, warm_up = posted(world, truth)   # first request and first credit: one-time storage costs
    rid_plain, res_plain = posted(world, truth)
    rid_cb, res_cb = posted(world, truth, callback=noop.address)
    for name, rid in (("request", rid_plain), ("requestWithCallback", rid_cb)):
        (ev,) = [e for e in world.system.events_since(0) if e.name == "RequestCreated" and e["requestId"] == rid]
        gas[name] = world.w3.eth.get_transaction_receipt(ev.tx_hash)["gasUsed"]
    advance_time(world.w3, WINDOW + 1)
    world.system.finalize(warm_up)
    world.system.finalize(res_plain)
    gas["finalize"] = world.system.last_receipt["gasUsed"]
    world.system.finalize(res_cb, output=true_output(toy_input()))
    gas["finalizeWithOutput"] = world.system.last_receipt["gasUsed"]
    extra = gas["requestWithCallback"] - gas["request"] + gas["finalizeWithOutput"] - gas["finalize"]
    print(f"\ncallback gas: {gas}, overhead {extra}")
    assert 0 < extra <= 100_000


def submit_plain(world: World, dapp, inp: bytes, who: str) -> int:
    """`who` submits `inp` with submitPlain (no callback: the answer may come in a batch); returns the request id."""
    tx = dapp.functions.submitPlain(inp).transact({"from": who, "value": FEE, "gas": 1_000_000})
    receipt = world.w3.eth.wait_for_transaction_receipt(tx)
    (ev,) = dapp.events.Submitted().process_receipt(receipt, errors=DISCARD)
    return ev.args.requestId


def reverts_with(call, signature: str) -> None:
    """`call` (a bound contract function) reverts with the custom error `signature`."""
    with pytest.raises(REVERTS) as exc:
        call.call()
    assert _revert_data(exc.value)[:4] == keccak(text=signature)[:4]


def test_digit_bounty_judges_a_batched_answer_by_its_leaf() -> None:
    """submitPlain asks without a callback, so the answers may come in one batch of results: anyone has each judged
    with its leaf and inclusion proof (OptimistBatches.leafOutcome) and the output bytes, checked against the proven
    hash; not before the leaf is final, not with other bytes, once per request. A single answer is judged by
    outcomeOf, which names the batch for a leaf."""
    world, truth = make_world()
    dapp = deploy_bounty(world, 7)
    f = dapp.functions
    alice, bob = world.accounts[8], world.accounts[9]
    inp, halt = toy_input(), truth.halt_at
    rids = [submit_plain(world, dapp, inp, who) for who in (alice, bob)]
    assert world.system.get_request(rids[0]).callback == "0x" + "00" * 20
    outs = [_logits(3), _logits(7)]
    claims = []
    for rid, out in zip(rids, outs, strict=True):
        run, final = world.run_for(inp, out, halt)
        claims.append(Claim(rid, out, run.state(halt), region_path(final, OUTPUT_BASE, world.model.output_size)))
    batch_id = world.system.post_batch(world.model_id, claims, sender=world.operator)
    leaves = [Leaf(c.request_id, keccak256(c.final_state), keccak256(c.output), halt, 0, 0) for c in claims]
    hashes = [x.hash() for x in leaves]

    def judge(i: int, out: bytes):
        return f.judgeLeaf(batch_id, i, leaves[i].as_tuple(), leaf_proof(hashes, i), out)

    reverts_with(judge(1, outs[1]), "NotFinalized(uint256)")
    reverts_with(f.judgeResult(rids[1], outs[1]), "RequestNotFinalized(uint256)")
    advance_time(world.w3, WINDOW + 1)
    world.system.finalize_batch(batch_id, leaves)
    reverts_with(judge(1, outs[0]), "OutputMismatch(bytes32,bytes32)")
    reverts_with(judge(0, outs[1]), "OutputMismatch(bytes32,bytes32)")
    reverts_with(f.judgeResult(rids[1], outs[1]), "OutcomeInBatch(uint256)")
    forged = Leaf(rids[1], leaves[1].final_state_hash, keccak256(outs[0]), halt, 0, 0)
    reverts_with(f.judgeLeaf(batch_id, 1, forged.as_tuple(), leaf_proof(hashes, 1), outs[0]),
                 "LeafMismatch(bytes32,bytes32)")
    client = Client.from_system(world.system, from_block=world.system.deploy_block)
    for i in (0, 1):   # what a submitter sends, from the client: the leaf, its proof and the output
        lp = client.get(rids[i]).leaf_proof()
        assert (lp.batch_id, lp.index, lp.leaf, lp.output) == (batch_id, i, leaves[i], outs[i])
        world.w3.eth.wait_for_transaction_receipt(
            f.judgeLeaf(*lp.args(), lp.output).transact({"from": world.accounts[7]}))
    judged = dapp.events.Judged().get_logs(from_block=0)
    assert [(e.args.requestId, e.args.submitter, e.args.predicted, e.args.won) for e in judged] == \
        [(rids[0], alice, 3, False), (rids[1], bob, 7, True)]
    assert f.winner().call() == bob
    reverts_with(judge(1, outs[1]), "NotOurRequest(uint256)")   # judged once

    # a single result on a plain submission: judgeResult with Optimist.outcomeOf
    dapp2 = deploy_bounty(world, 5)
    rid = submit_plain(world, dapp2, inp, alice)
    out = _logits(5)
    run, final = world.run_for(inp, out, halt)
    res = world.post(rid, run, final, out)
    reverts_with(dapp2.functions.judgeResult(rid, out), "RequestNotFinalized(uint256)")
    advance_time(world.w3, WINDOW + 1)
    world.system.finalize(res)
    reverts_with(dapp2.functions.judgeResult(rid, outs[0]), "OutputMismatch(bytes32,bytes32)")
    world.w3.eth.wait_for_transaction_receipt(dapp2.functions.judgeResult(rid, out).transact({"from": bob}))
    assert dapp2.functions.winner().call() == alice
    check_invariant(world)


def test_digit_bounty_judges_only_its_own_final_answer() -> None:
    """A liar answers a plain submission with the winning class in a batch; its game is lost and the request answered
    again by a single true result. The lying leaf is never judged (LeafDisputed, before and after the new answer);
    the true one once (judgeResult); another DigitBounty cannot judge this dapp's final leaf (NotOurRequest)."""
    world, truth = make_world()
    s = world.system
    inp, halt = toy_input(), truth.halt_at
    true_out = true_output(inp)
    probe = deploy_bounty(world, 0)
    target = (probe.functions.argmax(true_out).call() + 1) % 10   # the true answer does not win
    dapp, other = deploy_bounty(world, target), deploy_bounty(world, target)
    alice, bob = world.accounts[8], world.accounts[9]
    rids = [submit_plain(world, dapp, inp, who) for who in (alice, bob)]
    outs = [_logits(target), true_out]   # a lie (the winning class), the truth
    claims, runs = [], []
    for rid, out in zip(rids, outs, strict=True):
        run, final = world.run_for(inp, out, halt)
        runs.append((run, final))
        claims.append(Claim(rid, out, run.state(halt), region_path(final, OUTPUT_BASE, world.model.output_size)))
    batch_id = s.post_batch(world.model_id, claims, sender=world.operator)
    leaves = [Leaf(c.request_id, keccak256(c.final_state), keccak256(c.output), halt, 0, 0) for c in claims]
    hashes = [x.hash() for x in leaves]
    gid = s.dispute_leaf(batch_id, 0, leaves[0], leaf_proof(hashes, 0), sender=world.challengers[0])
    honest = runs[1][0]
    assert play(world, gid, runs[0][0].hash, honest.hash, prover_state=honest.state).status.name == "CHALLENGER_WON"
    advance_time(world.w3, WINDOW + 1)
    s.finalize_batch(batch_id, leaves)

    def lying_leaf():
        return dapp.functions.judgeLeaf(batch_id, 0, leaves[0].as_tuple(), leaf_proof(hashes, 0), outs[0])

    reverts_with(lying_leaf(), "LeafDisputed(uint256)")
    reverts_with(other.functions.judgeLeaf(batch_id, 1, leaves[1].as_tuple(), leaf_proof(hashes, 1), outs[1]),
                 "NotOurRequest(uint256)")
    # the reopened request: a true single result, judged by outcomeOf once
    res = world.post(rids[0], honest, runs[1][1], true_out, sender=world.accounts[6])
    reverts_with(dapp.functions.judgeResult(rids[0], true_out), "RequestNotFinalized(uint256)")
    advance_time(world.w3, WINDOW + 1)
    s.finalize(res)
    reverts_with(lying_leaf(), "LeafDisputed(uint256)")
    world.w3.eth.wait_for_transaction_receipt(dapp.functions.judgeResult(rids[0], true_out).transact({"from": bob}))
    reverts_with(dapp.functions.judgeResult(rids[0], true_out), "NotOurRequest(uint256)")
    [judged] = dapp.events.Judged().get_logs(from_block=0)
    assert (judged.args.requestId, judged.args.submitter, judged.args.won) == (rids[0], alice, False)
    assert dapp.functions.winner().call() == "0x" + "00" * 20
    check_invariant(world)
