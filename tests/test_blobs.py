"""contracts.blobs: the EIP-4844 layout of batched inputs / outputs (docs/game-rules.md §3b)."""

from __future__ import annotations

import pytest

from contracts.blobs import (
    BLOB_CAPACITY,
    BLOB_SIZE,
    MAX_BLOBS_PER_TX,
    BlobError,
    pack_blobs,
    send_blob_call,
    unpack_blobs,
    versioned_hash,
)


def test_items_round_trip_across_blob_boundaries() -> None:
    items = [bytes([i % 251]) * (3136 + i) for i in range(60)] + [b"", b"\x00" * 5]
    blobs = pack_blobs(items)
    total = 4 + sum(4 + len(x) for x in items)
    assert len(blobs) == -(-total // BLOB_CAPACITY) == 2
    assert all(len(b) == BLOB_SIZE and all(b[i] == 0 for i in range(0, BLOB_SIZE, 32)) for b in blobs)
    assert unpack_blobs(blobs) == items
    assert len(pack_blobs([])) == 1 and unpack_blobs(pack_blobs([])) == []


def test_bad_blobs_raise_blob_errors() -> None:
    blob = pack_blobs([b"abc"])[0]
    with pytest.raises(BlobError, match="131072 bytes"):
        unpack_blobs([blob[:-1]])
    with pytest.raises(BlobError, match="field element 1"):
        unpack_blobs([blob[:32] + b"\x01" + blob[33:]])
    with pytest.raises(BlobError, match="no blobs"):
        unpack_blobs([])
    for at, value in ((1, 10**6), (5, BLOB_CAPACITY)):   # more items than there are / an item past the end
        lying = bytearray(blob)
        lying[at:at + 4] = value.to_bytes(4, "big")
        with pytest.raises(BlobError, match="runs past"):
            unpack_blobs([bytes(lying)])
    with pytest.raises(BlobError, match="1..6 blobs"):
        send_blob_call(None, None, b"\x01" * 32, [blob] * (MAX_BLOBS_PER_TX + 1))  # type: ignore[arg-type]


def test_versioned_hash_is_the_kzg_commitments() -> None:
    h = versioned_hash(pack_blobs([b"x"])[0])
    assert len(h) == 32 and h[0] == 1
    assert h != versioned_hash(pack_blobs([b"y"])[0])
