"""Two `optimist operator` processes (own keys, own stores, two worker processes each; one posting single
results, one batches) serve one deployment on anvil: the chain is the coordinator. Every request is answered
once, races lost are only logged, both daemons live on, every bond comes back, and SIGTERM stops each with
its workers."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from challenger.models import toy_model
from contracts.chain import Anvil
from contracts.system import RequestStatus
from optimist.keys import dev_accounts
from tests.test_daemon_anvil import Daemon, _anvil_package_installed, deploy_world, wait_for

pytestmark = pytest.mark.anvil

if not _anvil_package_installed():  # pragma: no cover
    pytest.skip("the npm anvil package is not installed (make setup)", allow_module_level=True)

REQUESTS = 12
FEE = 10**16


def key(i: int) -> str:
    return "0x" + dev_accounts(i + 1)[i].key.hex().removeprefix("0x")


def json_events(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text().splitlines() if log.exists() else []:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def test_two_operators_serve_one_deployment(tmp_path: Path) -> None:
    with Anvil() as node:
        world, dep = deploy_world(node, toy_model(engine="stepper"), tmp_path)
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        a = Daemon("operator", key(1), node, dep, tmp_path / "a.db", logs[0], "--workers", "2", "--log-json")
        b = Daemon("operator", key(2), node, dep, tmp_path / "b.db", logs[1], "--workers", "2", "--log-json",
                   "--batch-interval", "1")
        daemons = [a, b]
        try:
            for d in daemons:
                d.start()
            wait_for(lambda: all(any(e.get("event") == "serving" for e in json_events(p)) for p in logs), 120,
                     "both operators to serve the model", logs, daemons)
            rids = [world.request(bytes((i * 11 + j) % 256 for j in range(64)), fee=FEE) for i in range(REQUESTS)]
            wait_for(lambda: all(world.system.get_request(r).status == RequestStatus.POSTED for r in rids), 300,
                     "every request answered", logs, daemons)
            posted = [e for e in world.system.events_since(world.deploy_block) if e.name == "ResultPosted"]
            assert sorted(e["requestId"] for e in posted) == rids            # each answered exactly once
            by = Counter(e["operator"] for e in posted)
            world.advance_time(world.system.params.challenge_window + 2)
            world.w3.provider.make_request("evm_mine", [])
            bond = world.system.params.result_bond

            def paid_out() -> bool:
                withdrawn = Counter()
                for e in world.system.events_since(world.deploy_block):
                    if e.name == "Withdrawn":
                        withdrawn[e["account"]] += e["amount"]
                return all(world.system.get_request(r).status == RequestStatus.FINALIZED for r in rids) and \
                    all(withdrawn[op] == n * (FEE + bond) for op, n in by.items())

            wait_for(paid_out, 300, "every result finalized and its fee and bond withdrawn", logs, daemons)
            assert world.contract_balance() == 0
            assert all(d.proc is not None and d.proc.poll() is None for d in daemons)    # both alive
            lines = [e for p in logs for e in json_events(p)]
            bad = [e for e in lines if e.get("event") in ("tx_reverted", "tx_error", "request_failed", "worker_died")
                   or e.get("level") in ("ERROR", "CRITICAL")]
            assert not bad, bad
            assert not [p for p in logs if "Traceback" in p.read_text()]
            races = [e for e in lines if e.get("event") == "race_lost"]
            assert {e["error"] for e in races} <= {"RequestNotOpen"}
            workers = {e["worker"] for e in lines if e.get("event") == "vm_run" and "worker" in e}
            assert workers and not workers & {os.getpid(), a.proc.pid, b.proc.pid}
            print(f"\nresults by operator: {dict(by)}; races lost: {len(races)}; worker processes: {len(workers)}")
        finally:
            for d in daemons:
                d.stop()
        assert [d.proc.returncode for d in daemons] == [0, 0]
        deadline = time.monotonic() + 10
        while [p for p in workers if os.path.exists(f"/proc/{p}")] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in workers if os.path.exists(f"/proc/{p}")], "a worker outlived its daemon"
