"""The load attack on anvil, daemons as separate processes: 50 zero-fee requests and one paid request
arrive at once, and a lying challenger disputes the paid result. The operator (with a minimum fee)
leaves the spam alone, answers the paid request, and wins every game it plays; the result finalizes."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_daemon_anvil import Daemon, deploy_world, wait_for

from contracts.chain import Anvil
from contracts.system import RequestStatus
from optimist.keys import dev_accounts

pytestmark = pytest.mark.anvil

FEE = 10**16


def key(i: int) -> str:
    return "0x" + dev_accounts(i + 1)[i].key.hex().removeprefix("0x")


def test_zero_fee_spam_and_a_lying_challenger_against_a_busy_operator(tmp_path: Path) -> None:
    from challenger.models import toy_model

    model = toy_model(engine="stepper")
    with Anvil() as node:
        world, dep = deploy_world(node, model, tmp_path, window=120, clock=120)
        op = Daemon("operator", key(1), node, dep, tmp_path / "op.db", tmp_path / "op.log",
                    "--min-fee", "0.005ether", "--max-queue", "2")
        liar = Daemon("challenger", key(2), node, dep, tmp_path / "ch.db", tmp_path / "ch.log", "--dishonest")
        logs = [tmp_path / "op.log", tmp_path / "ch.log"]
        operator = dev_accounts(2)[1].address
        try:
            op.start()
            liar.start()
            spam = [world.request(bytes([i]) * 64, fee=0) for i in range(50)]
            paid = world.request(bytes(range(64)), fee=FEE)

            def games() -> list:
                return [e for e in world.system.events_since(world.deploy_block) if e.name == "GameResolved"]

            wait_for(lambda: world.system.get_request(paid).status == RequestStatus.POSTED, 120, "the paid result", logs)
            wait_for(lambda: len(games()) >= 1, 240, "the lying challenger's game to end", logs)
            assert all(e["winner"] == operator and not e["challengerWon"] for e in games())
            node.web3().provider.make_request("evm_increaseTime", [200])
            node.web3().provider.make_request("evm_mine", [])
            wait_for(lambda: world.system.get_request(paid).status == RequestStatus.FINALIZED, 120,
                     "the paid request to finalize", logs)
            assert all(world.system.get_request(r).status == RequestStatus.OPEN for r in spam)
            assert "fee_too_low" in (tmp_path / "op.log").read_text()
        finally:
            op.stop()
            liar.stop()
