"""The example dapp (contracts/examples/DigitBounty.sol) with the real digits MLP (examples/models/
mlp_digits.onnx) on eth-tester, daemons driven in one process: its bounty targets the class a lying
operator claims for a test image; the liar posts first, the challenger wins the game, the honest
operator's answer finalizes (its daemon passes the output), and the dapp judges the honest class: the
lie never reaches the callback and nobody wins."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from challenger.models import LyingTrace, Trace
from contracts.chain import eth_tester_web3
from contracts.system import RequestStatus, ResultStatus, compile_examples
from mipsvm.memory import keccak256
from optimist.demo import demo_model, digit_inputs
from optimist.world import World

WINDOW = 600
FEE = 10**16


def argmax(output: bytes) -> int:
    return int(np.frombuffer(output, dtype="<f4").argmax())


@pytest.mark.slow
def test_a_lying_operator_cannot_win_the_digit_bounty(tmp_path) -> None:
    model = demo_model(Console(quiet=True))
    (image,), (label,) = digit_inputs(1)
    truth = Trace(model, image)
    lie = LyingTrace(truth)
    honest_class, lie_class = argmax(truth.output), argmax(lie.output)
    assert honest_class == label and lie_class != honest_class   # the lie would win the bounty

    world = World.deploy(eth_tester_web3(), model, window=WINDOW, clock=300, db_dir=tmp_path)
    art = compile_examples()["DigitBounty"]
    factory = world.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    tx = factory.constructor(world.system.address, world.model_id, 10, lie_class).transact(
        {"from": world.w3.eth.accounts[0], "value": 10**18})
    dapp = world.w3.eth.contract(address=world.w3.eth.wait_for_transaction_receipt(tx)["contractAddress"],
                                 abi=art["abi"])
    submitter = world.w3.eth.accounts[5]
    world.w3.eth.wait_for_transaction_receipt(
        dapp.functions.submit(image).transact({"from": submitter, "value": FEE, "gas": 2_000_000}))
    rid = world.system.counts()[1]
    assert world.system.get_request(rid).callback == dapp.address

    liar, ch, honest = world.operator(dishonest=True), world.challenger(), world.operator()
    liar.tick()
    assert world.system.result(1).output_hash == keccak256(lie.output)   # the liar posted this very lie
    world.run_until(lambda: world.system.result(1).status == ResultStatus.REJECTED, [liar, ch])
    world.run_until(lambda: world.system.get_request(rid).status == RequestStatus.POSTED, [honest, liar, ch])
    world.advance_time(WINDOW + 2)
    world.run_until(lambda: world.system.get_request(rid).status == RequestStatus.FINALIZED, [honest, liar, ch])

    (judged,) = dapp.events.Judged().get_logs(from_block=0)
    assert (judged.args.requestId, judged.args.submitter, judged.args.outcome) == (rid, submitter, 0)
    assert judged.args.predicted == honest_class and judged.args.won is False
    assert dapp.functions.winner().call() == "0x" + "00" * 20
    (cb,) = [e for e in world.system.events_since(world.deploy_block) if e.name == "CallbackCalled"]
    assert cb["ok"] is True
