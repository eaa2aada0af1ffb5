"""An RPC outage mid-game, daemons as separate processes: the node goes away (dumping its state) and comes
back on the same port; both daemons wait it out with backoff, say so in their logs, and finish the game."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_daemon_anvil import TOY_INPUT, Daemon, deploy_world, moves, wait_for

from challenger.models import toy_model
from contracts.chain import Anvil
from contracts.system import GameStatus
from optimist.keys import dev_accounts

pytestmark = pytest.mark.anvil


def key(i: int) -> str:
    return "0x" + dev_accounts(i + 1)[i].key.hex().removeprefix("0x")


def test_daemons_wait_out_an_rpc_outage_and_finish_the_game(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    node = Anvil(state_path=state).start()
    liar = ch = None
    try:
        world, dep = deploy_world(node, toy_model(engine="stepper"), tmp_path, clock=600)
        liar = Daemon("operator", key(1), node, dep, tmp_path / "op.db", tmp_path / "op.log", "--dishonest")
        ch = Daemon("challenger", key(2), node, dep, tmp_path / "ch.db", tmp_path / "ch.log")
        logs = [tmp_path / "op.log", tmp_path / "ch.log"]
        liar.start()
        ch.start()
        world.request(TOY_INPUT)
        wait_for(lambda: len(moves(world)) >= 4, 120, "four moves", logs, [liar, ch])
        node.stop()                                             # the outage: anvil dumps its state and exits
        time.sleep(3.0)                                         # both daemons poll a dead endpoint meanwhile
        node = Anvil(port=node.port, state_path=state).start()
        world.w3 = node.web3()
        world.system.w3 = world.w3
        world.system.contract = world.w3.eth.contract(address=world.system.address, abi=world.system.contract.abi)
        wait_for(lambda: world.system.game(1).status != GameStatus.ACTIVE, 180, "the game to end", logs, [liar, ch])
        assert world.system.game(1).status == GameStatus.CHALLENGER_WON
        text = "".join(p.read_text() for p in logs)
        assert "rpc_retry" in text or "rpc_unavailable" in text, "the outage went unnoticed"
    finally:
        for d in (liar, ch):
            if d is not None:
                d.stop()
        node.stop()
