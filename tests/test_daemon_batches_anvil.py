"""Batched results with the real daemons on anvil (JSON-RPC): a batch of 100 requests with two lies."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from challenger.models import toy_model
from contracts.batches import is_leaf
from contracts.chain import Anvil
from contracts.system import RequestStatus
from optimist.keys import dev_accounts
from optimist.world import World
from tests.test_daemon_anvil import Daemon, _anvil_package_installed, deploy_world, wait_for
from tests.test_daemon_batches import (
    BOND,
    CLOCK,
    MAX_STEPS,
    WINDOW,
    play_batch_with_lies,
    toy_input,
)

pytestmark = pytest.mark.anvil

if not _anvil_package_installed():  # pragma: no cover
    pytest.skip("the npm anvil package is not installed (make setup)", allow_module_level=True)


def test_a_batch_of_100_with_two_lies_on_anvil(tmp_path: Path) -> None:
    with Anvil() as node:
        world = World.deploy(node.web3(), toy_model(engine="fast"), window=WINDOW, clock=CLOCK, result_bond=BOND,
                             challenge_bond=BOND, db_dir=tmp_path, trace_interval=4096, engine="fast",
                             max_steps=MAX_STEPS)
        t0 = time.perf_counter()
        play_batch_with_lies(world, 100, (17, 71))
        print(f"\n100 requests, 2 lies, on anvil: {time.perf_counter() - t0:.1f} s")


def test_operator_process_batches_with_the_cli_option(tmp_path: Path) -> None:
    """`optimist operator --batch-interval 0` and `optimist challenger` as processes: ten requests answered in
    batches (what is ready every 3 s: usually one), judged right, finalized with finalizeBatch at the window."""
    keys = dev_accounts(3)
    with Anvil() as node:
        world, dep = deploy_world(node, toy_model(engine="stepper"), tmp_path)
        op = Daemon("operator", "0x" + keys[1].key.hex().removeprefix("0x"), node, dep, tmp_path / "op.db",
                    tmp_path / "op.log", "--batch-interval", "3", "--max-queue", "10")
        ch = Daemon("challenger", "0x" + keys[2].key.hex().removeprefix("0x"), node, dep, tmp_path / "ch.db",
                    tmp_path / "ch.log")
        logs = [tmp_path / "op.log", tmp_path / "ch.log"]
        daemons = [op, ch]
        try:
            ch.start()
            rids = [world.request(toy_input(200 + i)) for i in range(10)]
            op.start()

            def posted() -> bool:
                return all(world.system.get_request(r).status == RequestStatus.POSTED for r in rids)

            wait_for(posted, 120, "the batch", logs, daemons)
            batches = [e for e in world.system.events_since(world.deploy_block) if e.name == "BatchPosted"]
            assert sum(e["count"] for e in batches) == 10 and all(is_leaf(world.system.get_request(r).result_id)
                                                                 for r in rids)
            wait_for(lambda: sqlite_verdicts(tmp_path / "ch.db") == ["agree"] * 10, 120, "the checks", logs,
                     daemons)
            world.advance_time(world.system.params.challenge_window + 2)
            wait_for(lambda: all(world.system.get_request(r).status == RequestStatus.FINALIZED for r in rids), 120,
                     "finalization", logs, daemons)
            finals = [e for e in world.system.events_since(world.deploy_block) if e.name == "BatchFinalized"]
            assert sorted((e["batchId"], e["finalized"]) for e in finals) == \
                sorted((e["batchId"], e["count"]) for e in batches)
            assert not [e for e in world.system.events_since(world.deploy_block) if e.name == "GameOpened"]
        finally:
            for d in daemons:
                d.stop()


def sqlite_verdicts(db: Path) -> list[str | None]:
    """The challenger's verdicts on the results it has seen (read-only; the daemon keeps its lock)."""
    if not db.exists():
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        return [row[0] for row in conn.execute("SELECT verdict FROM results ORDER BY result_id")]
