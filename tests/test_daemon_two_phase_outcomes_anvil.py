"""Failure and NoHalt outcomes of graph models on anvil (docs/two-phase.md §3a), the eth-tester tests of
test_daemon_two_phase_outcomes.py on a real node: the daemons as processes (`optimist operator
--dishonest --two-phase --lie fail|nofail`, `optimist challenger --two-phase`) for the Failure lies, and
in-process daemons for a NoHalt node (its bounded registration is a test-only model setting)."""

from __future__ import annotations

from pathlib import Path

import pytest
from graph_world import gather_model
from test_daemon_anvil import _anvil_package_installed, wait_for
from test_daemon_two_phase_anvil import GraphDaemon, setup
from test_daemon_two_phase_outcomes import BAD, BOND, CLOCK, FEE, GOOD, NO_HALT_BOUND, WINDOW

from challenger.graph_games import GRAPH_LIES, GraphModel
from contracts.chain import Anvil
from contracts.system import GameStatus, Outcome, RequestStatus, ResultStatus
from minidnn.format import ERROR_CODES
from optimist.keys import dev_accounts
from optimist.world import World

pytestmark = pytest.mark.anvil

if not _anvil_package_installed():  # pragma: no cover
    pytest.skip("the npm anvil package is not installed (make setup)", allow_module_level=True)


def deploy(node: Anvil, model: GraphModel, tmp_path: Path) -> tuple[World, Path, Path]:
    return setup(node, model, tmp_path, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                 trace_interval=256)


def honest_answer_finalizes(world: World, rid: int) -> None:
    """After the liar's rejection an honest in-process operator answers; past the window it finalizes."""
    honest = world.operator()
    world.run_until(lambda: world.system.get_request(rid).status == RequestStatus.POSTED, [honest],
                    advance_when_idle=2)     # the reopen delay, in chain time
    world.advance_time(WINDOW + 1)
    world.run_until(lambda: world.system.get_request(rid).status == RequestStatus.FINALIZED, [honest])
    assert world.system.result(2).operator == honest.me


@pytest.mark.parametrize(("lie", "x", "truth"), [("nofail", BAD, Outcome.FAILURE), ("fail", GOOD, Outcome.SUCCESS)])
def test_cli_liar_about_a_failing_node_loses(lie: str, x: bytes, truth: Outcome, tmp_path: Path) -> None:
    """`--lie nofail` claims success for a request whose Gather fails; `--lie fail` claims a failure for one
    that succeeds. The challenger process wins either game; the true outcome finalizes."""
    model = GraphModel(gather_model(), "gather")
    keys = dev_accounts(4)
    with Anvil() as node:
        world, dep, mdnn = deploy(node, model, tmp_path)
        liar = GraphDaemon("operator", keys[1], node, dep, mdnn, tmp_path, "liar", "--dishonest", "--lie", lie)
        ch = GraphDaemon("challenger", keys[2], node, dep, mdnn, tmp_path, "ch")
        logs = [liar.log, ch.log]
        try:
            liar.start()
            ch.start()
            rid = world.request(x, fee=FEE)
            wait_for(lambda: world.system.counts()[3] >= 1, 120, "the challenger's game", logs, [liar, ch])
            wait_for(lambda: world.system.game(1).status != GameStatus.ACTIVE, 300, "the game's end", logs,
                     [liar, ch])
            assert world.system.game(1).status == GameStatus.CHALLENGER_WON
            lying = world.system.result(1)
            assert lying.status == ResultStatus.REJECTED
            assert lying.outcome == (Outcome.SUCCESS if lie == "nofail" else Outcome.FAILURE)
        finally:
            liar.stop()
            ch.stop()
        honest_answer_finalizes(world, rid)
        out = world.system.outcome(rid)
        assert (out.outcome, out.result_id) == (truth, 2)
        assert out.exit_code == (ERROR_CODES["INDEX"] if truth == Outcome.FAILURE else 0)


def test_no_halt_node_on_anvil_finalizes_and_the_liar_loses(tmp_path: Path) -> None:
    """Node 2 registered with maxSteps 1000 (its run takes ~2400): the liar claims success, the challenger
    wins in the VM; the honest NoHalt result finalizes."""
    bounded = GraphModel(gather_model(), "bounded", verify_nodes=True, max_steps={2: NO_HALT_BOUND})
    with Anvil() as node:
        world, _, _ = deploy(node, bounded, tmp_path)
        liar, ch = world.operator(dishonest=True), world.challenger()
        liar.graph_lie = "nofail"
        rid = world.request(GOOD, fee=FEE)
        liar.tick()
        assert world.system.get_request(rid).status == RequestStatus.POSTED
        world.run_until(lambda: world.system.counts()[3] >= 1
                        and world.system.game(1).status != GameStatus.ACTIVE, [liar, ch],
                        advance_when_idle=CLOCK + 1)
        assert world.system.game(1).status == GameStatus.CHALLENGER_WON
        assert world.system.result(1).status == ResultStatus.REJECTED
        honest_answer_finalizes(world, rid)
        assert world.system.outcome(rid).outcome == Outcome.NO_HALT


def test_cli_lie_choices_are_the_daemons_lies() -> None:
    """`--lie` offers exactly the lies the daemons can play (the CLI lists them without importing them)."""
    from optimist.commands.daemons import daemon_command

    for role in ("operator", "challenger"):
        (lie,) = [p for p in daemon_command(role).params if p.name == "lie"]
        assert tuple(lie.type.choices) == GRAPH_LIES
