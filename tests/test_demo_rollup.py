"""`optimist demo --batch N`: rollup mode end to end on eth-tester (the digits MLP, real daemons, real MIPS.sol)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from rich.console import Console

from contracts.batches import is_entry
from mipsvm.memory import keccak256
from optimist.cli import main
from optimist.demo import argmax
from optimist.demo_rollup import run_rollup_demo


def test_rollup_demo_catches_the_lie_and_finalizes_the_rest() -> None:
    console = Console(record=True, width=120)
    out = run_rollup_demo(console, entries=3).outcome
    lie_at = out["lie_at"]
    assert out["claimed"][lie_at] != out["truth"][lie_at]                 # the liar posted a wrong digit there
    assert [c for i, c in enumerate(out["claimed"]) if i != lie_at] == \
        [t for i, t in enumerate(out["truth"]) if i != lie_at]           # and the truth elsewhere
    assert out["game"]["status"] == "challenger_won" and out["game"]["reason"] == "proof"
    assert out["final"] == out["truth"]                                   # what the chain says now
    assert out["request_status"] == ["FINALIZED", "FINALIZED"] and out["contract_balance"] == 0
    assert 0 < out["gas_batched"] < out["gas_alone"]
    request_id, output_hash, output = out["proven"]          # entry 0 proven final on-chain by leafOutcome
    assert output_hash == keccak256(output) and argmax(output) == out["truth"][0] and is_entry(request_id)
    text = console.export_text()
    assert "finalize in one call" in text and "gas per inference" in text and "disputeLeaf" in text


@pytest.mark.parametrize("args, message", [
    (["--batch", "1"], "1 is not in the range 2<=x<=100"),
    (["--batch", "ten"], "'ten' is not a valid integer"),
    (["--model", "gpt", "--batch", "5"], "--batch applies to the digits demo only"),
])
def test_batch_usage_errors_are_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["demo", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_run_rollup_demo_refuses_a_size_out_of_range() -> None:
    with pytest.raises(ValueError, match="2..100 entries, not 101"):
        run_rollup_demo(Console(record=True), entries=101)


def test_rollup_demo_serves_the_explorer_of_its_chain() -> None:
    """With an explorer port (0: any free one), the demo's chain is served: the leaf's game and the batch pages."""
    import requests

    out = run_rollup_demo(Console(record=True, width=120), entries=2, explorer_port=0).outcome
    try:
        game = requests.get(f"{out['explorer']}/game/1", timeout=30)
        assert game.status_code == 200 and "challenger" in game.text.lower()
        front = requests.get(out["explorer"], timeout=30)
        assert front.status_code == 200
    finally:
        out["server"].close()
