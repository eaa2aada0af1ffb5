"""A k-token generation request disputed by the daemons as processes on anvil (`optimist register
--two-phase`, `optimist operator|challenger --two-phase --model GEN.mdnn`, `optimist request` with the
raw request words; docs/two-phase.md §10): the lying operator's result loses at the one-step proof of
a node inside the unrolled sequence."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_daemon_anvil import _anvil_package_installed, wait_for
from test_daemon_two_phase_anvil import GraphDaemon
from test_minidnn_generation import T, V, causal_lm

from challenger.graph_games import GraphModel
from contracts.chain import Anvil
from contracts.system import GameStatus, ResultStatus
from minidnn.generation import encode_request, generation_model
from optimist.keys import dev_accounts

pytestmark = pytest.mark.anvil

if not _anvil_package_installed():  # pragma: no cover
    pytest.skip("the npm anvil package is not installed (make setup)", allow_module_level=True)


def test_cli_daemons_dispute_a_k_token_request(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from optimist.cli import main
    from optimist.commands.common import open_system

    model = GraphModel(generation_model(causal_lm()), "causal_lm")
    mdnn = tmp_path / "causal_lm.mdnn"
    mdnn.write_bytes(model.blob)
    k = 3
    (tmp_path / "request.bin").write_bytes(encode_request([2, 5], k, T, V, 0.0, 0).astype("<i4").tobytes())
    keys = dev_accounts(3)
    with Anvil() as node:
        dep = tmp_path / "dep.json"
        env = {"OPTIMIST_RPC": node.url, "OPTIMIST_KEY": "0x" + keys[0].key.hex().removeprefix("0x"),
               "OPTIMIST_DEPLOYMENT": str(dep)}
        runner = CliRunner()
        r = runner.invoke(main, ["deploy", "--window", "600", "--clock", "300"], env=env)
        assert r.exit_code == 0, r.output
        r = runner.invoke(main, ["register", "--two-phase", str(mdnn)], env=env)
        assert r.exit_code == 0 and "graph model 1 registered" in r.output, r.output
        system, _ = open_system(node.web3(), dep)
        assert system.graph_model(1).period == model.period == 7
        liar = GraphDaemon("operator", keys[1], node, dep, mdnn, tmp_path, "liar", "--dishonest")
        ch = GraphDaemon("challenger", keys[2], node, dep, mdnn, tmp_path, "ch")
        logs = [liar.log, ch.log]
        try:
            liar.start()
            ch.start()
            r = runner.invoke(main, ["request", "1", "--input", str(tmp_path / "request.bin")], env=env)
            assert r.exit_code == 0 and "request 1 created" in r.output, r.output
            wait_for(lambda: system.counts()[3] >= 1 and system.game(1).status != GameStatus.ACTIVE, 300,
                     "the game's end", logs, [liar, ch])
            assert system.game(1).status == GameStatus.CHALLENGER_WON
            assert system.result(1).status == ResultStatus.REJECTED
            assert system.result(1).steps == model.node_count + (k - 1) * model.period
            (entered,) = node_entered_in(system)
            assert entered["node"] == (system.result(1).steps + 1) // 2     # the phase-1 lie's node
        finally:
            liar.stop()
            ch.stop()


def node_entered_in(system) -> list:
    return [e for e in system.events_since(0) if e.name == "NodeEntered"]
