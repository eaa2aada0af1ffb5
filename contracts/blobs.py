"""EIP-4844 blobs for batched requests and results (docs/game-rules.md §3b).

Layout: a list of byte strings is serialized as its item count (4 bytes, big-endian) followed by the records
`len (4 bytes, big-endian) || bytes`, and cut into blobs of 4096 field elements that carry 31 bytes each (the first byte of every 32-byte element is zero,
so every element is below the BLS12-381 modulus); the last blob is zero-padded. `unpack_blobs` reverses it.

`send_blob_call` signs and sends a contract call as a type-3 transaction with eth-account (the blobs' KZG
commitments and proofs are computed by eth-account with ckzg); `fetch_blobs` reads a transaction's blobs back
from a consensus client's beacon API when given its URL (`BeaconBlobs`: any chain), else from anvil
(`anvil_getBlobsByTransactionHash`).

From a beacon API (`BeaconBlobs(url).fetch(w3, tx_hash)`, one per URL with `beacon(url)`): the execution block
holding the transaction is mapped to its slot, (timestamp - genesis_time) / SECONDS_PER_SLOT (`GET
/eth/v1/beacon/genesis`, `GET /eth/v1/config/spec`, read once; the spec's DEPOSIT_CHAIN_ID must be the execution
node's chain id). The slot's blobs are asked with `GET /eth/v1/beacon/blobs/{slot}?versioned_hashes=...` (getBlobs,
beacon-APIs v4.0.0 onwards) and, from a node or blob archive without it, with `GET
/eth/v1/beacon/blob_sidecars/{slot}` (getBlobSidecars: deprecated by v4.0.0, removed in v5). A beacon node is not
trusted: a blob is taken only when the KZG commitment computed from its bytes hashes to one of the transaction's
versioned hashes (0x01 || sha256(commitment)[1:]); a sidecar's blob must also pass its KZG proof against its
commitment. Errors are `BlobError`s in words: unreachable, an HTTP error, blobs past the retention window
(MIN_EPOCHS_FOR_BLOB_SIDECARS_REQUESTS epochs, ~18 days on mainnet: pruned), missing, or bytes that do not match
their commitment. `BeaconUnavailable` (also a ConnectionError, so the daemons' RPC retries wait it out): the node
is unreachable, busy (HTTP 502/503/504) or has not reached the slot yet.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from web3 import Web3

FIELD_ELEMENTS = 4096
BYTES_PER_ELEMENT = 32
USABLE_PER_ELEMENT = 31
BLOB_SIZE = FIELD_ELEMENTS * BYTES_PER_ELEMENT            # 131,072 bytes
BLOB_CAPACITY = FIELD_ELEMENTS * USABLE_PER_ELEMENT        # 126,976 payload bytes
GAS_PER_BLOB = 1 << 17
MAX_BLOBS_PER_TX = 6                                       # EIP-7594 (Osaka) per-transaction limit
VERSIONED_HASH_VERSION_KZG = b"\x01"
BEACON_TIMEOUT = 30.0              # seconds per beacon API request
TRANSIENT_STATUS = (502, 503, 504)  # a proxy or a syncing node: try again later
DEFAULT_RETENTION_EPOCHS = 4096    # MIN_EPOCHS_FOR_BLOB_SIDECARS_REQUESTS (Deneb) when the spec omits it
DEFAULT_SLOTS_PER_EPOCH = 32




class BlobError(ValueError):
    """Blob data that cannot be packed or decoded."""


def pack_blobs(items: list[bytes]) -> list[bytes]:
    """Serialize `items` into as few blobs as they need (at least one)."""
    payload = len(items).to_bytes(4, "big") + b"".join(len(x).to_bytes(4, "big") + bytes(x) for x in items)
    n = max(1, -(-len(payload) // BLOB_CAPACITY))
    payload = payload.ljust(n * BLOB_CAPACITY, b"\0")
    blobs = []
    for b in range(n):
        chunk = payload[b * BLOB_CAPACITY:(b + 1) * BLOB_CAPACITY]
        blobs.append(b"".join(b"\0" + chunk[i:i + USABLE_PER_ELEMENT]
                              for i in range(0, BLOB_CAPACITY, USABLE_PER_ELEMENT)))
    return blobs


def unpack_blobs(blobs: list[bytes]) -> list[bytes]:
    """The items serialized into `blobs` (BlobError if they are not such blobs)."""
    payload = bytearray()
    for blob in blobs:
        if len(blob) != BLOB_SIZE:
            raise BlobError(f"a blob is {BLOB_SIZE} bytes, got {len(blob)}")
        for i in range(0, BLOB_SIZE, BYTES_PER_ELEMENT):
            if blob[i] != 0:
                raise BlobError(f"field element {i // BYTES_PER_ELEMENT} does not start with a zero byte")
            payload += blob[i + 1:i + BYTES_PER_ELEMENT]
    if len(payload) < 4:
        raise BlobError("no blobs")
    count = int.from_bytes(payload[:4], "big")
    items, pos = [], 4
    for k in range(count):
        size = int.from_bytes(payload[pos:pos + 4], "big")
        if pos + 4 + size > len(payload):
            raise BlobError(f"item {k} of {count} ({size} bytes) runs past the blobs' end")
        items.append(bytes(payload[pos + 4:pos + 4 + size]))
        pos += 4 + size
    return items


def checked_items(blobs: list[bytes], versioned_hashes: list[bytes]) -> list[bytes]:
    """The items of a transaction's `blobs` as read back from a node, after checking them against the versioned
    hashes the chain recorded for it (BlobError if they differ or are not such blobs)."""
    if [versioned_hash(b) for b in blobs] != [bytes(h) for h in versioned_hashes]:
        raise BlobError("the blobs served do not match the transaction's versioned hashes")
    return unpack_blobs(blobs)


@lru_cache(maxsize=1)
def _trusted_setup() -> Any:
    import ckzg
    import eth_account.typed_transactions.blob_transactions as bt

    return ckzg.load_trusted_setup(str(Path(bt.__file__).parent / "kzg_trusted_setup.txt"), 0)


@lru_cache(maxsize=1)
def _share_trusted_setup() -> None:
    """eth-account loads the KZG trusted setup from its file again for every commitment, proof and cell proof
    it computes (~2.7 s each: ~9 s to sign one blob transaction); the setup is a constant, so it is loaded once and
    shared (its module's `load_trusted_setup` answers from the cache for eth-account's own file)."""
    import eth_account.typed_transactions.base as base

    original, own = getattr(base, "load_trusted_setup", None), getattr(base, "TRUSTED_SETUP", None)
    if original is None or own is None:   # another eth-account layout: sign at its own (slower) pace
        return
    own = str(own)

    def load_trusted_setup(path: str, precompute: int) -> Any:
        return _trusted_setup() if (str(path), precompute) == (own, 0) else original(path, precompute)

    base.load_trusted_setup = load_trusted_setup


def sign_blob_transaction(tx: dict[str, Any], private_key: Any, blobs: list[bytes]) -> Any:
    """eth-account's signed type-3 transaction `tx` carrying `blobs` (its raw bytes the network form: blobs,
    commitments and proofs), the trusted setup loaded once per process."""
    from eth_account import Account

    _share_trusted_setup()
    return Account.sign_transaction(tx, private_key, blobs=blobs)


def versioned_hash(blob: bytes) -> bytes:
    """The blob's EIP-4844 versioned hash: 0x01 || sha256(KZG commitment)[1:]."""
    import ckzg

    return commitment_hash(ckzg.blob_to_kzg_commitment(bytes(blob), _trusted_setup()))


def commitment_hash(commitment: bytes) -> bytes:
    """The versioned hash of a KZG commitment: 0x01 || sha256(commitment)[1:]."""
    return VERSIONED_HASH_VERSION_KZG + hashlib.sha256(bytes(commitment)).digest()[1:]


def verify_blob(blob: bytes, commitment: bytes, proof: bytes) -> bool:
    """True when `proof` shows `blob` is the polynomial `commitment` commits to (False for malformed parts)."""
    import ckzg

    if len(blob) != BLOB_SIZE:
        return False
    try:
        return bool(ckzg.verify_blob_kzg_proof(bytes(blob), bytes(commitment), bytes(proof), _trusted_setup()))
    except Exception:   # ckzg: a commitment or proof of the wrong size, not a curve point, a non-canonical element
        return False


def send_blob_call(w3: Web3, fn: Any, private_key: bytes | str, blobs: list[bytes], *, value: int = 0,
                   gas: int | None = None) -> dict[str, Any]:
    """Send contract call `fn` (a web3 ContractFunction with its arguments) as a type-3 transaction carrying
    `blobs`, signed with `private_key`; waits for and returns the receipt (its `status` may be 0)."""
    from eth_account import Account

    if not 1 <= len(blobs) <= MAX_BLOBS_PER_TX:
        raise BlobError(f"a transaction carries 1..{MAX_BLOBS_PER_TX} blobs, got {len(blobs)}")
    account = Account.from_key(private_key)
    base = w3.eth.get_block("latest")["baseFeePerGas"]
    blob_fee = int(w3.eth.blob_base_fee) if hasattr(w3.eth, "blob_base_fee") else 1
    tx: dict[str, Any] = {
        "type": 3,
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "to": fn.address,
        "value": value,
        "data": fn._encode_transaction_data(),
        "maxPriorityFeePerGas": 10**9,
        "maxFeePerGas": 2 * base + 10**9,
        "maxFeePerBlobGas": max(2 * blob_fee, 10**9),
    }
    tx["gas"] = gas if gas is not None else int(w3.eth.estimate_gas({k: tx[k] for k in ("to", "value", "data")}
                                                                   | {"from": account.address}) * 1.2) + 20_000
    signed = sign_blob_transaction(tx, account.key, blobs)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return dict(w3.eth.wait_for_transaction_receipt(tx_hash))


def fetch_blobs(w3: Web3, tx_hash: bytes | str, beacon_url: str | None = None) -> list[bytes]:
    """The blobs of a mined transaction: from the beacon API at `beacon_url` (`BeaconBlobs`, each blob checked
    against the transaction's versioned hashes), else from anvil (`anvil_getBlobsByTransactionHash`)."""
    if beacon_url:
        return beacon(beacon_url).fetch(w3, tx_hash)
    key = tx_hash if isinstance(tx_hash, str) else "0x" + bytes(tx_hash).hex()
    found = w3.provider.make_request("anvil_getBlobsByTransactionHash", [key])
    if "error" in found:
        raise BlobError(f"the node serves no blobs of {key}: {found['error']}")
    return [bytes.fromhex(b[2:] if b.startswith("0x") else b) for b in (found.get("result") or [])]


def anvil_serves_blobs(w3: Web3) -> bool:
    """Whether the node answers `anvil_getBlobsByTransactionHash` (anvil does; a real chain's node does not: its
    blobs are read from a beacon API)."""
    try:
        found = w3.provider.make_request("anvil_getBlobsByTransactionHash", ["0x" + "00" * 32])
    except Exception:   # a provider that raises for unknown methods
        return False
    return isinstance(found, dict) and "error" not in found


# ---- reading blobs from a beacon API ------------------------------------------------------------
class BeaconUnavailable(BlobError, ConnectionError):
    """The beacon node cannot answer now (unreachable, busy, or behind the block): worth trying again."""


@dataclass(frozen=True)
class ChainTime:
    """The beacon chain's clock and blob retention, from its genesis and spec."""

    genesis_time: int
    seconds_per_slot: int
    slots_per_epoch: int
    retention_epochs: int
    deposit_chain_id: int | None

    @property
    def retention_seconds(self) -> int:
        return self.retention_epochs * self.slots_per_epoch * self.seconds_per_slot


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise BlobError(f"{what} is not a hex string")
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise BlobError(f"{what} is not a hex string") from None


def _uint(data: dict[str, Any], key: str, what: str, default: int | None = None) -> int:
    """data[key] as a non-negative integer (`default` when absent, if given)."""
    if key not in data and default is not None:
        return default
    try:
        value = int(data[key])
    except (KeyError, TypeError, ValueError):
        value = -1
    if value < 0:
        raise BlobError(f"{what} has no {key} (a non-negative integer)")
    return value


class BeaconBlobs:
    """Blobs of mined transactions from the beacon API at `url` (genesis and spec read once, then kept)."""

    def __init__(self, url: str, timeout: float = BEACON_TIMEOUT) -> None:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:   # a port out of range, a bad IPv6 literal
            parts, port = None, None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise BlobError(f"{url!r} is not a beacon API URL (give http(s)://HOST:PORT, e.g. http://127.0.0.1:5052)")
        self.url = url.strip().rstrip("/")
        # named in messages and logs without credentials or a path (providers put API keys there)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        self.name = f"{parts.scheme}://{host}" + (f":{port}" if port else "") + \
            ("/..." if parts.path.strip("/") or parts.query else "")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        self._time: ChainTime | None = None
        self._lock = threading.Lock()

    # ---- HTTP ------------------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, Any] | None = None, *, missing_ok: bool = False) -> Any:
        """The JSON answer to GET `path`; None for a 404 (and 400/405/410/501: no such route) when `missing_ok`."""
        try:
            resp = self._session.get(self.url + path, params=params, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise BeaconUnavailable(f"cannot reach the beacon node at {self.name} ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise BlobError(f"cannot ask the beacon node at {self.name}: {exc}") from None
        if resp.status_code != 200:
            if missing_ok and resp.status_code in (400, 404, 405, 410, 501):
                return None
            message = _error_message(resp)
            error = BeaconUnavailable if resp.status_code in TRANSIENT_STATUS else BlobError
            raise error(f"the beacon node at {self.name} answered HTTP {resp.status_code} to GET {path}"
                        + (f": {message}" if message else ""))
        try:
            return resp.json()
        except ValueError:
            raise BlobError(f"{self.name} does not answer GET {path} as a beacon API (not JSON)") from None

    def _data(self, path: str, params: dict[str, Any] | None = None, *, missing_ok: bool = False) -> Any:
        body = self._get(path, params, missing_ok=missing_ok)
        if body is None:
            return None
        if not isinstance(body, dict) or "data" not in body:
            raise BlobError(f"{self.name} does not answer GET {path} as a beacon API (no `data`)")
        return body["data"]

    # ---- the chain's clock -----------------------------------------------------------------------
    def chain_time(self) -> ChainTime:
        """Genesis time, slot length and blob retention (asked once)."""
        with self._lock:
            if self._time is None:
                genesis = self._data("/eth/v1/beacon/genesis")
                spec = self._data("/eth/v1/config/spec")
                if not isinstance(genesis, dict) or not isinstance(spec, dict):
                    raise BlobError(f"{self.name} does not answer as a beacon API (genesis or spec is not an object)")
                what = f"the spec of the beacon node at {self.name}"
                t = ChainTime(
                    _uint(genesis, "genesis_time", f"the genesis of the beacon node at {self.name}"),
                    _uint(spec, "SECONDS_PER_SLOT", what),
                    _uint(spec, "SLOTS_PER_EPOCH", what, DEFAULT_SLOTS_PER_EPOCH),
                    _uint(spec, "MIN_EPOCHS_FOR_BLOB_SIDECARS_REQUESTS", what, DEFAULT_RETENTION_EPOCHS),
                    _uint(spec, "DEPOSIT_CHAIN_ID", what) if "DEPOSIT_CHAIN_ID" in spec else None)
                if t.seconds_per_slot == 0:
                    raise BlobError(f"{what} gives SECONDS_PER_SLOT 0")
                self._time = t
            return self._time

    def check(self, chain_id: int) -> ChainTime:
        """The chain time, after checking that the beacon node follows the chain of `chain_id` (BlobError if not)."""
        t = self.chain_time()
        if t.deposit_chain_id is not None and t.deposit_chain_id != chain_id:
            raise BlobError(f"the beacon node at {self.name} follows chain {t.deposit_chain_id}, the execution node "
                            f"chain {chain_id} (wrong --beacon-url?)")
        return t

    def slot_of(self, timestamp: int, block: int) -> int:
        """The slot of the execution block `block` made at `timestamp`."""
        t = self.chain_time()
        offset = timestamp - t.genesis_time
        if offset < 0 or offset % t.seconds_per_slot:
            raise BlobError(f"block {block} (time {timestamp}) is on no slot of the beacon chain at {self.name} "
                            f"(genesis {t.genesis_time}, {t.seconds_per_slot} s slots): is it the same chain?")
        return offset // t.seconds_per_slot

    # ---- blobs -----------------------------------------------------------------------------------
    def fetch(self, w3: Web3, tx_hash: bytes | str) -> list[bytes]:
        """The blobs of the mined transaction `tx_hash`, in its blobVersionedHashes order, each checked against its
        versioned hash (a type-3 transaction's; an empty list for another transaction)."""
        key = tx_hash if isinstance(tx_hash, str) else "0x" + bytes(tx_hash).hex()
        tx = w3.eth.get_transaction(key)
        wanted = [bytes(h) for h in (tx.get("blobVersionedHashes") or [])]
        if not wanted:
            return []
        if tx.get("blockNumber") is None:
            raise BlobError(f"transaction {key} is not mined yet: its blobs have no slot")
        number = int(tx["blockNumber"])
        timestamp = int(w3.eth.get_block(number)["timestamp"])
        self.check(int(w3.eth.chain_id))
        slot = self.slot_of(timestamp, number)
        where = f"transaction {key} (block {number}, slot {slot})"
        found, served = self._blobs(slot, wanted)
        if found is None:   # no getBlobs route (or block) here: the older getBlobSidecars
            found, served = self._sidecars(slot, wanted, where) or ({}, 0)
        missing = [h for h in wanted if h not in found]
        if missing:
            raise self._missing_error(w3, where, slot, timestamp, missing, len(wanted), served)
        return [found[h] for h in wanted]

    def _blobs(self, slot: int, wanted: list[bytes]) -> tuple[dict[bytes, bytes] | None, int]:
        """getBlobs: ({versioned hash: blob} of the served blobs whose bytes hash to one of `wanted`, how many blobs
        were served); (None, 0) when the node has no such route or block. Asked for `wanted` only, then for every
        blob of the slot if some are missing (a node that reads the filter otherwise)."""
        path = f"/eth/v1/beacon/blobs/{slot}"
        found: dict[bytes, bytes] | None = None
        served = 0
        for params in ({"versioned_hashes": ["0x" + h.hex() for h in wanted]}, None):
            data = self._data(path, params, missing_ok=True)
            if data is None:
                continue
            if not isinstance(data, list):
                raise BlobError(f"the beacon node at {self.name} answered GET {path} with no list of blobs")
            found = {} if found is None else found
            served = max(served, len(data))
            for i, item in enumerate(data):
                blob = _hex(item, f"blob {i} of GET {path}")
                if len(blob) == BLOB_SIZE:
                    h = versioned_hash(blob)   # the commitment computed from the bytes: a served lie matches nothing
                    if h in wanted:
                        found[h] = blob
            if all(h in found for h in wanted):
                break
        return found, served

    def _sidecars(self, slot: int, wanted: list[bytes], where: str) -> tuple[dict[bytes, bytes], int] | None:
        """getBlobSidecars: ({versioned hash: blob} of the sidecars whose commitment hashes to one of `wanted`, each
        blob checked against that commitment with its KZG proof; how many sidecars were served); None when the node
        has no such route or block."""
        path = f"/eth/v1/beacon/blob_sidecars/{slot}"
        data = self._data(path, missing_ok=True)
        if data is None:
            return None
        if not isinstance(data, list):
            raise BlobError(f"the beacon node at {self.name} answered GET {path} with no list of sidecars")
        found: dict[bytes, bytes] = {}
        for i, sc in enumerate(data):
            if not isinstance(sc, dict):
                raise BlobError(f"sidecar {i} of GET {path} is not an object")
            commitment = _hex(sc.get("kzg_commitment"), f"kzg_commitment of sidecar {i} of GET {path}")
            h = commitment_hash(commitment)
            if h not in wanted:
                continue   # another transaction's blob
            blob = _hex(sc.get("blob"), f"blob of sidecar {i} of GET {path}")
            proof = _hex(sc.get("kzg_proof"), f"kzg_proof of sidecar {i} of GET {path}")
            if not verify_blob(blob, commitment, proof):
                raise BlobError(f"the beacon node at {self.name} served, for {where}, blob index {sc.get('index')} "
                                f"(versioned hash 0x{h.hex()}) whose bytes do not match its KZG commitment: a faulty "
                                "or lying node (nothing was read)")
            found[h] = blob
        return found, len(data)

    def _missing_error(self, w3: Web3, where: str, slot: int, timestamp: int, missing: list[bytes], count: int,
                       served: int) -> BlobError:
        """Why `missing` blobs of a transaction were not found: pruned, a node behind the slot, or missing."""
        t = self.chain_time()
        age = int(w3.eth.get_block("latest")["timestamp"]) - timestamp
        if age > t.retention_seconds:
            return BlobError(f"the blobs of {where} are {age / 86400:.1f} days old, past the beacon nodes' "
                             f"retention of {t.retention_epochs} epochs (~{t.retention_seconds / 86400:.1f} days): "
                             "pruned (read them from a blob archive or an archival beacon node)")
        head = self._head_slot()
        if head is not None and head < slot:
            return BeaconUnavailable(f"the beacon node at {self.name} is at slot {head}, before {where}: not synced "
                                     "that far yet")
        if served:
            return BlobError(f"the beacon node at {self.name} served {served} blob(s) for slot {slot} but "
                             f"{len(missing)} of the {count} of {where} are not among them (first: versioned hash "
                             f"0x{missing[0].hex()}): missing, or bytes that do not match their commitments")
        return BlobError(f"the beacon node at {self.name} has no blobs for {where} ({count} expected): missing "
                         "sidecars (a node that does not custody them, or its blob store lost them)")

    def _head_slot(self) -> int | None:
        try:
            data = self._data("/eth/v1/beacon/headers/head", missing_ok=True)
            return int(data["header"]["message"]["slot"]) if isinstance(data, dict) else None
        except (BlobError, KeyError, TypeError, ValueError):
            return None


def _error_message(resp: requests.Response) -> str:
    """A beacon API error's `message` (else the start of the body)."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:200]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:200]
    return ""


_clients: dict[str, BeaconBlobs] = {}
_clients_lock = threading.Lock()


def beacon(url: str) -> BeaconBlobs:
    """The BeaconBlobs of `url`, one per URL and process (its genesis and spec are read once)."""
    with _clients_lock:
        if url not in _clients:
            _clients[url] = BeaconBlobs(url)
        return _clients[url]
