"""`optimist demo` end to end (the digits MLP on eth-tester): the lie is caught by a one-step proof."""

from __future__ import annotations

import pytest
from rich.console import Console

from optimist.demo import run_demo


@pytest.mark.slow
def test_demo_tells_the_whole_story() -> None:
    console = Console(record=True, width=120)
    summary = run_demo(console)
    out = summary.outcome
    assert out["game"]["status"] == "challenger_won" and out["game"]["reason"] == "proof"
    assert 20 <= out["rounds"] <= 48
    assert out["lie"] != out["answers"][2]
    assert out["request_status"] == ["FINALIZED"] * 3
    assert out["contract_balance"] == 0
    # the proof that rejects the lie: MIPS.sol step + rejection (burn share counted, share credited, operator
    # barred, request reopened: docs/game-rules.md §8)
    assert 0 < out["prove_gas"] < 120_000
    text = console.export_text()
    assert "one-step proof" in text and "summary" in text
