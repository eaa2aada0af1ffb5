"""A daemon's Prometheus metrics and health endpoint, and its JSON log lines."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

import pytest

from challenger.metrics import DaemonMetrics
from optimist.commands.daemons import JsonLines


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_and_health_endpoints() -> None:
    m = DaemonMetrics("operator")
    server = m.serve(0, stale_after=60)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert fetch(base + "/health") == (503, "stale\n")      # never ticked
        m.ticked()
        m.games_active.labels("operator").set(3)
        m.games_ended.labels("operator", "won", "proof").inc()
        assert fetch(base + "/health") == (200, "ok\n")
        status, text = fetch(base + "/metrics")
        assert status == 200
        assert 'optimist_games_active{role="operator"} 3.0' in text
        assert 'optimist_games_ended_total{outcome="won",reason="proof",role="operator"} 1.0' in text
        assert fetch(base + "/nope")[0] == 404
    finally:
        server.shutdown()


@pytest.mark.parametrize("fields", [{"game": 7, "hash": b"\x01\x02"}, {}])
def test_json_lines_carry_event_fields(fields: dict) -> None:
    record = logging.LogRecord("optimist.operator", logging.INFO, __file__, 1, "posted x=1", None, None)
    record.event, record.fields, record.role = "posted", fields, "operator"
    line = json.loads(JsonLines().format(record))
    assert line["event"] == "posted" and line["role"] == "operator" and line["level"] == "INFO"
    for key, value in fields.items():
        assert line[key] == ("0x0102" if isinstance(value, bytes) else value)


def test_json_lines_plain_message() -> None:
    record = logging.LogRecord("optimist.client", logging.WARNING, __file__, 1, "retry %s", ("now",), None)
    line = json.loads(JsonLines().format(record))
    assert line["msg"] == "retry now" and "event" not in line
