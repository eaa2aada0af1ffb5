"""The VM state and its 186-byte packed encoding (docs/vm-spec.md §1)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from mipsvm.memory import Memory, keccak256

# memRoot(32) pc(4) nextPC(4) lo(4) hi(4) exitCode(1) exited(1) step(8) regs[32](4 each), big-endian
STATE_FORMAT = struct.Struct(">32sIIIIBBQ32I")
STATE_SIZE = STATE_FORMAT.size  # 186
assert STATE_SIZE == 186


class StateError(ValueError):
    """A packed state of the wrong size or with out-of-range fields."""


def _zero_regs() -> list[int]:
    return [0] * 32


@dataclass(eq=False)
class State:
    """Everything one step reads or writes: memory, pc/nextPC, lo/hi, exit flags, step, GPRs."""

    memory: Memory = field(default_factory=Memory)
    pc: int = 0
    next_pc: int = 4
    lo: int = 0
    hi: int = 0
    exit_code: int = 0
    exited: bool = False
    step: int = 0
    regs: list[int] = field(default_factory=_zero_regs)

    def encode(self, mem_root: bytes | None = None) -> bytes:
        """Packed 186-byte big-endian state (computes the memory root unless given)."""
        root = self.memory.root() if mem_root is None else mem_root
        return STATE_FORMAT.pack(root, self.pc, self.next_pc, self.lo, self.hi, self.exit_code,
                                 1 if self.exited else 0, self.step, *self.regs)

    def hash(self) -> bytes:
        """stateHash = keccak256(encode())."""
        return keccak256(self.encode())

    def copy(self) -> State:
        """Deep copy (memory included)."""
        return State(self.memory.copy(), self.pc, self.next_pc, self.lo, self.hi, self.exit_code,
                     self.exited, self.step, list(self.regs))


def decode_state(packed: bytes) -> dict[str, Any]:
    """Scalar fields of a packed state: mem_root, pc, next_pc, lo, hi, exit_code, exited, step, regs."""
    if len(packed) != STATE_SIZE:
        raise StateError(f"a packed state is {STATE_SIZE} bytes, got {len(packed)}")
    mem_root, pc, next_pc, lo, hi, exit_code, exited, step, *regs = STATE_FORMAT.unpack(packed)
    if exited > 1:
        raise StateError(f"exited byte must be 0 or 1, got {exited}")
    return {"mem_root": mem_root, "pc": pc, "next_pc": next_pc, "lo": lo, "hi": hi,
            "exit_code": exit_code, "exited": bool(exited), "step": step, "regs": list(regs)}
