"""`optimist operator | challenger`: the daemons, run until stopped."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from optimist.commands.common import (
    BEACON_ENV,
    ETHER,
    EXIT_KEY,
    EXIT_NOT_FOUND,
    CommandError,
    KeySource,
    beacon_option,
    check_beacon,
    check_model_files,
    connect,
    handle_errors,
    key_options,
    open_system,
    rpc_option,
)

# ------------------------------------------------------------------------------------- daemons

class JsonLines(logging.Formatter):
    """One JSON object per log line: time, level, logger, and the event with its fields as keys
    (bytes as 0x-hex; every line of the daemons and their chain client), or the message for other
    libraries' records."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"t": self.formatTime(record), "level": record.levelname, "logger": record.name}
        event = getattr(record, "event", None)
        if event is not None:
            line["event"] = event
            if getattr(record, "role", None) is not None:   # the daemons' lines; the client's have none
                line["role"] = record.role
            for key, value in getattr(record, "fields", {}).items():
                line[key] = "0x" + bytes(value).hex() if isinstance(value, bytes | bytearray) else value
        else:
            line["msg"] = record.getMessage()
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_logging(level: str, json_lines: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if json_lines else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler], force=True)


def daemon_command(role: str) -> click.Command:
    @click.command(role)
    @click.option("--model", "model_specs", multiple=True, required=True,
                  help="Model to serve/check: a .mdnn file (repeatable).")
    @click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help=f"SQLite state (default ./{role}-<address>.db).")
    @click.option("--dishonest", is_flag=True, help="Play a consistent lie (demos and tests only).")
    @click.option("--two-phase", is_flag=True,
                  help="Serve the .mdnn models as graph models (two-phase games; `optimist register --two-phase`).")
    @click.option("--lie", type=click.Choice(["phase1", "phase2", "transition", "fail", "nofail"]),
                  default="phase1", show_default=True,
                  help="With --dishonest and --two-phase: the lie (challenger.graph_games): a wrong node output "
                       "in phase 1 or 2, a bad transition, a node claimed to fail, or a failing node claimed to "
                       "succeed.")
    @click.option("--poll", default=1.0, show_default=True, help="Seconds between ticks when idle.")
    @click.option("--log-level", default="info", show_default=True)
    @click.option("--log-json", is_flag=True, help="Log JSON lines instead of key=value.")
    @click.option("--once", is_flag=True, help="Run a single tick (VM runs inline) and exit.")
    @click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
                  help="Serve Prometheus /metrics and /health on 127.0.0.1:PORT.")
    @rpc_option
    @beacon_option
    @key_options
    @handle_errors
    def command(model_specs: tuple[str, ...], db: Path | None, dishonest: bool, two_phase: bool, lie: str,
                poll: float, log_level: str, log_json: bool, once: bool, metrics_port: int | None, rpc: str,
                deployment_path: Path | None, beacon_url: str | None, key: KeySource, **role_options: Any) -> None:
        from challenger.client import ChainClient
        from challenger.models import parse_model_spec
        from challenger.store import Store

        setup_logging(log_level, log_json)
        check_model_files(model_specs)
        account = key.load()
        models = [load_graph_model(spec) if two_phase and spec.endswith(".mdnn") else parse_model_spec(spec)
                  for spec in model_specs]
        w3 = connect(rpc)
        check_beacon(beacon_url, w3)
        system, d = open_system(w3, deployment_path)
        if w3.eth.get_balance(account.address) == 0:
            raise CommandError(f"account {account.address} has no ether on this chain (wrong key? fund it "
                               "first: it pays gas and bonds)", EXIT_KEY)
        store = Store(db or Path(f"{role}-{account.address[:10].lower()}.db"))
        daemon = make_daemon(role, ChainClient(system, account, store), models, dishonest=dishonest,
                             start_block=d.block, background=not once, beacon_url=beacon_url, **role_options)
        daemon.graph_lie = lie
        if beacon_url is None:
            from contracts.blobs import anvil_serves_blobs

            if not anvil_serves_blobs(w3):
                daemon._log(logging.WARNING, "blobs_unreadable", reason="the node is not anvil: request inputs and "
                            "entry outputs in blobs cannot be read", fix=f"--beacon-url URL or ${BEACON_ENV}")
        if once:
            daemon.tick()
            if not daemon.served:
                raise CommandError("none of the given models is registered on this deployment "
                                   "(fix: `optimist register MODEL.mdnn` first)", EXIT_NOT_FOUND)
        else:
            if metrics_port is not None:
                server = daemon.metrics.serve(metrics_port, stale_after=max(60.0, 10 * poll))
                daemon.emit("metrics", url=f"http://127.0.0.1:{server.server_address[1]}/metrics")
            daemon.run_forever(poll)

    if role == "operator":
        command = click.option("--min-fee", type=ETHER, default="0", show_default=True,
                               help="Leave requests paying less than this to other operators.")(command)
        command = click.option("--max-queue", type=click.IntRange(1, 1000), default=4, show_default=True,
                               help="VM runs of new requests queued at once (games have their own lane).")(command)
        command = click.option("--batch-interval", type=click.FloatRange(min=0), default=None,
                               help="Post the results ready every SECONDS in one postBatch per model "
                                    "(docs/game-rules.md §3a; default: one postResult per request).")(command)
        command = click.option("--max-batch", type=click.IntRange(1, 1024), default=100, show_default=True,
                               help="With --batch-interval: most results in one batch.")(command)
        command = click.option("--entry-outputs", type=click.Choice(["auto", "blobs", "calldata"]), default="auto",
                               show_default=True,
                               help="Where postEntries puts the outputs of request-batch entries: EIP-4844 blobs, "
                                    "the calldata, or blobs when the node takes blob transactions.")(command)
        command = click.option("--workers", type=click.IntRange(1, 1024), default=os.cpu_count() or 1,
                               show_default="the CPU count",
                               help="Processes computing new requests (VM runs, native checks, phase-1 traces); "
                                    "1: in the daemon's process.")(command)
    command.help = (
        "Serve requests for the given models: post results with a bond, defend games, finalize, withdraw."
        if role == "operator" else
        "Check every result of the given models; dispute wrong ones, play the games, withdraw the bonds.")
    return command


def load_graph_model(spec: str) -> Any:
    """A .mdnn file served with two-phase games (its descriptors measured once, every node in the VM)."""
    from challenger.graph_games import GraphModel

    model = GraphModel(spec)
    model.commitment    # noqa: B018 -- the nodesRoot the daemon matches against the chain
    return model


def make_daemon(role: str, client: Any, models: list[Any], **kwargs: Any):
    if role == "operator":
        from challenger.operator_daemon import Operator
        return Operator(client, models, **kwargs)
    from challenger.challenger_daemon import Challenger
    return Challenger(client, models, **kwargs)


operator = daemon_command("operator")
challenger = daemon_command("challenger")
