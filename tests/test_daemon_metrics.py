"""A daemon's Prometheus metrics and health endpoint, and its JSON log lines."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

import pytest
from prometheus_client import generate_latest

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


def test_inferences_per_second_over_the_last_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("challenger.metrics.time.monotonic", lambda: now[0])
    m = DaemonMetrics("operator")
    now[0] += 10
    m.inferred(5)                                   # 5 in the first 10 s
    assert m.inferences_per_second() == pytest.approx(0.5)
    now[0] += 55
    m.inferred()                                    # 6 in the last minute (at 65 s)
    assert m.inferences_per_second() == pytest.approx(6 / 60)
    now[0] += 6                                     # at 71 s the first 5 (at 10 s) are past the window
    assert m.inferences_per_second() == pytest.approx(1 / 60) and m.inferred_total == 6
    m.inference_rate.labels("operator").set(m.inferences_per_second())
    m.workers.labels("operator").set(4)
    text = generate_latest(m.registry).decode()
    assert 'optimist_inferences_total{role="operator"} 6.0' in text
    assert 'optimist_workers{role="operator"} 4.0' in text
    assert 'optimist_inferences_per_second{role="operator"} 0.01666' in text


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
