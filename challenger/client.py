"""The daemons' chain client: local signing, write-ahead transactions, nonces, gas, retries, reverts.

    client = ChainClient(system, account, store)
    outcome = client.send("midpoint:7:1024", "postMidpoint", 7, 1024, h)

`send` is idempotent per key: the first call signs and records the raw transaction in the store
before broadcasting it; later calls (or a restarted process) re-broadcast those exact bytes and
wait for the receipt. RPC/connection failures are retried with exponential backoff; reverts are
decoded into `contracts.system.ContractRevert` (custom error name and fields).

Few requests: over HTTP, reads go out as JSON-RPC batches (one HTTP request each); a tick reads the
head block once and every contract view it needs pinned at that block, in one batch with the new
events (`prefetch`), and serves them from memory until the head moves (`view`). A transaction is
one `eth_sendRawTransactionSync` (EIP-7966: the node answers with the receipt) where the node has
it, else a broadcast and receipt polling. The bisection moves (`GAS_CACHED`) are sent on the gas
first estimated for their kind; one that reverts on chain is decided again at once with a fresh
estimate (out of gas: re-sent with the new limit; refused: named by the estimate, not sent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_bloom import BloomFilter
from eth_keys import keys
from web3 import Web3
from web3._utils.method_formatters import PYTHONIC_RESULT_FORMATTERS
from web3.exceptions import TimeExhausted, TransactionNotFound, Web3RPCError
from web3.providers.rpc import HTTPProvider

from challenger.store import OPEN_TX, Store, TxRecord
from contracts.system import (
    GAS_MARGIN,
    REVERTS,
    ContractRevert,
    Event,
    GameInfo,
    RequestInfo,
    ResultInfo,
    System,
)

T = TypeVar("T")
log = logging.getLogger("optimist.client")

RETRYABLE: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError, TimeoutError,
)


BATCH_LIMIT = 100          # JSON-RPC calls per batch (public endpoints cap batch sizes)
EVENT_CHUNK = 2000         # blocks per eth_getLogs
TIP_BLOCKS = 5            # the priority fee is read again once the head moved this many blocks
# Sent on the gas estimated once for their kind: the many moves of a bisection (constant work each).
GAS_CACHED = frozenset({"postMidpoint", "respond"})
METHOD_MISSING = -32601   # JSON-RPC "method not found"
SYNC_TIMEOUT = 4          # EIP-7966: eth_sendRawTransactionSync gave up waiting for the block

View = tuple[str, tuple[Any, ...]]   # a contract view by name and arguments, e.g. ("games", (3,))


@dataclass(frozen=True)
class Read:
    """One JSON-RPC read: `method(params)` with `decode` for its raw result (in a batch) and
    `direct` doing the same read through web3 (on providers without batches, or to name an error);
    `name` says what is read in errors (a view with its arguments and block), the method if empty."""

    method: str
    params: list[Any]
    decode: Callable[[Any], Any]
    direct: Callable[[], Any]
    name: str = ""

    def label(self, what: str) -> str:
        """`what` (the caller's word for the read, if any) and what this read is, for an error."""
        return " ".join(w for w in (what, self.name or self.method) if w)


class RpcUnavailable(RuntimeError):
    """The JSON-RPC endpoint did not answer after every retry."""


class TxDropped(RuntimeError):
    """A transaction never mined and its nonce was used by another one; decide again."""


@dataclass(frozen=True)
class TxOutcome:
    key: str
    function: str
    tx_hash: bytes
    block: int
    gas_used: int
    fee_paid: int
    receipt: dict[str, Any]


def kv(event: str, **fields: Any) -> str:
    """A structured log line: `event k=v k=v` (bytes as 0x-hex)."""
    parts = [event]
    for k, v in fields.items():
        if isinstance(v, bytes | bytearray):
            v = "0x" + bytes(v).hex()
        parts.append(f"{k}={v}")
    return " ".join(parts)


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log a structured line: `event k=v ...` as the message, and `event` / `fields` as record
    attributes, so that JSON logs (optimist.commands.daemons.JsonLines) carry fields, not a string."""
    if logger.isEnabledFor(level):
        logger.log(level, kv(event, **fields), extra={"event": event, "fields": fields})


def ether(wei: int) -> str:
    """Wei as an exact decimal string of ether: 150000000000000000 -> '0.15', 10**18 -> '1'."""
    whole, frac = divmod(abs(int(wei)), 10**18)
    text = str(whole) + (f".{frac:018d}".rstrip("0") if frac else "")
    return ("-" if wei < 0 else "") + text


class StopFlag:
    """Set (from a signal handler: a plain attribute, no lock) when the daemon is asked to stop; the
    waits of the retry loop and the daemon's loop end early when it is."""

    SLICE = 0.05   # seconds between two looks at the flag while waiting

    def __init__(self) -> None:
        self.is_set = False

    def set(self) -> None:
        self.is_set = True

    def sleep(self, seconds: float) -> bool:
        """Wait `seconds` or until the flag is set; True if it is set."""
        deadline = time.monotonic() + seconds
        while not self.is_set:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, self.SLICE))
        return True


class Stopped(RpcUnavailable):
    """A retry wait was cut short by the stop signal (handled as an outage: nothing half-done)."""


def view_name(fn_name: str, args: tuple[Any, ...], block: int) -> str:
    """A contract view read as errors name it: `gameOf(3, 0xab…) at block 12`."""
    shown = ", ".join("0x" + bytes(a).hex() if isinstance(a, bytes | bytearray) else str(a) for a in args)
    return f"{fn_name}({shown}) at block {block}"


def with_retries(fn: Callable[[], T], *, attempts: int = 8, base_delay: float = 0.1,
                 max_delay: float = 5.0, what: str = "rpc", stop: StopFlag | None = None) -> T:
    """Call `fn`, retrying connection errors with exponential backoff; a set `stop` ends the
    waiting at once with `Stopped`."""
    delay = base_delay
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except RETRYABLE as exc:
            if attempt == attempts:
                raise RpcUnavailable(f"{what}: the node did not answer after {attempts} attempts "
                                     f"({type(exc).__name__}: {exc})") from None
            log_event(log, logging.WARNING, "rpc_retry", method=what, attempt=attempt,
                      delay=round(delay, 2), error=type(exc).__name__)
            if stop is None:
                time.sleep(delay)
            elif stop.sleep(delay):
                raise Stopped(f"{what}: stopped while the node did not answer ({type(exc).__name__})") from None
            delay = min(max_delay, delay * 2)
    raise AssertionError("unreachable")


class ChainClient:
    """Sends the Optimist transactions of one account and reads chain state, robustly."""

    def __init__(self, system: System, account: LocalAccount, store: Store, *,
                 receipt_timeout: float = 120.0, attempts: int = 8) -> None:
        self.system = system
        self.w3: Web3 = system.w3
        self.account = account
        self.store = store
        self.receipt_timeout = receipt_timeout
        self.attempts = attempts
        self.stop = StopFlag()      # set by the daemon on SIGTERM/SIGINT: retry waits end at once
        # signing with the key object skips deriving the public key again for every transaction
        self._private_key = keys.PrivateKey(bytes(account.key))
        self._chain_id: int | None = None
        self._nonce: int | None = None             # next nonce, tracked locally after the first read
        self._latest: dict[str, Any] | None = None  # the latest block, cached for one tick
        self._tip: tuple[int, int] | None = None    # (block read at, priority fee) on EIP-1559 chains
        self._views: dict[View, Any] = {}           # contract views read at block _views_at
        self._views_at: int | None = None
        self._gas: dict[str, int] = {}              # gas limit per GAS_CACHED function
        self._known_block = -1                      # the newest block seen (a head, our own receipt)
        self.seen_time = 0                          # timestamp of the last head read (no read here)
        self._base_fee: bool | None = None          # blocks carry a base fee (EIP-1559); None: not seen yet
        provider = self.w3.provider
        # raw JSON-RPC batches over HTTP; in-process providers (eth-tester) are read call by call
        self.batching = isinstance(provider, HTTPProvider)
        self._sync_send = self.batching             # eth_sendRawTransactionSync, until the node says no

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.rpc(lambda: self.w3.eth.chain_id, "chain_id")
        return self._chain_id

    def rpc(self, fn: Callable[[], T], what: str = "rpc") -> T:
        return with_retries(fn, attempts=self.attempts, what=what, stop=self.stop)

    def head(self) -> int:
        """The number of this tick's latest block."""
        return int(self.latest_block()["number"])

    def begin_tick(self) -> None:
        """Forget what was read for the previous tick (the latest block; views stay while it does not move)."""
        self._latest = None

    def latest_block(self) -> dict[str, Any]:
        """The latest block, read once per tick (with the priority fee when that is stale)."""
        if self._latest is None:
            out = self.batch(self._head_reads(), "latest_block")
            self._set_head(out[0], out[1] if len(out) > 1 else None)
        return self._latest  # type: ignore[return-value]

    def _head_reads(self) -> list[Read]:
        reads = [Read("eth_getBlockByNumber", ["latest", False], PYTHONIC_RESULT_FORMATTERS["eth_getBlockByNumber"],
                      lambda: self.w3.eth.get_block("latest"))]
        if self.system.fixed_gas is None and self._base_fee is not False and (
                self._tip is None or self._known_block - self._tip[0] >= TIP_BLOCKS):
            reads.append(Read("eth_maxPriorityFeePerGas", [], PYTHONIC_RESULT_FORMATTERS["eth_maxPriorityFeePerGas"],
                              self._read_tip))
        return reads

    def _set_head(self, block: Any, tip: int | None) -> None:
        self._latest = dict(block)
        self._base_fee = self._latest.get("baseFeePerGas") is not None
        number = int(self._latest["number"])
        if tip is not None:
            self._tip = (number, int(tip))
        if number != self._views_at:
            self._views, self._views_at = {}, number
        self._known_block = max(self._known_block, number)
        self.seen_time = int(self._latest["timestamp"])

    def read_next_block(self, views: Iterable[View], cursor: int) -> list[Event] | None:
        """Start a tick by betting that the head is the block after the newest one known (`cursor`,
        the last head, this client's last transaction), P: one batch reads the head block, the
        events of blocks cursor+1..P and `views` at P. If the head is P (and P's log bloom agrees
        with the events read), those are this tick's events and views; else None, and only the head
        is kept (read the rest with `prefetch`)."""
        if not self.batching or self._latest is not None:
            return None
        bet = max(cursor, self._known_block) + 1
        if bet - cursor > EVENT_CHUNK:
            return None
        wanted = list(dict.fromkeys(views))
        head_reads = self._head_reads()
        reads = [*head_reads, self._logs_read(cursor + 1, bet), *(self._view_read(fn, a, bet) for fn, a in wanted)]
        answers = self.rpc(lambda: self.w3.provider.make_batch_request([(r.method, r.params) for r in reads]),
                           "read_next_block")
        if not isinstance(answers, list) or len(answers) != len(reads) or answers[0].get("result") is None:
            return None       # let latest_block read the head (and say why, if the node refuses)
        tip = answers[1].get("result") if len(head_reads) > 1 else None
        self._set_head(head_reads[0].decode(answers[0]["result"]), None if tip is None else head_reads[1].decode(tip))
        bet_answers = answers[len(head_reads):]
        if self.head() != bet or any("result" not in a for a in bet_answers):
            return None
        events: list[Event] = reads[len(head_reads)].decode(bet_answers[0]["result"])
        bloom = BloomFilter(int.from_bytes(bytes(self._latest["logsBloom"]), "big"))   # type: ignore[index]
        if not any(ev.block == bet for ev in events) and any(bytes.fromhex(a[2:]) in bloom
                                                              for a in self.system.log_addresses()):
            return None       # P may hold events of ours that the log read did not see: read them pinned
        self._views = {v: r.decode(a["result"])
                       for v, r, a in zip(wanted, reads[len(head_reads) + 1:], bet_answers[1:], strict=True)}
        return events

    def _read_tip(self) -> int | None:
        """eth_maxPriorityFeePerGas, or None where the node has no such method (no EIP-1559)."""
        try:
            return int(self.w3.eth.max_priority_fee)
        except (Web3RPCError, ValueError):
            return None

    # ---- batched reads -------------------------------------------------------------------------
    def batch(self, reads: Sequence[Read], what: str = "batch") -> list[Any]:
        """Each read's value, in order: one HTTP request per BATCH_LIMIT reads over HTTP (a read the
        node answers with an error is done again alone, which raises web3's own exception)."""
        if not self.batching:
            return [self.rpc(r.direct, r.label(what)) for r in reads]
        if len(reads) == 1:
            r = reads[0]
            answer = self.rpc(lambda: self.w3.provider.make_request(r.method, r.params), r.label(what))
            if "error" in answer or "result" not in answer:
                return [self.rpc(r.direct, r.label(what))]
            return [r.decode(answer["result"])]
        out: list[Any] = []
        for i in range(0, len(reads), BATCH_LIMIT):
            chunk = reads[i:i + BATCH_LIMIT]
            answers = self.rpc(lambda c=chunk: self.w3.provider.make_batch_request(
                [(r.method, r.params) for r in c]), what)
            if not isinstance(answers, list) or len(answers) != len(chunk):   # batches refused
                log_event(log, logging.WARNING, "rpc_batch_refused", method=what, answer=str(answers)[:200])
                self.batching = False
                return out + [self.rpc(r.direct, r.label(what)) for r in reads[i:]]
            for r, answer in zip(chunk, answers, strict=True):
                if "error" in answer or "result" not in answer:
                    out.append(self.rpc(r.direct, r.label(what)))
                else:
                    out.append(r.decode(answer["result"]))
        return out

    def _view_read(self, fn_name: str, args: tuple[Any, ...], block: int) -> Read:
        return Read("eth_call", [self.system.view_call(fn_name, *args), hex(block)],
                    lambda data: self.system.decode_view(fn_name, bytes.fromhex(data.removeprefix("0x"))),
                    lambda: getattr(self.system.target(fn_name).functions, fn_name)(*args).call(
                        block_identifier=block),
                    view_name(fn_name, args, block))

    def _logs_read(self, from_block: int, to_block: int) -> Read:
        def decode(raw: Any) -> list[Event]:
            return self.system.decode_logs(list(PYTHONIC_RESULT_FORMATTERS["eth_getLogs"](raw)))

        return Read("eth_getLogs", [{"address": self.system.log_addresses(), "fromBlock": hex(from_block),
                                     "toBlock": hex(to_block)}], decode,
                    lambda: self.system.events_since(from_block, to_block))

    def prefetch(self, views: Iterable[View], logs_from: int | None = None) -> list[Event]:
        """Read `views` (those not read yet) at this tick's head block, and with them, when
        `logs_from` is given, the Optimist events of blocks logs_from..head: one batch."""
        head = self.head()
        wanted = [v for v in dict.fromkeys(views) if v not in self._views]
        reads = [self._view_read(fn, args, head) for fn, args in wanted]
        with_logs = logs_from is not None and logs_from <= head
        if with_logs:
            reads.insert(0, self._logs_read(logs_from, head))   # type: ignore[arg-type]
        if not reads or not self.batching:       # call by call: views are read when used
            return self.rpc(reads[0].direct, "get_logs") if with_logs else []
        out = self.batch(reads, "prefetch")
        events: list[Event] = out.pop(0) if with_logs else []
        self._views.update(zip(wanted, out, strict=True))
        return events

    def view(self, fn_name: str, *args: Any) -> Any:
        """The contract view `fn_name(*args)` at this tick's head block (read once per block)."""
        head = self.head()
        key = (fn_name, tuple(args))
        if key not in self._views:
            self._views[key] = self.batch([self._view_read(fn_name, key[1], head)], "")[0]
        return self._views[key]

    def game(self, game_id: int) -> GameInfo:
        return self.system.game_info(game_id, self.view("games", game_id))

    def result(self, result_id: int) -> ResultInfo:
        return self.system.result_info(result_id, self.view("results", result_id))

    def get_request(self, request_id: int) -> RequestInfo:
        return self.system.request_info(request_id, self.view("requests", request_id))

    def now(self) -> int:
        """The time the next block will (at least) have: latest timestamp + 1, or the wall clock if
        later (a node that mines only on transactions, like anvil, lags between blocks). Read once
        per tick, so it can only be early: a deadline is never taken as passed before it is."""
        return max(self.latest_block()["timestamp"] + 1, int(time.time()))

    def balance(self) -> int:
        return self.rpc(lambda: self.w3.eth.get_balance(self.address), "get_balance")

    # ---- sending -------------------------------------------------------------------------------
    def send(self, key: str, function: str, *args: Any, value: int = 0,
             blobs: list[bytes] | None = None) -> TxOutcome:
        """Make the decision `key` happen on chain exactly once (see module docstring); with `blobs`, as an
        EIP-4844 type-3 transaction carrying them (JSON-RPC nodes with blob support only)."""
        record = self.store.tx(key)
        if record is not None and record.status in (*OPEN_TX, "mined"):
            return self._settle(record)
        # over JSON-RPC the transaction is built here from the function's cached ABI (web3's contract
        # objects validate the whole ABI on every build, estimate and call: most of a tick's CPU)
        built = self.system.fixed_gas is None
        if blobs and not built:
            raise ValueError("blob transactions need a JSON-RPC node (eth-tester takes none)")
        fn = None if built else getattr(self.system.target(function).functions, function)(*args)
        params: dict[str, Any] = {"from": self.address, "value": value}
        if built:
            params.update(to=self.system.target(function).address, data=self.system.call_data(function, *args))
        # a first attempt of a bisection move goes out on its kind's gas, without a preflight
        cached = self._gas.get(function) if record is None else None
        try:
            if cached is not None:
                gas = cached
            # against the pending block: its timestamp is "now" even when the node mines on demand
            elif built:
                gas = int(self.rpc(lambda: self.w3.eth.estimate_gas(params, "pending"),   # type: ignore[arg-type]
                                   f"estimate_gas {function}") * GAS_MARGIN)
                gas += 10_000
                if function in GAS_CACHED:
                    self._gas[function] = gas
            else:   # eth-tester: its estimate is a slow binary search; a call still names reverts
                self.rpc(lambda: fn.call(params, block_identifier="pending"), f"call {function}")
                gas = self.system.fixed_gas
        except REVERTS as exc:
            raise self.system._revert(function, exc) from None
        if self._nonce is None:
            self._nonce = self.rpc(lambda: self.w3.eth.get_transaction_count(self.address, "pending"), "nonce")
        nonce = self._nonce
        if built:
            fees = self._fees() or {"gasPrice": self.rpc(lambda: self.w3.eth.gas_price, "gas_price")}
            tx = {"to": params["to"], "data": params["data"], "value": value, **fees, "gas": gas,
                  "nonce": nonce, "chainId": self.chain_id}
            if blobs:
                tx.update(self._blob_fees(fees))
        else:
            tx = self.rpc(lambda: fn.build_transaction({**params, **self._fees(), "gas": gas,
                                                        "nonce": nonce, "chainId": self.chain_id}),
                          f"build {function}")
        # a blob transaction is signed with its blobs: the raw bytes are the network form (blobs, commitments,
        # proofs), so a restart re-sends it whole
        if blobs:
            from contracts.blobs import sign_blob_transaction

            signed = sign_blob_transaction(tx, self._private_key, blobs)
        else:
            signed = Account.sign_transaction(tx, self._private_key)
        record = self.store.record_signed(key, function, self.address, nonce, bytes(signed.raw_transaction),
                                          bytes(signed.hash))
        self._nonce = nonce + 1
        log_event(log, logging.DEBUG, "tx_signed", key=key, function=function, nonce=nonce, tx=record.tx_hash)
        try:
            return self._settle(record, fresh=True)
        except (TxDropped, RpcUnavailable):
            self._nonce = None     # read it again from the node next time
            raise
        except ContractRevert as exc:
            if cached is None:
                raise
            # mined but reverted on the cached gas: estimate afresh (the record is now 'reverted', so
            # this attempt preflights: an out-of-gas move is re-sent, a refused one named unsent)
            log_event(log, logging.INFO, "cached_gas_reverted", key=key, gas=cached, error=exc.name)
            self._gas.pop(function, None)
            return self.send(key, function, *args, value=value, blobs=blobs)

    def _blob_fees(self, fees: dict[str, int]) -> dict[str, Any]:
        """The type-3 fields of a blob transaction: its type, EIP-1559 fees and twice the blob base fee."""
        blob_fee = int(self.rpc(lambda: self.w3.eth.blob_base_fee, "blob_base_fee"))
        if "maxFeePerGas" not in fees:   # a blob transaction is an EIP-1559 one
            price = int(fees["gasPrice"])
            fees = {"maxPriorityFeePerGas": price, "maxFeePerGas": price}
        return {"type": 3, **fees, "maxFeePerBlobGas": max(2 * blob_fee, 1)}

    def supports_blobs(self) -> bool:
        """True when the node takes EIP-4844 blob transactions: a JSON-RPC node whose latest block carries
        the blob gas fields (Cancun on) and that answers eth_blobBaseFee."""
        if self.system.fixed_gas is not None:
            return False
        if self.latest_block().get("excessBlobGas") is None:
            return False
        try:
            self.rpc(lambda: self.w3.eth.blob_base_fee, "blob_base_fee")
        except Web3RPCError:
            return False
        return True

    def _fees(self) -> dict[str, int]:
        """EIP-1559 fee fields from this tick's latest block and a priority fee read again every
        TIP_BLOCKS blocks; {} (web3 fills them) on chains without a base fee and on eth-tester."""
        if self.system.fixed_gas is not None:
            return {}
        block = self.latest_block()
        base = block.get("baseFeePerGas")
        if base is None:
            return {}
        if self._tip is None:   # read with the head block every TIP_BLOCKS blocks (latest_block)
            self._tip = (int(block["number"]), int(self.rpc(lambda: self.w3.eth.max_priority_fee, "priority_fee")))
        tip = self._tip[1]
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * int(base) + tip}

    def resume_pending(self) -> list[TxOutcome | Exception]:
        """Settle every transaction left signed/sent by a previous run (call at start-up)."""
        out: list[TxOutcome | Exception] = []
        for record in self.store.txs(OPEN_TX):
            try:
                out.append(self._settle(record))
            except (ContractRevert, TxDropped) as exc:
                out.append(exc)
        return out

    def _settle(self, record: TxRecord, *, fresh: bool = False) -> TxOutcome:
        """Broadcast (unless already mined) and wait for the receipt; `fresh`: just signed, so no
        receipt can exist yet."""
        receipt = None if fresh else self._receipt(record.tx_hash)
        if receipt is None:
            receipt = self._broadcast(record)
            if receipt is None:
                receipt = self._wait(record)
        return self._conclude(record, receipt)

    def _broadcast(self, record: TxRecord) -> dict[str, Any] | None:
        """Send the signed bytes; the receipt when the node waited for the block (EIP-7966), else None."""
        receipt = None
        try:
            if self._sync_send:
                receipt = self._send_sync(record)
            if not self._sync_send:
                self.rpc(lambda: self.w3.eth.send_raw_transaction(record.raw), f"send {record.function}")
        except RpcUnavailable:
            raise
        except Exception as exc:  # nodes word "already known"/"nonce too low" differently
            message = str(exc).lower()
            if "known" in message or "already" in message:
                pass  # the node has it: wait for the receipt
            elif "nonce" in message:
                if self._receipt(record.tx_hash) is None:
                    self.store.update_tx(record.key, "dropped", error=str(exc)[:200])
                    raise TxDropped(f"{record.key}: nonce {record.nonce} already used ({exc})") from None
            else:
                raise
        if record.status == "signed":
            self.store.update_tx(record.key, "sent")
        return receipt

    def _send_sync(self, record: TxRecord) -> dict[str, Any] | None:
        """eth_sendRawTransactionSync: the receipt, or None if the node gave up waiting (it keeps the
        transaction); a node without the method turns it off for good (`_sync_send`)."""
        answer = self.rpc(lambda: self.w3.provider.make_request(
            "eth_sendRawTransactionSync", ["0x" + record.raw.hex()]), f"send {record.function}")
        error = answer.get("error")
        if error is None:
            return dict(PYTHONIC_RESULT_FORMATTERS["eth_getTransactionReceipt"](answer["result"]))
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
        lower = message.lower()
        if code == METHOD_MISSING or ("method" in lower and any(
                w in lower for w in ("not found", "not supported", "unsupported", "does not exist", "not available"))):
            log_event(log, logging.INFO, "send_sync_unsupported", error=message[:200])
            self._sync_send = False
            return None
        if code == SYNC_TIMEOUT or "timeout" in lower or "timed out" in lower:
            return None       # not mined within the node's wait: poll for the receipt
        raise Web3RPCError(message, rpc_response=answer)

    def _receipt(self, tx_hash: bytes) -> dict[str, Any] | None:
        try:
            return self.rpc(lambda: self.w3.eth.get_transaction_receipt(tx_hash), "receipt")
        except TransactionNotFound:
            return None

    def _wait(self, record: TxRecord) -> dict[str, Any]:
        deadline = time.monotonic() + self.receipt_timeout
        delay = 0.02
        while True:
            receipt = self._receipt(record.tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                used = self.rpc(lambda: self.w3.eth.get_transaction_count(self.address, "latest"), "nonce")
                if used > record.nonce:
                    self.store.update_tx(record.key, "dropped", error="nonce used by another transaction")
                    raise TxDropped(f"{record.key}: nonce {record.nonce} used by another transaction")
                raise TimeExhausted(f"{record.key}: no receipt for 0x{record.tx_hash.hex()} after "
                                    f"{self.receipt_timeout} s (the node keeps it; a restart re-sends it)")
            if self.stop.sleep(delay):   # the record stays 'sent': a restart waits for it again
                raise Stopped(f"{record.key}: stopped while waiting for 0x{record.tx_hash.hex()}")
            delay = min(0.5, delay * 2)

    def _conclude(self, record: TxRecord, receipt: dict[str, Any]) -> TxOutcome:
        gas_used = receipt["gasUsed"]
        fee = gas_used * receipt.get("effectiveGasPrice", 0)
        block = receipt["blockNumber"]
        self._known_block = max(self._known_block, int(block))
        if receipt["status"] != 1:
            error = self._replay_error(record, block)
            self.store.update_tx(record.key, "reverted", gas_used=gas_used, fee_paid=fee, block=block,
                                 error=str(error))
            raise error
        if record.status != "mined":
            self.store.update_tx(record.key, "mined", gas_used=gas_used, fee_paid=fee, block=block)
            log_event(log, logging.DEBUG, "tx_mined", key=record.key, gas=gas_used, block=block)
        return TxOutcome(record.key, record.function, record.tx_hash, block, gas_used, fee, dict(receipt))

    def _replay_error(self, record: TxRecord, block: int) -> ContractRevert:
        """Name the error of a mined-but-reverted transaction by replaying it as a call."""
        tx = self.rpc(lambda: self.w3.eth.get_transaction(record.tx_hash), "get_transaction")
        call = {"from": record.sender, "to": tx["to"], "data": tx["input"], "value": tx["value"],
                "gas": tx["gas"]}
        for at in (block, block - 1):
            try:
                self.w3.eth.call(call, block_identifier=at)
            except REVERTS as exc:
                return self.system._revert(record.function, exc)
            except Exception as exc:  # some nodes raise plain RPC errors for reverts
                return ContractRevert(record.function, "Revert", {"message": str(exc)}, b"")
        return ContractRevert(record.function, "Revert", {"message": "reverted in its block "
                                                          "(state changed before inclusion)"}, b"")
