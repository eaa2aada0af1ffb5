"""Daemons as separate processes on anvil: SIGKILL and restart mid-game (challenger, then operator),
the node itself restarting from a state dump mid-game, and a load run (slow)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path

import pytest

from challenger.models import toy_model
from contracts.chain import ANVIL_BIN, ANVIL_SHIM, Anvil, anvil_binary
from contracts.system import GameStatus, Phase, RequestStatus, ResultStatus
from optimist.deployment import Deployment
from optimist.keys import dev_accounts
from optimist.world import World

pytestmark = pytest.mark.anvil

TOY_INPUT = bytes(range(64))
OPTIMIST = [sys.executable, "-m", "optimist.cli"]


def _anvil_package_installed() -> bool:
    """The npm anvil package is in node_modules (whether or not its binary works: a broken one must fail)."""
    return ANVIL_BIN.parent.parent.is_dir() or ANVIL_SHIM.is_symlink() or ANVIL_SHIM.exists()


if not _anvil_package_installed():  # pragma: no cover
    pytest.skip("the npm anvil package is not installed (make setup)", allow_module_level=True)


def test_installed_anvil_runs() -> None:
    """An installed but broken anvil fails here (and in every test below), it is never skipped."""
    proc = subprocess.run([str(anvil_binary()), "--version"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "anvil" in proc.stdout.lower(), proc.stderr


@pytest.fixture(scope="module")
def model():
    return toy_model(engine="stepper")


def deploy_world(node: Anvil, model, tmp_path: Path, **kwargs) -> tuple[World, Path]:
    world = World.deploy(node.web3(), model, db_dir=tmp_path, trace_interval=4096, engine="stepper", **kwargs)
    p = world.system.params
    path = Deployment(world.w3.eth.chain_id, world.system.address, p.mips, world.deploy_block, node.url,
                      p.challenge_window, p.clock, p.result_bond, p.challenge_bond).save(tmp_path / "dep.json")
    return world, path


class Daemon:
    """One `optimist operator|challenger` process (started and killed by pid)."""

    def __init__(self, role: str, key: str, node: Anvil, deployment: Path, db: Path, log: Path,
                 *extra: str) -> None:
        self.role, self.key, self.node, self.deployment, self.db, self.log = role, key, node, deployment, db, log
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        env = {**os.environ, "DAEMON_KEY": self.key, "OPTIMIST_VM_ENGINE": "stepper"}
        args = [*OPTIMIST, self.role, "--model", "toy", "--rpc", self.node.url, "--deployment",
                str(self.deployment), "--key-env", "DAEMON_KEY", "--db", str(self.db), "--poll", "0.1",
                *self.extra]
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "ab"), cwd=Path(__file__).parents[1])
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _tails(logs: Sequence[Path]) -> str:
    return "\n".join(f"--- {p.name}\n" + p.read_text()[-3000:] for p in logs if p.exists())


def wait_for(cond: Callable[[], bool], timeout: float, what: str, logs: Sequence[Path] = (),
             daemons: Sequence[Daemon] = ()) -> None:
    """Poll a chain-state condition; fail at once when a daemon that should be running has exited.

    `timeout` is only a safety net against a hung test: progress is judged from chain state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        dead = [d.role for d in daemons if d.proc is not None and d.proc.poll() is not None]
        if dead:
            raise AssertionError(f"{', '.join(dead)} exited while waiting for {what}\n{_tails(logs)}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{_tails(logs)}")


def ingested_block(db: Path) -> int:
    """The last block a daemon's store has fully ingested (read-only; the daemon keeps its lock)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'cursor'").fetchone()
    return -1 if row is None else int(row[0])


def let_daemon_see_two_new_blocks(node: Anvil, daemon: Daemon, logs: Sequence[Path]) -> None:
    """Mine a block and wait until `daemon` ingested it, twice: the tick that saw the first one has acted."""
    w3 = node.web3()
    for _ in range(2):
        w3.provider.make_request("evm_mine", [])
        head = w3.eth.block_number
        wait_for(lambda h=head: ingested_block(daemon.db) >= h, 60, f"{daemon.role} to ingest block {head}",
                 logs, [daemon])


def moves(world: World) -> list:
    return [e for e in world.system.events_since(world.deploy_block) if e.name == "MoveMade"]


def test_daemons_killed_and_restarted_mid_game(model, tmp_path: Path) -> None:
    keys = dev_accounts(4)
    with Anvil() as node:
        world, dep = deploy_world(node, model, tmp_path)
        liar = Daemon("operator", "0x" + keys[1].key.hex().removeprefix("0x"), node, dep, tmp_path / "op.db",
                      tmp_path / "op.log", "--dishonest")
        ch = Daemon("challenger", "0x" + keys[2].key.hex().removeprefix("0x"), node, dep, tmp_path / "ch.db",
                    tmp_path / "ch.log")
        logs = [tmp_path / "op.log", tmp_path / "ch.log"]
        try:
            liar.start()
            ch.start()
            rid = world.request(TOY_INPUT)
            wait_for(lambda: len(moves(world)) >= 6, 90, "six moves", logs, [liar, ch])
            ch.kill()                                        # SIGKILL mid-game
            # the live operator makes its pending move, if any; then it is the dead challenger's turn
            wait_for(lambda: world.system.game(1).phase != Phase.MIDPOINT, 60, "the challenger's turn", logs,
                     [liar])
            before = (world.system.game(1), len(moves(world)))
            let_daemon_see_two_new_blocks(node, liar, logs)  # the operator ran full ticks on newer blocks
            assert (world.system.game(1), len(moves(world))) == before   # nobody moved for the dead challenger
            ch.start()                                       # restart on the same database
            wait_for(lambda: len(moves(world)) >= 16, 90, "sixteen moves", logs, [liar, ch])
            liar.kill()                                      # the operator dies too
            liar.start()
            wait_for(lambda: world.system.counts()[3] >= 1
                     and world.system.game(1).status != GameStatus.ACTIVE, 120, "the game's end", logs,
                     [liar, ch])
            assert world.system.game(1).status == GameStatus.CHALLENGER_WON
            assert world.system.result(1).status == ResultStatus.REJECTED
            assert world.system.get_request(rid).status == RequestStatus.OPEN
            wait_for(lambda: world.system.balance(keys[2].address) == 0, 30, "the challenger's withdrawal", logs,
                     [liar, ch])
        finally:
            liar.stop()
            ch.stop()
        # nothing double-sent: one move per (game, interval), every nonce used once, in order
        seen = [(e["gameId"], e["lo"], e["hi"], e["kind"]) for e in moves(world)]
        assert len(seen) == len(set(seen))
        for acct in (keys[1], keys[2]):
            nonces = []
            for block in range(world.deploy_block, world.w3.eth.block_number + 1):
                for tx in world.w3.eth.get_block(block, full_transactions=True)["transactions"]:
                    if tx["from"] == acct.address:
                        nonces.append(tx["nonce"])
            assert nonces == list(range(len(nonces)))
        withdrawn = [e for e in world.system.events_since(world.deploy_block)
                     if e.name == "Withdrawn" and e["account"] == keys[2].address]
        # its bond back + the unburnt half of the liar's bond (the other half is burnt, docs/game-rules.md §4)
    assert sum(e["amount"] for e in withdrawn) == 10**17 + 10**17 // 2


@pytest.mark.slow
def test_node_restarts_from_its_state_dump_mid_game(model, tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    node = Anvil(state_path=state).start()
    try:
        world, _ = deploy_world(node, model, tmp_path)
        liar, ch = world.operator(dishonest=True), world.challenger()
        for d in (liar, ch):
            d.client.attempts = 3
        world.request(TOY_INPUT)
        for _ in range(8):
            liar.tick()
            ch.tick()
        before = len(moves(world))
        assert before >= 4
        node.stop()                                          # anvil dumps its state on exit
        node = Anvil(port=node.port, state_path=state).start()
        world.w3 = node.web3()
        for d in (liar, ch):
            d.system.w3 = d.client.w3 = world.w3
            d.system.contract = world.w3.eth.contract(address=d.system.address, abi=d.system.contract.abi)
        world.system.w3 = world.w3
        world.system.contract = world.w3.eth.contract(address=world.system.address, abi=world.system.contract.abi)
        world.run_until(lambda: world.system.game(1).status != GameStatus.ACTIVE, [liar, ch])
        assert world.system.game(1).status == GameStatus.CHALLENGER_WON
        assert len(moves(world)) > before
    finally:
        node.stop()


@pytest.mark.slow
def test_load_twenty_requests_three_challengers_two_lies(model, tmp_path: Path) -> None:
    with Anvil() as node:
        world, _ = deploy_world(node, model, tmp_path, window=120, clock=600)
        honest, liar = world.operator(name="honest"), world.operator(dishonest=True, name="liar")
        challengers = [world.challenger(name=f"ch{i}") for i in range(3)]
        everyone = [honest, liar, *challengers]
        fee = 10**16
        inputs = [bytes((i * 31 + j) % 256 for j in range(64)) for i in range(20)]
        lies = {5, 13}
        rids = []
        for i, x in enumerate(inputs):
            rids.append(world.request(x, fee=fee))
            (liar if i in lies else honest).tick()
        world.run_until(lambda: all(world.system.get_request(r).status == RequestStatus.POSTED for r in rids)
                        and sum(1 for c in challengers for g in c.store.games() if g["status"] == "active") == 0
                        and all(c.store.games() for c in challengers), everyone, max_ticks=2000)
        node.web3().provider.make_request("evm_increaseTime", [200])
        node.web3().provider.make_request("evm_mine", [])
        world.run_until(lambda: all(world.system.get_request(r).status == RequestStatus.FINALIZED for r in rids)
                        and not any(world.system.balance(d.me) for d in everyone), everyone, max_ticks=500,
                        advance_when_idle=130)
        world.system.send_burn()    # the counted burn shares, in one transfer (docs/game-rules.md §4)
        assert world.contract_balance() == 0
        won = [g for c in challengers for g in c.store.games() if g["status"] == "challenger_won"]
        cancelled = [g for c in challengers for g in c.store.games() if g["status"] == "cancelled"]
        assert len(won) == 2 and len(cancelled) == 4
        results = [world.system.result(i) for i in range(1, world.system.counts()[2] + 1)]
        assert sum(r.status == ResultStatus.REJECTED for r in results) == 2
        assert all(r.operator == honest.me for r in results if r.status == ResultStatus.FINALIZED)


def test_transaction_reverted_on_chain_is_named_and_decided_again(model, tmp_path: Path) -> None:
    from challenger.client import ChainClient
    from challenger.store import Store
    from contracts.system import ContractRevert

    with Anvil() as node:
        world, _ = deploy_world(node, model, tmp_path)
        op = world.operator()
        world.request(TOY_INPUT)
        op.tick()
        acct = world.fund()
        client = ChainClient(world.system, acct, Store(tmp_path / "rev.db"))
        # a finalize signed without the preflight (as if the state changed before inclusion): mined, reverts
        fn = world.system.contract.functions.finalize(1)
        tx = fn.build_transaction({"from": acct.address, "gas": 200_000, "nonce": 0,
                                   "chainId": world.w3.eth.chain_id})
        signed = acct.sign_transaction(tx)
        record = client.store.record_signed("finalize:1", "finalize", acct.address, 0,
                                            bytes(signed.raw_transaction), bytes(signed.hash))
        with pytest.raises(ContractRevert, match="ChallengeWindowOpen"):
            client._settle(record)
        assert client.store.tx("finalize:1").status == "reverted"
        assert world.w3.eth.get_transaction_receipt(signed.hash)["status"] == 0
        # deciding again goes through the preflight, which names the error without sending
        with pytest.raises(ContractRevert, match="ChallengeWindowOpen"):
            client.send("finalize:1", "finalize", 1)
        assert world.w3.eth.get_transaction_count(acct.address) == 1
