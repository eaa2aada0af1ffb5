"""The VM memory map and state constants shared by every implementation (docs/vm-spec.md)."""

from __future__ import annotations

# --- Merkle memory -------------------------------------------------------------
LEAF_SIZE = 32                 # bytes per Merkle leaf (raw, not hashed)
TREE_DEPTH = 27                # 2**27 leaves * 32 bytes = 4 GiB
PAGE_SIZE = 4096               # off-chain cache granularity
PROOF_SIZE = 32 * (1 + TREE_DEPTH)   # leaf + 27 siblings = 896 bytes
PROOF_MASK_SIZE = 4            # compact proof: leaf, this big-endian mask of omitted zero siblings, the rest

# --- Memory map ----------------------------------------------------------------
# Everything lies below 0x8000_0000: unicorn (kernel mode) aliases 0x8000_0000-0xBFFF_FFFF to low
# memory, so the fast runner cannot hold data there. The model region is the largest (768 MiB: a
# GPT-2-small-sized blob of ~500 MB fits); the arena holds only activations.
PROGRAM_BASE = 0x0040_0000     # ELF segments must lie in [PROGRAM_BASE, PROGRAM_END)
PROGRAM_END = 0x1000_0000
ARENA_BASE = 0x1000_0000       # scratch arena (bump allocator of the VM build), 256 MiB
ARENA_END = 0x2000_0000
INPUT_BASE = 0x2000_0000       # input region: aligned power-of-two subtree, <= 256 MiB
INPUT_END = 0x3000_0000
OUTPUT_BASE = 0x3000_0000      # output region: aligned power-of-two subtree, <= 256 MiB
OUTPUT_END = 0x4000_0000
MODEL_BASE = 0x4000_0000       # .mdnn blob, up to 768 MiB
MODEL_END = 0x7000_0000
STACK_BOTTOM = 0x7000_0000     # stack grows down from STACK_TOP
STACK_TOP = 0x7FFF_F000        # initial $sp

MIN_REGION_SIZE = LEAF_SIZE    # an input/output region is at least one leaf

# --- Syscalls and exit codes -----------------------------------------------------
SYS_EXIT = 4001
SYS_EXIT_GROUP = 4246

# Fault exit codes (exitCode byte of the halted state). Programs should exit with < 0x80.
FAULT_INVALID_INSTRUCTION = 0x81
FAULT_UNALIGNED_ACCESS = 0x82
FAULT_OVERFLOW = 0x83
FAULT_TRAP = 0x84
FAULT_BREAK = 0x85
FAULT_BAD_SYSCALL = 0x86
FAULT_UNALIGNED_PC = 0x87

MAX_STEPS = 1 << 48            # the game bounds a dispute to 2**48 steps


def region_size(nbytes: int) -> int:
    """Smallest power-of-two region (>= one leaf) that holds `nbytes`."""
    size = MIN_REGION_SIZE
    while size < nbytes:
        size <<= 1
    return size


def describe_exit(code: int) -> str:
    """A halted VM's exit code in words: 0, a VM fault (0x81..0x87), or the program's own code."""
    faults = {v: k.removeprefix("FAULT_").replace("_", " ").lower() for k, v in globals().items()
              if k.startswith("FAULT_") and isinstance(v, int)}
    if code == 0:
        return "exit 0 (success)"
    if code in faults:
        return f"VM fault {code:#x} ({faults[code]})"
    return f"program exit code {code}"
