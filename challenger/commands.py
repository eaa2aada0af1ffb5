"""`optimist deploy | register | request | status | operator | challenger`.

Common options: `--rpc URL` (default $OPTIMIST_RPC or http://127.0.0.1:8545), `--deployment FILE`
(written by deploy; default ./optimist-deployment.json or $OPTIMIST_DEPLOYMENT), and the signing key:
`--key-env VAR` (hex key in that environment variable; default OPTIMIST_KEY) or `--keystore FILE`
(password in $OPTIMIST_KEYSTORE_PASSWORD, or the variable named by --password-env). Keys are never
accepted on the command line. Exit codes: see EXIT_* below and docs/operators.md.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from challenger import deployment as dep
from challenger.keys import DEFAULT_KEY_ENV, DEFAULT_PASSWORD_ENV, KeyError_, load_account

EXIT_ERROR = 1
EXIT_RPC = 3          # RPC endpoint unreachable
EXIT_KEY = 4          # no usable key (missing, malformed, wrong keystore password) or unfunded account
EXIT_NOT_FOUND = 5    # unknown model / request id, missing file
EXIT_REVERT = 6       # the contract rejected the transaction (custom error printed)
EXIT_DEPLOYMENT = 7   # no or bad deployment file / contract not at the address

DEFAULT_RPC = "http://127.0.0.1:8545"
console = Console(stderr=False)
err_console = Console(stderr=True)


class CommandError(click.ClickException):
    """A clear error with a specific exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# ------------------------------------------------------------------------------------- plumbing

def rpc_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--rpc", default=lambda: os.environ.get("OPTIMIST_RPC", DEFAULT_RPC),
                      show_default="$OPTIMIST_RPC or " + DEFAULT_RPC, help="Ethereum JSON-RPC URL.")(fn)
    return click.option("--deployment", "deployment_path", type=click.Path(dir_okay=False, path_type=Path),
                        default=None, help="Deployment JSON written by `optimist deploy`.")(fn)


def key_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--key-env", default=DEFAULT_KEY_ENV, show_default=True,
                      help="Environment variable holding the hex private key.")(fn)
    fn = click.option("--keystore", type=click.Path(dir_okay=False, path_type=Path), default=None,
                      help="Encrypted keystore file (password from --password-env).")(fn)
    return click.option("--password-env", default=DEFAULT_PASSWORD_ENV, show_default=True,
                        help="Environment variable holding the keystore password.")(fn)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map the library's exceptions to clear messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from challenger.client import RpcUnavailable
        from challenger.models import ModelError
        from challenger.store import StoreError
        from contracts.system import ContractRevert

        try:
            return fn(*args, **kwargs)
        except KeyError_ as exc:
            raise CommandError(str(exc), EXIT_KEY) from None
        except dep.DeploymentError as exc:
            raise CommandError(str(exc), EXIT_DEPLOYMENT) from None
        except RpcUnavailable as exc:
            raise CommandError(str(exc), EXIT_RPC) from None
        except ModelError as exc:
            raise CommandError(str(exc), EXIT_NOT_FOUND) from None
        except StoreError as exc:
            raise CommandError(str(exc), EXIT_ERROR) from None
        except ContractRevert as exc:
            code = EXIT_NOT_FOUND if exc.name in ("UnknownModel", "UnknownRequest", "UnknownResult") \
                else EXIT_REVERT
            raise CommandError(str(exc), code) from None
        except ValueError as exc:
            message = str(exc)
            if "insufficient funds" in message.lower():
                raise CommandError(f"the signing account cannot pay for this transaction: {message}",
                                   EXIT_KEY) from None
            raise

    return wrapper


def connect(rpc: str):  # noqa: ANN201 - web3.Web3
    """A Web3 on `rpc`, checked to answer (exit code 3 if it does not)."""
    from web3 import Web3

    from challenger.client import RETRYABLE

    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 30}))
    try:
        w3.eth.chain_id  # noqa: B018 - a round trip
    except (*RETRYABLE, OSError) as exc:
        raise CommandError(f"cannot reach the Ethereum node at {rpc} ({type(exc).__name__}) "
                           "(fix: start one with `optimist chain up`, or pass --rpc URL)", EXIT_RPC) from None
    except Exception as exc:  # noqa: BLE001 - anything else means it is not a JSON-RPC node
        raise CommandError(f"{rpc} does not answer as an Ethereum JSON-RPC node: {exc}", EXIT_RPC) from None
    return w3


def signer(w3, key_env: str, keystore: Path | None, password_env: str):  # noqa: ANN001, ANN201
    """Load the key and make `w3` sign locally with it (one-shot commands)."""
    from web3.middleware import SignAndSendRawMiddlewareBuilder

    account = load_account(key_env, keystore, password_env)
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
    w3.eth.default_account = account.address
    if w3.eth.get_balance(account.address) == 0:
        raise CommandError(f"account {account.address} has no ether on this chain (wrong key? fund it first)",
                           EXIT_KEY)
    return account


def open_system(w3, deployment_path: Path | None):  # noqa: ANN001, ANN201
    from contracts.system import System

    d = dep.load(deployment_path)
    chain_id = w3.eth.chain_id
    if chain_id != d.chain_id:
        raise CommandError(f"the deployment in {dep.default_path(deployment_path)} is on chain {d.chain_id}, "
                           f"the node is chain {chain_id} (fix: --rpc or --deployment)", EXIT_DEPLOYMENT)
    if not w3.eth.get_code(d.optimist):
        raise CommandError(f"no contract at {d.optimist} on this node (was the chain restarted? "
                           "fix: `optimist deploy` again)", EXIT_DEPLOYMENT)
    return System(w3, d.optimist), d


def ether(wei: int) -> str:
    return f"{wei / 10**18:.6g} ETH"


def parse_wei(text: str) -> int:
    """'0.1eth', '5gwei', '1000' (wei)."""
    t = text.strip().lower()
    for unit, scale in (("eth", 10**18), ("gwei", 10**9), ("wei", 1)):
        if t.endswith(unit):
            return int(float(t[: -len(unit)]) * scale) if unit != "wei" else int(t[:-3])
    return int(t)


# ------------------------------------------------------------------------------------- deploy

@click.command("deploy")
@rpc_option
@key_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the deployment JSON (default ./optimist-deployment.json).")
@click.option("--window", default=3600, show_default=True, help="Challenge window in seconds.")
@click.option("--clock", default=1800, show_default=True, help="Each side's chess clock in seconds.")
@click.option("--result-bond", default="0.1eth", show_default=True, help="Operator bond per result.")
@click.option("--challenge-bond", default="0.1eth", show_default=True, help="Challenger bond per game.")
@handle_errors
def deploy(rpc: str, deployment_path: Path | None, key_env: str, keystore: Path | None, password_env: str,
           output: Path | None, window: int, clock: int, result_bond: str, challenge_bond: str) -> None:
    """Deploy MIPS.sol and the Optimist contract; write the deployment file."""
    from contracts.system import deploy_system

    w3 = connect(rpc)
    account = signer(w3, key_env, keystore, password_env)
    with console.status("compiling and deploying MIPS + Optimist"):
        system = deploy_system(w3, challenge_window=window, clock=clock, result_bond=parse_wei(result_bond),
                               challenge_bond=parse_wei(challenge_bond), sender=account.address)
    p = system.params
    d = dep.Deployment(w3.eth.chain_id, system.address, p.mips, system.last_receipt["blockNumber"]
                       if system.last_receipt else w3.eth.block_number, rpc, p.challenge_window, p.clock,
                       p.result_bond, p.challenge_bond)
    path = d.save(output or deployment_path or dep.default_path())
    table = Table(title="optimist deployed")
    table.add_column("field")
    table.add_column("value")
    for k, v in (("Optimist", d.optimist), ("MIPS", d.mips), ("chain id", d.chain_id), ("block", d.block),
                 ("challenge window", f"{d.challenge_window} s"), ("clock", f"{d.clock} s"),
                 ("result bond", ether(d.result_bond)), ("challenge bond", ether(d.challenge_bond)),
                 ("deployment file", str(path))):
        table.add_row(k, str(v))
    console.print(table)


# ------------------------------------------------------------------------------------- register

@click.command("register")
@click.argument("model")
@rpc_option
@key_options
@handle_errors
def register(model: str, rpc: str, deployment_path: Path | None, key_env: str, keystore: Path | None,
             password_env: str) -> None:
    """Register MODEL (a .mdnn file) and print its model id."""
    from challenger.models import parse_model_spec

    served = parse_model_spec(model)
    w3 = connect(rpc)
    account = signer(w3, key_env, keystore, password_env)
    system, _ = open_system(w3, deployment_path)
    with console.status(f"building the VM image of {model}"):
        image = served.image
    model_id = system.register_model(image, sender=account.address)
    table = Table(title=f"model {model_id} registered")
    table.add_column("field")
    table.add_column("value")
    for k, v in (("model id", model_id), ("image root", "0x" + image.image_root.hex()),
                 ("model hash", "0x" + image.model_hash.hex()), ("entry", f"{image.entry:#x}"),
                 ("input", f"{image.input_length} bytes at {image.input_base:#x}"),
                 ("output", f"{image.output_length} bytes at {image.output_base:#x}"),
                 ("gas", system.last_receipt["gasUsed"] if system.last_receipt else "?")):
        table.add_row(k, str(v))
    console.print(table)


# ------------------------------------------------------------------------------------- request

def read_input(path: Path) -> bytes:
    """Input bytes from a .npy (cast to float32 little-endian) or a raw binary file."""
    import numpy as np

    if not path.is_file():
        raise CommandError(f"input file {path} does not exist", EXIT_NOT_FOUND)
    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise CommandError(f"{path} is not a readable .npy array: {exc}", EXIT_ERROR) from None
        return np.ascontiguousarray(arr, dtype="<f4").tobytes()
    return path.read_bytes()


@click.command("request")
@click.argument("model_id", type=int)
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Input as .npy (float32) or raw bytes.")
@click.option("--fee", default="0.01eth", show_default=True, help="Fee paid to the operator whose result stands.")
@rpc_option
@key_options
@handle_errors
def request(model_id: int, input_path: Path, fee: str, rpc: str, deployment_path: Path | None, key_env: str,
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
    request_id = system.request(model_id, data, fee=parse_wei(fee), sender=account.address)
    console.print(f"request [bold]{request_id}[/] created (model {model_id}, fee {ether(parse_wei(fee))}, "
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


# ------------------------------------------------------------------------------------- daemons

def setup_logging(level: str, json_lines: bool) -> None:
    fmt = '{"t":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}' \
        if json_lines else "%(asctime)s %(levelname)s %(name)s %(message)s"
    logging.basicConfig(level=getattr(logging, level.upper()), format=fmt, stream=sys.stderr, force=True)


def daemon_command(role: str) -> click.Command:
    @click.command(role)
    @click.option("--model", "model_specs", multiple=True, required=True,
                  help="Model to serve/check: a .mdnn file (repeatable).")
    @click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help=f"SQLite state (default ./{role}-<address>.db).")
    @click.option("--dishonest", is_flag=True, help="Play a consistent lie (demos and tests only).")
    @click.option("--poll", default=1.0, show_default=True, help="Seconds between ticks when idle.")
    @click.option("--log-level", default="info", show_default=True)
    @click.option("--log-json", is_flag=True, help="Log JSON lines instead of key=value.")
    @click.option("--once", is_flag=True, help="Run a single tick and exit.")
    @rpc_option
    @key_options
    @handle_errors
    def command(model_specs: tuple[str, ...], db: Path | None, dishonest: bool, poll: float, log_level: str,
                log_json: bool, once: bool, rpc: str, deployment_path: Path | None, key_env: str,
                keystore: Path | None, password_env: str) -> None:
        from challenger.client import ChainClient
        from challenger.models import parse_model_spec
        from challenger.store import Store

        setup_logging(log_level, log_json)
        account = load_account(key_env, keystore, password_env)
        models = [parse_model_spec(spec) for spec in model_specs]
        w3 = connect(rpc)
        system, d = open_system(w3, deployment_path)
        if w3.eth.get_balance(account.address) == 0:
            raise CommandError(f"account {account.address} has no ether on this chain (wrong key? fund it "
                               "first: it pays gas and bonds)", EXIT_KEY)
        store = Store(db or Path(f"{role}-{account.address[:10].lower()}.db"))
        daemon = make_daemon(role, ChainClient(system, account, store), models, dishonest=dishonest,
                             start_block=d.block)
        if once:
            daemon.tick()
        else:
            daemon.run_forever(poll)

    command.help = (
        "Serve requests for the given models: post results with a bond, defend games, finalize, withdraw."
        if role == "operator" else
        "Check every result of the given models; dispute wrong ones, play the games, withdraw the bonds.")
    return command


def make_daemon(role: str, client: Any, models: list[Any], **kwargs: Any):  # noqa: ANN201
    if role == "operator":
        from challenger.operator import Operator
        return Operator(client, models, **kwargs)
    from challenger.challenger import Challenger
    return Challenger(client, models, **kwargs)


operator = daemon_command("operator")
challenger = daemon_command("challenger")
