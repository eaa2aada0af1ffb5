"""SIGTERM while the node is down: `optimist operator` (a real process) stops within its current step
instead of finishing its RPC retries (11 s and more before), and its database is fine for a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_daemon_anvil import OPTIMIST, Daemon, deploy_world, wait_for

from challenger.models import toy_model
from contracts.chain import Anvil
from optimist.keys import dev_accounts

pytestmark = pytest.mark.anvil

BOUND = 10.0   # seconds: far above a prompt stop (~0.5 s measured), below the old retry tail (11 s and more)


def key(i: int) -> str:
    return "0x" + dev_accounts(i + 1)[i].key.hex().removeprefix("0x")


def json_events(log: Path) -> list[dict]:
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def retries(log: Path) -> int:
    return sum(1 for e in json_events(log) if e.get("event") == "rpc_retry")


def test_sigterm_during_an_outage_stops_at_once_and_restarts_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    node = Anvil(state_path=state).start()
    op = None
    try:
        world, dep = deploy_world(node, toy_model(engine="stepper"), tmp_path)
        db, log = tmp_path / "op.db", tmp_path / "op.log"
        op = Daemon("operator", key(1), node, dep, db, log, "--log-json").start()
        wait_for(lambda: any(e.get("event") == "started" for e in json_events(log)), 120, "the daemon to start",
                 [log], [op])
        node.stop()                                     # the node goes away
        wait_for(lambda: any(e.get("event") == "rpc_retry" for e in json_events(log)), 60,
                 "the daemon to retry", [log], [op])
        retries_before = retries(log)
        t0 = time.monotonic()
        op.proc.send_signal(signal.SIGTERM)             # type: ignore[union-attr]
        code = op.proc.wait(timeout=120)                # type: ignore[union-attr]
        elapsed = time.monotonic() - t0
        assert code == 0, log.read_text()[-2000:]
        # no retry after the signal (at most the one being logged as it came); before: 6 more, ~11 s
        assert retries(log) - retries_before <= 1, log.read_text()[-2000:]
        assert elapsed < BOUND, f"took {elapsed:.1f} s to stop\n{log.read_text()[-2000:]}"
        lines = json_events(log)
        retry = next(e for e in lines if e.get("event") == "rpc_retry")
        assert {"method", "attempt", "delay", "error"} <= retry.keys() and "msg" not in retry
        assert lines[-1]["event"] == "stopped" and lines[-1]["signal"] is True
        # restart-safe: the node comes back, the same database serves a tick and exits cleanly
        node = Anvil(port=node.port, state_path=state).start()
        again = subprocess.run([*OPTIMIST, "operator", "--model", "toy", "--rpc", node.url, "--deployment",
                                str(dep), "--key-env", "DAEMON_KEY", "--db", str(db), "--once"],
                               env={**os.environ, "OPTIMIST_VM_ENGINE": "stepper", "DAEMON_KEY": key(1)},
                               capture_output=True, text=True,
                               timeout=300, cwd=Path(__file__).parents[1])
        assert again.returncode == 0, again.stderr[-2000:]
    finally:
        if op is not None:
            op.kill()
        node.stop()

