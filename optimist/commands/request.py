"""`optimist request | status`: ask for an inference and follow it."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.table import Table

from optimist.commands.common import (
    ETHER,
    EXIT_ERROR,
    EXIT_NOT_FOUND,
    CommandError,
    connect,
    console,
    ether,
    handle_errors,
    key_options,
    open_system,
    rpc_option,
    signer,
)

# ------------------------------------------------------------------------------------- request

def read_input(path: Path) -> bytes:
    """Input bytes: a .npy or .json array as float32 little-endian (optimist.inputs), any other file raw."""
    if not path.is_file():
        raise CommandError(f"input file {path} does not exist", EXIT_NOT_FOUND)
    if path.suffix in (".npy", ".json"):
        from optimist.inputs import read_array

        return read_array(path).astype("<f4").tobytes()
    return path.read_bytes()


@click.command("request")
@click.argument("model_id", type=int)
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Input as .npy (float32) or raw bytes.")
@click.option("--fee", type=ETHER, default="0.01ether", show_default=True, help="Fee paid to the operator whose result stands.")
@rpc_option
@key_options
@handle_errors
def request(model_id: int, input_path: Path, fee: int, rpc: str, deployment_path: Path | None, key_env: str,
            keystore: Path | None, password_env: str) -> None:
    """Ask for MODEL_ID run on an input; prints the request id."""
    from contracts.system import ContractRevert

    data = read_input(input_path)
    w3 = connect(rpc)
    account = signer(w3, key_env, keystore, password_env)
    system, _ = open_system(w3, deployment_path)
    try:
        info = system.model(model_id)
    except ContractRevert:
        count = system.counts()[0]
        raise CommandError(f"unknown model id {model_id} (this deployment has models 1..{count})",
                           EXIT_NOT_FOUND) from None
    if len(data) != info.input_length:
        raise CommandError(f"model {model_id} takes {info.input_length} input bytes "
                           f"({info.input_length // 4} float32), {input_path} has {len(data)}", EXIT_ERROR)
    request_id = system.request(model_id, data, fee=fee, sender=account.address)
    console.print(f"request [bold]{request_id}[/] created (model {model_id}, fee {ether(fee)}, "
                  f"gas {system.last_receipt['gasUsed'] if system.last_receipt else '?'})")


# ------------------------------------------------------------------------------------- status

def describe_output(output: bytes) -> str:
    import numpy as np

    if len(output) % 4:
        return "0x" + output.hex()
    values = np.frombuffer(output, dtype="<f4")
    shown = ", ".join(f"{v:.4g}" for v in values[:10]) + (" ..." if len(values) > 10 else "")
    return f"[{shown}] argmax={int(values.argmax())}" if len(values) else "[]"


@click.command("status")
@click.argument("request_id", type=int)
@rpc_option
@handle_errors
def status(request_id: int, rpc: str, deployment_path: Path | None) -> None:
    """Show a request: its status, every result posted for it, every game on those results."""
    w3 = connect(rpc)
    system, d = open_system(w3, deployment_path)
    req = system.get_request(request_id)
    if req.requester == "0x" + "00" * 20:
        raise CommandError(f"unknown request id {request_id} (this deployment has requests "
                           f"1..{system.counts()[1]})", EXIT_NOT_FOUND)
    events = system.events_since(d.block)
    results = [e for e in events if e.name == "ResultPosted" and e["requestId"] == request_id]
    result_ids = {e["resultId"] for e in results}
    games = [e for e in events if e.name == "GameOpened" and e["resultId"] in result_ids]
    moves: dict[int, int] = {}
    for e in events:
        if e.name == "MoveMade":
            moves[e["gameId"]] = moves.get(e["gameId"], 0) + 1
    now = max(w3.eth.get_block("latest")["timestamp"], int(time.time()))
    console.print(f"request [bold]{request_id}[/]: model {req.model_id}, status [bold]{req.status.name}[/], "
                  f"fee {ether(req.fee)}, requester {req.requester}")
    rt = Table(title="results")
    for col in ("result", "operator", "status", "steps", "window", "output"):
        rt.add_column(col)
    for e in results:
        r = system.result(e["resultId"])
        left = r.deadline - now
        window = f"{left} s left" if left > 0 and r.status.name == "PENDING" else "closed"
        rt.add_row(str(r.result_id), r.operator, r.status.name, f"{r.steps:,}", window,
                   describe_output(e["output"]))
    console.print(rt)
    if games:
        gt = Table(title="games")
        for col in ("game", "challenger", "status", "interval", "moves", "clocks (ch/def)"):
            gt.add_column(col)
        for e in games:
            g = system.game(e["gameId"])
            gt.add_row(str(g.game_id), g.challenger, g.status.name, f"[{g.lo:,}, {g.hi:,}]",
                       str(moves.get(g.game_id, 0)), f"{g.challenger_clock}/{g.defender_clock} s")
        console.print(gt)


