"""Gas of one MIPS.sol step transaction for the expensive cases (the benchmark and tests report these)."""

from __future__ import annotations

from contracts.evm import Contract, LocalEVM, compile_mips
from mipsvm.memory import Memory
from mipsvm.state import State
from mipsvm.stepper import Witness, step_with_witness

PC = 0x0040_0000
DATA = 0x1000_0000   # a data word whose neighbourhood is densely populated, so every proof byte is non-zero


def _i_type(op: int, rs: int, rt: int, imm: int) -> int:
    return (op << 26) | (rs << 21) | (rt << 16) | (imm & 0xFFFF)


# name -> instruction; base register $t0 = DATA, value register $t1
CASES: dict[str, int] = {
    "swl_unaligned_store": _i_type(0x2A, 8, 9, 1),
    "swr_unaligned_store": _i_type(0x2E, 8, 9, 2),
    "sw_store": _i_type(0x2B, 8, 9, 4),
    "lwl_unaligned_load": _i_type(0x22, 8, 9, 3),
    "addu_no_memory": (8 << 21) | (9 << 16) | (10 << 11) | 0x21,
}


def _dense_memory() -> Memory:
    """Memory whose pages around PC and DATA, and one page in every upper subtree, hold non-zero bytes."""
    mem = Memory()
    fill = bytes((i * 131 + 7) % 255 + 1 for i in range(4096))
    for base in (PC, DATA):
        mem.set_page(base >> 12, fill)
        mem.set_page((base >> 12) ^ 1, fill)
    for level in range(1, 20):           # a non-zero sibling at every page level above
        mem.set_page((DATA >> 12) ^ (1 << level), fill)
        mem.set_page((PC >> 12) ^ (1 << level), fill)
    return mem


def witness(insn: int) -> Witness:
    """The reference stepper's witness for `insn` at PC with $t0 = DATA, $t1 = 0xA1B2C3D4."""
    mem = _dense_memory()
    mem.write_u32(PC, insn)
    regs = [0] * 32
    regs[8], regs[9] = DATA, 0xA1B2C3D4
    return step_with_witness(State(mem, PC, PC + 4, regs=regs))


def step_gas(mips: Contract | None = None) -> dict[str, int]:
    """Gas used by a step transaction (intrinsic + calldata + execution) for each case in CASES."""
    if mips is None:
        mips = LocalEVM().deploy("MIPS", compile_mips())
    out: dict[str, int] = {}
    for name, insn in CASES.items():
        w = witness(insn)
        if mips.call("step", w.state, w.proof) != w.post_hash:
            raise AssertionError(f"MIPS.sol disagrees with the reference stepper on {name}")
        out[name] = mips.gas_used
    return out


def runtime_size(mips: Contract | None = None) -> int:
    """Deployed MIPS runtime size in bytes."""
    if mips is None:
        mips = LocalEVM().deploy("MIPS", compile_mips())
    return mips.evm.runtime_size(mips.address)


if __name__ == "__main__":
    contract = LocalEVM().deploy("MIPS", compile_mips())
    print(f"MIPS runtime: {runtime_size(contract)} bytes")
    for case, gas in step_gas(contract).items():
        print(f"{case:>22}: {gas} gas")
