"""`optimist request | status`: ask for an inference and follow it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from optimist.commands.common import (
    ETHER,
    EXIT_ERROR,
    EXIT_KEY,
    EXIT_NOT_FOUND,
    ChainId,
    CommandError,
    KeySource,
    bad_deadline,
    beacon_option,
    check_beacon,
    connect,
    console,
    deadline_after,
    ether,
    handle_errors,
    key_options,
    open_system,
    rpc_option,
    signer,
)

# ------------------------------------------------------------------------------------- request

def read_input(path: Path, input_type: str = "float32", param_hint: str = "--input") -> bytes:
    """Input bytes: a .npy or .json array as `input_type` little-endian (optimist.inputs), any other
    file raw; `param_hint` names the option (or argument) in an error."""
    if not path.is_file():
        raise CommandError(f"input file {path} does not exist", EXIT_NOT_FOUND)
    if path.suffix in (".npy", ".json"):
        from optimist.inputs import read_array

        x = read_array(path, dtype=input_type, param_hint=param_hint)
        return x.astype("<i4" if input_type == "int32" else "<f4").tobytes()
    return path.read_bytes()


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Duration(click.ParamType):
    """Seconds, or a number with s/m/h/d ('90s', '30m', '2h', '1d')."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        scale = DURATION_UNITS.get(text[-1:], 0)
        number = text[:-1] if scale else text
        if not number.isdigit():
            self.fail(f"{value!r} is not a duration (e.g. 3600, 90s, 30m, 2h, 1d)", param, ctx)
        return int(number) * (scale or 1)


@click.command("request")
@click.argument("model_id", type=ChainId("model id"))
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Input as .npy or .json (float32), or a raw binary file.")
@click.option("--fee", type=ETHER, default="0.01ether", show_default=True,
              help="Fee paid to the operator whose result stands.")
@click.option("--input-type", type=click.Choice(["float32", "int32"]), default="float32", show_default=True,
              help="What the model takes: float32 numbers, or int32 token ids.")
@click.option("--cancel-after", type=Duration(), default=None,
              help="Allow cancelling (fee back) if still unanswered after this long (default: the contract's "
                   "maximum, 30 days).")
@click.option("--wait", "wait_s", type=Duration(), default=None, metavar="DURATION",
              help="Wait up to DURATION for the request to end; print its outcome.")
@click.option("--callback", default=None, metavar="ADDRESS",
              help="An IOptimistConsumer contract called when the result finalizes (requestWithCallback).")
@click.option("--callback-gas", type=click.IntRange(1, 5_000_000), default=200_000, show_default=True,
              help="The callback's gas limit.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@rpc_option
@key_options
@handle_errors
def request(model_id: int, input_path: Path, fee: int, input_type: str, cancel_after: int | None, wait_s: int | None,
            callback: str | None, callback_gas: int, as_json: bool, rpc: str, deployment_path: Path | None,
            key: KeySource) -> None:
    """Ask for MODEL_ID run on an input; prints the request id."""
    from web3 import Web3

    from contracts.system import MAX_REQUEST_TIME, ContractRevert

    if cancel_after is not None and not 0 < cancel_after <= MAX_REQUEST_TIME:
        raise click.BadParameter(f"must be 1 s .. {MAX_REQUEST_TIME // 86400} days", param_hint="--cancel-after")
    if callback is not None and not Web3.is_address(callback):
        raise click.BadParameter(f"{callback!r} is not an address", param_hint="--callback")
    data = read_input(input_path, input_type)
    w3 = connect(rpc)
    account = signer(w3, key)
    balance = w3.eth.get_balance(account.address)
    if fee >= balance:
        raise CommandError(f"account {account.address} holds {ether(balance)}, not enough for the fee of "
                           f"{ether(fee)} and gas", EXIT_KEY)
    system, d = open_system(w3, deployment_path)
    try:
        info = system.model(model_id)
    except ContractRevert:
        try:
            info = system.graph_model(model_id)   # a graph model (two-phase games): same input check
        except ContractRevert:
            info = None
    if info is None:
        from optimist.entries import known_ids

        raise CommandError(f"unknown model id {model_id} ({known_ids('model', system.counts()[0])})",
                           EXIT_NOT_FOUND) from None
    if len(data) != info.input_length:
        raise CommandError(f"model {model_id} takes {info.input_length} input bytes "
                           f"({info.input_length // 4} float32), {input_path} has {len(data)}", EXIT_ERROR)
    from optimist.client import Client

    deadline = None if cancel_after is None else deadline_after(w3, cancel_after)
    try:
        req = Client.from_system(system, account.address, d.block).request(
            model_id, data, fee=fee, deadline=deadline, callback=callback, callback_gas=callback_gas)
    except ContractRevert as exc:
        raise bad_deadline(exc, cancel_after) or exc from None
    request_id = req.id
    gas = system.last_receipt["gasUsed"] if system.last_receipt else None
    if wait_s is not None:
        with console.status(f"request {request_id}: waiting for its outcome") if not as_json else contextlib.nullcontext():
            try:
                req.wait(timeout=wait_s)
            except TimeoutError:
                pass   # reported below with the request's state
    report = request_report(system, d.block, request_id)
    report["gas"] = gas
    if as_json:
        click.echo(json.dumps(report))
    else:
        console.print(f"request [bold]{request_id}[/] created (model {model_id}, fee {ether(fee)}, gas {gas})")
        if wait_s is not None:
            show_report(report)
    if wait_s is not None and report["status"] not in ("FINALIZED", "CANCELLED"):
        raise CommandError(f"request {request_id} is still {report['status']} after {wait_s} s "
                           f"(follow it with `optimist status {request_id}`)", EXIT_ERROR)


@click.command("cancel")
@click.argument("request_id", type=ChainId("request id"))
@rpc_option
@key_options
@handle_errors
def cancel(request_id: int, rpc: str, deployment_path: Path | None, key: KeySource) -> None:
    """Cancel your unanswered request after its deadline; the fee is credited back (then withdrawn)."""
    w3 = connect(rpc)
    account = signer(w3, key)
    system, _ = open_system(w3, deployment_path)
    fee = system.cancel_request(request_id, sender=account.address)
    system.withdraw(sender=account.address)
    console.print(f"request [bold]{request_id}[/] cancelled; {ether(fee)} returned to {account.address}",
                  soft_wrap=True)


# ------------------------------------------------------------------------------------- status

def output_values(output: bytes) -> list[float] | None:
    """The output as float32 values, or None when it is not a whole number of float32."""
    import numpy as np

    if not output or len(output) % 4:
        return None
    return [float(v) for v in np.frombuffer(output, dtype="<f4")]


def describe_output(output: bytes, limit: int = 32) -> str:
    values = output_values(output)
    if values is None:
        return "0x" + output.hex() if output else "(none)"
    shown = ", ".join(f"{v:.7g}" for v in values[:limit])
    more = f" ... ({len(values) - limit} more)" if len(values) > limit else ""
    best = max(range(len(values)), key=lambda i: values[i])
    return f"[{shown}{more}] argmax={best}"


def request_report(system: Any, from_block: int, request_id: int, leaf_results: Iterable[int] = ()) -> dict[str, Any]:
    """Everything known about a request: its state, results (with outcome and output) and games. `leaf_results`:
    the result ids of the entry-batch leaves that answered it (a disputed entry: its leaf's result and games stay
    listed after a game rejected it; their outputs are in the entry batch's postEntries, not in ResultPosted)."""
    req = system.get_request(request_id)
    if req.requester == "0x" + "00" * 20:
        from contracts.system import ContractRevert
        from optimist.entries import known_ids

        hint = ""
        with contextlib.suppress(ContractRevert):   # `status 3` meaning request batch 3: name its entries
            count = system.request_batch_info(request_id).count
            hint = f"; request batch {request_id}'s entries are {request_id}:0..{request_id}:{count - 1}"
        raise CommandError(f"unknown request id {request_id} ({known_ids('request', system.counts()[1])}){hint}",
                           EXIT_NOT_FOUND)
    events = system.events_since(from_block)
    posted = [e for e in events if e.name == "ResultPosted" and e["requestId"] == request_id]
    leaves = [rid for rid in dict.fromkeys([*leaf_results, req.result_id]) if rid and
              rid not in {e["resultId"] for e in posted}]
    result_ids = {e["resultId"] for e in posted} | set(leaves)
    moves: dict[int, int] = {}
    for e in events:
        if e.name == "MoveMade":
            moves[e["gameId"]] = moves.get(e["gameId"], 0) + 1
    now = max(system.w3.eth.get_block("latest")["timestamp"], int(time.time()))
    results = []
    for rid in leaves:   # a disputed entry leaf: a result in Optimist since disputeLeaf (else none: not listed)
        r = system.result(rid)
        if r.status.name != "NONE":
            results.append({
                "result": rid, "operator": r.operator, "status": r.status.name, "outcome": r.outcome.name,
                "exit_code": r.exit_code, "steps": r.steps, "window_left_s": max(0, r.deadline - now)
                if r.status.name == "PENDING" else 0, "output_hex": None, "output": None})
    for e in posted:
        r = system.result(e["resultId"])
        if r.status.name == "NONE":   # an undisputed batch leaf (docs/game-rules.md §3a): its event has its fields
            status = "FINALIZED" if req.status.name == "FINALIZED" and req.result_id == e["resultId"] else "PENDING"
            r = dataclasses.replace(r, operator=e["operator"], status=type(r.status)[status],
                                    outcome=type(r.outcome)(e["outcome"]), exit_code=e["exitCode"], steps=e["steps"],
                                    deadline=e["deadline"])
        results.append({
            "result": r.result_id, "operator": r.operator, "status": r.status.name, "outcome": r.outcome.name,
            "exit_code": r.exit_code, "steps": r.steps, "window_left_s": max(0, r.deadline - now)
            if r.status.name == "PENDING" else 0, "output_hex": "0x" + bytes(e["output"]).hex(),
            "output": output_values(bytes(e["output"]))})
    games = []
    for e in events:
        if e.name == "GameOpened" and e["resultId"] in result_ids:
            g = system.game(e["gameId"])
            games.append({"game": g.game_id, "result": g.result_id, "challenger": g.challenger,
                          "status": g.status.name, "lo": g.lo, "hi": g.hi, "moves": moves.get(g.game_id, 0),
                          "challenger_clock_s": g.challenger_clock, "defender_clock_s": g.defender_clock})
    return {"request": request_id, "model": req.model_id, "status": req.status.name, "fee_wei": req.fee,
            "requester": req.requester, "cancel_after": req.deadline,
            "callback": req.callback if req.has_callback else None, "callback_gas": req.callback_gas,
            "results": results, "games": games}


def show_report(report: dict[str, Any]) -> None:
    console.print(f"request [bold]{report['request']}[/]: model {report['model']}, status "
                  f"[bold]{report['status']}[/], fee {ether(report['fee_wei'])}, requester {report['requester']}",
                  soft_wrap=True)
    if report["callback"]:
        console.print(f"callback {report['callback']} (gas limit {report['callback_gas']:,})", soft_wrap=True)
    rt = Table(title="results")
    for col in ("result", "operator", "status", "outcome", "steps", "window"):
        rt.add_column(col, overflow="fold")
    for r in report["results"]:
        outcome = r["outcome"] if r["outcome"] == "SUCCESS" else f"{r['outcome']} (exit {r['exit_code']:#x})" \
            if r["outcome"] == "FAILURE" else r["outcome"]
        window = f"{r['window_left_s']} s left" if r["window_left_s"] else "closed"
        rt.add_row(str(r["result"]), r["operator"], r["status"], outcome, f"{r['steps']:,}", window)
    console.print(rt)
    for r in report["results"]:   # outputs on lines of their own: a table column would fold them to slivers
        if r["output_hex"] is None:   # an entry leaf: its output is in its entry batch's postEntries
            continue
        console.print(f"result {r['result']} output: {describe_output(bytes.fromhex(r['output_hex'][2:]))}",
                      soft_wrap=True)
    if report["games"]:
        gt = Table(title="games")
        for col in ("game", "challenger", "status", "interval", "moves", "clocks (ch/def)"):
            gt.add_column(col, overflow="fold")
        for g in report["games"]:
            gt.add_row(str(g["game"]), g["challenger"], g["status"], f"[{g['lo']:,}, {g['hi']:,}]",
                       str(g["moves"]), f"{g['challenger_clock_s']}/{g['defender_clock_s']} s")
        console.print(gt)


class RequestRef(click.ParamType):
    """A request id, or RB:I for entry I of request batch RB (optimist.entries.parse_ref)."""

    name = "ID|RB:I"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        from optimist.entries import EntryError, parse_ref

        try:
            return parse_ref(str(value))
        except EntryError as exc:
            self.fail(str(exc), param, ctx)


def entry_report(system: Any, from_block: int, ref: int, beacon_url: str | None = None) -> dict[str, Any]:
    """An entry of a request batch: its state in words, every leaf that answered it, and its outcome once final
    (read from the leaf and checked: optimist.entries; blob outputs from the beacon API at `beacon_url`, else
    anvil); a disputed entry adds its Optimist request's report."""
    from contracts.batches import leaf_result_id
    from optimist.entries import FINALIZED, EntryError, entry_outcome, entry_state, format_ref

    try:
        st = entry_state(system, ref, from_block)
    except EntryError as exc:
        raise CommandError(str(exc), EXIT_NOT_FOUND) from None
    report: dict[str, Any] = {
        "entry": format_ref(ref), "request": ref, "request_batch": st.request_batch, "index": st.index,
        "model": st.model_id, "requester": st.requester, "fee_wei": st.fee, "cancel_after": st.deadline,
        "state": st.state, "words": st.words,
        "answers": [{"batch": a.batch_id, "leaf": a.position, "operator": a.operator, "window_ends": a.deadline,
                     "rejected": a.rejected, "malformed": a.malformed} for a in st.answers],
        "outcome": None, "request_report": None}
    if st.request_status.name != "NONE":
        report["request_report"] = request_report(system, from_block, ref,
                                                  [leaf_result_id(a.batch_id, a.position) for a in st.answers])
    if st.state == FINALIZED:
        try:
            o = entry_outcome(system, ref, from_block, beacon_url)
            report["outcome"] = {"result": o.result_id, "operator": o.operator, "outcome": o.outcome.name,
                                 "exit_code": o.exit_code, "steps": o.steps, "output_hex": "0x" + o.output.hex(),
                                 "output": output_values(o.output)}
        except EntryError as exc:
            if report["request_report"] is None:   # else: reopened and answered as an ordinary request, shown there
                raise CommandError(str(exc), EXIT_ERROR) from None
    return report


def show_entry_report(report: dict[str, Any]) -> None:
    console.print(f"entry [bold]{report['entry']}[/] (request id {report['request']}): model {report['model']}, "
                  f"fee {ether(report['fee_wei'])}, requester {report['requester']}", soft_wrap=True)
    console.print(f"[bold]{report['state']}[/]: {report['words']}", soft_wrap=True)
    for a in report["answers"]:
        fate = " (rejected: malformed input)" if a["malformed"] else " (rejected)" if a["rejected"] else ""
        console.print(f"answered in entry batch {a['batch']} leaf {a['leaf']} by {a['operator']}{fate}",
                      soft_wrap=True)
    o = report["outcome"]
    if o is not None:
        outcome = f"{o['outcome']} (exit {o['exit_code']:#x})" if o["outcome"] == "FAILURE" else o["outcome"]
        console.print(f"outcome {outcome}, {o['steps']:,} steps, result {o['result']}", soft_wrap=True)
        console.print(f"output: {describe_output(bytes.fromhex(o['output_hex'][2:]))}", soft_wrap=True)
    if report["request_report"] is not None:
        show_report(report["request_report"])


@click.command("status")
@click.argument("request_id", type=RequestRef())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@rpc_option
@beacon_option
@handle_errors
def status(request_id: int, as_json: bool, rpc: str, deployment_path: Path | None, beacon_url: str | None) -> None:
    """Show a request: its status, every result posted for it, every game on those results.

    REQUEST_ID: a request id, or RB:I for entry I of request batch RB (`optimist request-batch`)."""
    from contracts.batches import is_entry

    w3 = connect(rpc)
    system, d = open_system(w3, deployment_path)
    entry = is_entry(request_id)
    if entry:   # a typo in --beacon-url: one line now, not a failed read once the entry is final
        check_beacon(beacon_url, w3)
    report = entry_report(system, d.block, request_id, beacon_url) if entry else \
        request_report(system, d.block, request_id)
    if as_json:
        click.echo(json.dumps(report))
    elif entry:
        show_entry_report(report)
    else:
        show_report(report)
