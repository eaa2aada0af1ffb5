"""The reference MIPS32r1 stepper: the executable specification of one VM step (docs/vm-spec.md).

`step(state)` executes exactly one instruction (or halts). Each instruction family is one
small function named after its ISA mnemonic; all of them follow the same pattern:
read operands, check faults (before any write), write results, then move pc/nextPC.
`step_with_witness(state)` also returns the packed pre-state and the memory proofs
MIPS.sol needs to replay the step on-chain (the fetch proof, and the data proof of a load or store).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mipsvm import isa
from mipsvm.layout import (
    FAULT_BAD_SYSCALL,
    FAULT_BREAK,
    FAULT_INVALID_INSTRUCTION,
    FAULT_OVERFLOW,
    FAULT_TRAP,
    FAULT_UNALIGNED_ACCESS,
    FAULT_UNALIGNED_PC,
    SYS_EXIT,
    SYS_EXIT_GROUP,
)
from mipsvm.memory import (
    MemoryRangeError,
    compact_proof,
    compact_proof_length,
    expand_proof,
    keccak256,
    root_from_proof,
)
from mipsvm.state import State, decode_state

MASK32 = 0xFFFF_FFFF
MASK64 = 0xFFFF_FFFF_FFFF_FFFF
SIGN32 = 0x8000_0000
REG_V0, REG_A0, REG_RA = 2, 4, 31


def signed(x: int) -> int:
    """Two's-complement value of the 32-bit word `x`."""
    return x - (1 << 32) if x & SIGN32 else x


# ====================================================================================
# Decoded instruction
# ====================================================================================

class Instruction:
    """A decoded word: its fields and the function that executes it."""

    __slots__ = ("word", "name", "execute", "rs", "rt", "rd", "sa", "imm", "uimm", "target")

    def __init__(self, word: int, name: str, execute: Callable[[State, Instruction], None]):
        self.word = word
        self.name = name
        self.execute = execute
        self.rs = isa.rs(word)
        self.rt = isa.rt(word)
        self.rd = isa.rd(word)
        self.sa = isa.sa(word)
        self.imm = isa.simm16(word)      # sign-extended immediate
        self.uimm = isa.imm16(word)      # zero-extended immediate
        self.target = isa.target26(word)


# ====================================================================================
# Control flow helpers
# ====================================================================================

def advance(state: State) -> None:
    """Fall through: pc <- nextPC, nextPC <- nextPC + 4."""
    state.pc = state.next_pc
    state.next_pc = (state.next_pc + 4) & MASK32


def branch(state: State, taken: bool, target: int) -> None:
    """Delayed transfer: the delay slot (nextPC) runs next, then `target` if taken."""
    state.pc = state.next_pc
    state.next_pc = target if taken else (state.next_pc + 4) & MASK32


def branch_likely(state: State, taken: bool, target: int) -> None:
    """Like `branch`, but a not-taken branch annuls (skips) its delay slot."""
    if taken:
        branch(state, True, target)
    else:
        state.pc = (state.next_pc + 4) & MASK32
        state.next_pc = (state.next_pc + 8) & MASK32


def branch_target(state: State, ins: Instruction) -> int:
    """pc + 4 + (sign-extended offset << 2)."""
    return (state.pc + 4 + (ins.imm << 2)) & MASK32


def halt(state: State, code: int) -> None:
    """Stop the machine: exited <- 1, exitCode <- code; pc, registers and memory unchanged."""
    state.exited = True
    state.exit_code = code & 0xFF


def set_reg(state: State, r: int, value: int) -> None:
    """Write a GPR; writes to r0 are discarded."""
    if r:
        state.regs[r] = value & MASK32


# ====================================================================================
# Shifts
# ====================================================================================

def sll(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, state.regs[ins.rt] << ins.sa)
    advance(state)


def srl(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, state.regs[ins.rt] >> ins.sa)
    advance(state)


def sra(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, signed(state.regs[ins.rt]) >> ins.sa)
    advance(state)


def sllv(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, state.regs[ins.rt] << (state.regs[ins.rs] & 31))
    advance(state)


def srlv(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, state.regs[ins.rt] >> (state.regs[ins.rs] & 31))
    advance(state)


def srav(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, signed(state.regs[ins.rt]) >> (state.regs[ins.rs] & 31))
    advance(state)


# ====================================================================================
# Arithmetic and logic
# ====================================================================================

def _overflows(result: int) -> bool:
    return not -SIGN32 <= result < SIGN32


def add(state: State, ins: Instruction) -> None:
    result = signed(state.regs[ins.rs]) + signed(state.regs[ins.rt])
    if _overflows(result):
        return halt(state, FAULT_OVERFLOW)
    set_reg(state, ins.rd, result)
    advance(state)


def addu(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, state.regs[ins.rs] + state.regs[ins.rt])
    advance(state)


def sub(state: State, ins: Instruction) -> None:
    result = signed(state.regs[ins.rs]) - signed(state.regs[ins.rt])
    if _overflows(result):
        return halt(state, FAULT_OVERFLOW)
    set_reg(state, ins.rd, result)
    advance(state)


def subu(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, state.regs[ins.rs] - state.regs[ins.rt])
    advance(state)


def addi(state: State, ins: Instruction) -> None:
    result = signed(state.regs[ins.rs]) + ins.imm
    if _overflows(result):
        return halt(state, FAULT_OVERFLOW)
    set_reg(state, ins.rt, result)
    advance(state)


def addiu(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rt, state.regs[ins.rs] + ins.imm)
    advance(state)


def and_(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, state.regs[ins.rs] & state.regs[ins.rt])
    advance(state)


def or_(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, state.regs[ins.rs] | state.regs[ins.rt])
    advance(state)


def xor(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, state.regs[ins.rs] ^ state.regs[ins.rt])
    advance(state)


def nor(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, ~(state.regs[ins.rs] | state.regs[ins.rt]))
    advance(state)


def andi(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rt, state.regs[ins.rs] & ins.uimm)
    advance(state)


def ori(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rt, state.regs[ins.rs] | ins.uimm)
    advance(state)


def xori(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rt, state.regs[ins.rs] ^ ins.uimm)
    advance(state)


def lui(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rt, ins.uimm << 16)
    advance(state)


def slt(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, int(signed(state.regs[ins.rs]) < signed(state.regs[ins.rt])))
    advance(state)


def sltu(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, int(state.regs[ins.rs] < state.regs[ins.rt]))
    advance(state)


def slti(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rt, int(signed(state.regs[ins.rs]) < ins.imm))
    advance(state)


def sltiu(state: State, ins: Instruction) -> None:
    """Unsigned compare against the sign-extended immediate."""
    set_reg(state, ins.rt, int(state.regs[ins.rs] < (ins.imm & MASK32)))
    advance(state)


def movz(state: State, ins: Instruction) -> None:
    if state.regs[ins.rt] == 0:
        set_reg(state, ins.rd, state.regs[ins.rs])
    advance(state)


def movn(state: State, ins: Instruction) -> None:
    if state.regs[ins.rt] != 0:
        set_reg(state, ins.rd, state.regs[ins.rs])
    advance(state)


def clz(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, 32 - state.regs[ins.rs].bit_length())
    advance(state)


def clo(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, 32 - (~state.regs[ins.rs] & MASK32).bit_length())
    advance(state)


# ====================================================================================
# HI/LO: multiply and divide
# ====================================================================================

def _set_hilo(state: State, value: int) -> None:
    value &= MASK64
    state.hi = value >> 32
    state.lo = value & MASK32


def _hilo(state: State) -> int:
    return (state.hi << 32) | state.lo


def mfhi(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, state.hi)
    advance(state)


def mflo(state: State, ins: Instruction) -> None:
    set_reg(state, ins.rd, state.lo)
    advance(state)


def mthi(state: State, ins: Instruction) -> None:
    state.hi = state.regs[ins.rs]
    advance(state)


def mtlo(state: State, ins: Instruction) -> None:
    state.lo = state.regs[ins.rs]
    advance(state)


def mult(state: State, ins: Instruction) -> None:
    _set_hilo(state, signed(state.regs[ins.rs]) * signed(state.regs[ins.rt]))
    advance(state)


def multu(state: State, ins: Instruction) -> None:
    _set_hilo(state, state.regs[ins.rs] * state.regs[ins.rt])
    advance(state)


def madd(state: State, ins: Instruction) -> None:
    _set_hilo(state, _hilo(state) + signed(state.regs[ins.rs]) * signed(state.regs[ins.rt]))
    advance(state)


def maddu(state: State, ins: Instruction) -> None:
    _set_hilo(state, _hilo(state) + state.regs[ins.rs] * state.regs[ins.rt])
    advance(state)


def msub(state: State, ins: Instruction) -> None:
    _set_hilo(state, _hilo(state) - signed(state.regs[ins.rs]) * signed(state.regs[ins.rt]))
    advance(state)


def msubu(state: State, ins: Instruction) -> None:
    _set_hilo(state, _hilo(state) - state.regs[ins.rs] * state.regs[ins.rt])
    advance(state)


def mul(state: State, ins: Instruction) -> None:
    """Low 32 bits of the signed product into rd; HI and LO are left unchanged."""
    set_reg(state, ins.rd, signed(state.regs[ins.rs]) * signed(state.regs[ins.rt]))
    advance(state)


def div(state: State, ins: Instruction) -> None:
    """Signed divide, quotient truncated toward zero. Divisor 0 or INT_MIN / -1: LO = rs, HI = 0."""
    n, d = signed(state.regs[ins.rs]), signed(state.regs[ins.rt])
    if d == 0 or (n == -SIGN32 and d == -1):
        d = 1
    q = abs(n) // abs(d)
    if (n < 0) != (d < 0):
        q = -q
    state.lo = q & MASK32
    state.hi = (n - q * d) & MASK32
    advance(state)


def divu(state: State, ins: Instruction) -> None:
    """Unsigned divide. Divisor 0: LO = rs, HI = 0."""
    n, d = state.regs[ins.rs], state.regs[ins.rt] or 1
    state.lo = n // d
    state.hi = n % d
    advance(state)


# ====================================================================================
# Branches and jumps
# ====================================================================================

def beq(state: State, ins: Instruction) -> None:
    branch(state, state.regs[ins.rs] == state.regs[ins.rt], branch_target(state, ins))


def bne(state: State, ins: Instruction) -> None:
    branch(state, state.regs[ins.rs] != state.regs[ins.rt], branch_target(state, ins))


def blez(state: State, ins: Instruction) -> None:
    branch(state, signed(state.regs[ins.rs]) <= 0, branch_target(state, ins))


def bgtz(state: State, ins: Instruction) -> None:
    branch(state, signed(state.regs[ins.rs]) > 0, branch_target(state, ins))


def bltz(state: State, ins: Instruction) -> None:
    branch(state, signed(state.regs[ins.rs]) < 0, branch_target(state, ins))


def bgez(state: State, ins: Instruction) -> None:
    branch(state, signed(state.regs[ins.rs]) >= 0, branch_target(state, ins))


def bltzal(state: State, ins: Instruction) -> None:
    """Condition is read before $ra is written (also when rs = 31)."""
    taken = signed(state.regs[ins.rs]) < 0
    state.regs[REG_RA] = (state.pc + 8) & MASK32
    branch(state, taken, branch_target(state, ins))


def bgezal(state: State, ins: Instruction) -> None:
    """Condition is read before $ra is written (also when rs = 31)."""
    taken = signed(state.regs[ins.rs]) >= 0
    state.regs[REG_RA] = (state.pc + 8) & MASK32
    branch(state, taken, branch_target(state, ins))


def beql(state: State, ins: Instruction) -> None:
    branch_likely(state, state.regs[ins.rs] == state.regs[ins.rt], branch_target(state, ins))


def bnel(state: State, ins: Instruction) -> None:
    branch_likely(state, state.regs[ins.rs] != state.regs[ins.rt], branch_target(state, ins))


def blezl(state: State, ins: Instruction) -> None:
    branch_likely(state, signed(state.regs[ins.rs]) <= 0, branch_target(state, ins))


def bgtzl(state: State, ins: Instruction) -> None:
    branch_likely(state, signed(state.regs[ins.rs]) > 0, branch_target(state, ins))


def bltzl(state: State, ins: Instruction) -> None:
    branch_likely(state, signed(state.regs[ins.rs]) < 0, branch_target(state, ins))


def bgezl(state: State, ins: Instruction) -> None:
    branch_likely(state, signed(state.regs[ins.rs]) >= 0, branch_target(state, ins))


def bltzall(state: State, ins: Instruction) -> None:
    taken = signed(state.regs[ins.rs]) < 0
    state.regs[REG_RA] = (state.pc + 8) & MASK32
    branch_likely(state, taken, branch_target(state, ins))


def bgezall(state: State, ins: Instruction) -> None:
    taken = signed(state.regs[ins.rs]) >= 0
    state.regs[REG_RA] = (state.pc + 8) & MASK32
    branch_likely(state, taken, branch_target(state, ins))


def _jump_target(state: State, ins: Instruction) -> int:
    """Upper 4 bits of the delay-slot address (pc + 4) with target << 2."""
    return ((state.pc + 4) & 0xF000_0000) | (ins.target << 2)


def j(state: State, ins: Instruction) -> None:
    branch(state, True, _jump_target(state, ins))


def jal(state: State, ins: Instruction) -> None:
    state.regs[REG_RA] = (state.pc + 8) & MASK32
    branch(state, True, _jump_target(state, ins))


def jr(state: State, ins: Instruction) -> None:
    branch(state, True, state.regs[ins.rs])


def jalr(state: State, ins: Instruction) -> None:
    """rs is read before rd is written (also when rd = rs)."""
    target = state.regs[ins.rs]
    set_reg(state, ins.rd, state.pc + 8)
    branch(state, True, target)


# ====================================================================================
# Loads and stores (every access touches one aligned word: addr & ~3)
# ====================================================================================

def effective_address(state: State, ins: Instruction) -> int:
    """rs + sign-extended offset, modulo 2**32."""
    return (state.regs[ins.rs] + ins.imm) & MASK32


def _load_word(state: State, addr: int) -> int:
    return state.memory.read_u32(addr & ~3)


def lb(state: State, ins: Instruction) -> None:
    addr = effective_address(state, ins)
    byte = (_load_word(state, addr) >> (8 * (addr & 3))) & 0xFF
    set_reg(state, ins.rt, byte - ((byte & 0x80) << 1))
    advance(state)


def lbu(state: State, ins: Instruction) -> None:
    addr = effective_address(state, ins)
    set_reg(state, ins.rt, (_load_word(state, addr) >> (8 * (addr & 3))) & 0xFF)
    advance(state)


def lh(state: State, ins: Instruction) -> None:
    addr = effective_address(state, ins)
    if addr & 1:
        return halt(state, FAULT_UNALIGNED_ACCESS)
    half = (_load_word(state, addr) >> (8 * (addr & 2))) & 0xFFFF
    set_reg(state, ins.rt, half - ((half & 0x8000) << 1))
    advance(state)


def lhu(state: State, ins: Instruction) -> None:
    addr = effective_address(state, ins)
    if addr & 1:
        return halt(state, FAULT_UNALIGNED_ACCESS)
    set_reg(state, ins.rt, (_load_word(state, addr) >> (8 * (addr & 2))) & 0xFFFF)
    advance(state)


def lw(state: State, ins: Instruction) -> None:
    addr = effective_address(state, ins)
    if addr & 3:
        return halt(state, FAULT_UNALIGNED_ACCESS)
    set_reg(state, ins.rt, state.memory.read_u32(addr))
    advance(state)


def ll(state: State, ins: Instruction) -> None:
    """Load linked = lw (single-threaded VM: no reservation is tracked)."""
    lw(state, ins)


def lwl(state: State, ins: Instruction) -> None:
    """Little-endian: bytes addr&~3 .. addr go to the most significant end of rt."""
    addr = effective_address(state, ins)
    shift = 8 * (3 - (addr & 3))
    word = _load_word(state, addr)
    keep = (1 << shift) - 1
    set_reg(state, ins.rt, ((word << shift) & MASK32) | (state.regs[ins.rt] & keep))
    advance(state)


def lwr(state: State, ins: Instruction) -> None:
    """Little-endian: bytes addr .. (addr|3) go to the least significant end of rt."""
    addr = effective_address(state, ins)
    shift = 8 * (addr & 3)
    word = _load_word(state, addr)
    keep = ~(MASK32 >> shift) & MASK32
    set_reg(state, ins.rt, (word >> shift) | (state.regs[ins.rt] & keep))
    advance(state)


def _store_bits(state: State, addr: int, value: int, mask: int) -> None:
    """Replace the `mask` bits of the aligned word holding addr with `value`."""
    aligned = addr & ~3
    old = state.memory.read_u32(aligned)
    state.memory.write_u32(aligned, (old & ~mask & MASK32) | (value & mask))


def sb(state: State, ins: Instruction) -> None:
    addr = effective_address(state, ins)
    shift = 8 * (addr & 3)
    _store_bits(state, addr, state.regs[ins.rt] << shift, 0xFF << shift)
    advance(state)


def sh(state: State, ins: Instruction) -> None:
    addr = effective_address(state, ins)
    if addr & 1:
        return halt(state, FAULT_UNALIGNED_ACCESS)
    shift = 8 * (addr & 2)
    _store_bits(state, addr, state.regs[ins.rt] << shift, 0xFFFF << shift)
    advance(state)


def sw(state: State, ins: Instruction) -> None:
    addr = effective_address(state, ins)
    if addr & 3:
        return halt(state, FAULT_UNALIGNED_ACCESS)
    state.memory.write_u32(addr, state.regs[ins.rt])
    advance(state)


def sc(state: State, ins: Instruction) -> None:
    """Store conditional always succeeds (single-threaded): sw, then rt <- 1."""
    addr = effective_address(state, ins)
    if addr & 3:
        return halt(state, FAULT_UNALIGNED_ACCESS)
    state.memory.write_u32(addr, state.regs[ins.rt])
    set_reg(state, ins.rt, 1)
    advance(state)


def swl(state: State, ins: Instruction) -> None:
    """Little-endian: the most significant bytes of rt go to addr&~3 .. addr."""
    addr = effective_address(state, ins)
    shift = 8 * (3 - (addr & 3))
    _store_bits(state, addr, state.regs[ins.rt] >> shift, MASK32 >> shift)
    advance(state)


def swr(state: State, ins: Instruction) -> None:
    """Little-endian: the least significant bytes of rt go to addr .. (addr|3)."""
    addr = effective_address(state, ins)
    shift = 8 * (addr & 3)
    _store_bits(state, addr, state.regs[ins.rt] << shift, (MASK32 << shift) & MASK32)
    advance(state)


# ====================================================================================
# Traps, system calls, no-ops, invalid instructions
# ====================================================================================

def _trap_if(state: State, condition: bool) -> None:
    if condition:
        return halt(state, FAULT_TRAP)
    advance(state)


def teq(state: State, ins: Instruction) -> None:
    _trap_if(state, state.regs[ins.rs] == state.regs[ins.rt])


def tne(state: State, ins: Instruction) -> None:
    _trap_if(state, state.regs[ins.rs] != state.regs[ins.rt])


def tge(state: State, ins: Instruction) -> None:
    _trap_if(state, signed(state.regs[ins.rs]) >= signed(state.regs[ins.rt]))


def tgeu(state: State, ins: Instruction) -> None:
    _trap_if(state, state.regs[ins.rs] >= state.regs[ins.rt])


def tlt(state: State, ins: Instruction) -> None:
    _trap_if(state, signed(state.regs[ins.rs]) < signed(state.regs[ins.rt]))


def tltu(state: State, ins: Instruction) -> None:
    _trap_if(state, state.regs[ins.rs] < state.regs[ins.rt])


def teqi(state: State, ins: Instruction) -> None:
    _trap_if(state, signed(state.regs[ins.rs]) == ins.imm)


def tnei(state: State, ins: Instruction) -> None:
    _trap_if(state, signed(state.regs[ins.rs]) != ins.imm)


def tgei(state: State, ins: Instruction) -> None:
    _trap_if(state, signed(state.regs[ins.rs]) >= ins.imm)


def tgeiu(state: State, ins: Instruction) -> None:
    """Unsigned compare against the sign-extended immediate."""
    _trap_if(state, state.regs[ins.rs] >= (ins.imm & MASK32))


def tlti(state: State, ins: Instruction) -> None:
    _trap_if(state, signed(state.regs[ins.rs]) < ins.imm)


def tltiu(state: State, ins: Instruction) -> None:
    """Unsigned compare against the sign-extended immediate."""
    _trap_if(state, state.regs[ins.rs] < (ins.imm & MASK32))


def syscall(state: State, ins: Instruction) -> None:
    """Only exit/exit_group ($v0 = 4001/4246): exit code = $a0 & 0xff. Others fault 0x86."""
    if state.regs[REG_V0] in (SYS_EXIT, SYS_EXIT_GROUP):
        return halt(state, state.regs[REG_A0] & 0xFF)
    halt(state, FAULT_BAD_SYSCALL)


def break_(state: State, ins: Instruction) -> None:
    halt(state, FAULT_BREAK)


def sync(state: State, ins: Instruction) -> None:
    """Memory barrier: a no-op on a single-threaded VM."""
    advance(state)


def pref(state: State, ins: Instruction) -> None:
    """Prefetch hint: a no-op (no memory access)."""
    advance(state)


def invalid(state: State, ins: Instruction) -> None:
    """Any encoding the VM does not implement (COP0/COP1/FPU, MIPS32r2, reserved)."""
    halt(state, FAULT_INVALID_INSTRUCTION)


# ====================================================================================
# Decode and step
# ====================================================================================

_PYTHON_NAMES = {"and": and_, "or": or_, "break": break_}


def _handler(name: str) -> Callable[[State, Instruction], None]:
    return _PYTHON_NAMES.get(name) or globals()[name]


_DECODE_CACHE: dict[int, Instruction] = {}
_DECODE_CACHE_LIMIT = 1 << 20


def decode(word: int) -> Instruction:
    """Decoded instruction for `word` (cached; decoding is a pure function of the word)."""
    ins = _DECODE_CACHE.get(word)
    if ins is None:
        name = isa.mnemonic(word)
        ins = Instruction(word, name or "invalid", _handler(name) if name else invalid)
        if len(_DECODE_CACHE) >= _DECODE_CACHE_LIMIT:
            _DECODE_CACHE.clear()
        _DECODE_CACHE[word] = ins
    return ins


def step(state: State) -> None:
    """Execute one instruction of `state` in place (no-op if it has exited)."""
    if state.exited:
        return
    if state.pc & 3:
        halt(state, FAULT_UNALIGNED_PC)
    else:
        ins = decode(state.memory.read_u32(state.pc))
        ins.execute(state, ins)
    state.step += 1


def run(state: State, max_steps: int | None = None) -> int:
    """Step until the state exits or `max_steps` steps were taken; returns the steps taken."""
    start = state.step
    limit = None if max_steps is None else start + max_steps
    memory = state.memory
    read_u32 = memory.read_u32
    cache = _DECODE_CACHE
    while not state.exited and (limit is None or state.step < limit):
        pc = state.pc
        if pc & 3:
            halt(state, FAULT_UNALIGNED_PC)
        else:
            word = read_u32(pc)
            ins = cache.get(word) or decode(word)
            ins.execute(state, ins)
        state.step += 1
    return state.step - start


# ====================================================================================
# One-step witness
# ====================================================================================

@dataclass(frozen=True)
class Witness:
    """What MIPS.sol needs for one step: packed pre-state and fetchProof (|| dataProof for a load or store)."""

    state: bytes        # 186-byte packed pre-state
    proof: bytes        # compact fetchProof, then the compact dataProof if the step reads or writes memory
    post_hash: bytes    # keccak256 of the packed post-state

    @property
    def pre_hash(self) -> bytes:
        return keccak256(self.state)


def data_access(state: State) -> int | None:
    """Aligned address of the data word the next step reads or writes, or None.

    None when the state has exited, pc is unaligned, the instruction is not a load/store,
    or it faults on alignment before touching memory.
    """
    if state.exited or state.pc & 3:
        return None
    ins = decode(state.memory.read_u32(state.pc))
    if ins.name not in isa.LOADS and ins.name not in isa.STORES:
        return None
    addr = effective_address(state, ins)
    if addr & (isa.ALIGNMENT[ins.name] - 1):
        return None
    return addr & ~3


def step_with_witness(state: State) -> Witness:
    """Step `state` in place and return the witness proving that step from the pre-state root."""
    memory = state.memory
    pre = state.encode()
    fetch_proof = compact_proof(memory.proof(state.pc))
    addr = data_access(state)
    data_proof = b"" if addr is None else compact_proof(memory.proof(addr))
    step(state)
    return Witness(pre, fetch_proof + data_proof, state.hash())


# ====================================================================================
# Stateless replay from a witness (what MIPS.sol does, in Python)
# ====================================================================================

class WitnessError(ValueError):
    """A witness whose proofs do not match the pre-state memory root (or are malformed)."""


class ProofMemory:
    """The only memory a one-step verifier sees: the one leaf proven by dataProof."""

    __slots__ = ("_root", "_proof", "_addr", "_leaf", "_dirty")

    def __init__(self, root: bytes, proof: bytes):
        self._root = root
        self._proof = proof
        self._addr: int | None = None
        self._leaf = bytearray()
        self._dirty = False

    def _word_offset(self, addr: int) -> int:
        if self._addr is None:
            if not self._proof:
                raise WitnessError(f"no dataProof for the data access at {addr:#x} (the proof is the fetchProof alone)")
            if root_from_proof(addr, self._proof) != self._root:
                raise WitnessError(f"dataProof does not prove address {addr:#x} under memRoot")
            self._addr = addr
            self._leaf = bytearray(self._proof[:32])
        elif addr >> 5 != self._addr >> 5:
            raise WitnessError(f"second data access {addr:#x} outside the proven leaf")
        return addr & 28

    def read_u32(self, addr: int) -> int:
        off = self._word_offset(addr)
        return int.from_bytes(self._leaf[off:off + 4], "little")

    def write_u32(self, addr: int, value: int) -> None:
        off = self._word_offset(addr)
        self._leaf[off:off + 4] = (value & MASK32).to_bytes(4, "little")
        self._dirty = True

    def root(self) -> bytes:
        if not self._dirty:
            return self._root
        assert self._addr is not None
        return root_from_proof(self._addr, self._proof, bytes(self._leaf))


def split_witness_proof(proof: bytes) -> tuple[bytes, bytes]:
    """The full fetch proof and data proof (b"" if absent) of a witness proof: one compact fetch proof,
    optionally followed by exactly one compact data proof (MIPS.sol reverts BadProofLength otherwise)."""
    try:
        fetch_length = compact_proof_length(proof)
        data = proof[fetch_length:]
        if data and compact_proof_length(data) != len(data):
            raise WitnessError(f"proof must end with its data proof ({compact_proof_length(data)} bytes), "
                               f"got {len(data)} bytes after the fetch proof")
        return expand_proof(proof[:fetch_length]), expand_proof(data) if data else b""
    except MemoryRangeError as exc:
        raise WitnessError(f"proof must be a compact fetch proof (|| a compact data proof): {exc}") from None


def verify_step(packed_state: bytes, proof: bytes) -> bytes:
    """Replay one step from a witness alone and return the post-state hash (MIPS.sol in Python).

    Raises WitnessError when a needed proof does not verify against the pre-state memRoot.
    """
    fetch, data = split_witness_proof(proof)
    fields = decode_state(packed_state)
    if fields["exited"]:
        return keccak256(packed_state)
    root = fields["mem_root"]
    state = State(ProofMemory(root, data), fields["pc"], fields["next_pc"],  # type: ignore[arg-type]
                  fields["lo"], fields["hi"], fields["exit_code"], False, fields["step"],
                  fields["regs"])
    if state.pc & 3:
        halt(state, FAULT_UNALIGNED_PC)
    else:
        if root_from_proof(state.pc, fetch) != root:
            raise WitnessError(f"fetchProof does not prove pc {state.pc:#x} under memRoot")
        off = state.pc & 28
        ins = decode(int.from_bytes(fetch[off:off + 4], "little"))
        ins.execute(state, ins)
    state.step += 1
    return state.hash()
