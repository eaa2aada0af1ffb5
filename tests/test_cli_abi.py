"""`optimist abi`: the ABI JSON of each contract it names, to stdout or a file; a clear error otherwise."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from contracts.system import compile_examples, compile_system
from optimist.cli import main


def test_default_is_the_optimist_abi() -> None:
    result = CliRunner().invoke(main, ["abi"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == compile_system()["Optimist"]["abi"]
    names = {item.get("name") for item in json.loads(result.output)}
    assert {"requestWithCallback", "finalizeWithOutput", "CallbackCalled"} <= names


def test_named_contract_any_case_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "bounty.json"
    result = CliRunner().invoke(main, ["abi", "digitbounty", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == compile_examples()["DigitBounty"]["abi"]
    result = CliRunner().invoke(main, ["abi", "IOptimistConsumer"])
    (fn,) = json.loads(result.output)
    assert fn["name"] == "onOptimistResult"
    assert [i["type"] for i in fn["inputs"]] == ["uint256", "uint8", "uint8", "bytes"]


def test_unknown_contract_and_unwritable_file_are_one_line_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["abi", "Optimism"])
    assert result.exit_code == 2
    assert "no contract named 'Optimism' (choose from Optimist, IOptimistConsumer, MIPS, DigitBounty)" in result.output
    result = CliRunner().invoke(main, ["abi", "-o", str(tmp_path / "missing" / "x.json")])
    assert result.exit_code == 1
    assert "cannot write" in result.output and "Traceback" not in result.output
