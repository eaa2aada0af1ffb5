"""The `optimist` group: every listed command exists, its listed help is its own, start-up is light."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from optimist.cli import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_listed_command_exists_with_its_own_help(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert isinstance(command, click.Command)
    assert command.name == name
    own = " ".join((command.help or "").split("\n\n")[0].split())
    assert own.startswith(COMMANDS[name][1]), f"optimist/cli.py lists a stale help for {name!r}"


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["deplyo"])
    assert result.exit_code == 2
    assert "No such command 'deplyo'" in result.output


def test_help_lists_every_command_without_importing_them() -> None:
    code = ("import sys; from click.testing import CliRunner; from optimist.cli import main; "
            "r = CliRunner().invoke(main, ['--help']); print(r.output); "
            "heavy = [m for m in ('web3', 'eth_account', 'unicorn', 'onnx', 'numpy', 'optimist.commands.vm') "
            "if m in sys.modules]; print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in COMMANDS:
        assert f"  {name} " in out
    assert "HEAVY []" in out
