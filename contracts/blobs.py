"""EIP-4844 blobs for batched requests and results (docs/game-rules.md §3b).

Layout: a list of byte strings is serialized as its item count (4 bytes, big-endian) followed by the records
`len (4 bytes, big-endian) || bytes`, and cut into blobs of 4096 field elements that carry 31 bytes each (the first byte of every 32-byte element is zero,
so every element is below the BLS12-381 modulus); the last blob is zero-padded. `unpack_blobs` reverses it.

`send_blob_call` signs and sends a contract call as a type-3 transaction with eth-account (the blobs' KZG
commitments and proofs are computed by eth-account with ckzg); `fetch_blobs` reads a transaction's blobs back
from a consensus client's beacon API when given its URL (contracts.beacon: any chain), else from anvil
(`anvil_getBlobsByTransactionHash`).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from web3 import Web3

FIELD_ELEMENTS = 4096
BYTES_PER_ELEMENT = 32
USABLE_PER_ELEMENT = 31
BLOB_SIZE = FIELD_ELEMENTS * BYTES_PER_ELEMENT            # 131,072 bytes
BLOB_CAPACITY = FIELD_ELEMENTS * USABLE_PER_ELEMENT        # 126,976 payload bytes
GAS_PER_BLOB = 1 << 17
MAX_BLOBS_PER_TX = 6                                       # EIP-7594 (Osaka) per-transaction limit
VERSIONED_HASH_VERSION_KZG = b"\x01"


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
    """The blobs of a mined transaction: from the beacon API at `beacon_url` (contracts.beacon, each blob checked
    against the transaction's versioned hashes), else from anvil (`anvil_getBlobsByTransactionHash`)."""
    if beacon_url:
        from contracts.beacon import beacon

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
