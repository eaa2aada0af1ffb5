"""`optimist explorer`: a read-only local web page of the chain (docs/explorer.md)."""

from __future__ import annotations

from pathlib import Path

import click

from optimist.commands.common import (
    beacon_option,
    connect,
    console,
    handle_errors,
    open_system,
    rpc_option,
)


@click.command("explorer")
@rpc_option
@click.option("--port", default=8600, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port on 127.0.0.1 (0: any free port).")
@click.option("--poll", "poll_ms", default=2000, show_default=True, type=click.IntRange(200, 600_000),
              help="How often the pages poll for a new block (milliseconds).")
@beacon_option
@handle_errors
def explorer(rpc: str, deployment_path: Path | None, port: int, poll_ms: int, beacon_url: str | None) -> None:
    """Serve a read-only web page of models, requests, results, games, request batches, batches and balances on 127.0.0.1.

    Blobs (request batch inputs, entry outputs sent in them) are read from --beacon-url, else from the node (anvil);
    the pages say so when they cannot be read."""
    from optimist.explorer import ChainView, Explorer

    w3 = connect(rpc)
    system, d = open_system(w3, deployment_path)
    system.deploy_block = d.block
    try:
        server = Explorer(ChainView(system, beacon_url=beacon_url), port, poll_ms=poll_ms)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc} "
                                   "(fix: --port another one, or 0 for any free port)") from None
    console.print(f"optimist explorer on [bold]{server.url}[/] (chain {rpc}, contract {system.address}); "
                  "Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
