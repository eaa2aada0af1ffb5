"""The example dapp (contracts/examples/DigitBounty.sol) end to end on anvil with the real daemons as
separate `optimist operator|challenger` processes and the digits MLP converted from
examples/models/mlp_digits.onnx (the eth-tester version, one process: tests/test_dapp_digits.py).

1. Honest: a request with a callback -> the operator's result -> the window passes (chain time) ->
   finalize -> the callback judged the model's real class and paid the bounty's winner.
2. A lying operator answers first: the challenger (running all along, silent on the honest result)
   wins the game; the request reopens (chain time), the honest operator answers, it finalizes, and the
   callback fires once, for the honest output: the lie never reaches the dapp.

Progress is read from chain state; time moves only by evm_increaseTime (no waiting for a window)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from web3.logs import DISCARD

from contracts.chain import ANVIL_BIN, ANVIL_SHIM, Anvil
from contracts.system import GameStatus, RequestStatus, ResultStatus, compile_examples
from mipsvm.memory import keccak256
from optimist.deployment import Deployment
from optimist.keys import dev_accounts
from optimist.world import World

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

if not (ANVIL_BIN.parent.parent.is_dir() or ANVIL_SHIM.is_symlink() or ANVIL_SHIM.exists()):  # pragma: no cover
    pytest.skip("the npm anvil package is not installed (make setup)", allow_module_level=True)

WINDOW = 600
FEE = 10**16
BOUNTY = 10**18
REPO = Path(__file__).resolve().parents[1]


class Daemon:
    """One `optimist operator|challenger` process on a model file (started and stopped by pid)."""

    def __init__(self, role: str, key: bytes, node: Anvil, deployment: Path, model: Path, tmp: Path,
                 name: str, *extra: str) -> None:
        self.role, self.name, self.log = role, name, tmp / f"{name}.log"
        self.env = {**os.environ, "DAEMON_KEY": "0x" + key.hex().removeprefix("0x")}
        self.args = [sys.executable, "-m", "optimist.cli", role, "--model", str(model), "--rpc", node.url,
                     "--deployment", str(deployment), "--key-env", "DAEMON_KEY", "--db", str(tmp / f"{name}.db"),
                     "--poll", "0.1", *extra]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "ab"), cwd=REPO)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def wait_for(cond: Callable[[], bool], what: str, daemons: Sequence[Daemon], timeout: float = 300) -> None:
    """Poll chain state until `cond`; fail at once if a daemon that should run has exited. The timeout
    only guards against a hung test: nothing here waits for time to pass."""
    deadline = time.monotonic() + timeout
    while not cond():
        dead = [d.name for d in daemons if not d.running()]
        if dead or time.monotonic() > deadline:
            logs = "\n".join(f"--- {d.name}\n{d.log.read_text()[-3000:]}" for d in daemons if d.log.exists())
            raise AssertionError(f"{'exited: ' + ', '.join(dead) if dead else 'timed out'} waiting for {what}\n{logs}")
        time.sleep(0.1)


def bounty(world: World, target: int):  # web3 Contract
    art = compile_examples()["DigitBounty"]
    factory = world.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    tx = factory.constructor(world.system.address, world.model_id, 10, target).transact(
        {"from": world.w3.eth.accounts[0], "value": BOUNTY})
    address = world.w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return world.w3.eth.contract(address=address, abi=art["abi"])


def submit(world: World, dapp, image: bytes, submitter: str) -> int:
    receipt = world.w3.eth.wait_for_transaction_receipt(
        dapp.functions.submit(image).transact({"from": submitter, "value": FEE, "gas": 2_000_000}))
    (event,) = dapp.events.Submitted().process_receipt(receipt, errors=DISCARD)   # not Optimist's own logs
    return event.args.requestId


def status(world: World, rid: int) -> RequestStatus:
    return world.system.get_request(rid).status


def posted_by(world: World, rid: int, operator: str) -> list[int]:
    """Ids of the results `operator` posted for request `rid`."""
    return [e["resultId"] for e in world.system.events_since(world.deploy_block)
            if e.name == "ResultPosted" and e["requestId"] == rid and e["operator"] == operator]


def argmax(output: bytes) -> int:
    return int(np.frombuffer(output, dtype="<f4").argmax())


def test_digit_bounty_with_real_daemons_on_anvil(tmp_path: Path) -> None:
    from optimist.demo import demo_model, digit_inputs

    model = demo_model(Console(quiet=True))                 # MinidnnModel of build/demo/v2/mlp_digits.mdnn
    (image_a, image_b), (label_a, label_b) = digit_inputs(2)
    class_a, class_b = argmax(model.infer(image_a)), argmax(model.infer(image_b))
    assert (class_a, class_b) == (label_a, label_b)
    keys = dev_accounts(6)
    honest_key, liar_key, challenger_key = keys[1], keys[2], keys[3]
    submitter = keys[5].address

    with Anvil() as node:
        world = World.deploy(node.web3(), model, window=WINDOW, clock=300, db_dir=tmp_path)
        p = world.system.params
        dep = Deployment(world.w3.eth.chain_id, world.system.address, p.mips, world.deploy_block, node.url,
                         p.challenge_window, p.clock, p.result_bond, p.challenge_bond).save(tmp_path / "dep.json")
        honest = Daemon("operator", honest_key.key, node, dep, model.path, tmp_path, "honest")
        liar = Daemon("operator", liar_key.key, node, dep, model.path, tmp_path, "liar", "--dishonest")
        ch = Daemon("challenger", challenger_key.key, node, dep, model.path, tmp_path, "challenger")
        try:
            # ---- 1. honest: request with a callback -> result -> window (chain time) -> finalize -> callback
            ch.start()
            honest.start()
            dapp_a = bounty(world, target=class_a)
            rid_a = submit(world, dapp_a, image_a, submitter)
            assert world.system.get_request(rid_a).callback == dapp_a.address
            wait_for(lambda: status(world, rid_a) == RequestStatus.POSTED, "the honest result", [honest, ch])
            (result_a,) = posted_by(world, rid_a, honest_key.address)
            assert world.system.result(result_a).output_hash == keccak256(model.infer(image_a))
            world.advance_time(WINDOW + 1)
            wait_for(lambda: status(world, rid_a) == RequestStatus.FINALIZED, "finalization", [honest, ch])
            (judged,) = dapp_a.events.Judged().get_logs(from_block=world.deploy_block)
            assert (judged.args.requestId, judged.args.submitter, judged.args.outcome) == (rid_a, submitter, 0)
            assert judged.args.predicted == class_a and judged.args.won is True   # the callback read the output
            assert dapp_a.functions.winner().call() == submitter
            assert world.system.counts()[3] == 0                                 # nobody disputed it
            honest.stop()

            # ---- 2. a lying operator answers first; the callback fires once, for the honest result
            liar.start()
            dapp_b = bounty(world, target=class_b)
            rid_b = submit(world, dapp_b, image_b, submitter)
            wait_for(lambda: posted_by(world, rid_b, liar_key.address), "the liar's result", [liar, ch])
            (lie,) = posted_by(world, rid_b, liar_key.address)
            assert world.system.result(lie).output_hash != keccak256(model.infer(image_b))
            wait_for(lambda: world.system.result(lie).status == ResultStatus.REJECTED, "the lie rejected",
                     [liar, ch])
            (game,) = [e["gameId"] for e in world.system.events_since(world.deploy_block)
                       if e.name == "GameOpened" and e["resultId"] == lie]
            assert world.system.game(game).status == GameStatus.CHALLENGER_WON
            assert status(world, rid_b) == RequestStatus.OPEN and not dapp_b.events.Judged().get_logs(
                from_block=world.deploy_block)
            honest.start()
            world.advance_time(p.reopen_delay + 1)                               # the request reopens
            wait_for(lambda: posted_by(world, rid_b, honest_key.address), "the honest answer", [honest, liar, ch])
            world.advance_time(WINDOW + 1)
            wait_for(lambda: status(world, rid_b) == RequestStatus.FINALIZED, "finalization", [honest, liar, ch])
        finally:
            for d in (honest, liar, ch):
                d.stop()
        (judged_b,) = dapp_b.events.Judged().get_logs(from_block=world.deploy_block)
        assert (judged_b.args.requestId, judged_b.args.predicted) == (rid_b, class_b)
        assert judged_b.args.won is True and dapp_b.functions.winner().call() == submitter
        callbacks = [e for e in world.system.events_since(world.deploy_block) if e.name == "CallbackCalled"]
        assert [(e["requestId"], e["ok"]) for e in callbacks] == [(rid_a, True), (rid_b, True)]
