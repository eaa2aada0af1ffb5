"""Issue #20's acceptance run for request batches, on anvil with the challenger and the honest operator as processes
(docs/game-rules.md §3b).

A requester sends 100 MNIST MLP inputs in one requestBatch (the bytes in blobs). A lying operator (the real operator
daemon, in-process so that its belief can be the truth on 98 inputs) answers all 100 in one postEntries with the
outputs in blobs (`--entry-outputs auto` finds anvil takes them): a wrong final state on one entry, the true final
state with a wrong output on another. The honest `optimist challenger` process reads the inputs and outputs back
from the blobs, checks all 100, opens a game on the first lie and rejects the second with rejectEntry; the liar does
not defend and loses the game on its clock (chain time moved). An honest `optimist operator` process (started once
the liar's batch took every entry) answers both reopened entries (the game's as an ordinary request, the rejected one
in a blob entry batch); at the window the liar's daemon finalizes the 98 others in one finalizeEntries, and the
honest answers finalize too. The inputs are the first 100 test images of the digits set (28x28, MNIST's layout).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from test_daemon_anvil import OPTIMIST, Daemon, _anvil_package_installed, wait_for

from challenger.models import LyingTrace, MinidnnModel, Trace
from contracts.batches import entry_ref, leaf_position, leaf_result_id
from contracts.chain import ANVIL_MNEMONIC, Anvil
from contracts.system import GameStatus, RequestStatus
from converter.datasets import load_digits_28
from mipsvm.memory import keccak256
from optimist.deployment import Deployment
from optimist.keys import dev_accounts
from optimist.world import World

pytestmark = pytest.mark.anvil

if not _anvil_package_installed():  # pragma: no cover
    pytest.skip("the npm anvil package is not installed (make setup)", allow_module_level=True)

WINDOW, CLOCK = 600, 300
BOND, FEE = 10**17, 10**15
N, GAME_LIE, WRONG_OUTPUT = 100, 17, 71
MODELS = Path(__file__).resolve().parents[1] / "examples" / "models"


@pytest.fixture(scope="module")
def mdnn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from converter.api import convert

    out = tmp_path_factory.mktemp("mnist") / "mlp.mdnn"
    convert(MODELS / "mlp_digits.onnx", out)
    return out


class MdnnDaemon(Daemon):
    """`optimist operator|challenger --model FILE.mdnn` as a process (the VM's fast engine)."""

    def __init__(self, role: str, key, node: Anvil, dep: Path, mdnn: Path, tmp_path: Path, name: str,
                 *extra: str) -> None:
        super().__init__(role, "0x" + key.key.hex().removeprefix("0x"), node, dep, tmp_path / f"{name}.db",
                         tmp_path / f"{name}.log", *extra)
        self.mdnn = mdnn

    def start(self) -> MdnnDaemon:
        env = {**os.environ, "DAEMON_KEY": self.key}
        args = [*OPTIMIST, self.role, "--model", str(self.mdnn), "--rpc", self.node.url, "--deployment",
                str(self.deployment), "--key-env", "DAEMON_KEY", "--db", str(self.db), "--poll", "0.1", *self.extra]
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"),
                                     cwd=Path(__file__).parents[1])
        return self


def stored_outputs(db: Path) -> dict[int, bytes]:
    """result id -> the output bytes a daemon's store holds (read-only; the daemon keeps its lock)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        return {int(r[0]): bytes(r[1]) for r in conn.execute("SELECT result_id, output FROM results")}


def test_100_mnist_entries_with_two_lies(mdnn: Path, tmp_path: Path) -> None:
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    requester_key = Account.from_mnemonic(ANVIL_MNEMONIC, account_path="m/44'/60'/0'/0/0").key
    keys = dev_accounts(4)
    model = MinidnnModel(mdnn)
    images = load_digits_28().test_x[:N]
    inputs = [np.ascontiguousarray(x, dtype="<f4").tobytes() for x in images]
    assert all(len(x) == model.image.input_length for x in inputs)
    t0 = time.perf_counter()
    with Anvil() as node:
        world = World.deploy(node.web3(), model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                             db_dir=tmp_path, engine="fast")
        s = world.system
        p = s.params
        dep = Deployment(world.w3.eth.chain_id, s.address, p.mips, world.deploy_block, node.url, p.challenge_window,
                         p.clock, p.result_bond, p.challenge_bond).save(tmp_path / "dep.json")
        ch = MdnnDaemon("challenger", keys[2], node, dep, mdnn, tmp_path, "ch")
        honest = MdnnDaemon("operator", keys[3], node, dep, mdnn, tmp_path, "honest", "--workers", "1")
        daemons = [ch, honest]
        logs = [ch.log, honest.log]
        try:
            ch.start()

            def lie(truth: Trace) -> LyingTrace:   # the liar's belief: the truth except on two inputs
                if truth.input == inputs[GAME_LIE]:
                    return LyingTrace(truth)                                # a wrong final state: a game
                claim = LyingTrace(truth, edit=lambda st: None)
                if truth.input == inputs[WRONG_OUTPUT]:
                    claim.__dict__["output"] = truth.output[::-1]           # the true state, another output
                return claim

            liar = world.operator(dishonest=True, name="liar")
            liar.lie = lie
            rb = s.request_batch_blobs(world.model_id, inputs, N * FEE, requester_key)
            refs = [entry_ref(rb, i) for i in range(N)]
            world.run_until(lambda: all(s.entry_taken(rb, i) for i in range(N)), [liar], max_ticks=400)
            posted = [e for e in s.events_since(world.deploy_block) if e.name == "EntriesPosted"]
            assert [e["count"] for e in posted] == [N]                     # one transaction for all 100
            batch_id = posted[0]["batchId"]
            tx = world.w3.eth.get_transaction(posted[0].tx_hash)
            assert len(posted[0]["blobHashes"]) == 1 and tx["type"] == 3   # the outputs in a blob,
            assert s.batches.decode_function_input(tx["input"])[1]["outputs"] == []   # none in the calldata
            t_posted = time.perf_counter()
            honest.start()   # from now on: nothing open for it until the lies are rejected
            print(f"\nthe liar posted at {t_posted - t0:.1f} s")

            # the challenger process checks the 100 and answers both lies: a game and a rejection
            def answered() -> bool:
                evs = s.events_since(world.deploy_block)
                return any(e.name == "GameOpened" for e in evs) and any(e.name == "EntryRejected" for e in evs)

            wait_for(answered, 300, "the challenger's disputes", logs, daemons)
            t_checked = time.perf_counter()
            evs = s.events_since(world.deploy_block)
            rejected = [(e["batchId"], e["index"], e["malformed"]) for e in evs if e.name == "EntryRejected"]
            assert rejected == [(batch_id, WRONG_OUTPUT, False)]
            games = [e for e in evs if e.name == "GameOpened"]
            assert len(games) == 1
            gid = games[0]["gameId"]
            assert leaf_position(s.game(gid).result_id) == (batch_id, GAME_LIE)
            # the liar does not defend: on its clock (chain time moved) the challenger claims the timeout
            world.advance_time(CLOCK + 1)
            wait_for(lambda: s.game(gid).status != GameStatus.ACTIVE, 120, "the timeout", logs, daemons)
            assert s.game(gid).status == GameStatus.CHALLENGER_WON
            # the challenger read the 100 outputs back from the blob, each matching its leaf
            truths = [model.infer(x) for x in inputs]   # native: bit-exact with the VM (the operator checks it)
            claims = [liar.trace(refs[GAME_LIE]).output if i == GAME_LIE else truths[i][::-1] if i == WRONG_OUTPUT
                      else truths[i] for i in range(N)]
            assert claims[GAME_LIE] != truths[GAME_LIE]
            outs = stored_outputs(ch.db)
            assert [outs[leaf_result_id(batch_id, i)] for i in range(N)] == claims

            # an honest operator process answers both reopened entries (after the reopen delay)
            print(f"lies answered, game over at {time.perf_counter() - t0:.1f} s")
            world.advance_time(p.reopen_delay + 1)
            wait_for(lambda: s.get_request(refs[GAME_LIE]).status == RequestStatus.POSTED
                     and s.entry_taken(rb, WRONG_OUTPUT), 300, "the honest answers", logs, daemons)
            mine = [e for e in s.events_since(world.deploy_block) if e.name == "EntriesPosted" and e["batchId"] != batch_id]
            assert [(e["count"], len(e["blobHashes"])) for e in mine] == [(1, 1)]   # in a blob too

            print(f"honest answers at {time.perf_counter() - t0:.1f} s")
            # at the window: the liar's daemon finalizes the 98 in one finalizeEntries; the honest ones follow
            world.advance_time(WINDOW + 2)
            world.run_until(lambda: s.batch(batch_id).settled, [liar], max_ticks=50)
            finals = [e for e in s.events_since(world.deploy_block) if e.name == "EntriesFinalized"
                      and e["batchId"] == batch_id]
            assert [(e["finalized"], e["fees"]) for e in finals] == [(N - 2, (N - 2) * FEE)]
            wait_for(lambda: s.get_request(refs[GAME_LIE]).status == RequestStatus.FINALIZED
                     and s.batch(mine[0]["batchId"]).settled, 120, "the honest finalizations", logs, daemons)
            assert s.outcome(refs[GAME_LIE]).output_hash == keccak256(truths[GAME_LIE])
            n_games = sum(e.name == "GameOpened" for e in s.events_since(world.deploy_block))
            assert n_games == 1   # the honest answers were checked and left alone
            assert [d.role for d in daemons if d.proc is not None and d.proc.poll() is not None] == []   # alive
        finally:
            for d in daemons:
                d.stop()
    print(f"\n100 MNIST entries, 2 lies, on anvil: {time.perf_counter() - t0:.1f} s (liar posted at "
          f"{t_posted - t0:.1f} s, both lies answered {t_checked - t_posted:.1f} s later)")
