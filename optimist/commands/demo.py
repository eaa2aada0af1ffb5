"""`optimist demo`: the whole story on the embedded chain."""

from __future__ import annotations

import time

import click
from rich.console import Console

from optimist.demo import run_demo


@click.command("demo")
@click.option("--window", default=600, show_default=True, help="Challenge window (s, chain time).")
@click.option("--clock", default=300, show_default=True, help="Chess clock per side (s, chain time).")
def demo(window: int, clock: int) -> None:
    """The whole story on the embedded chain: honest results, a lie caught by a one-step proof."""
    console = Console()
    t0 = time.perf_counter()
    run_demo(console, window=window, clock=clock)
    console.print(f"demo finished in {time.perf_counter() - t0:.1f} s")
