"""The daemons' chain client: local signing, write-ahead transactions, nonces, gas, retries, reverts.

    client = ChainClient(system, account, store)
    outcome = client.send("midpoint:7:1024", "postMidpoint", 7, 1024, h)

`send` is idempotent per key: the first call signs and records the raw transaction in the store
before broadcasting it; later calls (or a restarted process) re-broadcast those exact bytes and
wait for the receipt. RPC/connection failures are retried with exponential backoff; reverts are
decoded into `contracts.system.ContractRevert` (custom error name and fields).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import TimeExhausted, TransactionNotFound

from challenger.store import OPEN_TX, Store, TxRecord
from contracts.system import GAS_MARGIN, REVERTS, ContractRevert, System

T = TypeVar("T")
log = logging.getLogger("optimist.client")

RETRYABLE: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError, TimeoutError,
)


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


def with_retries(fn: Callable[[], T], *, attempts: int = 8, base_delay: float = 0.1,
                 max_delay: float = 5.0, what: str = "rpc") -> T:
    """Call `fn`, retrying connection errors with exponential backoff."""
    delay = base_delay
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except RETRYABLE as exc:
            if attempt == attempts:
                raise RpcUnavailable(f"{what}: the node did not answer after {attempts} attempts "
                                     f"({type(exc).__name__}: {exc})") from None
            log.warning(kv("rpc_retry", what=what, attempt=attempt, delay=round(delay, 2),
                           error=type(exc).__name__))
            time.sleep(delay)
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
        self._chain_id: int | None = None
        self._nonce: int | None = None             # next nonce, tracked locally after the first read
        self._latest: dict[str, Any] | None = None  # the latest block, cached for one tick
        self._tip: tuple[float, int] | None = None  # (read at, priority fee) on EIP-1559 chains

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.rpc(lambda: self.w3.eth.chain_id, "chain_id")
        return self._chain_id

    def rpc(self, fn: Callable[[], T], what: str = "rpc") -> T:
        return with_retries(fn, attempts=self.attempts, what=what)

    def head(self) -> int:
        return self.rpc(lambda: self.w3.eth.block_number, "block_number")

    def begin_tick(self) -> None:
        """Forget what was read for the previous tick (the latest block)."""
        self._latest = None

    def latest_block(self) -> dict[str, Any]:
        """The latest block, read once per tick."""
        if self._latest is None:
            self._latest = dict(self.rpc(lambda: self.w3.eth.get_block("latest"), "latest_block"))
        return self._latest

    def now(self) -> int:
        """The time the next block will (at least) have: latest timestamp + 1, or the wall clock if
        later (a node that mines only on transactions, like anvil, lags between blocks). Read once
        per tick, so it can only be early: a deadline is never taken as passed before it is."""
        return max(self.latest_block()["timestamp"] + 1, int(time.time()))

    def balance(self) -> int:
        return self.rpc(lambda: self.w3.eth.get_balance(self.address), "get_balance")

    # ---- sending -------------------------------------------------------------------------------
    def send(self, key: str, function: str, *args: Any, value: int = 0) -> TxOutcome:
        """Make the decision `key` happen on chain exactly once (see module docstring)."""
        record = self.store.tx(key)
        if record is not None and record.status in (*OPEN_TX, "mined"):
            return self._settle(record)
        fn = getattr(self.system.contract.functions, function)(*args)
        params: dict[str, Any] = {"from": self.address, "value": value}
        try:
            # against the pending block: its timestamp is "now" even when the node mines on demand
            if self.system.fixed_gas is None:
                gas = int(self.rpc(lambda: fn.estimate_gas(params, block_identifier="pending"),
                                   f"estimate_gas {function}") * GAS_MARGIN)
                gas += 10_000
            else:   # eth-tester: its estimate is a slow binary search; a call still names reverts
                self.rpc(lambda: fn.call(params, block_identifier="pending"), f"call {function}")
                gas = self.system.fixed_gas
        except REVERTS as exc:
            raise self.system._revert(function, exc) from None
        if self._nonce is None:
            self._nonce = self.rpc(lambda: self.w3.eth.get_transaction_count(self.address, "pending"), "nonce")
        nonce = self._nonce
        tx = self.rpc(lambda: fn.build_transaction({**params, **self._fees(), "gas": gas,
                                                    "nonce": nonce, "chainId": self.chain_id}),
                      f"build {function}")
        signed = self.account.sign_transaction(tx)
        record = self.store.record_signed(key, function, self.address, nonce, bytes(signed.raw_transaction),
                                          bytes(signed.hash))
        self._nonce = nonce + 1
        log.debug(kv("tx_signed", key=key, function=function, nonce=nonce, tx=record.tx_hash))
        try:
            return self._settle(record, fresh=True)
        except (TxDropped, RpcUnavailable):
            self._nonce = None     # read it again from the node next time
            raise

    def _fees(self) -> dict[str, int]:
        """EIP-1559 fee fields from this tick's latest block and a priority fee read at most once a
        minute; {} (web3 fills them) on chains without a base fee and on eth-tester."""
        if self.system.fixed_gas is not None:
            return {}
        base = self.latest_block().get("baseFeePerGas")
        if base is None:
            return {}
        if self._tip is None or time.monotonic() - self._tip[0] > 60:
            self._tip = (time.monotonic(), int(self.rpc(lambda: self.w3.eth.max_priority_fee, "priority_fee")))
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
            self._broadcast(record)
            receipt = self._wait(record)
        return self._conclude(record, receipt)

    def _broadcast(self, record: TxRecord) -> None:
        try:
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
            time.sleep(delay)
            delay = min(0.5, delay * 2)

    def _conclude(self, record: TxRecord, receipt: dict[str, Any]) -> TxOutcome:
        gas_used = receipt["gasUsed"]
        fee = gas_used * receipt.get("effectiveGasPrice", 0)
        block = receipt["blockNumber"]
        if receipt["status"] != 1:
            error = self._replay_error(record, block)
            self.store.update_tx(record.key, "reverted", gas_used=gas_used, fee_paid=fee, block=block,
                                 error=str(error))
            raise error
        if record.status != "mined":
            self.store.update_tx(record.key, "mined", gas_used=gas_used, fee_paid=fee, block=block)
            log.debug(kv("tx_mined", key=record.key, gas=gas_used, block=block))
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
