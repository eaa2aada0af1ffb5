"""Prometheus metrics and a health check for a daemon, served on 127.0.0.1 (`--metrics-port`).

    GET /metrics   Prometheus text format (games by outcome, bonds at stake, balance, last block,
                   queued VM runs, RPC errors, transactions sent)
    GET /health    200 "ok" while the loop ticks (last tick within `stale_after` seconds), else 503
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)


class DaemonMetrics:
    """The figures an operator or challenger watches; updated by the daemon's loop."""

    def __init__(self, role: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"role": role}
        r = self.registry
        self.games_active = Gauge("optimist_games_active", "games this daemon plays now", ["role"], registry=r)
        self.games_ended = Counter("optimist_games_ended", "games this daemon played to the end",
                                   ["role", "outcome", "reason"], registry=r)
        self.bonds_at_stake = Gauge("optimist_bonds_at_stake_wei", "bonds locked in this daemon's open "
                                    "results and games", ["role"], registry=r)
        self.balance = Gauge("optimist_account_balance_wei", "ether of the daemon's account", ["role"], registry=r)
        self.last_block = Gauge("optimist_last_block", "latest block whose events were read", ["role"], registry=r)
        self.queued_runs = Gauge("optimist_queued_runs", "VM runs waiting or running", ["role"], registry=r)
        self.rpc_errors = Counter("optimist_rpc_errors", "ticks lost to an unreachable node", ["role"], registry=r)
        self.transactions = Counter("optimist_transactions", "transactions mined", ["role", "function"],
                                    registry=r)
        self.role = role
        self.last_tick = 0.0
        for gauge in (self.games_active, self.bonds_at_stake, self.balance, self.last_block, self.queued_runs):
            gauge.labels(**labels)
        self.rpc_errors.labels(**labels)

    def ticked(self) -> None:
        self.last_tick = time.monotonic()

    def healthy(self, stale_after: float) -> bool:
        return self.last_tick > 0 and time.monotonic() - self.last_tick <= stale_after

    def serve(self, port: int, *, stale_after: float = 60.0) -> ThreadingHTTPServer:
        """Serve /metrics and /health on 127.0.0.1:`port` (0: any free port) from a daemon thread."""
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body, status, ctype = generate_latest(metrics.registry), 200, CONTENT_TYPE_LATEST
                elif self.path == "/health":
                    ok = metrics.healthy(stale_after)
                    body, status, ctype = (b"ok\n" if ok else b"stale\n"), (200 if ok else 503), "text/plain"
                else:
                    body, status, ctype = b"not found: /metrics or /health\n", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:   # quiet: the daemon logs
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=server.serve_forever, name=f"{self.role}-metrics", daemon=True).start()
        return server
