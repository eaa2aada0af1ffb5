"""Memory-tree region maths: input/output region roots and sibling paths, as ModelRegistry and
Optimist compute them on-chain.

A region is an aligned power-of-two block of VM memory (>= one 32-byte leaf): one subtree of the
depth-27 memory tree (docs/vm-spec.md §2). Its *path* is the list of sibling hashes from the region's
root up to the memory root, bottom-up (27 - log2(size / 32) hashes).
"""

from __future__ import annotations

from mipsvm.layout import LEAF_SIZE, STACK_TOP, TREE_DEPTH, region_size
from mipsvm.memory import Memory, _native, keccak256, zero_hash
from mipsvm.state import STATE_FORMAT


class RegionError(ValueError):
    """A region that is not an aligned power of two of at least 32 bytes, or data that does not fit it."""


def region_level(base: int, size: int) -> int:
    """Tree height of the region [base, base + size); checks alignment and size."""
    if size < LEAF_SIZE or size & (size - 1) or base % size or base + size > 1 << 32:
        raise RegionError(f"region [{base:#x}, +{size:#x}) must be an aligned power of two "
                          f">= {LEAF_SIZE} bytes inside the 32-bit address space")
    return size.bit_length() - 1 - 5


def region_root(data: bytes, size: int) -> bytes:
    """Root of a `size`-byte region holding `data` followed by zeros."""
    level = region_level(0, size)
    if len(data) > size:
        raise RegionError(f"{len(data)} bytes do not fit a {size}-byte region")
    padded = bytes(data) + bytes(-len(data) % LEAF_SIZE)
    nodes = [padded[i:i + LEAF_SIZE] for i in range(0, len(padded), LEAF_SIZE)]
    for lvl in range(level):
        if len(nodes) % 2:
            nodes.append(zero_hash(lvl))
        nodes = [keccak256(nodes[i] + nodes[i + 1]) for i in range(0, len(nodes), 2)]
    return nodes[0] if nodes else zero_hash(level)


def tensor_root(data: bytes) -> bytes:
    """tensor_root(b) = region_root(b, region_size(len(b))) (docs/two-phase.md §1: the root of the smallest region
    holding the bytes), hashed a tree level at a time by the native Merkle builder when it is available
    (mipsvm.merkle_native; the same root as region_root's)."""
    size = region_size(len(data))
    native = _native()
    if native is None or len(data) <= 4 * LEAF_SIZE:
        return region_root(bytes(data), size)
    level = region_level(0, size)
    nodes = bytes(data) + bytes(-len(data) % LEAF_SIZE)
    for h in range(level):
        if (len(nodes) // 32) % 2:
            nodes += zero_hash(h)
        nodes = native.hash_pairs(nodes)
    return nodes


def region_path(memory: Memory, base: int, size: int) -> list[bytes]:
    """Sibling hashes from the region [base, base + size) up to the memory root, bottom-up."""
    level = region_level(base, size)
    proof = memory.proof(base)
    return [proof[32 + 32 * i:64 + 32 * i] for i in range(level, TREE_DEPTH)]


def climb(node: bytes, base: int, size: int, path: list[bytes]) -> bytes:
    """Memory root from the region's root `node` and its `path`."""
    level = region_level(base, size)
    if len(path) != TREE_DEPTH - level:
        raise RegionError(f"a path for a {size}-byte region has {TREE_DEPTH - level} hashes, got {len(path)}")
    index = base >> (5 + level)
    for i, sibling in enumerate(path):
        node = keccak256(sibling + node) if (index >> i) & 1 else keccak256(node + sibling)
    return node


def initial_packed_state(mem_root: bytes, entry: int) -> bytes:
    """The packed (STATE_FORMAT) initial state: pc = entry, nextPC = entry + 4, $sp = STACK_TOP, everything else zero."""
    regs = [0] * 32
    regs[29] = STACK_TOP
    return STATE_FORMAT.pack(mem_root, entry, (entry + 4) & 0xFFFFFFFF, 0, 0, 0, 0, 0, *regs)


def initial_state_hash(input_bytes: bytes, entry: int, input_base: int, input_size: int,
                       input_path: list[bytes]) -> bytes:
    """What ModelRegistry.initialStateHash computes for `input_bytes`."""
    root = climb(region_root(input_bytes, input_size), input_base, input_size, input_path)
    return keccak256(initial_packed_state(root, entry))
