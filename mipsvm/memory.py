"""Sparse 4 GiB VM memory as a keccak256 binary Merkle tree (docs/vm-spec.md §2).

Leaves are the raw 32-byte chunks of memory (not hashed); an inner node is
keccak256(left || right); the tree has depth 27. Off-chain the tree is cached:
each 4 KiB page (128 leaves, a level-7 subtree) keeps its subtree hash, and the
20 levels above the pages keep only their non-zero nodes. Writes mark pages
dirty; `root()` rehashes dirty pages and the paths above them, so a root after
N steps costs O(dirty pages), not O(memory). Many dirty pages (a freshly loaded image) are hashed
by the native Merkle builder (mipsvm.merkle_native) when it is available; the Python functions
here are the definition it is tested against.

Pages are copy-on-write: a page is an immutable `bytes` (shared by every copy of the memory) until
it is written, when the writing memory takes its own `bytearray`. `copy()` freezes its pages and
shares them, so a copy (an image's template, a checkpoint log's base) costs O(pages) pointers,
not O(memory) bytes, and a 500 MB model is held once.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from mipsvm.layout import LEAF_SIZE, PAGE_SIZE, PROOF_MASK_SIZE, PROOF_SIZE, TREE_DEPTH

try:  # C keccak, ~5x faster than eth_hash's pycryptodome backend
    from sha3 import keccak_256 as _keccak_256

    def keccak256(data: bytes) -> bytes:
        """Ethereum keccak256 of `data`."""
        return _keccak_256(data).digest()
except ImportError:  # pragma: no cover - fallback when safe-pysha3 is absent
    from eth_hash.auto import keccak as _eth_keccak

    def keccak256(data: bytes) -> bytes:
        """Ethereum keccak256 of `data`."""
        return _eth_keccak(data)

ADDRESS_SPACE = 1 << 32
PAGE_SHIFT = 12
PAGE_MASK = PAGE_SIZE - 1
PAGE_LEVEL = 7                        # a page is a 2**7-leaf subtree
LEAVES_PER_PAGE = PAGE_SIZE // LEAF_SIZE
ZERO_PAGE = bytes(PAGE_SIZE)

_U32 = struct.Struct("<I")


class MemoryRangeError(ValueError):
    """An address or size outside the 32-bit address space, or a malformed page/proof."""


def _zero_hashes() -> list[bytes]:
    zeros = [bytes(32)]
    for _ in range(TREE_DEPTH):
        zeros.append(keccak256(zeros[-1] + zeros[-1]))
    return zeros


ZERO_HASHES: list[bytes] = _zero_hashes()


def zero_hash(level: int) -> bytes:
    """Root of an all-zero subtree of height `level` (0 = a zero leaf, 27 = empty memory)."""
    return ZERO_HASHES[level]


def _check_range(addr: int, n: int) -> None:
    if addr < 0 or n < 0 or addr + n > ADDRESS_SPACE:
        raise MemoryRangeError(f"range [{addr:#x}, +{n:#x}) is outside the 32-bit address space")


def _page_levels(data: bytes) -> list[list[bytes]]:
    """All node levels of one page subtree: levels[0] = 128 leaves ... levels[7] = [page root]."""
    leaves = [data[i:i + LEAF_SIZE] for i in range(0, PAGE_SIZE, LEAF_SIZE)]
    levels = [leaves]
    for level in range(PAGE_LEVEL):
        below = levels[-1]
        zero = ZERO_HASHES[level]
        above = []
        for i in range(0, len(below), 2):
            left, right = below[i], below[i + 1]
            if left == zero and right == zero:
                above.append(ZERO_HASHES[level + 1])
            else:
                above.append(keccak256(left + right))
        levels.append(above)
    return levels


_ZERO_PAIR = bytes(2 * LEAF_SIZE)


def page_root(data: bytes) -> bytes:
    """Merkle root of one 4 KiB page (a level-7 subtree)."""
    if data == ZERO_PAGE:
        return ZERO_HASHES[PAGE_LEVEL]
    zero1 = ZERO_HASHES[1]
    mv = memoryview(data)
    nodes = [zero1 if mv[i:i + 64] == _ZERO_PAIR else keccak256(mv[i:i + 64])
             for i in range(0, PAGE_SIZE, 64)]
    for level in range(1, PAGE_LEVEL):
        zero = ZERO_HASHES[level]
        zero_up = ZERO_HASHES[level + 1]
        nodes = [zero_up if nodes[i] == zero and nodes[i + 1] == zero
                 else keccak256(nodes[i] + nodes[i + 1])
                 for i in range(0, len(nodes), 2)]
    return nodes[0]


NATIVE_MIN_PAGES = 16                 # dirty pages from which _flush hashes natively


def _native():  # the module, or None when no C compiler can build it
    try:
        from mipsvm import merkle_native
    except ImportError:  # pragma: no cover
        return None
    return merkle_native if merkle_native.available() else None


class Memory:
    """Sparse little-endian 4 GiB memory with a cached Merkle root (copy-on-write pages)."""

    __slots__ = ("_pages", "_dirty", "_nodes")

    def __init__(self) -> None:
        # page index -> bytes (shared, never mutated) or bytearray (owned by this memory)
        self._pages: dict[int, bytes | bytearray] = {}
        self._dirty: set[int] = set()
        # _nodes[level] maps node index -> hash for levels PAGE_LEVEL..TREE_DEPTH; absent = zero.
        self._nodes: list[dict[int, bytes]] = [{} for _ in range(TREE_DEPTH + 1)]

    # --- pages -------------------------------------------------------------------
    def pages(self) -> Iterator[int]:
        """Indices (addr >> 12) of the pages that have been materialised, ascending."""
        return iter(sorted(self._pages))

    def page(self, idx: int) -> bytes | None:
        """Copy of page `idx`, or None if it was never written (all zero)."""
        p = self._pages.get(idx)
        return None if p is None else bytes(p)

    def set_page(self, idx: int, data: bytes) -> None:
        """Replace page `idx` with exactly PAGE_SIZE bytes; marks it dirty only if it changed."""
        if not 0 <= idx < ADDRESS_SPACE >> PAGE_SHIFT:
            raise MemoryRangeError(f"page index {idx:#x} outside the address space")
        if len(data) != PAGE_SIZE:
            raise MemoryRangeError(f"set_page needs exactly {PAGE_SIZE} bytes, got {len(data)}")
        old = self._pages.get(idx)
        if old is None:
            if data == ZERO_PAGE:
                return
        elif old == data:
            return
        self._pages[idx] = bytes(data)     # immutable: shared by later copies
        self._dirty.add(idx)

    def written_pages(self) -> dict[int, bytes]:
        """Copies of the pages written since the root was last computed (index -> bytes)."""
        return {idx: bytes(self._pages[idx]) for idx in sorted(self._dirty)}

    def _page_for_write(self, idx: int) -> bytearray:
        p = self._pages.get(idx)
        if p is None:
            p = self._pages[idx] = bytearray(PAGE_SIZE)
        elif type(p) is bytes:             # shared: take a private copy before writing
            p = self._pages[idx] = bytearray(p)
        self._dirty.add(idx)
        return p  # type: ignore[return-value]

    # --- byte access -------------------------------------------------------------
    def read(self, addr: int, n: int) -> bytes:
        """`n` bytes starting at `addr` (unwritten memory reads as zero)."""
        _check_range(addr, n)
        out = bytearray()
        while n > 0:
            idx, off = addr >> PAGE_SHIFT, addr & PAGE_MASK
            take = min(n, PAGE_SIZE - off)
            p = self._pages.get(idx)
            out += p[off:off + take] if p is not None else bytes(take)
            addr += take
            n -= take
        return bytes(out)

    def write(self, addr: int, data: bytes) -> None:
        """Store `data` at `addr` (may span pages)."""
        _check_range(addr, len(data))
        mv = memoryview(data)
        pos = 0
        while pos < len(data):
            idx, off = addr >> PAGE_SHIFT, addr & PAGE_MASK
            take = min(len(data) - pos, PAGE_SIZE - off)
            chunk = mv[pos:pos + take]
            if take == PAGE_SIZE:               # a whole page: store it immutable (shareable)
                if idx in self._pages or chunk != ZERO_PAGE:
                    self._pages[idx] = bytes(chunk)
                    self._dirty.add(idx)
            elif idx in self._pages or chunk != ZERO_PAGE[:take]:
                self._page_for_write(idx)[off:off + take] = chunk
            addr += take
            pos += take

    def read_u32(self, addr: int) -> int:
        """Little-endian word at the 4-aligned address `addr`."""
        p = self._pages.get(addr >> PAGE_SHIFT)
        if p is None:
            return 0
        return _U32.unpack_from(p, addr & PAGE_MASK)[0]

    def write_u32(self, addr: int, value: int) -> None:
        """Store the little-endian word `value` at the 4-aligned address `addr`."""
        idx = addr >> PAGE_SHIFT
        p = self._pages.get(idx)
        if type(p) is not bytearray:
            p = self._page_for_write(idx)
        _U32.pack_into(p, addr & PAGE_MASK, value & 0xFFFFFFFF)
        self._dirty.add(idx)

    # --- Merkle tree -------------------------------------------------------------
    def _flush(self) -> None:
        """Rehash dirty pages and the paths from them to the root."""
        if not self._dirty:
            return
        nodes = self._nodes
        level_nodes = nodes[PAGE_LEVEL]
        zero = ZERO_HASHES[PAGE_LEVEL]
        native = _native() if len(self._dirty) >= NATIVE_MIN_PAGES else None
        dirty = sorted(self._dirty)
        if native is not None:
            hashes = native.page_roots([self._pages[idx] for idx in dirty])
        else:
            hashes = [page_root(self._pages[idx]) for idx in dirty]
        for idx, h in zip(dirty, hashes, strict=True):
            if h == zero:
                level_nodes.pop(idx, None)
            else:
                level_nodes[idx] = h
        changed = self._dirty
        self._dirty = set()
        for level in range(PAGE_LEVEL + 1, TREE_DEPTH + 1):
            below = nodes[level - 1]
            here = nodes[level]
            zero_below = ZERO_HASHES[level - 1]
            parents = {i >> 1 for i in changed}
            pairs = []
            for i in parents:
                left = below.get(2 * i, zero_below)
                right = below.get(2 * i + 1, zero_below)
                if left is zero_below and right is zero_below:
                    here.pop(i, None)
                elif native is None:
                    here[i] = keccak256(left + right)
                else:
                    pairs.append((i, left + right))
            if pairs:
                hashed = native.hash_pairs(b"".join(pair for _, pair in pairs))
                for k, (i, _) in enumerate(pairs):
                    here[i] = hashed[32 * k:32 * k + 32]
            changed = parents

    def root(self) -> bytes:
        """The 32-byte Merkle root of all 4 GiB."""
        self._flush()
        return self._nodes[TREE_DEPTH].get(0, ZERO_HASHES[TREE_DEPTH])

    def _node(self, level: int, index: int) -> bytes:
        """Hash of the node at (level, index); requires a flushed tree for level >= 7."""
        if level >= PAGE_LEVEL:
            return self._nodes[level].get(index, ZERO_HASHES[level])
        shift = PAGE_LEVEL - level
        page = self._pages.get(index >> shift)
        if page is None:
            return ZERO_HASHES[level]
        return _page_levels(page)[level][index & ((1 << shift) - 1)]

    def subtree_root(self, addr: int, size: int) -> bytes:
        """Root of the aligned power-of-two region [addr, addr + size), size >= 32."""
        if size < LEAF_SIZE or size & (size - 1) or addr % size or addr + size > ADDRESS_SPACE:
            raise MemoryRangeError(f"subtree [{addr:#x}, +{size:#x}) must be an aligned power of "
                               f"two of at least {LEAF_SIZE} bytes inside the address space")
        level = size.bit_length() - 1 - 5
        self._flush()
        return self._node(level, addr >> (5 + level))

    def proof(self, addr: int) -> bytes:
        """896-byte proof for the leaf holding `addr`: leaf || 27 siblings, bottom-up."""
        _check_range(addr, 1)
        self._flush()
        leaf_index = addr >> 5
        parts: list[bytes] = []
        page = self._pages.get(addr >> PAGE_SHIFT)
        if page is None:
            parts.append(ZERO_HASHES[0])
            parts.extend(ZERO_HASHES[:PAGE_LEVEL])
        else:
            levels = _page_levels(page)
            in_page = leaf_index & (LEAVES_PER_PAGE - 1)
            parts.append(levels[0][in_page])
            for level in range(PAGE_LEVEL):
                parts.append(levels[level][(in_page >> level) ^ 1])
        for level in range(PAGE_LEVEL, TREE_DEPTH):
            parts.append(self._node(level, (leaf_index >> level) ^ 1))
        return b"".join(parts)

    # --- misc --------------------------------------------------------------------
    def copy(self) -> Memory:
        """Independent copy: pages are frozen and shared copy-on-write, hash caches duplicated."""
        pages = self._pages
        for i, p in pages.items():
            if type(p) is not bytes:
                pages[i] = bytes(p)
        m = Memory()
        m._pages = dict(pages)
        m._dirty = set(self._dirty)
        m._nodes = [dict(level) for level in self._nodes]
        return m

    def load(self, chunks: Iterable[tuple[int, bytes]]) -> None:
        """Write every (addr, data) chunk."""
        for addr, data in chunks:
            self.write(addr, data)


def root_from_proof(addr: int, proof: bytes, leaf: bytes | None = None) -> bytes:
    """Root implied by `proof` for the leaf holding `addr` (optionally with a replacement leaf)."""
    if len(proof) != PROOF_SIZE:
        raise MemoryRangeError(f"a memory proof is {PROOF_SIZE} bytes, got {len(proof)}")
    node = proof[:32] if leaf is None else leaf
    index = (addr & 0xFFFFFFFF) >> 5
    for level in range(TREE_DEPTH):
        sibling = proof[32 + 32 * level:64 + 32 * level]
        node = keccak256(sibling + node) if (index >> level) & 1 else keccak256(node + sibling)
    return node


def verify_proof(root: bytes, addr: int, proof: bytes) -> bool:
    """True iff `proof` (leaf || 27 siblings) proves its leaf at `addr` under `root`."""
    if len(proof) != PROOF_SIZE:
        return False
    return root_from_proof(addr, proof) == root


# --- compact proofs (the one-step witness form, docs/vm-spec.md §4) --------------------
_FULL_MASK = (1 << TREE_DEPTH) - 1


def compact_proof(proof: bytes) -> bytes:
    """`leaf ‖ mask ‖ siblings`: a full proof without the siblings equal to their level's zero hash.

    Bit k of the mask is set iff sibling k is `zero_hash(k)` and omitted; the other siblings follow
    bottom-up. Full proof 896 bytes; compact 36 + 32 x (27 - omitted).
    """
    if len(proof) != PROOF_SIZE:
        raise MemoryRangeError(f"a memory proof is {PROOF_SIZE} bytes, got {len(proof)}")
    mask, kept = 0, []
    for level in range(TREE_DEPTH):
        sibling = proof[32 + 32 * level:64 + 32 * level]
        if sibling == ZERO_HASHES[level]:
            mask |= 1 << level
        else:
            kept.append(sibling)
    return proof[:32] + mask.to_bytes(PROOF_MASK_SIZE, "big") + b"".join(kept)


def compact_proof_length(data: bytes) -> int:
    """Length of the compact proof that starts `data` (read from its mask); MemoryRangeError if the
    mask has bits above level 26 or `data` is shorter than that length."""
    if len(data) < LEAF_SIZE + PROOF_MASK_SIZE:
        raise MemoryRangeError(f"a compact proof is at least {LEAF_SIZE + PROOF_MASK_SIZE} bytes, got {len(data)}")
    mask = int.from_bytes(data[LEAF_SIZE:LEAF_SIZE + PROOF_MASK_SIZE], "big")
    if mask & ~_FULL_MASK:
        raise MemoryRangeError(f"compact proof mask {mask:#010x} has bits above level {TREE_DEPTH - 1}")
    length = LEAF_SIZE + PROOF_MASK_SIZE + 32 * (TREE_DEPTH - mask.bit_count())
    if len(data) < length:
        raise MemoryRangeError(f"compact proof of {length} bytes truncated to {len(data)}")
    return length


def expand_proof(compact: bytes) -> bytes:
    """The full 896-byte proof of a compact one (exactly one compact proof; MemoryRangeError if not)."""
    length = compact_proof_length(compact)
    if len(compact) != length:
        raise MemoryRangeError(f"compact proof is {length} bytes, got {len(compact)}")
    mask = int.from_bytes(compact[LEAF_SIZE:LEAF_SIZE + PROOF_MASK_SIZE], "big")
    out, pos = [compact[:LEAF_SIZE]], LEAF_SIZE + PROOF_MASK_SIZE
    for level in range(TREE_DEPTH):
        if mask >> level & 1:
            out.append(ZERO_HASHES[level])
        else:
            out.append(compact[pos:pos + 32])
            pos += 32
    return b"".join(out)
