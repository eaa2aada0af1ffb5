"""The native Merkle builder (mipsvm/csrc/merkle.c) against the Python definition (mipsvm.memory),
copy-on-write pages, and the memory map that holds a GPT-2-small-sized model."""

from __future__ import annotations

import random

import pytest

from mipsvm import layout, memory
from mipsvm import merkle_native as native
from mipsvm.memory import PAGE_SIZE, ZERO_PAGE, Memory, keccak256, page_root, verify_proof

pytestmark = pytest.mark.skipif(not native.available(), reason="no C compiler for mipsvm/csrc/merkle.c")


@pytest.mark.parametrize("length", [0, 1, 31, 32, 63, 64, 65, 135, 136, 137, 271, 272, 1000])
def test_keccak256_matches_the_python_keccak(length: int) -> None:
    data = random.Random(length).randbytes(length)
    assert native.keccak256(data) == keccak256(data)


def _pages(rng: random.Random, n: int) -> list[bytes | bytearray]:
    """Dense, sparse, zero and almost-zero pages, as bytes and as bytearray."""
    out: list[bytes | bytearray] = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            page = rng.randbytes(PAGE_SIZE)
        elif kind == 1:
            page = ZERO_PAGE
        elif kind == 2:                      # one non-zero leaf somewhere
            buf = bytearray(PAGE_SIZE)
            buf[rng.randrange(PAGE_SIZE)] = rng.randrange(1, 256)
            page = bytes(buf)
        elif kind == 3:                      # a few random runs
            buf = bytearray(PAGE_SIZE)
            for _ in range(3):
                at = rng.randrange(PAGE_SIZE - 100)
                buf[at:at + 100] = rng.randbytes(100)
            page = bytes(buf)
        else:
            page = bytearray(rng.randbytes(PAGE_SIZE))
        out.append(page)
    return out


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_page_roots_match_page_root(threads: int) -> None:
    pages = _pages(random.Random(threads), 150)
    assert native.page_roots(pages, threads) == [page_root(bytes(p)) for p in pages]
    assert native.page_roots([], threads) == []


def test_hash_pairs_and_bad_sizes() -> None:
    data = random.Random(7).randbytes(64 * 5)
    assert native.hash_pairs(data) == b"".join(keccak256(data[i:i + 64]) for i in range(0, len(data), 64))
    with pytest.raises(native.NativeMerkleError):
        native.hash_pairs(b"x" * 65)
    with pytest.raises(native.NativeMerkleError):
        native.page_roots([b"short"])


def _random_memory(seed: int) -> Memory:
    """Random regions: a dense run of pages (a model), scattered pages, writes at odd offsets."""
    rng = random.Random(seed)
    mem = Memory()
    base = rng.choice([layout.MODEL_BASE, layout.PROGRAM_BASE, 0])
    mem.write(base + rng.randrange(64), rng.randbytes(rng.randrange(60, 90) * PAGE_SIZE))
    for _ in range(40):
        mem.write(rng.randrange(0, (1 << 32) - 3 * PAGE_SIZE), rng.randbytes(rng.randrange(1, 3 * PAGE_SIZE)))
    mem.write(layout.STACK_TOP - 64, rng.randbytes(64))
    mem.write(layout.INPUT_BASE + PAGE_SIZE, ZERO_PAGE)          # a zero page written: stays zero
    return mem


@pytest.mark.parametrize("seed", range(4))
def test_memory_roots_native_equal_python(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _random_memory(seed)
    root = fast.root()
    monkeypatch.setattr(memory, "_native", lambda: None)
    slow = _random_memory(seed)
    assert slow.root() == root
    for addr in (layout.MODEL_BASE, layout.STACK_TOP - 64, 0, 0xFFFF_FFE0):
        assert fast.proof(addr) == slow.proof(addr)
        assert verify_proof(root, addr, fast.proof(addr))
    assert fast.subtree_root(layout.MODEL_BASE, 1 << 20) == slow.subtree_root(layout.MODEL_BASE, 1 << 20)


def test_incremental_native_root_equals_a_fresh_one() -> None:
    mem = _random_memory(9)
    mem.root()
    rng = random.Random(10)
    for _ in range(3):        # many dirty pages (native) then a few (Python), on a hashed tree
        for _ in range(rng.choice([2, 40])):
            mem.write(rng.randrange(0, (1 << 32) - 5000), rng.randbytes(rng.randrange(1, 5000)))
        fresh = Memory()
        for idx in mem.pages():
            fresh.set_page(idx, mem.page(idx))
        assert mem.root() == fresh.root()


def test_copies_share_pages_copy_on_write() -> None:
    mem = Memory()
    mem.write(layout.MODEL_BASE, bytes(range(256)) * 64)            # 4 pages
    mem.write_u32(layout.ARENA_BASE, 7)
    root = mem.root()
    dup = mem.copy()
    idx = layout.MODEL_BASE >> 12
    assert dup._pages[idx] is mem._pages[idx]                        # shared, not copied
    assert dup._pages[layout.ARENA_BASE >> 12] is mem._pages[layout.ARENA_BASE >> 12]
    dup.write_u32(layout.MODEL_BASE + 8, 0xDEADBEEF)
    dup.write(layout.ARENA_BASE + 1, b"x")
    mem.set_page(idx + 1, bytes(PAGE_SIZE))
    assert mem.read(layout.MODEL_BASE + 8, 4) == bytes(range(8, 12))
    assert mem.read_u32(layout.ARENA_BASE) == 7
    assert dup.read_u32(layout.MODEL_BASE + 8) == 0xDEADBEEF and dup.read(layout.ARENA_BASE, 2) == b"\x07x"
    assert dup.read(layout.MODEL_BASE + PAGE_SIZE, 4) == bytes(range(4))
    assert mem.read(layout.MODEL_BASE + PAGE_SIZE, 4) == bytes(4)
    assert mem.root() != root and dup.root() != root
    for m in (mem, dup):
        fresh = Memory()
        for i in m.pages():
            fresh.set_page(i, m.page(i))
        assert fresh.root() == m.root()


def test_memory_map_regions_are_disjoint_ordered_and_below_the_unicorn_alias() -> None:
    regions = [(layout.PROGRAM_BASE, layout.PROGRAM_END), (layout.ARENA_BASE, layout.ARENA_END),
               (layout.INPUT_BASE, layout.INPUT_END), (layout.OUTPUT_BASE, layout.OUTPUT_END),
               (layout.MODEL_BASE, layout.MODEL_END), (layout.STACK_BOTTOM, layout.STACK_TOP)]
    for (_, end), (start, _) in zip(regions, regions[1:], strict=False):
        assert end <= start
    assert regions[-1][1] < 0x8000_0000             # unicorn aliases 0x80000000-0xBFFFFFFF
    assert layout.MODEL_END - layout.MODEL_BASE >= 650_000_000   # GPT-2 small's .mdnn is ~649 MB
    for base, end in regions[2:4]:                  # input/output: one aligned subtree each
        assert (end - base) & (end - base - 1) == 0 and base % (end - base) == 0

