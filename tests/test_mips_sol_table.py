"""Table-driven stepper-vs-MIPS.sol tests: every stepper-only encoding and every UNPREDICTABLE corner.

The unicorn differential tests cannot check what the fast runner hands to the reference stepper
(branch-likely, ll/sc, COP*, syscall/break, links with rs = 31, faults), so each row here states the
expected post-state by hand (docs/vm-spec.md) and checks both the stepper and MIPS.sol against it:
a bug in either implementation fails the row, even when both share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from contracts.evm import Contract, LocalEVM, compile_mips
from mipsvm import isa
from mipsvm.memory import Memory
from mipsvm.state import State
from mipsvm.stepper import step_with_witness

PC = 0x0040_0100
DATA = 0x1000_0040
M32 = 0xFFFF_FFFF
INT_MIN = 0x8000_0000
INVALID, UNALIGNED, OVERFLOW, TRAP, BREAK, BAD_SYSCALL, UNALIGNED_PC = range(0x81, 0x88)


# ----------------------------------------------------------------------------- tiny assembler

def r_type(funct: int, rs: int = 0, rt: int = 0, rd: int = 0, sa: int = 0, op: int = 0) -> int:
    return (op << 26) | (rs << 21) | (rt << 16) | (rd << 11) | (sa << 6) | funct


def i_type(op: int, rs: int = 0, rt: int = 0, imm: int = 0) -> int:
    return (op << 26) | (rs << 21) | (rt << 16) | (imm & 0xFFFF)


def regimm(rt: int, rs: int, imm: int = 0) -> int:
    return i_type(1, rs, rt, imm)


OP = {name: op for op, name in isa.OPCODES.items()}
FN = {name: f for f, name in isa.SPECIAL.items()}
RI = {name: rt for rt, name in isa.REGIMM.items()}
FN2 = {name: f for f, name in isa.SPECIAL2.items()}
OFF = 0x10                      # branch offset in words
TARGET = PC + 4 + (OFF << 2)    # branch target from PC


@dataclass
class Case:
    """One step from a hand-built state; `expect_*` is the whole post-state difference."""

    word: int
    regs: dict[int, int] = field(default_factory=dict)
    pc: int = PC
    next_pc: int | None = None
    hi: int = 0x1111_1111
    lo: int = 0x2222_2222
    mem: dict[int, int] = field(default_factory=dict)            # aligned address -> u32
    expect_regs: dict[int, int] = field(default_factory=dict)
    expect_pc: tuple[int, int] | None = None                     # (pc, nextPC); None: fall through
    expect_hilo: tuple[int, int] | None = None                   # (hi, lo); None: unchanged
    expect_mem: dict[int, int] = field(default_factory=dict)
    expect_exit: int | None = None                               # fault/exit code; None: running

    def state(self) -> State:
        memory = Memory()
        for addr, value in self.mem.items():
            memory.write_u32(addr, value)
        if self.pc & 3 == 0:
            memory.write_u32(self.pc, self.word)
        regs = [0] * 32
        for r, v in self.regs.items():
            regs[r] = v
        next_pc = (self.pc + 4) & M32 if self.next_pc is None else self.next_pc
        return State(memory, self.pc, next_pc, lo=self.lo, hi=self.hi, step=41, regs=regs)


def b_likely(name: str, taken: bool, **regs: int) -> Case:
    """A branch-likely row: taken -> (delay slot, target); not taken -> the delay slot is annulled."""
    rs_val, rt_val = regs.get("rs", 0), regs.get("rt", 0)
    word = i_type(OP[name], 8, 9, OFF) if name in OP else regimm(RI[name], 8, OFF)
    return Case(word, {8: rs_val, 9: rt_val},
                expect_pc=(PC + 4, TARGET) if taken else (PC + 8, PC + 12))


def linking(name: str, r31: int, taken: bool) -> Case:
    """bltzal/bgezal/bltzall/bgezall with rs = 31: the condition reads r31 before the link is written."""
    likely = name.endswith("ll")
    pcs = (PC + 4, TARGET) if taken else ((PC + 8, PC + 12) if likely else (PC + 4, PC + 8))
    return Case(regimm(RI[name], 31, OFF), {31: r31}, expect_regs={31: PC + 8}, expect_pc=pcs)


CASES: dict[str, Case] = {
    # --- branch-likely: taken, and not taken (delay slot annulled)
    "beql-taken": b_likely("beql", True, rs=5, rt=5),
    "beql-annulled": b_likely("beql", False, rs=5, rt=6),
    "bnel-taken": b_likely("bnel", True, rs=5, rt=6),
    "bnel-annulled": b_likely("bnel", False, rs=7, rt=7),
    "blezl-taken-zero": b_likely("blezl", True, rs=0),
    "blezl-taken-negative": b_likely("blezl", True, rs=INT_MIN),
    "blezl-annulled": b_likely("blezl", False, rs=1),
    "bgtzl-taken": b_likely("bgtzl", True, rs=0x7FFF_FFFF),
    "bgtzl-annulled-zero": b_likely("bgtzl", False, rs=0),
    "bgtzl-annulled-negative": b_likely("bgtzl", False, rs=INT_MIN),
    "bltzl-taken": b_likely("bltzl", True, rs=M32),
    "bltzl-annulled": b_likely("bltzl", False, rs=0),
    "bgezl-taken": b_likely("bgezl", True, rs=0),
    "bgezl-annulled": b_likely("bgezl", False, rs=INT_MIN),
    "beql-annulled-in-delay-slot": Case(i_type(OP["beql"], 8, 9, OFF), {8: 1}, next_pc=0x0050_0000,
                                        expect_pc=(0x0050_0004, 0x0050_0008)),
    "bnel-annulled-wraps": Case(i_type(OP["bnel"], 0, 0, OFF), pc=0xFFFF_FFF8, next_pc=0xFFFF_FFFC,
                                expect_pc=(0, 4)),
    "bgezl-backward": Case(regimm(RI["bgezl"], 8, -2), {8: 3}, expect_pc=(PC + 4, PC - 4)),
    # --- links with rs = 31: condition from the old r31, link written whether taken or not
    "bltzal-rs31-taken": linking("bltzal", INT_MIN, True),
    "bltzal-rs31-not-taken": linking("bltzal", 0x10, False),
    "bgezal-rs31-taken": linking("bgezal", 0, True),
    "bgezal-rs31-not-taken": linking("bgezal", M32, False),
    "bltzall-rs31-taken": linking("bltzall", 0xFFFF_FF00, True),
    "bltzall-rs31-annulled": linking("bltzall", 0x7FFF_FFFF, False),
    "bgezall-rs31-taken": linking("bgezall", 0x100, True),
    "bgezall-rs31-annulled": linking("bgezall", INT_MIN, False),
    "bgezall-other-rs": Case(regimm(RI["bgezall"], 8, OFF), {8: INT_MIN, 31: 7},
                             expect_regs={31: PC + 8}, expect_pc=(PC + 8, PC + 12)),
    "bltzal-link-from-pc-not-nextpc": Case(regimm(RI["bltzal"], 8, OFF), {8: M32}, next_pc=0x0070_0000,
                                           expect_regs={31: PC + 8}, expect_pc=(0x0070_0000, TARGET)),
    "jalr-rd-equals-rs": Case(r_type(FN["jalr"], rs=31, rd=31), {31: 0x0040_2000},
                              expect_regs={31: PC + 8}, expect_pc=(PC + 4, 0x0040_2000)),
    "jalr-rd-zero": Case(r_type(FN["jalr"], rs=8, rd=0), {8: 0x0040_3000}, expect_pc=(PC + 4, 0x0040_3000)),
    "jal-link-and-region": Case((OP["jal"] << 26) | 0x40, pc=0x1FFF_FFFC, next_pc=0x2000_0000,
                                expect_regs={31: 0x2000_0004}, expect_pc=(0x2000_0000, 0x2000_0100)),
    # --- ll / sc
    "ll-loads-word": Case(i_type(OP["ll"], 8, 9, 4), {8: DATA - 4, 9: 5}, mem={DATA: 0xCAFE_F00D},
                          expect_regs={9: 0xCAFE_F00D}),
    "ll-unaligned-faults": Case(i_type(OP["ll"], 8, 9, 2), {8: DATA, 9: 5}, mem={DATA: 1},
                                expect_exit=UNALIGNED),
    "sc-stores-and-succeeds": Case(i_type(OP["sc"], 8, 9, -4), {8: DATA + 4, 9: 0xDEAD_BEEF},
                                   mem={DATA: 0x1234_5678}, expect_regs={9: 1}, expect_mem={DATA: 0xDEAD_BEEF}),
    "sc-base-equals-rt": Case(i_type(OP["sc"], 9, 9, 0), {9: DATA}, expect_regs={9: 1}, expect_mem={DATA: DATA}),
    "sc-rt-zero-stores-zero": Case(i_type(OP["sc"], 8, 0, 0), {8: DATA}, mem={DATA: M32}, expect_mem={DATA: 0}),
    "sc-unaligned-faults-without-store": Case(i_type(OP["sc"], 8, 9, 1), {8: DATA, 9: 7}, mem={DATA: 3},
                                              expect_exit=UNALIGNED),
    # --- coprocessor and other unimplemented encodings (COP0 mfc0, COP1 add.s/mfc1, COP2, COP1X, FPU loads)
    "cop0-mfc0": Case(0x4008_6000, expect_exit=INVALID),
    "cop0-eret": Case(0x4200_0018, expect_exit=INVALID),
    "cop1-add-s": Case(0x4602_0800, expect_exit=INVALID),
    "cop1-mfc1": Case(0x4402_0000, expect_exit=INVALID),
    "cop2": Case(0x4800_0000, expect_exit=INVALID),
    "cop1x-madd-s": Case(0x4C00_0020, expect_exit=INVALID),
    "lwc1": Case(0xC7A0_0010, {29: DATA}, expect_exit=INVALID),
    "ldc1": Case(0xD7A0_0010, {29: DATA}, expect_exit=INVALID),
    "swc1": Case(0xE7A0_0010, {29: DATA}, expect_exit=INVALID),
    "sdc1": Case(0xF7A0_0010, {29: DATA}, expect_exit=INVALID),
    "lwc2": Case(0xCBA0_0010, {29: DATA}, expect_exit=INVALID),
    "cache": Case(0xBD00_0000, {8: DATA}, expect_exit=INVALID),
    "special3-seb": Case(0x7C08_4C20, {8: 0x80}, expect_exit=INVALID),
    "movci": Case(r_type(0x01, 8, 1, 9), expect_exit=INVALID),
    "sdbbp": Case(r_type(0x3F, op=0x1C), expect_exit=INVALID),
    # --- syscall and break
    "syscall-exit": Case(r_type(FN["syscall"]), {2: 4001, 4: 0x1_2A}, expect_exit=0x2A),
    "syscall-exit-group": Case(r_type(FN["syscall"]), {2: 4246, 4: 0xFF}, expect_exit=0xFF),
    "syscall-exit-code-field-ignored": Case(0x0123_450C, {2: 4001, 4: 3}, expect_exit=3),
    "syscall-write-unsupported": Case(r_type(FN["syscall"]), {2: 4004, 4: 1}, expect_exit=BAD_SYSCALL),
    "syscall-v0-high-bits": Case(r_type(FN["syscall"]), {2: 0x1_0000 + 4001}, expect_exit=BAD_SYSCALL),
    "syscall-v0-4000": Case(r_type(FN["syscall"]), {2: 4000}, expect_exit=BAD_SYSCALL),
    "syscall-v0-4247": Case(r_type(FN["syscall"]), {2: 4247}, expect_exit=BAD_SYSCALL),
    "break": Case(r_type(FN["break"]), {2: 4001}, expect_exit=BREAK),
    "break-with-code": Case(0x03FF_FFCD, expect_exit=BREAK),
    # --- UNPREDICTABLE corners (docs/vm-spec.md §9)
    "div-by-zero": Case(r_type(FN["div"], 8, 9), {8: 0xFFFF_FFF9, 9: 0}, expect_hilo=(0, 0xFFFF_FFF9)),
    "divu-by-zero": Case(r_type(FN["divu"], 8, 9), {8: 0x8000_0007, 9: 0}, expect_hilo=(0, 0x8000_0007)),
    "div-int-min-by-minus-one": Case(r_type(FN["div"], 8, 9), {8: INT_MIN, 9: M32}, expect_hilo=(0, INT_MIN)),
    "div-int-min-by-one": Case(r_type(FN["div"], 8, 9), {8: INT_MIN, 9: 1}, expect_hilo=(0, INT_MIN)),
    "div-int-min-by-minus-two": Case(r_type(FN["div"], 8, 9), {8: INT_MIN, 9: 0xFFFF_FFFE},
                                     expect_hilo=(0, 0x4000_0000)),
    "div-truncates-toward-zero": Case(r_type(FN["div"], 8, 9), {8: (-7) & M32, 9: 2},
                                      expect_hilo=((-1) & M32, (-3) & M32)),
    "div-negative-divisor": Case(r_type(FN["div"], 8, 9), {8: 7, 9: (-2) & M32}, expect_hilo=(1, (-3) & M32)),
    "divu-int-min-by-minus-one": Case(r_type(FN["divu"], 8, 9), {8: INT_MIN, 9: M32}, expect_hilo=(INT_MIN, 0)),
    "mul-keeps-hilo": Case(r_type(FN2["mul"], 8, 9, 10, op=0x1C), {8: 0x10001, 9: 0x10001},
                           expect_regs={10: 0x20001}),
    "mult-rd-field-ignored": Case(r_type(FN["mult"], 8, 9, rd=10), {8: M32, 9: 2, 10: 5},
                                  expect_hilo=(M32, (-2) & M32)),
    "mfhi-rs-field-ignored": Case(r_type(FN["mfhi"], rs=3, rd=10), {3: 9}, expect_regs={10: 0x1111_1111}),
    "srl-rotate-bit-ignored": Case(r_type(FN["srl"], rs=1, rt=8, rd=9, sa=4), {8: 0x8000_000F},
                                   expect_regs={9: 0x0800_0000}),
    "srlv-rotate-bit-ignored": Case(r_type(FN["srlv"], 10, 8, 9, sa=1), {8: 0x8000_000F, 10: 36},
                                    expect_regs={9: 0x0800_0000}),
    "addu-sa-field-ignored": Case(r_type(FN["addu"], 8, 9, 10, sa=31), {8: 1, 9: 2}, expect_regs={10: 3}),
    "jr-hint-bits-ignored": Case(r_type(FN["jr"], 8, sa=0x10), {8: 0x0040_4000}, expect_pc=(PC + 4, 0x0040_4000)),
    "branch-in-delay-slot": Case(i_type(OP["beq"], 0, 0, OFF), next_pc=0x0060_0000,
                                 expect_pc=(0x0060_0000, TARGET)),
    "jump-in-delay-slot": Case((OP["j"] << 26) | 0x100, next_pc=0x0060_0000, expect_pc=(0x0060_0000, 0x400)),
    "add-overflow": Case(r_type(FN["add"], 8, 9, 10), {8: 0x7FFF_FFFF, 9: 1, 10: 5}, expect_exit=OVERFLOW),
    "add-negative-overflow": Case(r_type(FN["add"], 8, 9, 10), {8: INT_MIN, 9: M32}, expect_exit=OVERFLOW),
    "add-no-overflow-at-limit": Case(r_type(FN["add"], 8, 9, 10), {8: 0x7FFF_FFFE, 9: 1},
                                     expect_regs={10: 0x7FFF_FFFF}),
    "sub-overflow": Case(r_type(FN["sub"], 8, 9, 10), {8: INT_MIN, 9: 1}, expect_exit=OVERFLOW),
    "sub-overflow-minus-int-min": Case(r_type(FN["sub"], 8, 9, 10), {8: 0, 9: INT_MIN}, expect_exit=OVERFLOW),
    "sub-no-overflow-at-limit": Case(r_type(FN["sub"], 8, 9, 10), {8: M32, 9: 0x7FFF_FFFF},
                                     expect_regs={10: INT_MIN}),
    "addi-overflow": Case(i_type(OP["addi"], 8, 9, 1), {8: 0x7FFF_FFFF, 9: 4}, expect_exit=OVERFLOW),
    "addi-negative-overflow": Case(i_type(OP["addi"], 8, 9, -1), {8: INT_MIN}, expect_exit=OVERFLOW),
    "tgeiu-negative-immediate": Case(regimm(RI["tgeiu"], 8, -1), {8: 0xFFFF_FFFE}),
    "tgeiu-negative-immediate-fires": Case(regimm(RI["tgeiu"], 8, -2), {8: 0xFFFF_FFFE}, expect_exit=TRAP),
    "tltiu-sign-extended": Case(regimm(RI["tltiu"], 8, 0x8000), {8: 0x7FFF_FFFF}, expect_exit=TRAP),
    "tlti-signed": Case(regimm(RI["tlti"], 8, 0), {8: INT_MIN}, expect_exit=TRAP),
    "tge-equal-fires": Case(r_type(FN["tge"], 8, 9), {8: M32, 9: M32}, expect_exit=TRAP),
    "tlt-equal-passes": Case(r_type(FN["tlt"], 8, 9), {8: 5, 9: 5}),
    "teq-code-field-ignored": Case(r_type(FN["teq"], 8, 9) | (0x3FF << 6), {8: 1, 9: 1}, expect_exit=TRAP),
    # --- comparisons exactly at equality (the boundary a `<` / `<=` slip moves)
    "tlti-equal-passes": Case(regimm(RI["tlti"], 8, 5), {8: 5}),
    "tltiu-equal-passes": Case(regimm(RI["tltiu"], 8, -1), {8: M32}),
    "tgei-equal-fires": Case(regimm(RI["tgei"], 8, -3), {8: (-3) & M32}, expect_exit=TRAP),
    "tgei-below-passes": Case(regimm(RI["tgei"], 8, -3), {8: (-4) & M32}),
    "teqi-sign-extended-fires": Case(regimm(RI["teqi"], 8, -1), {8: M32}, expect_exit=TRAP),
    "tnei-equal-passes": Case(regimm(RI["tnei"], 8, -1), {8: M32}),
    "tltu-equal-passes": Case(r_type(FN["tltu"], 8, 9), {8: 9, 9: 9}),
    "tgeu-equal-fires": Case(r_type(FN["tgeu"], 8, 9), {8: INT_MIN, 9: INT_MIN}, expect_exit=TRAP),
    "tne-equal-passes": Case(r_type(FN["tne"], 8, 9), {8: 3, 9: 3}),
    "slt-equal": Case(r_type(FN["slt"], 8, 9, 10), {8: M32, 9: M32, 10: 7}, expect_regs={10: 0}),
    "sltu-equal": Case(r_type(FN["sltu"], 8, 9, 10), {8: 5, 9: 5, 10: 7}, expect_regs={10: 0}),
    "slti-equal": Case(i_type(OP["slti"], 8, 9, -5), {8: (-5) & M32, 9: 7}, expect_regs={9: 0}),
    "sltiu-equal": Case(i_type(OP["sltiu"], 8, 9, -5), {8: (-5) & M32, 9: 7}, expect_regs={9: 0}),
    "blez-zero-taken": Case(i_type(OP["blez"], 8, 0, OFF), {8: 0}, expect_pc=(PC + 4, TARGET)),
    "bgtz-zero-not-taken": Case(i_type(OP["bgtz"], 8, 0, OFF), {8: 0}),
    "bltz-zero-not-taken": Case(regimm(RI["bltz"], 8, OFF), {8: 0}),
    "bgez-zero-taken": Case(regimm(RI["bgez"], 8, OFF), {8: 0}, expect_pc=(PC + 4, TARGET)),
    "sltiu-sign-extended": Case(i_type(OP["sltiu"], 8, 9, -1), {8: 0xFFFF_FFFE}, expect_regs={9: 1}),
    "r0-read-from-state": Case(r_type(FN["addu"], 0, 8, 9), {0: 5, 8: 1}, expect_regs={9: 6}),
    "r0-write-dropped": Case(i_type(OP["addiu"], 8, 0, 1), {8: 1}),
    "pc-wraps": Case(r_type(FN["sync"]), pc=0xFFFF_FFF8, next_pc=0xFFFF_FFFC, expect_pc=(0xFFFF_FFFC, 0)),
    "unaligned-pc-faults": Case(0, pc=PC + 2, expect_exit=UNALIGNED_PC),
    "unaligned-pc-odd": Case(0, pc=PC + 1, next_pc=PC + 7, expect_exit=UNALIGNED_PC),
    "lw-unaligned": Case(i_type(OP["lw"], 8, 9, 2), {8: DATA}, expect_exit=UNALIGNED),
    "lh-unaligned": Case(i_type(OP["lh"], 8, 9, 3), {8: DATA}, expect_exit=UNALIGNED),
    "sh-unaligned": Case(i_type(OP["sh"], 8, 9, 1), {8: DATA, 9: 5}, expect_exit=UNALIGNED),
    "sw-unaligned": Case(i_type(OP["sw"], 8, 9, 1), {8: DATA, 9: 5}, expect_exit=UNALIGNED),
    "lh-sign-extends": Case(i_type(OP["lh"], 8, 9, 2), {8: DATA}, mem={DATA: 0x8001_0000},
                            expect_regs={9: 0xFFFF_8001}),
    "lwl-k1": Case(i_type(OP["lwl"], 8, 9, 1), {8: DATA, 9: 0xAABB_CCDD}, mem={DATA: 0x4433_2211},
                   expect_regs={9: 0x2211_CCDD}),
    "lwr-k1": Case(i_type(OP["lwr"], 8, 9, 1), {8: DATA, 9: 0xAABB_CCDD}, mem={DATA: 0x4433_2211},
                   expect_regs={9: 0xAA44_3322}),
    "swl-k2": Case(i_type(OP["swl"], 8, 9, 2), {8: DATA, 9: 0xAABB_CCDD}, mem={DATA: 0x4433_2211},
                   expect_mem={DATA: 0x44AA_BBCC}),
    "swr-k2": Case(i_type(OP["swr"], 8, 9, 2), {8: DATA, 9: 0xAABB_CCDD}, mem={DATA: 0x4433_2211},
                   expect_mem={DATA: 0xCCDD_2211}),
    "sb-k3": Case(i_type(OP["sb"], 8, 9, 3), {8: DATA, 9: 0x1234_56AB}, mem={DATA: 0x4433_2211},
                  expect_mem={DATA: 0xAB33_2211}),
    "address-wraps": Case(i_type(OP["lw"], 8, 9, -4), {8: 0}, mem={0xFFFF_FFFC: 0x0BAD_F00D},
                          expect_regs={9: 0x0BAD_F00D}),
}


@pytest.fixture(scope="module")
def mips() -> Contract:
    return LocalEVM().deploy("MIPS", compile_mips())


def _expected(case: Case, pre: State) -> State:
    """The post-state the row describes, built from the pre-state."""
    post = pre.copy()
    post.step += 1
    if case.expect_exit is not None:
        post.exited, post.exit_code = True, case.expect_exit
        return post
    for r, v in case.expect_regs.items():
        post.regs[r] = v
    for addr, v in case.expect_mem.items():
        post.memory.write_u32(addr, v)
    if case.expect_hilo is not None:
        post.hi, post.lo = case.expect_hilo
    post.pc, post.next_pc = case.expect_pc or (pre.next_pc, (pre.next_pc + 4) & M32)
    return post


def _check(mips: Contract, pre: State, expected: State) -> None:
    state = pre.copy()
    w = step_with_witness(state)
    assert (state.pc, state.next_pc, state.hi, state.lo, state.exited, state.exit_code, state.step) == (
        expected.pc, expected.next_pc, expected.hi, expected.lo, expected.exited, expected.exit_code,
        expected.step), "stepper: control/HI/LO/exit differ from the table"
    assert state.regs == expected.regs, "stepper: registers differ from the table"
    assert state.memory.root() == expected.memory.root(), "stepper: memory differs from the table"
    assert mips.call("step", w.state, w.proof) == expected.hash(), "MIPS.sol differs from the table"


@pytest.mark.parametrize("name", sorted(CASES))
def test_table(mips: Contract, name: str) -> None:
    case = CASES[name]
    pre = case.state()
    _check(mips, pre, _expected(case, pre))


def _unimplemented_words() -> list[int]:
    """One word (with non-zero register fields) per unimplemented opcode/funct/rt slot."""
    fields = (9 << 21) | (10 << 16) | (11 << 11) | (3 << 6)
    words = [(op << 26) | fields for op in range(64) if op not in isa.OPCODES
             and op not in (isa.OP_SPECIAL, isa.OP_REGIMM, isa.OP_SPECIAL2)]
    words += [(fields & ~0x3F) | f for f in range(64) if f not in isa.SPECIAL]
    words += [(isa.OP_SPECIAL2 << 26) | (fields & ~0x3F) | f for f in range(64) if f not in isa.SPECIAL2]
    words += [(isa.OP_REGIMM << 26) | (9 << 21) | (rt << 16) | 0x10 for rt in range(32) if rt not in isa.REGIMM]
    return words


def test_unimplemented_slots_are_exhaustive() -> None:
    """The number of unimplemented slots the next test walks (a shrinking table must be deliberate)."""
    assert len(_unimplemented_words()) == 64 - 3 - len(isa.OPCODES) + 64 - len(isa.SPECIAL) \
        + 64 - len(isa.SPECIAL2) + 32 - len(isa.REGIMM)
    assert {"beql", "bgezall", "ll", "sc", "syscall", "break", "sync", "pref"} <= (
        set(isa.OPCODES.values()) | set(isa.SPECIAL.values()) | set(isa.REGIMM.values()))


def test_every_unimplemented_slot_faults_0x81(mips: Contract) -> None:
    """Every opcode, SPECIAL/SPECIAL2 funct and REGIMM rt slot outside the ISA table halts 0x81, nothing else."""
    for word in _unimplemented_words():
        pre = Case(word, {9: DATA, 10: 1, 11: 2}).state()
        expected = pre.copy()
        expected.step += 1
        expected.exited, expected.exit_code = True, INVALID
        _check(mips, pre, expected)


def test_unaligned_pc_after_jump(mips: Contract) -> None:
    """jr to an odd address: the delay slot runs, then the fetch at the unaligned pc halts 0x87."""
    pre = Case(r_type(FN["jr"], 8), {8: 0x0040_2002}).state()
    pre.memory.write_u32(PC + 4, i_type(OP["addiu"], 0, 9, 7))          # delay slot: addiu $t1, $0, 7
    mid = pre.copy()
    mid.step, mid.pc, mid.next_pc = 42, PC + 4, 0x0040_2002
    _check(mips, pre, mid)
    after_slot = mid.copy()
    after_slot.step, after_slot.pc, after_slot.next_pc = 43, 0x0040_2002, 0x0040_2006
    after_slot.regs[9] = 7
    _check(mips, mid, after_slot)
    halted = after_slot.copy()
    halted.step, halted.exited, halted.exit_code = 44, True, UNALIGNED_PC
    _check(mips, after_slot, halted)
    frozen = halted.copy()                                               # an exited state never moves
    w = step_with_witness(frozen)
    assert frozen.hash() == halted.hash() == mips.call("step", w.state, w.proof)
