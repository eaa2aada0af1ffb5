"""`optimist abi [CONTRACT] [-o FILE]`: the ABI JSON of a contract, compiled from this checkout's sources."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

# contract name -> where it is compiled (the system, the one-step interpreter, the example dapps)
SOURCES: dict[str, str] = {
    "Optimist": "system",
    "IOptimistConsumer": "system",
    "MIPS": "mips",
    "DigitBounty": "examples",
}


def _artifacts(kind: str) -> dict[str, dict[str, Any]]:
    from contracts import system
    from contracts.evm import compile_mips

    compilers: dict[str, Callable[[], dict[str, dict[str, Any]]]] = {
        "system": system.compile_system, "mips": compile_mips, "examples": system.compile_examples}
    return compilers[kind]()


def contract_abi(name: str) -> list[dict[str, Any]]:
    """The ABI of contract `name` (one of SOURCES, any case); KeyError for another name."""
    canonical = {n.lower(): n for n in SOURCES}[name.lower()]
    return _artifacts(SOURCES[canonical])[canonical]["abi"]


@click.command("abi")
@click.argument("contract", default="Optimist")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
              help="write the JSON to this file instead of standard output")
def abi(contract: str, output: Path | None) -> None:
    """Print the ABI JSON of CONTRACT (Optimist, IOptimistConsumer, MIPS or DigitBounty; default Optimist)."""
    from contracts.compile import CompileError

    try:
        items = contract_abi(contract)
    except KeyError:
        raise click.UsageError(f"no contract named {contract!r} (choose from {', '.join(SOURCES)})") from None
    except CompileError as exc:
        raise click.ClickException(f"cannot compile the contracts: {exc}") from None
    text = json.dumps(items, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"wrote the {contract} ABI ({len(items)} entries) to {output}", err=True)
