"""`optimist doctor`: is the toolchain here, and how to fix what is not."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from optimist.doctor import FIX_SETUP, run_checks


@click.command()
def doctor() -> None:
    """Check the toolchain: Python packages, zig cc (mipsel), unicorn, solc, anvil."""
    results = run_checks()
    table = Table(title="optimist doctor")
    table.add_column("part", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for c in results:
        table.add_row(c.part, c.version, "[green]ok[/]" if c.ok else "[red]MISSING[/]", c.detail)
    Console().print(table)
    failed = [c for c in results if not c.ok]
    if failed:
        raise click.ClickException(f"{len(failed)} part(s) missing or broken; {FIX_SETUP}")
