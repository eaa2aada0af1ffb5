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


def test_config_file_sets_option_defaults(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "optimist.toml").write_text('[operator]\nmin-fee = "0.5ether"\nmax_queue = 2\n')
    out = CliRunner().invoke(main, ["operator", "--help"]).output
    assert "[default: 0.5ether]" in out and "[default: 2;" in out


@pytest.mark.parametrize("text, message", [
    ('[operator]\nmin_fees = 1\n', "[operator] has no option 'min_fees'"),
    ('[operatr]\n', "no command named operatr"),
    ('operator = 3\n', "[operator] must be a table"),
    ('[operator\n', "--config"),
])
def test_bad_config_file_is_a_usage_error(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["--config", str(path), "operator", "--once"])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_rpc_url_alias_and_eth_rpc_url(monkeypatch) -> None:
    monkeypatch.delenv("OPTIMIST_RPC", raising=False)
    monkeypatch.setenv("ETH_RPC_URL", "http://127.0.0.1:9")
    out = CliRunner().invoke(main, ["status", "--help"]).output
    assert "--rpc-url, --rpc TEXT" in out
    result = CliRunner().invoke(main, ["status", "1"])
    assert result.exit_code == 3 and "http://127.0.0.1:9" in result.output


def test_python_dash_m_optimist_runs_the_command_line() -> None:
    """`python -m optimist` is the `optimist` console script (no venv bin on PATH needed)."""
    done = subprocess.run([sys.executable, "-m", "optimist", "status", "3:"], capture_output=True, text=True)
    assert done.returncode == 2 and "Usage: optimist status" in done.stderr, done.stderr
    assert "'3:' is not an entry: give RB:I" in done.stderr
