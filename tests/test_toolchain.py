"""Foundation: the mipsel cross-compiler, the solc shim, and both chains."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from unicorn import UC_ARCH_MIPS, UC_HOOK_INTR, UC_MODE_LITTLE_ENDIAN, UC_MODE_MIPS32, Uc
from unicorn.mips_const import UC_MIPS_REG_2, UC_MIPS_REG_4, UC_MIPS_REG_29

from contracts.chain import Anvil, eth_tester_web3
from contracts.compile import compile_contracts
from mipsvm import layout
from mipsvm.toolchain import compile_elf

FIXTURES = Path(__file__).parent / "fixtures"

FLOAT_PROGRAM = r"""
static volatile float a = 1.5f, b = 2.25f;
static volatile double d = 7.0;
int main(void) {
    float c = a * b + a / b;             /* 3.375 + 0.666.. = 4.0416.. */
    double e = d / 2.0 + (double)c;      /* 3.5 + 4.0416.. = 7.5416.. */
    return (int)(c * 10.0f) + (int)e;    /* 40 + 7 = 47 */
}
"""

COP1, COP1X = 0x11, 0x13
FPU_LOAD_STORE = {0x31, 0x35, 0x39, 0x3D}  # lwc1, ldc1, swc1, sdc1


def _text_words(elf_path: Path) -> list[int]:
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        data = elf.get_section_by_name(".text").data()
    return list(struct.unpack(f"<{len(data) // 4}I", data))


@pytest.fixture(scope="module")
def float_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("c") / "float_prog.c"
    src.write_text(FLOAT_PROGRAM)
    return compile_elf([src])


def test_elf_has_no_fpu_instructions(float_elf: Path) -> None:
    words = _text_words(float_elf)
    assert len(words) > 50  # soft-float code from compiler_rt is linked in
    fpu = [hex(w) for w in words if (w >> 26) in {COP1, COP1X, *FPU_LOAD_STORE}]
    assert fpu == []


def test_elf_is_static_mipsel_at_program_base(float_elf: Path) -> None:
    with open(float_elf, "rb") as f:
        elf = ELFFile(f)
        assert elf.header.e_machine == "EM_MIPS" and elf.little_endian and elf.elfclass == 32
        assert elf.header.e_entry >= layout.PROGRAM_BASE
        assert not any(s.header.p_type == "PT_INTERP" for s in elf.iter_segments())


def run_in_unicorn(elf_path: Path, max_instructions: int = 1_000_000) -> int:
    """Minimal loader + run: returns the exit code passed to syscall 4001."""
    mu = Uc(UC_ARCH_MIPS, UC_MODE_MIPS32 + UC_MODE_LITTLE_ENDIAN)
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        entry = elf.header.e_entry
        for seg in elf.iter_segments():
            if seg.header.p_type != "PT_LOAD" or seg.header.p_memsz == 0:
                continue
            start = seg.header.p_vaddr & ~0xFFF
            end = (seg.header.p_vaddr + seg.header.p_memsz + 0xFFF) & ~0xFFF
            for page in range(start, end, 0x1000):
                try:
                    mu.mem_map(page, 0x1000)
                except Exception:  # page already mapped by a previous segment
                    pass
            mu.mem_write(seg.header.p_vaddr, seg.data())
    mu.mem_map(layout.STACK_TOP - 0x10000, 0x10000)
    mu.reg_write(UC_MIPS_REG_29, layout.STACK_TOP)
    exits: list[int] = []

    def on_interrupt(uc: Uc, intno: int, _user: object) -> None:
        assert uc.reg_read(UC_MIPS_REG_2) == layout.SYS_EXIT
        exits.append(uc.reg_read(UC_MIPS_REG_4))
        uc.emu_stop()

    mu.hook_add(UC_HOOK_INTR, on_interrupt)
    mu.emu_start(entry, until=0, count=max_instructions)
    assert exits, "program did not exit"
    return exits[0]


def test_c_program_runs_in_unicorn(float_elf: Path) -> None:
    assert run_in_unicorn(float_elf) == 47


def test_compile_is_cached(float_elf: Path, tmp_path: Path) -> None:
    src = tmp_path / "float_prog.c"
    src.write_text(FLOAT_PROGRAM)
    before = float_elf.stat().st_mtime_ns
    assert compile_elf([src]) == float_elf
    assert float_elf.stat().st_mtime_ns == before


def _call_counter(w3) -> None:  # type: ignore[no-untyped-def]
    art = compile_contracts(FIXTURES / "sol")["Counter"]
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact())
    counter = w3.eth.contract(address=receipt.contractAddress, abi=art["abi"])
    tx = counter.functions.bump(5).transact()
    logs = counter.events.Bumped().process_receipt(w3.eth.wait_for_transaction_receipt(tx))
    assert logs[0].args["count"] == 5
    assert counter.functions.count().call() == 5


def test_solidity_on_eth_tester() -> None:
    _call_counter(eth_tester_web3())


def test_solidity_on_anvil() -> None:
    with Anvil() as node:
        _call_counter(node.web3())
    assert node.proc is not None and node.proc.poll() is not None
