"""Prometheus metrics and a health check for a daemon, served on 127.0.0.1 (`--metrics-port`).

    GET /metrics   Prometheus text format (games by outcome, bonds at stake, balance, last block,
                   queued VM runs, RPC errors, transactions sent, inferences computed and per second
                   over the last minute, worker processes)
    GET /health    200 "ok" while the loop ticks (last tick within `stale_after` seconds), else 503
"""

from __future__ import annotations

import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

RATE_WINDOW_S = 60.0   # the inferences-per-second gauge's window


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
        self.inferences = Counter("optimist_inferences", "requests computed (VM runs, graph models' phase-1 "
                                  "traces; a game's recomputed run too)", ["role"], registry=r)
        self.inference_rate = Gauge("optimist_inferences_per_second", "requests computed per second over the "
                                    f"last {RATE_WINDOW_S:.0f} s", ["role"], registry=r)
        self.workers = Gauge("optimist_workers", "processes computing requests (1: the daemon's own)", ["role"],
                             registry=r)
        self.role = role
        self.last_tick = 0.0
        self.started = time.monotonic()
        self.inferred_total = 0
        self._done: deque[float] = deque()   # when each inference of the last RATE_WINDOW_S finished
        for gauge in (self.games_active, self.bonds_at_stake, self.balance, self.last_block, self.queued_runs,
                      self.inference_rate, self.workers):
            gauge.labels(**labels)
        self.rpc_errors.labels(**labels)
        self.inferences.labels(**labels)

    def inferred(self, count: int = 1) -> None:
        """`count` requests computed now (any thread: a run's worker thread, a pool's callback)."""
        self.inferences.labels(self.role).inc(count)
        self.inferred_total += count
        now = time.monotonic()
        self._done.extend([now] * count)

    def inferences_per_second(self, window: float = 0.0) -> float:
        """Inferences finished in the last `window` seconds (default RATE_WINDOW_S; less since the start)
        divided by that time."""
        window = window or RATE_WINDOW_S
        now = time.monotonic()
        while self._done and self._done[0] < now - window:
            self._done.popleft()
        span = min(window, now - self.started)
        return len(self._done) / span if span > 0 else 0.0

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
