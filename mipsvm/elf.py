"""Load a static little-endian MIPS32 ELF into an initial VM state (docs/vm-spec.md §7)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from mipsvm.layout import PROGRAM_BASE, PROGRAM_END, STACK_TOP
from mipsvm.memory import Memory
from mipsvm.state import State

ELF_MAGIC = b"\x7fELF"
ELFCLASS32 = 1
ELFDATA2LSB = 1
ET_EXEC = 2
ET_DYN = 3
EM_MIPS = 8
PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3
PF_X = 1

_EHDR = struct.Struct("<16sHHIIIIIHHHHHH")   # Elf32_Ehdr
_PHDR = struct.Struct("<IIIIIIII")           # Elf32_Phdr
SP_REG = 29


class ElfError(ValueError):
    """The file is not a static little-endian MIPS32 executable the VM can run."""


@dataclass(frozen=True)
class Segment:
    """One PT_LOAD segment: `data` at `vaddr`, zero-filled up to `memsz` bytes."""

    vaddr: int
    data: bytes
    memsz: int
    executable: bool


@dataclass(frozen=True)
class Program:
    """A loadable program: entry point and its PT_LOAD segments."""

    entry: int
    segments: tuple[Segment, ...]

    def text_words(self) -> list[tuple[int, int]]:
        """(address, word) of every aligned word in the executable segments."""
        out = []
        for seg in self.segments:
            if seg.executable:
                for off in range(0, len(seg.data) - 3, 4):
                    out.append((seg.vaddr + off, int.from_bytes(seg.data[off:off + 4], "little")))
        return out


def _read_bytes(path_or_bytes: str | Path | bytes | bytearray) -> bytes:
    if isinstance(path_or_bytes, bytes | bytearray):
        return bytes(path_or_bytes)
    path = Path(path_or_bytes)
    if not path.is_file():
        raise ElfError(f"{path}: no such ELF file")
    return path.read_bytes()


def _check_ident(ident: bytes, raw_len: int) -> None:
    if ident[:4] != ELF_MAGIC:
        raise ElfError("not an ELF file (bad magic); build the program with mipsvm.toolchain")
    if ident[4] != ELFCLASS32:
        raise ElfError("64-bit ELF: the VM runs 32-bit MIPS only (compile with -target mipsel-...)")
    if ident[5] != ELFDATA2LSB:
        raise ElfError("big-endian ELF: the VM is little-endian MIPS (use -target mipsel-..., not mips-)")


def load_elf(path_or_bytes: str | Path | bytes | bytearray) -> Program:
    """Parse and validate a static mipsel ELF; raises ElfError saying what is wrong and how to fix it."""
    raw = _read_bytes(path_or_bytes)
    if len(raw) < _EHDR.size:
        raise ElfError(f"file too short for an ELF header ({len(raw)} bytes)")
    _check_ident(raw[:16], len(raw))
    (_, e_type, e_machine, _, e_entry, e_phoff, _, _, _, e_phentsize, e_phnum, _, _, _) = \
        _EHDR.unpack_from(raw, 0)
    if e_machine != EM_MIPS:
        raise ElfError(f"ELF machine {e_machine} is not MIPS ({EM_MIPS}); cross-compile for mipsel")
    if e_type == ET_DYN:
        raise ElfError("position-independent/shared ELF (ET_DYN): link a static executable "
                       "(-static -fno-pic)")
    if e_type != ET_EXEC:
        raise ElfError(f"ELF type {e_type} is not an executable (ET_EXEC); link the program")
    if e_phnum == 0:
        raise ElfError("ELF has no program headers; nothing to load")
    if e_phentsize != _PHDR.size or e_phoff + e_phnum * _PHDR.size > len(raw):
        raise ElfError("ELF program header table is truncated or malformed")
    segments = []
    for i in range(e_phnum):
        (p_type, p_offset, p_vaddr, _, p_filesz, p_memsz, p_flags, _) = \
            _PHDR.unpack_from(raw, e_phoff + i * _PHDR.size)
        if p_type in (PT_INTERP, PT_DYNAMIC):
            raise ElfError("dynamically linked ELF (PT_INTERP/PT_DYNAMIC): link with -static")
        if p_type != PT_LOAD or p_memsz == 0:
            continue
        if p_filesz > p_memsz or p_offset + p_filesz > len(raw):
            raise ElfError(f"segment {i} at {p_vaddr:#x}: file size exceeds memory size or file")
        if p_vaddr < PROGRAM_BASE or p_vaddr + p_memsz > PROGRAM_END:
            raise ElfError(f"segment {i} [{p_vaddr:#x}, {p_vaddr + p_memsz:#x}) lies outside the "
                           f"program region [{PROGRAM_BASE:#x}, {PROGRAM_END:#x}); link with "
                           "mipsvm/data/link.ld")
        segments.append(Segment(p_vaddr, raw[p_offset:p_offset + p_filesz], p_memsz,
                                bool(p_flags & PF_X)))
    if not segments:
        raise ElfError("ELF has no loadable (PT_LOAD) segment")
    spans = sorted((s.vaddr, s.vaddr + s.memsz) for s in segments)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise ElfError(f"ELF segments overlap at {start:#x}")
    if e_entry & 3:
        raise ElfError(f"entry point {e_entry:#x} is not 4-byte aligned")
    if not any(s.executable and s.vaddr <= e_entry < s.vaddr + len(s.data) for s in segments):
        raise ElfError(f"entry point {e_entry:#x} is not inside an executable segment")
    return Program(e_entry, tuple(segments))


def initial_state(program: Program, memory: Memory | None = None) -> State:
    """State at step 0: segments loaded, pc = entry, nextPC = entry + 4, $sp = STACK_TOP."""
    mem = Memory() if memory is None else memory
    for seg in program.segments:
        mem.write(seg.vaddr, seg.data)
        bss = seg.memsz - len(seg.data)
        if bss:
            mem.write(seg.vaddr + len(seg.data), bytes(bss))
    regs = [0] * 32
    regs[SP_REG] = STACK_TOP
    return State(memory=mem, pc=program.entry, next_pc=program.entry + 4, regs=regs)
