"""MIPS32r1 instruction encodings: field extraction and the table of implemented mnemonics.

This module only names things; the semantics live in mipsvm/stepper.py.
"""

from __future__ import annotations

# --- primary opcodes (bits 31..26) -------------------------------------------------
OP_SPECIAL = 0x00
OP_REGIMM = 0x01
OP_SPECIAL2 = 0x1C

OPCODES: dict[int, str] = {
    0x02: "j", 0x03: "jal", 0x04: "beq", 0x05: "bne", 0x06: "blez", 0x07: "bgtz",
    0x08: "addi", 0x09: "addiu", 0x0A: "slti", 0x0B: "sltiu",
    0x0C: "andi", 0x0D: "ori", 0x0E: "xori", 0x0F: "lui",
    0x14: "beql", 0x15: "bnel", 0x16: "blezl", 0x17: "bgtzl",
    0x20: "lb", 0x21: "lh", 0x22: "lwl", 0x23: "lw", 0x24: "lbu", 0x25: "lhu", 0x26: "lwr",
    0x28: "sb", 0x29: "sh", 0x2A: "swl", 0x2B: "sw", 0x2E: "swr",
    0x30: "ll", 0x33: "pref", 0x38: "sc",
}

# --- SPECIAL (opcode 0) by funct (bits 5..0) ------------------------------------------
SPECIAL: dict[int, str] = {
    0x00: "sll", 0x02: "srl", 0x03: "sra", 0x04: "sllv", 0x06: "srlv", 0x07: "srav",
    0x08: "jr", 0x09: "jalr", 0x0A: "movz", 0x0B: "movn",
    0x0C: "syscall", 0x0D: "break", 0x0F: "sync",
    0x10: "mfhi", 0x11: "mthi", 0x12: "mflo", 0x13: "mtlo",
    0x18: "mult", 0x19: "multu", 0x1A: "div", 0x1B: "divu",
    0x20: "add", 0x21: "addu", 0x22: "sub", 0x23: "subu",
    0x24: "and", 0x25: "or", 0x26: "xor", 0x27: "nor",
    0x2A: "slt", 0x2B: "sltu",
    0x30: "tge", 0x31: "tgeu", 0x32: "tlt", 0x33: "tltu", 0x34: "teq", 0x36: "tne",
}

# --- REGIMM (opcode 1) by rt (bits 20..16) ----------------------------------------------
REGIMM: dict[int, str] = {
    0x00: "bltz", 0x01: "bgez", 0x02: "bltzl", 0x03: "bgezl",
    0x08: "tgei", 0x09: "tgeiu", 0x0A: "tlti", 0x0B: "tltiu", 0x0C: "teqi", 0x0E: "tnei",
    0x10: "bltzal", 0x11: "bgezal", 0x12: "bltzall", 0x13: "bgezall",
}

# --- SPECIAL2 (opcode 0x1c) by funct ------------------------------------------------------
SPECIAL2: dict[int, str] = {
    0x00: "madd", 0x01: "maddu", 0x02: "mul", 0x04: "msub", 0x05: "msubu",
    0x20: "clz", 0x21: "clo",
}

LOADS = frozenset({"lb", "lbu", "lh", "lhu", "lw", "lwl", "lwr", "ll"})
STORES = frozenset({"sb", "sh", "sw", "swl", "swr", "sc"})
# natural alignment required by each memory instruction (1 = none)
ALIGNMENT: dict[str, int] = {"lb": 1, "lbu": 1, "sb": 1, "lh": 2, "lhu": 2, "sh": 2,
                             "lw": 4, "sw": 4, "ll": 4, "sc": 4,
                             "lwl": 1, "lwr": 1, "swl": 1, "swr": 1}


def opcode(word: int) -> int:
    return word >> 26


def rs(word: int) -> int:
    return (word >> 21) & 0x1F


def rt(word: int) -> int:
    return (word >> 16) & 0x1F


def rd(word: int) -> int:
    return (word >> 11) & 0x1F


def sa(word: int) -> int:
    return (word >> 6) & 0x1F


def funct(word: int) -> int:
    return word & 0x3F


def imm16(word: int) -> int:
    return word & 0xFFFF


def simm16(word: int) -> int:
    """Sign-extended 16-bit immediate as a Python int."""
    return (word & 0xFFFF) - ((word & 0x8000) << 1)


def target26(word: int) -> int:
    return word & 0x03FF_FFFF


def mnemonic(word: int) -> str | None:
    """ISA name of the instruction `word` if the VM implements it, else None (it faults 0x81)."""
    op = word >> 26
    if op == OP_SPECIAL:
        return SPECIAL.get(funct(word))
    if op == OP_REGIMM:
        return REGIMM.get(rt(word))
    if op == OP_SPECIAL2:
        return SPECIAL2.get(funct(word))
    return OPCODES.get(op)


def is_implemented(word: int) -> bool:
    """True iff the VM executes `word` rather than faulting with 0x81 (invalid instruction)."""
    return mnemonic(word) is not None
