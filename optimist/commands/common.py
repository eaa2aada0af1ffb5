"""`optimist deploy | register | request | status | operator | challenger`.

Common options: `--rpc URL` (default $OPTIMIST_RPC or http://127.0.0.1:8545), `--deployment FILE`
(written by deploy; default ./optimist-deployment.json or $OPTIMIST_DEPLOYMENT), and the signing key:
`--account NAME` (a keystore in ~/.foundry/keystores, as cast; `--keystore-dir`), `--keystore FILE`,
or `--key-env VAR` (hex key in that environment variable; default OPTIMIST_KEY). Commands that read EIP-4844
blobs take `--beacon-url URL` (default $OPTIMIST_BEACON_URL): a consensus client's beacon API, where blobs are
read on a real chain (without it: the RPC node's anvil_getBlobsByTransactionHash, anvil only). A keystore's password
comes from $OPTIMIST_KEYSTORE_PASSWORD (or --password-env VAR), else $ETH_PASSWORD, else a hidden
prompt on a terminal. Keys and passwords are never accepted on the command line. Exit codes: see EXIT_* below and docs/running-nodes.md.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from optimist import deployment as dep
from optimist.keys import (
    ACCOUNT_ENV,
    DEFAULT_KEY_ENV,
    DEFAULT_KEYSTORE_DIR,
    DEFAULT_PASSWORD_ENV,
    FOUNDRY_PASSWORD_ENV,
    KEYSTORE_DIR_ENV,
    KeyLoadError,
    load_account,
)

EXIT_ERROR = 1
EXIT_RPC = 3          # RPC endpoint unreachable
EXIT_KEY = 4          # no usable key (missing, malformed, wrong keystore password) or unfunded account
EXIT_NOT_FOUND = 5    # unknown model / request id, missing file
EXIT_REVERT = 6       # the contract rejected the transaction (custom error printed)
EXIT_DEPLOYMENT = 7   # no or bad deployment file / contract not at the address

DEFAULT_RPC = "http://127.0.0.1:8545"
BEACON_ENV = "OPTIMIST_BEACON_URL"
console = Console(stderr=False)
err_console = Console(stderr=True)


class CommandError(click.ClickException):
    """A clear error with a specific exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# ------------------------------------------------------------------------------------- plumbing

def rpc_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--rpc-url", "--rpc", "rpc",
                      default=lambda: os.environ.get("OPTIMIST_RPC") or os.environ.get("ETH_RPC_URL") or DEFAULT_RPC,
                      show_default="$OPTIMIST_RPC, $ETH_RPC_URL or " + DEFAULT_RPC,
                      help="Ethereum JSON-RPC URL.")(fn)
    return click.option("--deployment", "deployment_path", type=click.Path(dir_okay=False, path_type=Path),
                        default=None, help="Deployment JSON written by `optimist deploy`.")(fn)


def _beacon_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--beacon-url, checked to be an http(s) URL (no network yet)."""
    if not value:
        return None
    from contracts.blobs import BeaconBlobs, BlobError

    try:
        BeaconBlobs(value)
    except BlobError as exc:
        from click.core import ParameterSource

        if param.name and ctx.get_parameter_source(param.name) == ParameterSource.DEFAULT:   # from the environment
            raise click.BadParameter(f"${BEACON_ENV}: {exc}", ctx, param) from None
        raise click.BadParameter(str(exc), ctx, param) from None
    return value


def beacon_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--beacon-url URL (default $OPTIMIST_BEACON_URL), passed as `beacon_url` (None: read blobs from anvil)."""
    return click.option("--beacon-url", "beacon_url", default=lambda: os.environ.get(BEACON_ENV) or None,
                        callback=_beacon_url, metavar="URL",
                        show_default=f"${BEACON_ENV}, else the node's anvil_getBlobsByTransactionHash",
                        help="A consensus client's beacon API (e.g. http://127.0.0.1:5052): where EIP-4844 blobs "
                             "(request-batch inputs, entry outputs) are read on a real chain.")(fn)


def check_beacon(beacon_url: str | None, w3: Any) -> None:
    """The beacon API at `beacon_url` answers, for the chain of `w3` (exit code 3 if not); nothing without one."""
    if not beacon_url:
        return
    rpc = str(getattr(w3.provider, "endpoint_uri", "") or "")
    if rpc and beacon_url.rstrip("/") == rpc.rstrip("/"):
        raise CommandError(f"--beacon-url {beacon_url} is the Ethereum JSON-RPC node's URL (--rpc), not a beacon API: "
                           "give the consensus client's (e.g. http://127.0.0.1:5052), or leave it out on anvil",
                           EXIT_RPC)
    from contracts.blobs import BlobError, beacon

    try:
        beacon(beacon_url).check(int(w3.eth.chain_id))
    except BlobError as exc:
        raise CommandError(f"{exc} (fix: --beacon-url URL of a consensus client's beacon API, or ${BEACON_ENV})",
                           EXIT_RPC) from None


@dataclass(frozen=True)
class KeySource:
    """Where a signing command takes its key from (the options of key_options)."""

    key_env: str = DEFAULT_KEY_ENV
    keystore: Path | None = None
    password_env: str = DEFAULT_PASSWORD_ENV
    account: str | None = None
    keystore_dir: Path | None = None

    def load(self):  # eth_account.signers.local.LocalAccount
        """The account; a keystore's password from the environment, else a hidden prompt on a terminal."""
        account = self.account or (os.environ.get(ACCOUNT_ENV) or None if self.keystore is None else None)
        return load_account(self.key_env, self.keystore, self.password_env, account=account,
                            keystore_directory=self.keystore_dir, password=prompt_password)


def stdin_is_terminal() -> bool:
    """True when a person can answer a prompt (stdin is a terminal)."""
    return sys.stdin is not None and sys.stdin.isatty()


def prompt_password(what: str) -> str | None:
    """Ask for the password of `what` without echo (on stderr), or None when stdin is not a terminal."""
    if not stdin_is_terminal():
        return None
    return click.prompt(f"password of {what}", hide_input=True, err=True, default="", show_default=False)


def key_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--account NAME / --keystore-dir DIR, --keystore FILE, --key-env VAR, --password-env VAR,
    passed to the command as one `key: KeySource`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, key_env: str, keystore: Path | None, password_env: str, account: str | None,
                keystore_dir: Path | None, **kwargs: Any) -> Any:
        return fn(*args, key=KeySource(key_env, keystore, password_env, account, keystore_dir), **kwargs)

    options = [
        click.option("--account", default=None, metavar="NAME",
                     help=f"Sign with account NAME of the keystore directory (as cast; default ${ACCOUNT_ENV})."),
        click.option("--keystore-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help=f"Keystore directory of --account (default ${KEYSTORE_DIR_ENV}, else "
                            f"{DEFAULT_KEYSTORE_DIR})."),
        click.option("--keystore", type=click.Path(dir_okay=False, path_type=Path), default=None,
                       help="Sign with this encrypted keystore file."),
        click.option("--key-env", default=DEFAULT_KEY_ENV, show_default=True,
                       help="Environment variable holding the hex private key (without --account/--keystore)."),
        click.option("--password-env", default=DEFAULT_PASSWORD_ENV, show_default=True,
                       help=f"Environment variable holding the keystore password (else ${FOUNDRY_PASSWORD_ENV}, "
                            "else a prompt on a terminal).")]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map the library's exceptions to clear messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from web3.exceptions import Web3RPCError

        from challenger.client import RpcUnavailable
        from challenger.models import ModelError
        from challenger.store import StoreError
        from contracts.system import ContractRevert

        try:
            return fn(*args, **kwargs)
        except KeyLoadError as exc:
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
        except (ValueError, Web3RPCError) as exc:
            message = rpc_message(exc)
            if "insufficient funds" in message.lower():
                raise CommandError("the signing account cannot pay for this transaction (fee, bond and gas): "
                                   f"{message}", EXIT_KEY) from None
            if isinstance(exc, Web3RPCError):
                raise CommandError(f"the node refused the request: {message}", EXIT_RPC) from None
            raise

    return wrapper


def check_model_files(specs: Iterable[str]) -> None:
    """Every existing .mdnn file named is intact and accepted by the runtime, before any chain work
    (a damaged or invalid model: one line, exit 1; a missing file is left to the model loader)."""
    for spec in specs:
        if spec.endswith(".mdnn") and Path(spec).is_file():
            from minidnn import MinidnnError, Model

            try:
                Model.load(spec)
            except MinidnnError as exc:
                raise CommandError(str(exc), EXIT_ERROR) from None


def rpc_message(exc: Exception) -> str:
    """The node's own words: the `message` of a JSON-RPC error (not the whole response dict)."""
    response = getattr(exc, "rpc_response", None)
    error = response.get("error") if isinstance(response, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if exc.args and isinstance(exc.args[0], dict) and exc.args[0].get("message"):
        return str(exc.args[0]["message"])
    return str(exc)


def connect(rpc: str):  # web3.Web3
    """A Web3 on `rpc`, checked to answer (exit code 3 if it does not)."""
    from challenger.client import RETRYABLE
    from contracts.chain import http_web3

    w3 = http_web3(rpc)
    try:
        _ = w3.eth.chain_id  # a round trip
    except (*RETRYABLE, OSError) as exc:
        raise CommandError(f"cannot reach the Ethereum node at {rpc} ({type(exc).__name__}) "
                           "(fix: start one with `optimist chain up`, or pass --rpc URL)", EXIT_RPC) from None
    except Exception as exc:  # anything else means it is not a JSON-RPC node
        raise CommandError(f"{rpc} does not answer as an Ethereum JSON-RPC node: {exc}", EXIT_RPC) from None
    return w3


def signer(w3, key: KeySource):
    """Load the key and make `w3` sign locally with it (one-shot commands)."""
    from web3.middleware import SignAndSendRawMiddlewareBuilder

    account = key.load()
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
    w3.eth.default_account = account.address
    if w3.eth.get_balance(account.address) == 0:
        raise CommandError(f"account {account.address} has no ether on this chain (wrong key? fund it first)",
                           EXIT_KEY)
    return account


def open_system(w3, deployment_path: Path | None):
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


def deadline_after(w3, seconds: int) -> int:
    """The unix time `seconds` from now (a request's --cancel-after): counted from the latest of the latest block's
    time, the pending block's (anvil: the next block's, its evm_increaseTime offset included) and the clock (an idle
    anvil's latest block can be minutes old, and a deadline counted from it already past when the transaction is
    mined), at most the contract's latest allowed deadline from the latest block."""
    from contracts.system import MAX_REQUEST_TIME

    latest = chain = int(w3.eth.get_block("latest")["timestamp"])
    try:
        chain = max(chain, int(w3.eth.get_block("pending")["timestamp"]))
    except Exception:   # a node without a pending block: the latest one and the clock
        pass
    return min(max(chain, int(time.time())) + seconds, latest + MAX_REQUEST_TIME)   # no block is before the latest


def bad_deadline(exc: Exception, cancel_after: int | None) -> CommandError | None:
    """A clear error for a BadDeadline revert (a --cancel-after that ended before the transaction was mined)."""
    from contracts.system import ContractRevert

    if not isinstance(exc, ContractRevert) or exc.name != "BadDeadline" or cancel_after is None:
        return None
    return CommandError(f"--cancel-after {cancel_after} s had passed when the transaction was mined (the chain's "
                        "clock is ahead of this one, or blocks are slow): give a longer --cancel-after (BadDeadline)",
                        EXIT_REVERT)


def moment(ts: int, now: int) -> str:
    """A unix time as '2026-12-30 23:53:57 UTC (in 29 d 23 h)' (the wait left after `now`, if any)."""
    from datetime import UTC, datetime

    text = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    left = ts - now
    if left <= 0:
        return text
    parts = [(left // 86400, "d"), (left % 86400 // 3600, "h"), (left % 3600 // 60, "min"), (left % 60, "s")]
    shown = [f"{n} {unit}" for n, unit in parts if n][:2]
    return f"{text} (in {' '.join(shown)})"


def ether(wei: int) -> str:
    return f"{wei / 10**18:.6g} ETH"


UNITS = {"ether": 10**18, "eth": 10**18, "gwei": 10**9, "wei": 1}
MAX_WEI = 2**128   # far above any real balance; keeps amounts inside the contracts' uint128 fields


def parse_wei(text: str) -> int:
    """An ether amount with a unit ('0.01ether', '0.1eth', '5gwei', '1000wei') or plain wei ('1000')
    -> wei. ValueError with the reason otherwise (negative, not a number, fractions of a wei)."""
    from decimal import Decimal, InvalidOperation

    t = text.strip().lower().replace("_", "")
    number, scale = t, 1
    for unit, factor in UNITS.items():
        if t.endswith(unit):
            number, scale = t[: -len(unit)].strip(), factor
            break
    else:
        if not t.isdigit():
            raise ValueError(f"{text!r} is not an amount: give a unit (e.g. 0.01ether, 10gwei) or whole wei")
    try:
        amount = Decimal(number) * scale
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount (e.g. 0.01ether, 10gwei, 1000wei)") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{text!r}: an amount must be zero or more")
    if amount != amount.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of wei")
    if amount >= MAX_WEI:
        raise ValueError(f"{text!r} is more ether than exists")
    return int(amount)


class EtherAmount(click.ParamType):
    """A click option type: an ether amount with its unit (see parse_wei), converted to wei."""

    name = "AMOUNT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_wei(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


ETHER = EtherAmount()


class ChainId(click.ParamType):
    """A model, request or request batch id: a whole number that fits the contracts' uint256."""

    name = "ID"

    def __init__(self, what: str) -> None:
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and 0 <= value < 2**256:
            return value
        text = str(value).strip()
        if text.isascii() and text.isdigit() and int(text) < 2**256:
            return int(text)
        self.fail(f"{value!r} is not a {self.what} (a whole number, e.g. 1)", param, ctx)
