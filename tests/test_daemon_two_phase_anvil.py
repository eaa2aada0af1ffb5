"""Two-phase games with the daemons as separate processes on anvil (`optimist operator|challenger
--two-phase`): a lie in phase 1, the challenger SIGKILLed and restarted while the game is in phase 2,
the liar loses at the one-step proof; an honest in-process operator answers again and, chain time
moved past the window, its result finalizes. A bad transition loses on the operator's clock (chain
time moved past it, no wall-clock wait)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from test_daemon_anvil import OPTIMIST, Daemon, _anvil_package_installed, wait_for

from challenger.graph_games import GraphModel
from contracts.chain import Anvil
from contracts.system import GameStatus, Phase, RequestStatus, ResultStatus
from minidnn.examples import digits_mlp, sample_input
from optimist.deployment import Deployment
from optimist.keys import dev_accounts
from optimist.world import World

pytestmark = pytest.mark.anvil

if not _anvil_package_installed():  # pragma: no cover
    pytest.skip("the npm anvil package is not installed (make setup)", allow_module_level=True)

WINDOW, CLOCK = 600, 300


@pytest.fixture(scope="module")
def model() -> GraphModel:
    blob, _ = digits_mlp()
    return GraphModel(blob, "digits_mlp")


def setup(node: Anvil, model: GraphModel, tmp_path: Path, **world_options) -> tuple[World, Path, Path]:
    """A deployment with `model` registered: the World, its deployment file and the model's .mdnn file."""
    options = {"window": WINDOW, "clock": CLOCK, "trace_interval": 1024, **world_options}
    world = World.deploy(node.web3(), model, db_dir=tmp_path, **options)
    p = world.system.params
    dep = Deployment(world.w3.eth.chain_id, world.system.address, p.mips, world.deploy_block, node.url,
                     p.challenge_window, p.clock, p.result_bond, p.challenge_bond).save(tmp_path / "dep.json")
    mdnn = tmp_path / f"{model.name}.mdnn"
    mdnn.write_bytes(model.blob)
    return world, dep, mdnn


class GraphDaemon(Daemon):
    """`optimist operator|challenger --two-phase --model FILE.mdnn` as a process (started and killed by pid)."""

    def __init__(self, role: str, key, node: Anvil, dep: Path, mdnn: Path, tmp_path: Path, name: str,
                 *extra: str) -> None:
        super().__init__(role, "0x" + key.key.hex().removeprefix("0x"), node, dep, tmp_path / f"{name}.db",
                         tmp_path / f"{name}.log", "--two-phase", *extra)
        self.mdnn = mdnn

    def start(self) -> GraphDaemon:
        env = {**os.environ, "DAEMON_KEY": self.key}
        args = [*OPTIMIST, self.role, "--model", str(self.mdnn), "--rpc", self.node.url, "--deployment",
                str(self.deployment), "--key-env", "DAEMON_KEY", "--db", str(self.db), "--poll", "0.1", *self.extra]
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"),
                                     cwd=Path(__file__).parents[1])
        return self


def node_entered(world: World) -> list:
    return [e for e in world.system.events_since(world.deploy_block) if e.name == "NodeEntered"]


def test_phase_1_lie_with_a_restart_in_phase_2_then_the_honest_answer_finalizes(model, tmp_path: Path) -> None:
    keys = dev_accounts(4)
    x = sample_input(model.blob, seed=5).astype("<f4").tobytes()
    with Anvil() as node:
        world, dep, mdnn = setup(node, model, tmp_path)
        liar = GraphDaemon("operator", keys[1], node, dep, mdnn, tmp_path, "liar", "--dishonest")
        ch = GraphDaemon("challenger", keys[2], node, dep, mdnn, tmp_path, "ch")
        logs = [liar.log, ch.log]
        try:
            liar.start()
            ch.start()
            rid = world.request(x)
            wait_for(lambda: bool(node_entered(world)), 300, "phase 2 (NodeEntered)", logs, [liar, ch])
            ch.kill()                                   # SIGKILL in phase 2
            ch.start()                                  # restart on the same database
            wait_for(lambda: world.system.game(1).status != GameStatus.ACTIVE, 300, "the game's end", logs,
                     [liar, ch])
            assert world.system.game(1).status == GameStatus.CHALLENGER_WON
            assert world.system.result(1).status == ResultStatus.REJECTED
            (entered,) = node_entered(world)
            assert entered["node"] == 2
            wait_for(lambda: world.system.balance(keys[2].address) == 0, 60, "the challenger's withdrawal", logs,
                     [liar, ch])
        finally:
            liar.stop()
            ch.stop()
        honest = world.operator()
        world.run_until(lambda: world.system.get_request(rid).status == RequestStatus.POSTED, [honest],
                        advance_when_idle=2)     # the reopen delay, in chain time
        world.advance_time(WINDOW + 1)
        world.run_until(lambda: world.system.get_request(rid).status == RequestStatus.FINALIZED, [honest])
        assert world.system.outcome(rid).output_hash == world.system.result(2).output_hash
        assert world.system.result(2).operator == honest.me


def test_bad_transition_loses_on_the_clock_in_chain_time(model, tmp_path: Path) -> None:
    keys = dev_accounts(4)
    x = sample_input(model.blob, seed=6).astype("<f4").tobytes()
    with Anvil() as node:
        world, dep, mdnn = setup(node, model, tmp_path)
        liar = GraphDaemon("operator", keys[1], node, dep, mdnn, tmp_path, "liar", "--dishonest", "--lie", "transition")
        ch = GraphDaemon("challenger", keys[2], node, dep, mdnn, tmp_path, "ch")
        logs = [liar.log, ch.log]
        try:
            liar.start()
            ch.start()
            world.request(x)
            wait_for(lambda: world.system.counts()[3] >= 1 and world.system.game(1).phase == Phase.TRANSITION,
                     300, "the transition", logs, [liar, ch])
            world.advance_time(CLOCK + 1)               # the operator's clock runs out in chain time
            wait_for(lambda: world.system.game(1).status != GameStatus.ACTIVE, 120, "the timeout", logs,
                     [liar, ch])
            assert world.system.game(1).status == GameStatus.CHALLENGER_WON
            assert world.system.result(1).status == ResultStatus.REJECTED
            assert not node_entered(world)
        finally:
            liar.stop()
            ch.stop()


def test_cli_registers_a_graph_model_and_requests_it(model, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from optimist.cli import main

    mdnn = tmp_path / "digits_mlp.mdnn"
    mdnn.write_bytes(model.blob)
    (tmp_path / "x.bin").write_bytes(sample_input(model.blob, seed=2).astype("<f4").tobytes())
    (tmp_path / "short.bin").write_bytes(bytes(12))
    with Anvil() as node:
        key = "0x" + dev_accounts(1)[0].key.hex().removeprefix("0x")
        env = {"OPTIMIST_RPC": node.url, "OPTIMIST_KEY": key, "OPTIMIST_DEPLOYMENT": str(tmp_path / "dep.json")}
        runner = CliRunner()
        r = runner.invoke(main, ["deploy", "--window", "60", "--clock", "30"], env=env)
        assert r.exit_code == 0, r.output
        r = runner.invoke(main, ["register", "--two-phase", str(mdnn)], env=env)
        assert r.exit_code == 0, r.output
        assert "graph model 1 registered" in r.output
        from optimist.commands.common import open_system

        system, _ = open_system(node.web3(), tmp_path / "dep.json")
        info = system.graph_model(1)
        assert model.matches(info.nodes_root, info.node_count, info.input_length, info.output_length)
        r = runner.invoke(main, ["register", "--two-phase", str(mdnn)], env=env)
        assert r.exit_code == 0 and "already registered as graph model 1" in r.output, r.output
        r = runner.invoke(main, ["register", "toy"], env=env)          # the graph model is skipped, not an error
        assert r.exit_code == 0 and "model 2 registered" in r.output, r.output
        r = runner.invoke(main, ["register", "--two-phase", "toy"], env=env)
        assert r.exit_code == 2 and "--two-phase takes a .mdnn model" in r.output
        r = runner.invoke(main, ["request", "1", "--input", str(tmp_path / "x.bin")], env=env)
        assert r.exit_code == 0 and "request 1 created" in r.output, r.output
        r = runner.invoke(main, ["request", "1", "--input", str(tmp_path / "short.bin")], env=env)
        assert r.exit_code == 1 and f"takes {model.input_length} input bytes" in r.output, r.output
