"""ELF loader: a good program loads; every kind of bad ELF is rejected with a clear message."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from mipsvm.elf import ElfError, initial_state, load_elf
from mipsvm.layout import PROGRAM_BASE, STACK_TOP
from mipsvm.toolchain import compile_elf

PROGRAMS = Path(__file__).parent / "programs"


@pytest.fixture(scope="module")
def good_elf() -> bytes:
    return compile_elf([PROGRAMS / "exit42.c"]).read_bytes()


def _phdr_offset(raw: bytes, i: int) -> int:
    e_phoff = struct.unpack_from("<I", raw, 28)[0]
    return e_phoff + 32 * i


def _patch(raw: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(raw)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def test_good_elf_loads(good_elf: bytes) -> None:
    prog = load_elf(good_elf)
    assert prog.entry >= PROGRAM_BASE
    assert any(s.executable for s in prog.segments)
    st = initial_state(prog)
    assert st.pc == prog.entry and st.next_pc == prog.entry + 4
    assert st.regs[29] == STACK_TOP and sum(st.regs) == STACK_TOP
    assert st.step == 0 and not st.exited
    seg = prog.segments[0]
    assert st.memory.read(seg.vaddr, len(seg.data)) == seg.data
    assert prog.text_words()[0] == (seg.vaddr, int.from_bytes(seg.data[:4], "little"))


def test_load_from_path(tmp_path: Path, good_elf: bytes) -> None:
    path = tmp_path / "p.elf"
    path.write_bytes(good_elf)
    assert load_elf(path) == load_elf(good_elf)
    with pytest.raises(ElfError, match="no such"):
        load_elf(tmp_path / "missing.elf")


@pytest.mark.parametrize(("offset", "fmt", "value", "message"), [
    (0, "<B", 0x7E, "bad magic"),
    (4, "<B", 2, "64-bit"),
    (5, "<B", 2, "big-endian"),
    (18, "<H", 3, "not MIPS"),          # EM_386
    (16, "<H", 3, "ET_DYN"),
    (16, "<H", 1, "not an executable"),  # ET_REL
    (24, "<I", 0x0040_0002, "not 4-byte aligned"),
    (24, "<I", 0x0FFF_0000, "not inside an executable segment"),
])
def test_bad_header_rejected(good_elf: bytes, offset: int, fmt: str, value: int, message: str) -> None:
    with pytest.raises(ElfError, match=message):
        load_elf(_patch(good_elf, offset, fmt, value))


def test_too_short_rejected() -> None:
    with pytest.raises(ElfError, match="too short"):
        load_elf(b"\x7fELF")


def test_dynamic_rejected(good_elf: bytes) -> None:
    phnum = struct.unpack_from("<H", good_elf, 44)[0]
    last = _phdr_offset(good_elf, phnum - 1)
    with pytest.raises(ElfError, match="dynamically linked"):
        load_elf(_patch(good_elf, last, "<I", 3))   # PT_INTERP
    with pytest.raises(ElfError, match="dynamically linked"):
        load_elf(_patch(good_elf, last, "<I", 2))   # PT_DYNAMIC


@pytest.mark.parametrize("vaddr", [0x0000_1000, 0x0FFF_FFF0, 0x1000_0000, 0x7FFF_0000])
def test_segment_outside_program_region_rejected(good_elf: bytes, vaddr: int) -> None:
    first = _phdr_offset(good_elf, 0)
    with pytest.raises(ElfError, match="outside the program region"):
        load_elf(_patch(good_elf, first + 8, "<I", vaddr))


def test_overlapping_segments_rejected(good_elf: bytes) -> None:
    prog = load_elf(good_elf)
    if len(prog.segments) < 2:
        pytest.skip("needs a two-segment ELF")
    second = _phdr_offset(good_elf, 1)
    with pytest.raises(ElfError, match="overlap"):
        load_elf(_patch(good_elf, second + 8, "<I", prog.segments[0].vaddr))
