"""`optimist chain up | down`: a local anvil node on 127.0.0.1 with funded development keys."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import click
from rich.console import Console

from optimist.commands.common import EXIT_ERROR, EXIT_RPC, CommandError
from optimist.keys import ANVIL_MNEMONIC, dev_accounts

console = Console()


@click.group("chain")
def chain() -> None:
    """A local development chain (anvil from npm)."""


@chain.command("up")
@click.option("--port", default=8545, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--state", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Load chain state from FILE at start and dump it there on exit.")
@click.option("--block-time", type=float, default=None, help="Mine every N seconds (default: on each tx).")
@click.option("--accounts", default=5, show_default=True, help="Development keys to show.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("anvil.log"),
              show_default=True, help="anvil's own output.")
def up(port: int, state: Path | None, block_time: float | None, accounts: int, log_path: Path) -> None:
    """Start anvil in the background; print its URL, pid and funded development keys."""
    from web3 import Web3

    from contracts.chain import ANVIL_MNEMONIC as CHAIN_MNEMONIC
    from contracts.chain import BLOCK_GAS_LIMIT, ChainError, anvil_binary, free_port

    try:
        binary = anvil_binary()
    except ChainError as exc:
        raise CommandError(str(exc), EXIT_ERROR) from None
    if port and not port_is_free(port):
        raise CommandError(f"port {port} on 127.0.0.1 is already in use (another node? stop it with "
                           "`optimist chain down PID`, or pass --port 0 for any free port)", EXIT_RPC)
    port = port or free_port()
    args = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--gas-limit", str(BLOCK_GAS_LIMIT),
            "--code-size-limit", "49152", "--mnemonic", CHAIN_MNEMONIC]
    if block_time:
        args += ["--block-time", str(block_time)]
    if state is not None:
        args += ["--state", str(state)]
    log = open(log_path, "ab")  # handed to the child
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 2}))
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            raise CommandError(f"anvil exited with code {proc.returncode} (port {port} in use? see {log_path})",
                               EXIT_RPC)
        try:
            if w3.is_connected() and proc.poll() is None:
                break
        except Exception:  # not up yet
            pass
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGTERM)
            raise CommandError(f"anvil did not answer on {url} within 20 s (see {log_path})", EXIT_RPC)
        time.sleep(0.05)
    assert CHAIN_MNEMONIC == ANVIL_MNEMONIC
    console.print(f"anvil running: [bold]{url}[/]  pid [bold]{proc.pid}[/]  chain id {w3.eth.chain_id}")
    console.print(f"stop it with: optimist chain down {proc.pid}")
    # plain lines, not a table: a key must never be cut to the terminal's width
    console.print("funded development accounts (public test keys: never use them on a real chain):")
    click.echo(f"{'#':>2}  {'address':<42}  private key")
    for i, acct in enumerate(dev_accounts(accounts)):
        click.echo(f"{i:>2}  {acct.address}  0x{acct.key.hex().removeprefix('0x')}")
    console.print("e.g.  export OPTIMIST_RPC=" + url + "  OPTIMIST_KEY=<a key above>")


def port_is_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:`port` (so a new node can bind it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@chain.command("down")
@click.argument("pid", type=int)
def down(pid: int) -> None:
    """Stop the anvil started by `chain up` (by its pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except FileNotFoundError:
        raise CommandError(f"no process {pid}", EXIT_ERROR) from None
    if b"anvil" not in cmdline:
        raise CommandError(f"process {pid} is not anvil ({cmdline.decode(errors='replace')})", EXIT_ERROR)
    os.kill(pid, signal.SIGTERM)
    console.print(f"stopped anvil (pid {pid})")
