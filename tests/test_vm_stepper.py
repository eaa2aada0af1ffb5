"""Reference stepper: per-family semantics, delay slots, faults, unicorn agreement, whole programs,
opcode census and one-step witnesses."""

from __future__ import annotations

import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from mipsvm import isa
from mipsvm.elf import initial_state, load_elf
from mipsvm.isa import is_implemented
from mipsvm.layout import (
    FAULT_BAD_SYSCALL,
    FAULT_BREAK,
    FAULT_INVALID_INSTRUCTION,
    FAULT_OVERFLOW,
    FAULT_TRAP,
    FAULT_UNALIGNED_ACCESS,
    FAULT_UNALIGNED_PC,
    PROOF_SIZE,
)
from mipsvm.memory import compact_proof, root_from_proof, verify_proof
from mipsvm.state import State, decode_state
from mipsvm.stepper import (
    WitnessError,
    data_access,
    run,
    split_witness_proof,
    step,
    step_with_witness,
    verify_step,
)
from mipsvm.toolchain import BUILD_DIR, compile_elf, zig_env

PROGRAMS = Path(__file__).parent / "programs"
CODE = 0x0040_0000
DATA = 0x1000_0000
M32 = 0xFFFF_FFFF


# --- tiny assembler ----------------------------------------------------------------
def r_type(funct: int, rs: int = 0, rt: int = 0, rd: int = 0, sa: int = 0, op: int = 0) -> int:
    return (op << 26) | (rs << 21) | (rt << 16) | (rd << 11) | (sa << 6) | funct


def i_type(op: int, rs: int = 0, rt: int = 0, imm: int = 0) -> int:
    return (op << 26) | (rs << 21) | (rt << 16) | (imm & 0xFFFF)


def j_type(op: int, target: int) -> int:
    return (op << 26) | ((target >> 2) & 0x3FF_FFFF)


OPC = {name: op for op, name in isa.OPCODES.items()}
FN = {name: f for f, name in isa.SPECIAL.items()}
RI = {name: r for r, name in isa.REGIMM.items()}
FN2 = {name: f for f, name in isa.SPECIAL2.items()}
NOP = 0


def special(name: str, rs: int = 0, rt: int = 0, rd: int = 0, sa: int = 0) -> int:
    return r_type(FN[name], rs, rt, rd, sa)


def special2(name: str, rs: int = 0, rt: int = 0, rd: int = 0) -> int:
    return r_type(FN2[name], rs, rt, rd, op=isa.OP_SPECIAL2)


def regimm(name: str, rs: int, imm: int) -> int:
    return i_type(isa.OP_REGIMM, rs, RI[name], imm)


def imm_op(name: str, rs: int = 0, rt: int = 0, imm: int = 0) -> int:
    return i_type(OPC[name], rs, rt, imm)


def machine(words: list[int], regs: dict[int, int] | None = None, mem: bytes = b"",
            hi: int = 0, lo: int = 0) -> State:
    st = State(pc=CODE, next_pc=CODE + 4, hi=hi, lo=lo)
    st.memory.write(CODE, b"".join(struct.pack("<I", w) for w in words))
    if mem:
        st.memory.write(DATA, mem)
    for r, v in (regs or {}).items():
        st.regs[r] = v & M32
    return st


def exec1(word: int, regs: dict[int, int] | None = None, mem: bytes = b"", **kw: int) -> State:
    st = machine([word], regs, mem, **kw)
    step(st)
    return st


# --- ALU ---------------------------------------------------------------------------
@pytest.mark.parametrize(("word", "regs", "rd", "expected"), [
    (special("addu", 8, 9, 10), {8: 0xFFFFFFFF, 9: 2}, 10, 1),
    (special("subu", 8, 9, 10), {8: 1, 9: 2}, 10, 0xFFFFFFFF),
    (special("add", 8, 9, 10), {8: -5, 9: 3}, 10, 0xFFFFFFFE),
    (special("sub", 8, 9, 10), {8: -5, 9: 3}, 10, 0xFFFFFFF8),
    (special("and", 8, 9, 10), {8: 0xF0F0, 9: 0xFF00}, 10, 0xF000),
    (special("or", 8, 9, 10), {8: 0xF0F0, 9: 0xFF00}, 10, 0xFFF0),
    (special("xor", 8, 9, 10), {8: 0xF0F0, 9: 0xFF00}, 10, 0x0FF0),
    (special("nor", 8, 9, 10), {8: 0xF0F0, 9: 0xFF00}, 10, 0xFFFF000F),
    (special("slt", 8, 9, 10), {8: -1, 9: 0}, 10, 1),
    (special("sltu", 8, 9, 10), {8: -1, 9: 0}, 10, 0),
    (special("sll", 0, 9, 10, 4), {9: 0x8765_4321}, 10, 0x7654_3210),
    (special("srl", 0, 9, 10, 4), {9: 0x8765_4321}, 10, 0x0876_5432),
    (special("sra", 0, 9, 10, 4), {9: 0x8765_4321}, 10, 0xF876_5432),
    (special("sllv", 8, 9, 10), {8: 36, 9: 1}, 10, 16),
    (special("srlv", 8, 9, 10), {8: 33, 9: 0x8000_0000}, 10, 0x4000_0000),
    (special("srav", 8, 9, 10), {8: 31, 9: 0x8000_0000}, 10, 0xFFFF_FFFF),
    (special("movz", 8, 9, 10), {8: 7, 9: 0, 10: 1}, 10, 7),
    (special("movz", 8, 9, 10), {8: 7, 9: 1, 10: 1}, 10, 1),
    (special("movn", 8, 9, 10), {8: 7, 9: 1, 10: 1}, 10, 7),
    (special("movn", 8, 9, 10), {8: 7, 9: 0, 10: 1}, 10, 1),
    (imm_op("addiu", 8, 10, -1), {8: 0}, 10, 0xFFFFFFFF),
    (imm_op("addi", 8, 10, -2), {8: 1}, 10, 0xFFFFFFFF),
    (imm_op("slti", 8, 10, -1), {8: -2}, 10, 1),
    (imm_op("sltiu", 8, 10, -1), {8: 5}, 10, 1),          # imm sign-extends to 0xffffffff
    (imm_op("sltiu", 8, 10, 5), {8: -1}, 10, 0),
    (imm_op("andi", 8, 10, 0x8001), {8: -1}, 10, 0x8001),  # zero-extended
    (imm_op("ori", 8, 10, 0x8000), {8: 1}, 10, 0x8001),
    (imm_op("xori", 8, 10, 0xFFFF), {8: 0xF0F0}, 10, 0x0F0F),
    (imm_op("lui", 0, 10, 0x8765), {}, 10, 0x8765_0000),
    (special2("clz", 8, 10, 10), {8: 0x0000_F000}, 10, 16),
    (special2("clz", 8, 10, 10), {8: 0}, 10, 32),
    (special2("clo", 8, 10, 10), {8: 0xFFF0_0000}, 10, 12),
    (special2("clo", 8, 10, 10), {8: -1}, 10, 32),
    (special2("mul", 8, 9, 10), {8: -3, 9: 0x4000_0001}, 10, 0x3FFF_FFFD),
])
def test_alu(word: int, regs: dict[int, int], rd: int, expected: int) -> None:
    st = exec1(word, regs)
    assert not st.exited
    assert st.regs[rd] == expected
    assert (st.pc, st.next_pc, st.step) == (CODE + 4, CODE + 8, 1)


def test_r0_writes_are_dropped() -> None:
    st = exec1(imm_op("addiu", 0, 0, 5))
    assert st.regs[0] == 0 and st.step == 1


@pytest.mark.parametrize("word,regs", [
    (special("add", 8, 9, 10), {8: 0x7FFF_FFFF, 9: 1}),
    (special("sub", 8, 9, 10), {8: 0x8000_0000, 9: 1}),
    (imm_op("addi", 8, 10, 1), {8: 0x7FFF_FFFF}),
    (imm_op("addi", 8, 10, -1), {8: 0x8000_0000}),
])
def test_overflow_faults_without_writing(word: int, regs: dict[int, int]) -> None:
    st = exec1(word, {**regs, 10: 0x55})
    assert st.exited and st.exit_code == FAULT_OVERFLOW
    assert st.regs[10] == 0x55 and st.pc == CODE and st.step == 1


# --- HI/LO ---------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "a", "b", "hi", "lo"), [
    ("mult", -2, 3, 0xFFFF_FFFF, 0xFFFF_FFFA),
    ("multu", 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFE, 1),
    ("div", -7, 2, 0xFFFF_FFFF, 0xFFFF_FFFD),           # truncation toward zero
    ("div", 7, -2, 1, 0xFFFF_FFFD),
    ("divu", 0xFFFF_FFF9, 2, 1, 0x7FFF_FFFC),
    # UNPREDICTABLE cases: unicorn 2.1.4 behaviour (divisor treated as 1)
    ("div", 7, 0, 0, 7),
    ("div", -7, 0, 0, 0xFFFF_FFF9),
    ("div", 0x8000_0000, -1, 0, 0x8000_0000),
    ("divu", 0xFFFF_FFF9, 0, 0, 0xFFFF_FFF9),
])
def test_mult_div(name: str, a: int, b: int, hi: int, lo: int) -> None:
    st = exec1(special(name, 8, 9), {8: a, 9: b}, hi=0x1234, lo=0x5678)
    assert (st.hi, st.lo) == (hi, lo)


@pytest.mark.parametrize(("name", "hi", "lo"), [
    ("madd", 0, 0x0000_0010 - 6),
    ("maddu", 3, 0x0000_0010 - 6),       # 0xfffffffe * 3 = 0x2_ffff_fffa
    ("msub", 0, 0x0000_0010 + 6),
    ("msubu", 0xFFFF_FFFD, 0x0000_0010 + 6),
])
def test_multiply_accumulate(name: str, hi: int, lo: int) -> None:
    st = exec1(special2(name, 8, 9), {8: -2, 9: 3}, hi=0, lo=0x10)
    assert (st.hi, st.lo) == (hi, lo)


def test_hilo_moves_and_mul_keeps_hilo() -> None:
    st = machine([special("mthi", 8), special("mtlo", 9), special("mfhi", rd=10), special("mflo", rd=11),
                  special2("mul", 8, 9, 12)], {8: 0xAAAA, 9: 0xBBBB})
    run(st, 5)
    assert (st.hi, st.lo, st.regs[10], st.regs[11]) == (0xAAAA, 0xBBBB, 0xAAAA, 0xBBBB)
    assert st.regs[12] == (0xAAAA * 0xBBBB) & M32


# --- branches and jumps ----------------------------------------------------------------
def _after_branch(word: int, regs: dict[int, int]) -> State:
    st = machine([word, imm_op("addiu", 0, 20, 1)], regs)
    step(st)
    return st


@pytest.mark.parametrize(("name", "a", "b", "taken"), [
    ("beq", 5, 5, True), ("beq", 5, 6, False), ("bne", 5, 6, True), ("bne", 5, 5, False),
    ("blez", 0, 0, True), ("blez", 1, 0, False), ("bgtz", 1, 0, True), ("bgtz", -1, 0, False),
])
def test_conditional_branches(name: str, a: int, b: int, taken: bool) -> None:
    st = _after_branch(imm_op(name, 8, 9, 0x10), {8: a, 9: b})
    assert st.pc == CODE + 4
    assert st.next_pc == (CODE + 4 + 0x40 if taken else CODE + 8)
    step(st)  # the delay slot always runs
    assert st.regs[20] == 1 and st.pc == (CODE + 0x44 if taken else CODE + 8)


@pytest.mark.parametrize(("name", "a", "taken", "links"), [
    ("bltz", -1, True, False), ("bltz", 0, False, False), ("bgez", 0, True, False),
    ("bgez", -1, False, False), ("bltzal", -1, True, True), ("bltzal", 1, False, True),
    ("bgezal", 1, True, True), ("bgezal", -1, False, True),
])
def test_regimm_branches(name: str, a: int, taken: bool, links: bool) -> None:
    st = _after_branch(regimm(name, 8, -4), {8: a})
    assert st.next_pc == ((CODE + 4 - 16) & M32 if taken else CODE + 8)
    assert st.regs[31] == (CODE + 8 if links else 0)


def test_bltzal_reads_ra_before_linking() -> None:
    st = _after_branch(regimm("bltzal", 31, 0x10), {31: 0xFFFF_FFF0})
    assert st.next_pc == CODE + 0x44 and st.regs[31] == CODE + 8


@pytest.mark.parametrize(("word", "regs", "taken"), [
    (imm_op("beql", 8, 9, 0x10), {8: 1, 9: 1}, True),
    (imm_op("beql", 8, 9, 0x10), {8: 1, 9: 2}, False),
    (imm_op("bnel", 8, 9, 0x10), {8: 1, 9: 1}, False),
    (imm_op("blezl", 8, 0, 0x10), {8: 1}, False),
    (imm_op("bgtzl", 8, 0, 0x10), {8: 1}, True),
    (regimm("bltzl", 8, 0x10), {8: 0}, False),
    (regimm("bgezl", 8, 0x10), {8: 0}, True),
    (regimm("bltzall", 8, 0x10), {8: -1}, True),
    (regimm("bgezall", 8, 0x10), {8: -1}, False),
])
def test_branch_likely_annuls_delay_slot_when_not_taken(word: int, regs: dict[int, int],
                                                        taken: bool) -> None:
    st = _after_branch(word, regs)
    if taken:
        assert (st.pc, st.next_pc) == (CODE + 4, CODE + 0x44)
    else:
        assert (st.pc, st.next_pc) == (CODE + 8, CODE + 12)
        step(st)
        assert st.regs[20] == 0  # the delay slot never ran


def test_jumps_and_links() -> None:
    st = _after_branch(j_type(OPC["jal"], 0x0040_1000), {})
    assert (st.pc, st.next_pc, st.regs[31]) == (CODE + 4, 0x0040_1000, CODE + 8)
    st = _after_branch(j_type(OPC["j"], 0x0FFF_FFFC), {})
    assert st.next_pc == 0x0FFF_FFFC and st.regs[31] == 0
    st = _after_branch(special("jr", 8), {8: 0x0040_2000})
    assert st.next_pc == 0x0040_2000
    st = _after_branch(special("jalr", 8, rd=31), {8: 0x0040_2000})
    assert (st.next_pc, st.regs[31]) == (0x0040_2000, CODE + 8)
    st = _after_branch(special("jalr", 8, rd=8), {8: 0x0040_2000})  # rs read before rd written
    assert (st.next_pc, st.regs[8]) == (0x0040_2000, CODE + 8)


def test_jr_to_unaligned_pc_faults_at_fetch() -> None:
    st = machine([special("jr", 8), NOP], {8: 0x0040_2002})
    run(st, 10)
    assert st.exited and st.exit_code == FAULT_UNALIGNED_PC
    assert st.pc == 0x0040_2002 and st.step == 3


# --- loads and stores ------------------------------------------------------------------
MEM = bytes(range(0x80, 0x90))  # 80 81 82 ... 8f at DATA


@pytest.mark.parametrize(("name", "off", "expected"), [
    ("lb", 1, 0xFFFF_FF81), ("lbu", 1, 0x81), ("lh", 2, 0xFFFF_8382), ("lhu", 6, 0x8786),
    ("lw", 4, 0x8786_8584), ("ll", 8, 0x8B8A_8988),
    # little-endian lwl/lwr merge with rt = 0x11223344
    ("lwl", 4, 0x8422_3344), ("lwl", 5, 0x8584_3344),
    ("lwl", 7, 0x8786_8584), ("lwr", 4, 0x8786_8584), ("lwr", 5, 0x1187_8685), ("lwr", 7, 0x1122_3387),
])
def test_loads(name: str, off: int, expected: int) -> None:
    st = exec1(imm_op(name, 8, 9, off), {8: DATA, 9: 0x1122_3344}, MEM)
    assert st.regs[9] == expected and not st.exited


@pytest.mark.parametrize(("name", "off", "after"), [
    ("sb", 1, "80448283"), ("sh", 2, "80814433"), ("sw", 0, "44332211"),
    ("swl", 0, "11818283"), ("swl", 2, "33221183"), ("swl", 3, "44332211"),
    ("swr", 0, "44332211"), ("swr", 1, "80443322"), ("swr", 3, "80818244"),
])
def test_stores(name: str, off: int, after: str) -> None:
    st = exec1(imm_op(name, 8, 9, off), {8: DATA, 9: 0x1122_3344}, MEM)
    assert st.memory.read(DATA, 4).hex() == after and not st.exited


def test_sc_stores_and_reports_success() -> None:
    st = exec1(imm_op("sc", 8, 9, 4), {8: DATA, 9: 0xCAFE}, MEM)
    assert st.memory.read_u32(DATA + 4) == 0xCAFE and st.regs[9] == 1


@pytest.mark.parametrize(("name", "off"), [
    ("lw", 2), ("lh", 1), ("lhu", 3), ("sw", 1), ("sh", 3), ("ll", 2), ("sc", 1)])
def test_unaligned_access_faults(name: str, off: int) -> None:
    st = exec1(imm_op(name, 8, 9, off), {8: DATA, 9: 7}, MEM)
    assert st.exited and st.exit_code == FAULT_UNALIGNED_ACCESS
    assert st.regs[9] == 7 and st.memory.read(DATA, 16) == MEM


def test_address_wraps_modulo_2_32() -> None:
    st = machine([imm_op("lw", 8, 9, -4)], {8: 0})
    st.memory.write(0xFFFF_FFFC, b"\x01\x02\x03\x04")
    step(st)
    assert st.regs[9] == 0x0403_0201


# --- traps, syscalls, break, invalid -----------------------------------------------------
@pytest.mark.parametrize(("word", "regs", "traps"), [
    (special("teq", 8, 9), {8: 1, 9: 1}, True), (special("teq", 8, 9), {8: 1, 9: 2}, False),
    (special("tne", 8, 9), {8: 1, 9: 2}, True), (special("tge", 8, 9), {8: -1, 9: 0}, False),
    (special("tgeu", 8, 9), {8: -1, 9: 0}, True), (special("tlt", 8, 9), {8: -1, 9: 0}, True),
    (special("tltu", 8, 9), {8: -1, 9: 0}, False),
    (regimm("teqi", 8, -1), {8: -1}, True), (regimm("tnei", 8, 3), {8: 3}, False),
    (regimm("tgei", 8, -1), {8: 0}, True), (regimm("tgeiu", 8, -1), {8: 0}, False),
    (regimm("tlti", 8, 0), {8: -5}, True), (regimm("tltiu", 8, -1), {8: 5}, True),
])
def test_traps(word: int, regs: dict[int, int], traps: bool) -> None:
    st = exec1(word, regs)
    assert st.exited == traps
    if traps:
        assert st.exit_code == FAULT_TRAP and st.pc == CODE
    else:
        assert st.pc == CODE + 4


def test_exit_syscalls() -> None:
    for v0 in (4001, 4246):
        st = exec1(special("syscall"), {2: v0, 4: 0x1FF})
        assert st.exited and st.exit_code == 0xFF and st.pc == CODE and st.step == 1
    st = exec1(special("syscall"), {2: 4004, 4: 1})
    assert st.exited and st.exit_code == FAULT_BAD_SYSCALL


def test_break_sync_pref() -> None:
    assert exec1(special("break")).exit_code == FAULT_BREAK
    for word in (special("sync"), imm_op("pref", 8, 0, 4)):
        st = exec1(word, {8: DATA})
        assert not st.exited and st.pc == CODE + 4


@pytest.mark.parametrize("word", [
    0x4600_0000,                       # add.s (COP1)
    0x4009_6000,                       # mfc0 (COP0)
    0xC500_0000,                       # lwc1
    0x7C09_5420,                       # seb (MIPS32r2 SPECIAL3)
    special("sync") | 0x0001 | 0x3E,   # funct 0x3f: reserved SPECIAL
    r_type(0x3F, op=isa.OP_SPECIAL2),  # sdbbp
    regimm("bltz", 0, 0) | (0x1F << 16),
    0xBC00_0000,                       # cache
])
def test_invalid_instructions_fault(word: int) -> None:
    assert not is_implemented(word)
    st = exec1(word, {8: 1})
    assert st.exited and st.exit_code == FAULT_INVALID_INSTRUCTION and st.pc == CODE


def test_exited_state_is_frozen() -> None:
    st = exec1(special("break"))
    before = st.encode()
    step(st)
    assert st.encode() == before and st.step == 1


def test_branch_in_delay_slot_follows_pc_next_pc_model() -> None:
    # beq -> +0x10 with a beq -> +0x20 in its delay slot: runs the first target, then the second
    st = machine([imm_op("beq", 0, 0, 4), imm_op("beq", 0, 0, 8)] + [NOP] * 16)
    run(st, 2)
    assert (st.pc, st.next_pc) == (CODE + 0x14, CODE + 0x28)


# --- agreement with unicorn on non-faulting, non-control instructions ----------------------
UNICORN_FAMILIES = [
    *(special(n, 8, 9, 10, 0) for n in ("addu", "subu", "and", "or", "xor", "nor", "slt", "sltu",
                                      "sllv", "srlv", "srav", "movz", "movn", "add", "sub")),
    # rd must stay 0 here: unicorn's CPU has DSP accumulators selected by those bits
    *(special(n, 8, 9) for n in ("mult", "multu", "div", "divu")),
    *(special2(n, 8, 9) for n in ("madd", "maddu", "msub", "msubu")),
    *(special(n, 0, 9, 10, 0) for n in ("sll", "srl", "sra")),
    *(special2(n, 8, 9, 10) for n in ("mul", "clz", "clo")),
    *(imm_op(n, 8, 9) for n in ("addiu", "addi", "slti", "sltiu", "andi", "ori", "xori", "lui")),
    *(imm_op(n, 11, 9) for n in ("lb", "lbu", "lh", "lhu", "lw", "lwl", "lwr", "sb", "sh", "sw",
                                 "swl", "swr", "ll", "sc")),
]


def _unicorn_step(word: int, regs: list[int], hi: int, lo: int, mem: bytes,
                  prefix: tuple[int, ...] = ()) -> tuple:
    from unicorn import UC_ARCH_MIPS, UC_MODE_LITTLE_ENDIAN, UC_MODE_MIPS32, Uc
    from unicorn.mips_const import UC_MIPS_REG_0, UC_MIPS_REG_HI, UC_MIPS_REG_LO

    uc = Uc(UC_ARCH_MIPS, UC_MODE_MIPS32 + UC_MODE_LITTLE_ENDIAN)
    uc.mem_map(CODE, 0x1000)
    uc.mem_map(DATA, 0x1000)
    code = [*prefix, word]
    uc.mem_write(CODE, struct.pack(f"<{len(code)}I", *code))
    uc.mem_write(DATA, mem)
    for i in range(1, 32):
        uc.reg_write(UC_MIPS_REG_0 + i, regs[i])
    uc.reg_write(UC_MIPS_REG_HI, hi)
    uc.reg_write(UC_MIPS_REG_LO, lo)
    uc.emu_start(CODE, CODE + 4 * len(code))
    out = [uc.reg_read(UC_MIPS_REG_0 + i) for i in range(32)]
    return out, uc.reg_read(UC_MIPS_REG_HI), uc.reg_read(UC_MIPS_REG_LO), bytes(uc.mem_read(DATA, 64))


def _interesting(rng: random.Random) -> int:
    return rng.choice([0, 1, 2, 31, 32, 0x7FFF_FFFF, 0x8000_0000, M32, M32 - 1, 0xFFFF, 0x8000,
                       rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(8)])


@pytest.mark.parametrize("base", UNICORN_FAMILIES, ids=lambda w: isa.mnemonic(w))
def test_agrees_with_unicorn(base: int) -> None:
    rng = random.Random(base)
    for _ in range(12):
        word = base | (rng.getrandbits(16) if base >> 26 not in (0, isa.OP_SPECIAL2) else 0)
        if base >> 26 == 0 and isa.mnemonic(base) in ("sll", "srl", "sra"):
            word = base | (rng.randrange(32) << 6)
        if base >> 26 >= 0x20:  # memory: keep the address inside the mapped data page
            word = (base & ~0xFFFF) | (rng.randrange(-16, 48) & 0xFFFF)
        st = machine([word], mem=rng.randbytes(64), hi=rng.getrandbits(32), lo=rng.getrandbits(32))
        for r in range(1, 32):
            st.regs[r] = _interesting(rng)
        st.regs[11] = DATA + 16
        if isa.mnemonic(word) in ("div", "divu") and rng.random() < 0.3:
            st.regs[9] = 0
        mem_before = st.memory.read(DATA, 64)
        regs_before, hi, lo = list(st.regs), st.hi, st.lo
        step(st)
        if st.exited:  # overflow / alignment faults: unicorn raises, the VM halts (tested above)
            continue
        # unicorn's sc only succeeds after a matching ll (compiled code always pairs them)
        prefix = (imm_op("ll", 11, 0, word & 0xFFFF),) if isa.mnemonic(word) == "sc" else ()
        uc_regs, uc_hi, uc_lo, uc_mem = _unicorn_step(word, regs_before, hi, lo, mem_before, prefix)
        assert st.regs == uc_regs, isa.mnemonic(word)
        assert (st.hi, st.lo) == (uc_hi, uc_lo), isa.mnemonic(word)
        assert st.memory.read(DATA, 64) == uc_mem, isa.mnemonic(word)


# --- whole programs ----------------------------------------------------------------------
PROGRAM_NAMES = ["recursion", "switch", "int64", "memops", "packed", "compares", "softfloat"]


def _host_run(name: str) -> list[int]:
    """Build the same C natively (zig cc) and return [exit code, results[0..63]]."""
    src = PROGRAMS / f"{name}.c"
    out = BUILD_DIR / "host" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    key = out.with_suffix(".src")
    stamp = src.read_text() + (PROGRAMS / "common.h").read_text() + (PROGRAMS / "host_driver.c").read_text()
    if not (out.exists() and key.exists() and key.read_text() == stamp):
        subprocess.run([sys.executable, "-m", "ziglang", "cc", "-O2", "-DVMTEST_HOST",
                        f'-DVMTEST_PROGRAM="{src}"', "-o", str(out), str(PROGRAMS / "host_driver.c")],
                       check=True, env=zig_env(), capture_output=True)
        key.write_text(stamp)
    lines = subprocess.run([str(out)], check=True, capture_output=True, text=True).stdout.split()
    return [int(x) for x in lines]


def _symbol(elf: Path, name: str) -> int:
    with elf.open("rb") as f:
        sym = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(name)
    assert sym, f"{name} not in {elf}"
    return sym[0]["st_value"]


@pytest.fixture(scope="module")
def built() -> dict[str, Path]:
    return {name: compile_elf([PROGRAMS / f"{name}.c"]) for name in PROGRAM_NAMES}


@pytest.mark.parametrize("name", PROGRAM_NAMES)
def test_program_matches_native_build(name: str, built: dict[str, Path]) -> None:
    elf = built[name]
    st = initial_state(load_elf(elf))
    run(st, 2_000_000)
    assert st.exited, f"{name} did not exit"
    expected = _host_run(name)
    assert st.exit_code == expected[0]
    results = st.memory.read(_symbol(elf, "results"), 4 * 64)
    assert list(struct.unpack("<64I", results)) == expected[1:]


def test_recursion_exit_code(built: dict[str, Path]) -> None:
    st = initial_state(load_elf(built["recursion"]))
    run(st)
    fib = [0, 1]
    while len(fib) < 19:
        fib.append(fib[-1] + fib[-2])
    assert st.exit_code == fib[18] & 0x7F


@pytest.mark.parametrize("name", [*PROGRAM_NAMES, "exit42"])
def test_opcode_census(name: str, built: dict[str, Path]) -> None:
    """Every word in the executable segments decodes to an implemented instruction."""
    elf = built.get(name) or compile_elf([PROGRAMS / f"{name}.c"])
    words = load_elf(elf).text_words()
    missing = {f"{a:#x}: {w:08x}" for a, w in words if not is_implemented(w)}
    assert not missing, f"unimplemented instructions in {name}: {sorted(missing)[:10]}"


# --- witnesses -----------------------------------------------------------------------------
def _check_witness(pre: State, witness, post: State) -> None:
    fields = decode_state(witness.state)
    root = fields["mem_root"]
    assert witness.pre_hash == pre.hash()
    addr = data_access(pre)
    # compact fetch proof of pc, then the compact data proof of the accessed word if there is one
    fetch = pre.memory.proof(fields["pc"])
    data = b"" if addr is None else pre.memory.proof(addr)
    expected = compact_proof(fetch) + (compact_proof(data) if data else b"")
    assert witness.proof == expected
    assert split_witness_proof(witness.proof) == (fetch, data)
    assert verify_proof(root, fields["pc"], fetch)
    assert struct.unpack_from("<I", fetch, fields["pc"] & 28)[0] == pre.memory.read_u32(fields["pc"] & ~3)
    tampered = bytearray(fetch)
    tampered[40] ^= 1
    assert not verify_proof(root, fields["pc"], bytes(tampered))
    if addr is None:
        assert post.memory.root() == root
    else:
        assert verify_proof(root, addr, data)
        bad = bytearray(data)
        bad[3] ^= 0x80
        assert not verify_proof(root, addr, bytes(bad))
        # a store's new root follows from the data proof's siblings and the updated leaf
        new_leaf = post.memory.read(addr & ~31, 32)
        assert root_from_proof(addr, data, new_leaf) == post.memory.root()
    assert witness.post_hash == post.hash()
    # replaying from the witness alone (what MIPS.sol does) gives the same post-state
    assert verify_step(witness.state, witness.proof) == witness.post_hash
    cfetch = compact_proof(fetch)
    if not fields["exited"] and fields["pc"] % 4 == 0:
        with pytest.raises(WitnessError, match="fetchProof"):
            verify_step(witness.state, compact_proof(bytes(tampered)) + witness.proof[len(cfetch):])
    if addr is not None:
        with pytest.raises(WitnessError, match="dataProof"):
            verify_step(witness.state, cfetch + compact_proof(bytes(bad)))
        with pytest.raises(WitnessError, match="no dataProof"):
            verify_step(witness.state, cfetch)          # a load or store needs its data proof
    else:                                               # an unused data proof is ignored
        assert verify_step(witness.state, cfetch + compact_proof(bytes(PROOF_SIZE))) == witness.post_hash
    with pytest.raises(WitnessError, match="proof must"):
        verify_step(witness.state, witness.proof[:-1])
    with pytest.raises(WitnessError, match="proof must"):
        verify_step(witness.state, witness.proof + bytes(1))


def test_witnesses_over_a_program(built: dict[str, Path]) -> None:
    st = initial_state(load_elf(built["packed"]))
    kinds = set()
    while not st.exited:
        pre = st.copy()
        w = step_with_witness(st)
        _check_witness(pre, w, st)
        if data_access(pre) is not None:
            kinds.add(isa.mnemonic(pre.memory.read_u32(pre.pc)))
    assert {"sw", "lw", "sb"} <= kinds
    w = step_with_witness(st)  # exited: nothing changes
    assert w.post_hash == w.pre_hash


def test_decode_from_a_cold_cache() -> None:
    """decode() memoizes; decoding afresh must give the same fields and behaviour (the cache is a cache)."""
    from mipsvm import stepper

    words = {
        special("addu", 8, 9, 10): lambda st: st.regs[10] == 5,
        imm_op("addiu", 8, 11, -3): lambda st: st.regs[11] == (2 - 3) & M32,
        (0x02 << 26) | 0x40: lambda st: (st.pc, st.next_pc) == (CODE + 4, 0x100),   # j 0x100
        0x4400_0000: lambda st: st.exited and st.exit_code == FAULT_INVALID_INSTRUCTION,
    }
    saved = dict(stepper._DECODE_CACHE)
    stepper._DECODE_CACHE.clear()
    try:
        for word, check in words.items():
            ins = stepper.decode(word)
            assert (ins.name, ins.rs, ins.rt, ins.rd, ins.sa, ins.imm, ins.uimm, ins.target) == (
                isa.mnemonic(word) or "invalid", isa.rs(word), isa.rt(word), isa.rd(word), isa.sa(word),
                isa.simm16(word), isa.imm16(word), isa.target26(word))
            st = machine([word], {8: 2, 9: 3})
            step(st)
            assert check(st), (hex(word), st)
    finally:
        stepper._DECODE_CACHE.clear()
        stepper._DECODE_CACHE.update(saved)


@pytest.mark.parametrize("cut", [1, PROOF_SIZE, -32])
def test_verify_step_rejects_a_proof_of_the_wrong_length(cut: int) -> None:
    w = step_with_witness(machine([NOP]))
    proof = w.proof[:-cut] if cut > 0 else w.proof + bytes(-cut)
    with pytest.raises(WitnessError, match=r"proof must be a compact fetch proof"):   # compact witnesses
        verify_step(w.state, proof)


def test_witness_for_faulting_and_unaligned_states() -> None:
    for word, regs in ((imm_op("lw", 8, 9, 2), {8: DATA}), (imm_op("sw", 8, 9, 0), {8: DATA}),
                       (special("break"), {})):
        st = machine([word], regs, MEM)
        pre = st.copy()
        _check_witness(pre, step_with_witness(st), st)
    st = machine([NOP])
    st.pc = CODE + 2
    pre = st.copy()
    w = step_with_witness(st)
    assert st.exit_code == FAULT_UNALIGNED_PC
    _check_witness(pre, w, st)


@pytest.mark.parametrize("base", [*UNICORN_FAMILIES, imm_op("beq", 8, 9, 3), regimm("bltzal", 8, -2),
                                  imm_op("bnel", 8, 9, 5), special("jalr", 8, rd=31),
                                  special("teq", 8, 9), special("syscall"), 0x4600_0000],
                         ids=lambda w: isa.mnemonic(w) or "invalid")
def test_witness_per_family(base: int) -> None:
    rng = random.Random(base ^ 0x5EED)
    for _ in range(3):
        word = base
        if base >> 26 >= 0x20:
            word = (base & ~0xFFFF) | (rng.randrange(-16, 48) & 0xFFFF)
        st = machine([word, NOP], mem=rng.randbytes(64), hi=rng.getrandbits(32), lo=rng.getrandbits(32))
        for r in range(1, 32):
            st.regs[r] = _interesting(rng)
        st.regs[11] = DATA + 16
        st.regs[2] = rng.choice([4001, 4246, 4000])
        pre = st.copy()
        _check_witness(pre, step_with_witness(st), st)


def test_unicorn_control_flow_corner_cases() -> None:
    """The UNPREDICTABLE control-flow choices in docs/vm-spec.md §9 match unicorn 2.1.4."""
    from unicorn import UC_ARCH_MIPS, UC_MODE_LITTLE_ENDIAN, UC_MODE_MIPS32, Uc, UcError
    from unicorn.mips_const import UC_MIPS_REG_0, UC_MIPS_REG_PC

    def uc_run(words: list[int], regs: dict[int, int], until: int) -> Uc:
        uc = Uc(UC_ARCH_MIPS, UC_MODE_MIPS32 + UC_MODE_LITTLE_ENDIAN)
        uc.mem_map(CODE, 0x1000)
        uc.mem_write(CODE, struct.pack(f"<{len(words)}I", *words))
        for r, v in regs.items():
            uc.reg_write(UC_MIPS_REG_0 + r, v & M32)
        uc.emu_start(CODE, until)
        return uc

    cases = [([special("jalr", 8, rd=8), NOP], {8: CODE + 0x100}, CODE + 0x100),
             ([regimm("bltzal", 31, 0x10), NOP], {31: 0xFFFF_FFF0}, CODE + 0x44)]
    for words, regs, target in cases:
        uc = uc_run(words, regs, target)
        st = machine(words, regs)
        run(st, 2)
        assert st.pc == target == uc.reg_read(UC_MIPS_REG_PC)
        assert st.regs == [uc.reg_read(UC_MIPS_REG_0 + i) for i in range(32)]
    with pytest.raises(UcError):  # branch in a delay slot: unicorn raises, the VM defines it
        uc_run([imm_op("beq", 0, 0, 4), imm_op("beq", 0, 0, 8)] + [NOP] * 16, {}, CODE + 0x28)
