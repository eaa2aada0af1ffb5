"""Merkle memory: roots, proofs, cache invalidation, packed state."""

from __future__ import annotations

import random

import pytest

from mipsvm.layout import PAGE_SIZE, PROOF_SIZE, TREE_DEPTH
from mipsvm.memory import (
    Memory,
    MemoryRangeError,
    compact_proof,
    compact_proof_length,
    expand_proof,
    keccak256,
    root_from_proof,
    verify_proof,
    zero_hash,
)
from mipsvm.state import STATE_SIZE, State, StateError, decode_state


def naive_root(mem: Memory) -> bytes:
    """Full recomputation from the leaves, with zero subtrees folded in by level."""
    level_nodes: dict[int, bytes] = {}
    for idx in mem.pages():
        data = mem.page(idx)
        assert data is not None
        for i in range(0, PAGE_SIZE, 32):
            leaf = data[i:i + 32]
            if leaf != bytes(32):
                level_nodes[(idx * PAGE_SIZE + i) >> 5] = leaf
    for level in range(TREE_DEPTH):
        up: dict[int, bytes] = {}
        for i in {j >> 1 for j in level_nodes}:
            left = level_nodes.get(2 * i, zero_hash(level))
            right = level_nodes.get(2 * i + 1, zero_hash(level))
            up[i] = keccak256(left + right)
        level_nodes = up
    return level_nodes.get(0, zero_hash(TREE_DEPTH))


def test_zero_hashes_chain() -> None:
    assert zero_hash(0) == bytes(32)
    for i in range(1, TREE_DEPTH + 1):
        assert zero_hash(i) == keccak256(zero_hash(i - 1) * 2)
    assert Memory().root() == zero_hash(TREE_DEPTH)


def test_empty_memory_proof_verifies() -> None:
    mem = Memory()
    proof = mem.proof(0x1234_5678)
    assert len(proof) == PROOF_SIZE
    assert verify_proof(mem.root(), 0x1234_5678, proof)


def test_read_write_roundtrip_across_pages() -> None:
    mem = Memory()
    data = bytes(range(256)) * 40
    mem.write(0x0040_0FF0, data)
    assert mem.read(0x0040_0FF0, len(data)) == data
    assert mem.read(0x0040_0FE0, 16) == bytes(16)
    assert mem.read_u32(0x0040_1000) == int.from_bytes(data[16:20], "little")
    mem.write_u32(0x7FFF_EFFC, 0xDEADBEEF)
    assert mem.read(0x7FFF_EFFC, 4) == bytes.fromhex("efbeadde")
    assert mem.read_u32(0x9000_0000) == 0


def test_out_of_range_rejected() -> None:
    mem = Memory()
    with pytest.raises(MemoryRangeError, match="address space"):
        mem.write(0xFFFF_FFFE, b"abcd")
    with pytest.raises(MemoryRangeError, match="exactly"):
        mem.set_page(3, b"short")


@pytest.mark.parametrize("seed", range(5))
def test_root_matches_naive_on_sparse_memories(seed: int) -> None:
    rng = random.Random(seed)
    mem = Memory()
    for _ in range(rng.randrange(1, 12)):
        addr = rng.choice([0, 0x0040_0000, 0x2000_0000, 0x7FFF_E000, 0xFFFF_F000]) + rng.randrange(0x3000)
        addr = min(addr, 0xFFFF_FFF0)
        mem.write(addr, rng.randbytes(rng.randrange(1, 16)))
    assert mem.root() == naive_root(mem)


def test_root_cache_invalidation_after_writes() -> None:
    rng = random.Random(7)
    mem = Memory()
    mem.write(0x0040_0000, rng.randbytes(3 * PAGE_SIZE))
    mem.write(0x3000_0000, rng.randbytes(100))
    r1 = mem.root()
    assert r1 == naive_root(mem)
    # a single-byte change in a cached page must change the root
    mem.write(0x0040_1005, b"\x99")
    r2 = mem.root()
    assert r2 != r1 and r2 == naive_root(mem)
    # word writes, then zeroing a whole page back out
    mem.write_u32(0x7FFF_EFF0, 0x01020304)
    assert mem.root() == naive_root(mem)
    mem.write(0x3000_0000, bytes(100))
    assert mem.root() == naive_root(mem)
    mem.write_u32(0x7FFF_EFF0, 0)
    mem.write(0x0040_0000, bytes(3 * PAGE_SIZE))
    assert mem.root() == zero_hash(TREE_DEPTH)


def test_root_rehashes_only_dirty_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    import mipsvm.memory as memory_module

    mem = Memory()
    for i in range(40):
        mem.write(0x1000_0000 + i * PAGE_SIZE, bytes([i + 1]) * 64)
    mem.root()
    calls: list[int] = []
    real = memory_module.page_root
    monkeypatch.setattr(memory_module, "page_root", lambda data: calls.append(1) or real(data))
    assert mem.root() == naive_root(mem)
    assert calls == []
    mem.write_u32(0x1000_0000 + 7 * PAGE_SIZE, 5)
    mem.write(0x1000_0000 + 30 * PAGE_SIZE + 100, b"xyz")
    assert mem.root() == naive_root(mem)
    assert len(calls) == 2


def test_set_page_marks_dirty_only_on_change() -> None:
    mem = Memory()
    page = bytes(range(256)) * 16
    mem.set_page(0x400, page)
    r = mem.root()
    assert mem.read(0x400 << 12, PAGE_SIZE) == page
    mem.set_page(0x400, page)
    assert mem.root() == r
    mem.set_page(0x400, bytes(PAGE_SIZE))
    assert mem.root() == zero_hash(TREE_DEPTH)
    mem.set_page(0x500, bytes(PAGE_SIZE))  # zero page into empty slot: no page materialised
    assert list(mem.pages()) == [0x400]


def test_copy_is_independent() -> None:
    mem = Memory()
    mem.write(0x1000_0000, b"model")
    r = mem.root()
    dup = mem.copy()
    dup.write(0x1000_0000, b"MODEL")
    assert mem.root() == r
    assert dup.root() != r
    assert dup.root() == naive_root(dup)


def test_proofs_verify_and_tampering_fails() -> None:
    rng = random.Random(3)
    mem = Memory()
    mem.write(0x0040_0000, rng.randbytes(5000))
    mem.write(0x2000_0040, rng.randbytes(64))
    root = mem.root()
    for addr in (0x0040_0000, 0x0040_0FE4, 0x0040_1300, 0x2000_0040, 0x2000_0060, 0x5000_0000):
        proof = mem.proof(addr)
        assert proof[:32] == mem.read(addr & ~31, 32)
        assert verify_proof(root, addr, proof)
        for pos in (0, 5, 32, 32 * 8 + 1, 32 * TREE_DEPTH + 31):
            bad = bytearray(proof)
            bad[pos] ^= 1
            assert not verify_proof(root, addr, bytes(bad))
    assert not verify_proof(root, 0x0040_0000, b"short")


def test_compact_proofs_omit_exactly_the_zero_siblings() -> None:
    mem = Memory()
    mem.write(0x1000_0000, b"x" * 100)
    mem.write(0x7FFF_EFF0, b"stack")
    for addr in (0x1000_0000, 0x1000_0040, 0x7FFF_EFF0, 0x0040_0000):
        full = mem.proof(addr)
        compact = compact_proof(full)
        mask = int.from_bytes(compact[32:36], "big")
        siblings = [full[32 + 32 * k:64 + 32 * k] for k in range(TREE_DEPTH)]
        assert mask == sum(1 << k for k, s in enumerate(siblings) if s == zero_hash(k))
        assert compact == full[:32] + compact[32:36] + b"".join(s for k, s in enumerate(siblings) if not mask >> k & 1)
        assert compact_proof_length(compact + b"tail") == len(compact)
        assert expand_proof(compact) == full
    assert len(compact_proof(Memory().proof(0))) == 36      # empty memory: every sibling omitted


def test_malformed_compact_proofs_rejected() -> None:
    compact = compact_proof(Memory().proof(0))
    for bad in (compact[:35], compact[:32] + (1 << 27).to_bytes(4, "big"), compact[:32] + bytes(4) + bytes(863)):
        with pytest.raises(MemoryRangeError):
            compact_proof_length(bad)
    with pytest.raises(MemoryRangeError):
        expand_proof(compact + bytes(1))
    with pytest.raises(MemoryRangeError):
        compact_proof(bytes(PROOF_SIZE - 1))


def test_root_from_proof_updates_like_a_store() -> None:
    rng = random.Random(11)
    mem = Memory()
    mem.write(0x0040_0000, rng.randbytes(9000))
    addr = 0x0040_1024
    proof = mem.proof(addr)
    new_leaf = rng.randbytes(32)
    predicted = root_from_proof(addr, proof, new_leaf)
    mem.write(addr & ~31, new_leaf)
    assert mem.root() == predicted


def test_subtree_root() -> None:
    mem = Memory()
    mem.write(0x2000_0000, b"\x01" * 100)
    full = mem.root()
    assert mem.subtree_root(0, 1 << 32) == full
    sub = mem.subtree_root(0x2000_0000, 128)
    probe = Memory()
    probe.write(0, b"\x01" * 100)
    assert probe.subtree_root(0, 128) == sub
    assert mem.subtree_root(0x2000_0000, 1 << 20) == probe.subtree_root(0, 1 << 20)
    assert mem.subtree_root(0x2000_0000, 32) == b"\x01" * 32
    with pytest.raises(MemoryRangeError):
        mem.subtree_root(0x2000_0010, 32)


def test_sub_page_subtrees_at_odd_indices() -> None:
    """Regions smaller than a page at odd positions (right children) of every sub-page level."""
    mem = Memory()
    data = bytes(range(256)) * 16
    mem.write(0x3000_0000, data)
    for level in range(7):
        size = 32 << level
        for addr in (0x3000_0000 + size, 0x3000_1000 - size):      # odd index, last index in the page
            probe = Memory()
            probe.write(0, data[addr - 0x3000_0000:addr - 0x3000_0000 + size])
            assert mem.subtree_root(addr, size) == probe.subtree_root(0, size), (level, hex(addr))


def test_proof_of_the_last_byte_of_memory() -> None:
    mem = Memory()
    mem.write(0xFFFF_FFFF, b"\x7f")
    proof = mem.proof(0xFFFF_FFFF)
    assert proof[31] == 0x7F and verify_proof(mem.root(), 0xFFFF_FFFF, proof)


@pytest.mark.parametrize(("addr", "size"), [
    (0x2000_0010, 32),          # unaligned
    (0, 48),                    # >= 32 but not a power of two
    (0, 16),                    # a power of two below one leaf
    (0, 1 << 33),               # larger than the address space
    (1 << 32, 32),              # outside the address space
])
def test_subtree_root_rejects_bad_regions(addr: int, size: int) -> None:
    with pytest.raises(MemoryRangeError, match="aligned power of two of at least 32 bytes"):
        Memory().subtree_root(addr, size)


def test_page_load_and_proof_errors() -> None:
    mem = Memory()
    assert mem.page(0x400) is None                          # never written
    mem.load([(0x0040_0000, b"ab"), (0x0040_0FFF, b"cd")])  # the second chunk spans two pages
    assert mem.page(0x400) == b"ab" + bytes(PAGE_SIZE - 3) + b"c"
    assert mem.read(0x0040_0FFF, 2) == b"cd"
    assert mem.read(0x0040_0001, 1) == b"b" and mem.read(0x0040_1000, 1) == b"d"
    assert mem.read(0x0040_0000, 0) == b""
    assert list(mem.pages()) == [0x400, 0x401]
    with pytest.raises(MemoryRangeError, match=f"a memory proof is {PROOF_SIZE} bytes, got 5"):
        root_from_proof(0, b"short")
    assert not verify_proof(mem.root(), 0, mem.proof(0)[:-1])


def test_state_encoding_roundtrip() -> None:
    st = State(pc=0x400000, next_pc=0x400004, lo=7, hi=0xFFFFFFFF, exit_code=3, exited=True,
               step=(1 << 40) + 5)
    st.regs[29] = 0x7FFF_F000
    st.memory.write(0x100, b"x")
    packed = st.encode()
    assert len(packed) == STATE_SIZE == 186
    d = decode_state(packed)
    assert d["mem_root"] == st.memory.root()
    assert (d["pc"], d["next_pc"], d["lo"], d["hi"]) == (0x400000, 0x400004, 7, 0xFFFFFFFF)
    assert (d["exit_code"], d["exited"], d["step"]) == (3, True, (1 << 40) + 5)
    assert d["regs"][29] == 0x7FFF_F000
    assert packed[32:36] == bytes.fromhex("00400000")  # big-endian fields
    assert st.hash() == keccak256(packed)
    dup = st.copy()
    dup.regs[1] = 1
    assert st.regs[1] == 0 and dup.hash() != st.hash()
    with pytest.raises(StateError, match="a packed state is 186 bytes, got 185"):
        decode_state(packed[:-1])


@pytest.mark.parametrize("flag", [2, 3, 255])
def test_exited_flag_must_be_0_or_1(flag: int) -> None:
    packed = bytearray(State().encode())
    packed[49] = flag
    with pytest.raises(StateError, match=f"exited byte must be 0 or 1, got {flag}"):
        decode_state(bytes(packed))
    packed[49] = 1
    assert decode_state(bytes(packed))["exited"] is True
