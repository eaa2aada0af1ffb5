"""`optimist demo`: the whole story on the embedded chain."""

from __future__ import annotations

import time

import click
from rich.console import Console

from optimist.demo import run_demo


@click.command("demo")
@click.option("--window", default=600, show_default=True, help="Challenge window (s, chain time).")
@click.option("--clock", default=300, show_default=True, help="Chess clock per side (s, chain time).")
@click.option("--explorer", is_flag=True,
              help="Serve the explorer (read-only web page) of the demo's chain on 127.0.0.1 and show the dispute "
                   "live; it keeps serving after the story until Ctrl-C.")
@click.option("--explorer-port", default=8600, show_default=True, type=click.IntRange(0, 65535),
              help="Port of --explorer (0: any free port).")
@click.option("--pace", default=0.4, show_default=True, type=click.FloatRange(0, 60),
              help="With --explorer: seconds each game move waits, so the page shows the rounds one by one.")
def demo(window: int, clock: int, explorer: bool, explorer_port: int, pace: float) -> None:
    """The whole story on the embedded chain: honest results, a lie caught by a one-step proof."""
    console = Console()
    t0 = time.perf_counter()
    try:
        summary = run_demo(console, window=window, clock=clock, explorer_port=explorer_port if explorer else None,
                           pace=pace if explorer else 0.0)
    except OSError as exc:
        if not explorer or exc.errno is None:
            raise
        raise click.ClickException(f"cannot listen on 127.0.0.1:{explorer_port}: {exc.strerror} "
                                   "(fix: --explorer-port another one, or 0)") from None
    console.print(f"demo finished in {time.perf_counter() - t0:.1f} s")
    if explorer:
        console.print(f"explorer still serving the finished chain at {summary.outcome['explorer']}; Ctrl-C ends")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            summary.outcome["server"].close()
