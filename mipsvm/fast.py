"""The fast runner: bulk execution on unicorn with exact step counts (docs/vm-spec.md).

unicorn executes the program; the reference stepper (`mipsvm.stepper`, the spec) executes every
step unicorn cannot be trusted with:

- step counting: a C block hook (mipsvm/csrc/stephook.c) counts whole translation blocks and
  stops before a block that would pass the target; the few remaining instructions (less than a
  block) run on the stepper, so every stop is exact, delay-slot boundaries included;
- a state inside a delay slot (unicorn cannot start there), or at an unaligned pc, steps on the
  stepper;
- any fault (interrupt or unicorn error) rewinds unicorn to the last synced state, re-runs to the
  start of the faulting block and lets the stepper execute from there, so halted states are the
  spec's by construction;
- instructions unicorn might execute differently from the spec (anything outside a strict
  whitelist of canonical encodings: branch-likely, ll/sc, sync, pref, COP*, non-zero reserved
  fields) are found when a code page is scanned and get a narrow (native) code hook that hands
  them to the stepper. The pages of the program region are scanned when the engine starts; any
  other page only if it is ever executed (first fetch; a page with long straight runs is then
  refused and scanned by a renewed engine, since unicorn translates on after the hook). Only
  scanned pages get the no-op hooks that keep unicorn's blocks short, so data pages (the
  model's weights) cost unicorn nothing.

Memory is mapped lazily (an unmapped access maps a zero page, and once unicorn stops, the rest
of its 256 KiB chunk: a growing arena or stack costs one event per chunk, not per page).
Pages are mapped without write permission; a write to a read-only page is
caught by a write-protection hook that makes its group of 16 pages writable and lets unicorn go
on (no stop, no replay) - except in a delay slot, where unicorn does not resume exactly after a
permission change: that is an event. Syncing copies the writable pages that changed; at every
sync stop and checkpoint, groups unchanged for DEMOTE_AFTER of them are write-protected again,
so a sync costs O(pages written lately). unicorn's cost per mapping or permission change grows
with its number of regions, hence groups and chunks rather than single pages. An event (first
touch of a chunk, a delay-slot write fault, a fault) costs a replay from the last sync; a long
unicorn run stops between blocks to sync every 1/32 of the steps run so far (2**20 to 2**24
steps), so a late event replays little. Hooks added after unicorn has run (a page first
executed late) flush the translation cache; exact stops flush nothing.
Limitations: a page is scanned once, so words written into code at run time are not rescanned
(self-modifying code may run on unicorn where the stepper should);
unicorn runs in kernel mode, where kseg0/kseg1 (0x80000000-0xBFFFFFFF) alias low physical
memory while the spec's memory is flat; programs that follow the memory map touch neither.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from unicorn import (
    UC_ARCH_MIPS,
    UC_HOOK_BLOCK,
    UC_HOOK_CODE,
    UC_HOOK_INTR,
    UC_HOOK_MEM_FETCH_PROT,
    UC_HOOK_MEM_UNMAPPED,
    UC_HOOK_MEM_WRITE_PROT,
    UC_MEM_FETCH_UNMAPPED,
    UC_MEM_WRITE_UNMAPPED,
    UC_MODE_LITTLE_ENDIAN,
    UC_MODE_MIPS32,
    UC_PROT_EXEC,
    UC_PROT_READ,
    UC_PROT_WRITE,
    Uc,
    UcError,
)
from unicorn import mips_const as mc
from unicorn.unicorn_py3.unicorn import uclib

from mipsvm import stepper
from mipsvm.layout import MAX_STEPS, MODEL_BASE, MODEL_END, PAGE_SIZE, PROGRAM_BASE, PROGRAM_END
from mipsvm.memory import ZERO_PAGE, Memory
from mipsvm.state import State
from mipsvm.toolchain import ToolchainError, host_library

PAGE_SHIFT = 12
GROUP_SHIFT = 4                  # write tracking: a write fault makes 2**4 pages writable
DEMOTE_AFTER = 4                 # a group unchanged for this many demotions is made read-only
CHUNK_SHIFT = 6                  # a map event maps the 2**6 pages (256 KiB) around its page
MASK32 = 0xFFFF_FFFF
TCG_BUFFER_SIZE = 32 << 20       # translated-code cache (unicorn's 1 GiB default is slow to set up)
_GPRS = [mc.UC_MIPS_REG_0 + i for i in range(32)]
_REGS = [*_GPRS, mc.UC_MIPS_REG_HI, mc.UC_MIPS_REG_LO]
# register ids of the batched register calls (unicorn's Python batch API converts value by value);
# the value buffers are per engine: the native call releases the GIL, so runners in two threads
# would otherwise read each other's registers
_REG_IDS = (ctypes.c_int32 * len(_REGS))(*_REGS)
STORE_OPCODES = frozenset({0x28, 0x29, 0x2A, 0x2B, 0x2E, 0x38})  # sb sh swl sw swr sc
HOOK_SOURCE = Path(__file__).resolve().parent / "csrc" / "stephook.c"


class FastRunnerError(RuntimeError):
    """The fast runner could not continue (native hook build failed, or unicorn misbehaved)."""


# ====================================================================================
# The native block hook
# ====================================================================================

class BlockCounter(ctypes.Structure):
    """Mirror of `struct block_counter` in mipsvm/csrc/stephook.c."""

    _fields_ = [("executed", ctypes.c_uint64), ("limit", ctypes.c_uint64),
                ("block_pc", ctypes.c_uint64), ("block_base", ctypes.c_uint64),
                ("block_size", ctypes.c_uint64), ("stopped", ctypes.c_uint64),
                ("emu_stop", ctypes.c_void_p), ("hook_stop", ctypes.c_uint64)]


def build_hook_library() -> Path:
    """Compile mipsvm/csrc/stephook.c into build/native (cached by source hash)."""
    try:
        return host_library(HOOK_SOURCE, ["-O2"])
    except ToolchainError as exc:
        raise FastRunnerError(f"the fast runner's native hook: {exc}") from None


_HOOK_LIB: ctypes.CDLL | None = None


def hook_library() -> ctypes.CDLL:
    """The loaded native hook library (built on first use)."""
    global _HOOK_LIB
    if _HOOK_LIB is None:
        _HOOK_LIB = ctypes.CDLL(str(build_hook_library()))
    return _HOOK_LIB


# ====================================================================================
# Which words unicorn may run: a strict whitelist of canonical MIPS32r1 encodings
# ====================================================================================

def _field(words: np.ndarray, shift: int, bits: int) -> np.ndarray:
    return (words >> np.uint32(shift)) & np.uint32((1 << bits) - 1)


_SPECIAL_ZERO_FIELDS = {  # funct -> (must-be-zero field mask)
    0x00: 0x03E0_0000, 0x02: 0x03E0_0000, 0x03: 0x03E0_0000,            # sll srl sra: rs
    0x04: 0x0000_07C0, 0x06: 0x0000_07C0, 0x07: 0x0000_07C0,            # sllv srlv srav: sa
    0x08: 0x001F_FFC0,                                                  # jr: rt rd sa
    0x09: 0x001F_07C0,                                                  # jalr: rt sa
    0x0A: 0x0000_07C0, 0x0B: 0x0000_07C0,                               # movz movn
    0x10: 0x03FF_07C0, 0x12: 0x03FF_07C0,                               # mfhi mflo: rs rt sa
    0x11: 0x001F_FFC0, 0x13: 0x001F_FFC0,                               # mthi mtlo: rt rd sa
    0x18: 0x0000_FFC0, 0x19: 0x0000_FFC0, 0x1A: 0x0000_FFC0, 0x1B: 0x0000_FFC0,  # mult.. : rd sa
    **{f: 0x0000_07C0 for f in (0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B)},
    **{f: 0 for f in (0x0C, 0x0D, 0x30, 0x31, 0x32, 0x33, 0x34, 0x36)},   # syscall break traps
}
_REGIMM_OK = (0x00, 0x01, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0E, 0x10, 0x11)  # no branch-likely
_PLAIN_OPCODES = (0x02, 0x03, 0x04, 0x05, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E,
                  0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x28, 0x29, 0x2A, 0x2B, 0x2E)
_SPECIAL2_ZERO_FIELDS = {0x00: 0xFFC0, 0x01: 0xFFC0, 0x04: 0xFFC0, 0x05: 0xFFC0,  # madd..: rd sa
                         0x02: 0x07C0}                                          # mul: sa


def _table(size: int, entries: Iterable[int] | dict[int, int], dtype: type = bool) -> np.ndarray:
    out = np.zeros(size, dtype=dtype)
    if isinstance(entries, dict):
        for k, v in entries.items():
            out[k] = v
    else:
        out[list(entries)] = True
    return out


_OK_OPCODE = _table(64, _PLAIN_OPCODES)
# syscall and break always go to the stepper; every other listed funct (traps included: the
# compiler puts `teq rt, $zero` after each div) runs on unicorn, which raises when a trap fires.
_OK_FUNCT = _table(64, [f for f in _SPECIAL_ZERO_FIELDS if f not in (0x0C, 0x0D)])
_ZERO_MASK = _table(64, _SPECIAL_ZERO_FIELDS, np.uint32)
_OK_REGIMM = _table(32, _REGIMM_OK)
_OK_FUNCT2 = _table(64, [*_SPECIAL2_ZERO_FIELDS, 0x20, 0x21])
_ZERO_MASK2 = _table(64, {**_SPECIAL2_ZERO_FIELDS, 0x20: 0x07C0, 0x21: 0x07C0}, np.uint32)
_BRANCH_OPCODE = _table(64, (2, 3, 4, 5, 6, 7, 0x14, 0x15, 0x16, 0x17))
_JUMP_FUNCT = _table(64, (0x08, 0x09))
_BRANCH_RT = _table(32, (0, 1, 2, 3, 0x10, 0x11, 0x12, 0x13))


def unicorn_safe(words: np.ndarray) -> np.ndarray:
    """Boolean mask: True where unicorn is trusted to execute the word exactly as the spec does."""
    w = words.astype(np.uint32)
    op = w >> np.uint32(26)
    funct = w & np.uint32(0x3F)
    rs, rt, rd = _field(w, 21, 5), _field(w, 16, 5), _field(w, 11, 5)
    ok = _OK_OPCODE[op]
    ok |= ((op == 6) | (op == 7)) & (rt == 0)                           # blez bgtz
    ok |= (op == 0x0F) & (rs == 0)                                       # lui
    special = _OK_FUNCT[funct] & ((w & _ZERO_MASK[funct]) == 0)
    special &= ~((funct == 0x09) & (rs == rd))                           # jalr rd = rs
    ok |= (op == 0) & special
    regimm = _OK_REGIMM[rt] & ~(((rt == 0x10) | (rt == 0x11)) & (rs == 31))
    ok |= (op == 1) & regimm
    special2 = _OK_FUNCT2[funct] & ((w & _ZERO_MASK2[funct]) == 0)
    special2 &= ~(((funct == 0x20) | (funct == 0x21)) & (rt != rd))      # clz clo: rt = rd
    ok |= (op == 0x1C) & special2
    return ok


def _page_runs(indices: list[int]) -> list[tuple[int, int]]:
    """(first page, page count) for each run of consecutive page indices (sorted input)."""
    runs: list[tuple[int, int]] = []
    for idx in indices:
        if runs and runs[-1][0] + runs[-1][1] == idx:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((idx, 1))
    return runs


LONG_RUN = 200   # straight-line words that make a page need short blocks (two pages' runs < 450)


def _control(words: np.ndarray) -> np.ndarray:
    """Boolean mask of branches and jumps (words with a delay slot)."""
    w = words.astype(np.uint32)
    op = w >> np.uint32(26)
    return (_BRANCH_OPCODE[op] | ((op == 0) & _JUMP_FUNCT[w & np.uint32(0x3F)])
            | ((op == 1) & _BRANCH_RT[_field(w, 16, 5)]))


def _long_straight_runs(words: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) word ranges of >= LONG_RUN consecutive words without a branch or jump."""
    control = _control(words)
    edges = np.flatnonzero(np.concatenate(([True], control, [True]))) - 1
    lengths = np.diff(edges) - 1
    return [(int(edges[i]) + 1, int(edges[i + 1])) for i in np.flatnonzero(lengths >= LONG_RUN)]


def has_delay_slot(word: int) -> bool:
    """True for branches and jumps (the instruction after them is their delay slot)."""
    op = word >> 26
    if op == 0:
        return (word & 0x3F) in (0x08, 0x09)
    if op == 1:
        rt = (word >> 16) & 0x1F
        return rt <= 3 or 0x10 <= rt <= 0x13
    return op in (2, 3, 4, 5, 6, 7, 0x14, 0x15, 0x16, 0x17)


# ====================================================================================
# The unicorn engine with lazy pages and write tracking
# ====================================================================================

class Engine:
    """A unicorn MIPS32 (4Kc: R1, no FPU) with lazily mapped pages and write tracking.

    A first touch of a page, a write fault in a delay slot and a first execution of a page are
    *events*: where unicorn stops after one depends on the kind of access and on delay slots
    (measured: sometimes at the faulting instruction, sometimes after the block; and a delay
    slot's write fault handled in place resumes wrongly), so the block count is not trusted. The
    engine stops at the first event and remembers the count before the block it happened in
    (`event_base`); the runner rewinds to its last sync and replays exactly to that count.
    A replay meets no event: the pages it touches are already mapped and writable.
    """

    def __init__(self, memory: Memory, code_pages: Iterable[int] = ()) -> None:
        self.uc = Uc(UC_ARCH_MIPS, UC_MODE_MIPS32 | UC_MODE_LITTLE_ENDIAN, mc.UC_CPU_MIPS32_4KC)
        self.uc.ctl_set_tcg_buffer_size(TCG_BUFFER_SIZE)
        self._reg_values = (ctypes.c_uint32 * len(_REGS))()
        self._reg_ptrs = (ctypes.c_void_p * len(_REGS))(
            *[ctypes.addressof(self._reg_values) + 4 * i for i in range(len(_REGS))])
        self.perms: dict[int, int] = {}
        self.writable: set[int] = set()      # pages unicorn may write (read at every sync)
        self.scanned: set[int] = set()       # executable pages (scanned since last changed)
        self.stop_addrs: set[int] = set()    # words handed to the stepper (code hooks)
        self.events = 0                      # runs stopped by an event (each replayed)
        self.page_faults = 0                 # first writes to read-only pages, handled inline
        self.renewals = 0
        self.pending_stops: set[int] = set()  # hooks to add once unicorn has stopped
        self.pending_maps: set[int] = set()   # code pages to scan once unicorn has stopped
        self.pending_chunks: set[int] = set()  # zero chunks to map once unicorn has stopped
        self.demotions = 0
        self.changed_at: dict[int, int] = {}   # writable page -> demotion count at its last change
        self.pending_ranges: set[tuple[int, int]] = set()  # long straight runs: nop code hooks
        self.short_ranges: set[tuple[int, int]] = set()
        self.poisoned = False
        self.started = False                 # nothing translated yet (no cache to flush)
        self._install_hooks()
        model_pages = [i for i in memory.pages() if MODEL_BASE <= i << PAGE_SHIFT < MODEL_END]
        for first, count in _page_runs(sorted(model_pages)):
            # the model blob is read-only data: one region per run of pages (unicorn's cost per
            # mapping grows with the number of regions, so page by page was quadratic)
            self.uc.mem_map(first << PAGE_SHIFT, count * PAGE_SIZE, UC_PROT_READ)
            self.uc.mem_write(first << PAGE_SHIFT,
                              b"".join(memory._pages[i] for i in range(first, first + count)))
            for idx in range(first, first + count):
                self.perms[idx] = UC_PROT_READ
        others = [i for i in memory.pages() if i not in self.perms]
        for first, count in _page_runs(others):      # one mapping per run of pages, too
            self.uc.mem_map(first << PAGE_SHIFT, count * PAGE_SIZE, UC_PROT_READ)
            self.uc.mem_write(first << PAGE_SHIFT,
                              b"".join(memory._pages[i] for i in range(first, first + count)))
            for idx in range(first, first + count):
                self.perms[idx] = UC_PROT_READ
        # the program region holds the code: its pages are scanned now, so that a code page first
        # executed late in a run costs no event (and no replay); other pages are scanned (and
        # hooked) only if they are ever executed
        program = [i for i in memory.pages() if PROGRAM_BASE <= i << PAGE_SHIFT < PROGRAM_END]
        for idx in code_pages:
            if idx not in self.perms:
                self._map(idx, UC_PROT_READ)
        for first, count in _page_runs(sorted({*program, *code_pages})):
            self._make_executable(first, count)
        self._add_pending_stops()
        self._reset_run_flags()
        self._clean_cpu = self.uc.context_save()

    def close(self) -> None:
        """Free unicorn's memory now (the engine is unusable afterwards). Without this it lasts
        until Python's cycle collector runs: unicorn's hooks refer back to the engine."""
        finalizer = getattr(self.uc, "_Uc__finalizer", None)   # closes the native handle once
        if finalizer is not None:
            finalizer()

    def reset_cpu(self, regs: list[int], hi: int, lo: int) -> None:
        """Pristine CPU (no pending delay slot, no exception level) with these registers."""
        self.uc.context_restore(self._clean_cpu)
        self.write_regs(regs, hi, lo)

    def _reset_run_flags(self) -> None:
        self.event: str | None = None
        self.event_base = 0
        self.event_size = 0
        self.fault = False
        self.hook_stop: int | None = None

    # --- pages ---------------------------------------------------------------------
    def _map(self, idx: int, perms: int) -> None:
        self.uc.mem_map(idx << PAGE_SHIFT, PAGE_SIZE, perms)
        self.perms[idx] = perms

    def _protect(self, idx: int, perms: int) -> None:
        if self.perms[idx] != perms:
            self.uc.mem_protect(idx << PAGE_SHIFT, PAGE_SIZE, perms)
            self.perms[idx] = perms

    def _shorten_long_runs(self, idx: int, data: bytes) -> None:
        """unicorn 2.1.4 crashes translating a block of ~450+ straight-line instructions; a
        (native, no-op) code hook over each long straight run of an executable page keeps its
        blocks short."""
        words = np.frombuffer(data, dtype="<u4")
        base = idx << PAGE_SHIFT
        for start, end in _long_straight_runs(words):
            if (base + 4 * start, base + 4 * end - 1) not in self.short_ranges:
                self.short_ranges.add((base + 4 * start, base + 4 * end - 1))
                self.pending_ranges.add((base + 4 * start, base + 4 * end - 1))

    def _make_executable(self, idx: int, count: int = 1) -> None:
        """Scan pages idx .. idx + count - 1 (mapped) for words the stepper must run, hook them,
        then allow execution."""
        self._scan(idx, bytes(self.uc.mem_read(idx << PAGE_SHIFT, count * PAGE_SIZE)))
        pages = range(idx, idx + count)
        self.scanned.update(pages)
        perms = {self.perms[page] | UC_PROT_EXEC for page in pages}
        if len(perms) == 1:          # one call for the run (a call per page splits mappings)
            self.uc.mem_protect(idx << PAGE_SHIFT, count * PAGE_SIZE, perms.pop())
            self.perms.update(dict.fromkeys(pages, self.perms[idx] | UC_PROT_EXEC))
        else:
            for page in pages:
                self._protect(page, self.perms[page] | UC_PROT_EXEC)

    def _scan(self, idx: int, data: bytes) -> None:
        """Queue stop hooks for the words of the pages from `idx` on (`data`: whole pages) that
        unicorn must not run (and short blocks over long straight runs); hooks already present
        stay (the stepper runs any word)."""
        self._shorten_long_runs(idx, data)
        words = np.frombuffer(data, dtype="<u4")
        base = idx << PAGE_SHIFT
        unsafe = ~unicorn_safe(words)
        stops = unsafe.copy()
        # a hook in a delay slot cannot stop unicorn: also stop at the branch before it
        stops[:-1] |= unsafe[1:] & _control(words[:-1])
        for off in np.flatnonzero(stops).tolist():
            self._add_stop(base + 4 * off)
        if unsafe[0] and base and has_delay_slot(int.from_bytes(self.read(base - 4, 4),
                                                                "little")):
            self._add_stop(base - 4)

    def _add_stop(self, addr: int) -> None:
        """Hook `addr` (added after unicorn stops: adding a hook while it translates crashes)."""
        if addr not in self.stop_addrs:
            self.stop_addrs.add(addr)
            self.pending_stops.add(addr)

    def _add_pending_stops(self) -> None:
        """Add the queued hooks. Blocks translated before a hook existed do not call it, so the
        translation cache is flushed when hooks are added after unicorn has run (only when a
        page outside the up-front scanned program region is first executed: rare)."""
        if not self.pending_stops and not self.pending_ranges:
            return
        for addr in sorted(self.pending_stops):
            self._add_native_hook(UC_HOOK_CODE, hook_library().optimist_stop_hook,
                                  ctypes.byref(self.counter), addr, addr)
        for begin, end in sorted(self.pending_ranges):
            self._add_native_hook(UC_HOOK_CODE, hook_library().optimist_nop_hook, None,
                                  begin, end)
        if self.started:             # blocks translated before the hooks existed
            self.uc.ctl_flush_tb()
        self.pending_stops.clear()
        self.pending_ranges.clear()

    def read(self, addr: int, n: int) -> bytes:
        """Bytes of emulated memory (within one page); unmapped pages read as zero."""
        if addr >> PAGE_SHIFT in self.perms:
            return bytes(self.uc.mem_read(addr, n))
        return bytes(n)

    def write_page(self, idx: int, data: bytes) -> None:
        """Replace a page's contents from outside (the stepper wrote it)."""
        if idx not in self.perms:
            self._map(idx, UC_PROT_READ)
        self.uc.mem_write(idx << PAGE_SHIFT, data)

    def sync_pages(self, memory: Memory, demote: bool = False) -> dict[int, bytes]:
        """Copy writable pages that changed into `memory`; returns them. With `demote`, the
        groups of pages none of which changed in the last DEMOTE_AFTER demotions are
        write-protected again (a later write makes its group writable again)."""
        changed = {}
        pages, changed_at = memory._pages, self.changed_at
        if demote:
            self.demotions += 1
        for first, count in _page_runs(sorted(self.writable)):
            run = bytes(self.uc.mem_read(first << PAGE_SHIFT, count * PAGE_SIZE))  # one read
            for k in range(count):      # (bytes slices compare by memcmp; memoryviews do not)
                idx, data = first + k, run[k * PAGE_SIZE:(k + 1) * PAGE_SIZE]
                old = pages.get(idx)
                if data != (old if old is not None else ZERO_PAGE):
                    memory.set_page(idx, data)
                    changed[idx] = data
                    changed_at[idx] = self.demotions
        if not demote:
            return changed
        stale = self.demotions - DEMOTE_AFTER
        # the program region's few writable pages (its data) stay writable: they are written
        # all the time, and making them read-only again would only cost faults
        hot = {idx >> GROUP_SHIFT for idx in self.writable
               if changed_at.get(idx, stale) > stale or idx < PROGRAM_END >> PAGE_SHIFT}
        protect = sorted(idx for idx in self.writable if idx >> GROUP_SHIFT not in hot)
        for idx in protect:
            self.writable.discard(idx)
            changed_at.pop(idx, None)
        for first, count in _page_runs(protect):   # one call per run of pages
            perms = {self.perms[i] for i in range(first, first + count)}
            if len(perms) == 1:
                perm = perms.pop() & ~UC_PROT_WRITE
                self.uc.mem_protect(first << PAGE_SHIFT, count * PAGE_SIZE, perm)
                self.perms.update(dict.fromkeys(range(first, first + count), perm))
            else:
                for i in range(first, first + count):
                    self._protect(i, self.perms[i] & ~UC_PROT_WRITE)
        return changed

    def revert_pages(self, memory: Memory) -> None:
        """Undo unicorn's writes since the last sync (page permissions are kept)."""
        for idx in self.writable:
            old = memory._pages.get(idx)
            self.uc.mem_write(idx << PAGE_SHIFT, bytes(old) if old is not None else ZERO_PAGE)

    # --- registers -----------------------------------------------------------------
    def read_regs(self) -> tuple[list[int], int, int]:
        """(gprs, hi, lo), in one native call."""
        status = uclib.uc_reg_read_batch(self.uc._uch, _REG_IDS, self._reg_ptrs, len(_REGS))
        if status != 0:
            raise FastRunnerError(f"uc_reg_read_batch failed with unicorn error {status}")
        vals = list(self._reg_values)
        return vals[:32], vals[32], vals[33]

    def write_regs(self, regs: list[int], hi: int, lo: int) -> None:
        """Set the 32 GPRs, hi and lo, in one native call."""
        self._reg_values[:] = [*regs, hi, lo]
        status = uclib.uc_reg_write_batch(self.uc._uch, _REG_IDS, self._reg_ptrs, len(_REGS))
        if status != 0:
            raise FastRunnerError(f"uc_reg_write_batch failed with unicorn error {status}")

    # --- hooks ---------------------------------------------------------------------
    def _install_hooks(self) -> None:
        uc = self.uc
        uc.hook_add(UC_HOOK_MEM_UNMAPPED, self._on_unmapped)
        uc.hook_add(UC_HOOK_MEM_WRITE_PROT, self._on_write_prot)
        uc.hook_add(UC_HOOK_MEM_FETCH_PROT, self._on_fetch_prot)
        uc.hook_add(UC_HOOK_INTR, self._on_intr)
        self.counter = BlockCounter()
        self.counter.emu_stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p)
        self._add_native_hook(UC_HOOK_BLOCK, hook_library().optimist_block_hook,
                              ctypes.byref(self.counter), 1, 0)

    def _add_native_hook(self, kind: int, function: object, user_data: object, begin: int,
                         end: int) -> None:
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(self.uc._uch, ctypes.byref(handle), kind,
                                   ctypes.cast(function, ctypes.c_void_p), user_data,
                                   ctypes.c_uint64(begin), ctypes.c_uint64(end))
        if status != 0:
            raise FastRunnerError(f"uc_hook_add({kind}) failed with unicorn error {status}")

    def _note_event(self, kind: str, fault: bool = False) -> None:
        if self.event is None:
            self.event = kind
            self.event_base = self.counter.block_base
            self.event_size = self.counter.block_size
            self.events += 1
        self.fault = self.fault or fault
        self.uc.emu_stop()

    def _on_unmapped(self, uc: Uc, access: int, addr: int, size: int, value: int,
                     data: object) -> bool:
        idx = addr >> PAGE_SHIFT
        if idx in self.perms:          # an access straddling into an unmapped page
            idx = (addr + size - 1) >> PAGE_SHIFT
        self._note_event("map")
        if access == UC_MEM_FETCH_UNMAPPED:   # mapping while unicorn translates crashes it:
            self.pending_maps.add(idx)        # stop, map afterwards, replay
            return False
        if access == UC_MEM_WRITE_UNMAPPED:
            self._map(idx, UC_PROT_READ | UC_PROT_WRITE)
            self.writable.add(idx)
        else:
            self._map(idx, UC_PROT_READ)
        # the rest of its chunk is mapped (zero, read-only) once unicorn stops, so that the
        # neighbouring pages a growing arena or stack touches next cost no event of their own
        self.pending_chunks.add(idx >> CHUNK_SHIFT)
        return True

    def _on_write_prot(self, uc: Uc, access: int, addr: int, size: int, value: int,
                       data: object) -> bool:
        idx = addr >> PAGE_SHIFT
        if idx not in self.perms:
            return False
        # no event: unicorn goes on after this hook, nothing restarts (the block count stays
        # exact), and the page's earlier contents are already in the synced memory
        if self._in_delay_slot(uc):
            self._note_event("write")
        self.page_faults += 1
        # the page's whole group becomes writable (one permission change, few unicorn regions:
        # unicorn's cost per mapping change grows with the number of regions)
        perm = self.perms[idx]
        group = idx >> GROUP_SHIFT << GROUP_SHIFT
        pages = [i for i in range(group, group + (1 << GROUP_SHIFT))
                 if self.perms.get(i) == perm and i not in self.writable]
        for first, count in _page_runs(pages):
            self.uc.mem_protect(first << PAGE_SHIFT, count * PAGE_SIZE, perm | UC_PROT_WRITE)
        self.perms.update(dict.fromkeys(pages, perm | UC_PROT_WRITE))
        self.writable.update(pages)   # (removing EXEC here would make unicorn restart the block)
        self.changed_at.update(dict.fromkeys(pages, self.demotions))
        # unicorn 2.1.4 drops the store that raised this hook: perform it here
        uc.mem_write(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))
        return True

    def _in_delay_slot(self, uc: Uc) -> bool:
        """Whether the instruction unicorn is executing may be a delay slot (the word before it
        is a branch or jump)."""
        pc = uc.reg_read(mc.UC_MIPS_REG_PC)
        return has_delay_slot(int.from_bytes(self.read(pc - 4, 4), "little"))

    def _on_fetch_prot(self, uc: Uc, access: int, addr: int, size: int, value: int,
                       data: object) -> bool:
        idx = addr >> PAGE_SHIFT
        if idx not in self.perms:
            return False
        self._note_event("exec")
        words = np.frombuffer(self.uc.mem_read(idx << PAGE_SHIFT, PAGE_SIZE), dtype="<u4")
        if _long_straight_runs(words):
            # unicorn goes on translating after this hook, and its short-block hooks cannot be
            # added while it translates (unicorn 2.1.4 crashes on a long block): refuse the
            # fetch; the runner renews the engine with this page scanned before any run
            self.pending_maps.add(idx)
            return False
        self._make_executable(idx)     # its stop hooks are added once unicorn has stopped
        return True

    def _on_intr(self, uc: Uc, intno: int, data: object) -> None:
        self._note_event(f"interrupt {intno}", fault=True)

    # --- running -------------------------------------------------------------------
    def start(self, pc: int, limit: int) -> None:
        """Run from `pc`, entering no block that would take the count past `limit`."""
        c = self.counter
        c.executed = 0
        c.limit = limit
        c.block_pc = pc
        c.block_base = 0
        c.block_size = 0
        c.stopped = 0
        c.hook_stop = 0
        self._reset_run_flags()
        self.started = True
        try:
            self.uc.emu_start(pc, 0)
        except UcError as exc:
            # unicorn 2.1.4 (MIPS) crashes in any later emu_start after an emulation error:
            # the runner replaces a poisoned engine (code pages it failed to fetch pre-mapped)
            self.poisoned = True
            if not self.pending_maps:
                self._note_event(f"unicorn error: {exc}", fault=True)
            return
        finally:
            self.hook_stop = c.hook_stop - 1 if c.hook_stop else None
        self._add_pending_stops()
        self._map_pending_chunks()

    def _map_pending_chunks(self) -> None:
        """Map the unmapped pages of the chunks queued by map events: zero (as the spec's
        untouched memory reads) and read-only (a write makes its group writable in place;
        syncs do not read pages nobody wrote)."""
        for chunk in sorted(self.pending_chunks):
            first = chunk << CHUNK_SHIFT
            free = [i for i in range(first, first + (1 << CHUNK_SHIFT)) if i not in self.perms]
            for start, count in _page_runs(free):
                self.uc.mem_map(start << PAGE_SHIFT, count * PAGE_SIZE, UC_PROT_READ)
                self.perms.update(dict.fromkeys(range(start, start + count), UC_PROT_READ))
        self.pending_chunks.clear()


# ====================================================================================
# The runner
# ====================================================================================

DEFAULT_CHECKPOINT_INTERVAL = 1 << 20
MAX_REPLAYS = 8
MIN_SYNC_SPACING = 1 << 20       # steps between syncs of a long unicorn run: 1/32 of the steps
MAX_SYNC_SPACING = 1 << 24       # run so far, within these bounds


class FastRunner:
    """Runs a `State` on unicorn to halt or to an exact step count; keeps checkpoints.

    The runner takes ownership of `state` (its Memory is updated in place when the runner syncs);
    use `state()` for a synced copy.
    """

    def __init__(self, state: State, *, checkpoint_interval: int = DEFAULT_CHECKPOINT_INTERVAL,
                 checkpoints: bool = True) -> None:
        from mipsvm.checkpoints import CheckpointLog

        if checkpoint_interval <= 0:
            raise ValueError("checkpoint_interval must be positive")
        self.interval = checkpoint_interval
        self.checkpoints = CheckpointLog(state) if checkpoints else None
        self._load(state)

    def _load(self, state: State) -> None:
        self._state = state                 # synced snapshot (memory current at sync points)
        self._engine = Engine(state.memory)
        self._closed = False
        self._engine.write_regs(state.regs, state.hi, state.lo)
        self._pc, self._next_pc, self._step = state.pc, state.next_pc, state.step
        self._pending: dict[int, bytes] = {}   # pages changed since the last checkpoint
        self._synced = True

    # --- public view ---------------------------------------------------------------
    @property
    def step(self) -> int:
        """Steps executed so far (the state's step field)."""
        return self._step

    @property
    def exited(self) -> bool:
        return self._state.exited

    @property
    def exit_code(self) -> int:
        return self._state.exit_code

    @property
    def events(self) -> int:
        """unicorn runs that were replayed (page events and faults) so far."""
        return self._engine.events

    def state(self, copy: bool = True) -> State:
        """The current state synced back from unicorn (a copy unless `copy=False`)."""
        self._sync()
        return self._state.copy() if copy else self._state

    def close(self) -> None:
        """Sync, then free the unicorn engine's memory; the runner cannot run afterwards (its
        state, checkpoints and hashes stay readable)."""
        self._sync()
        self._engine.close()
        self._closed = True

    def state_hash(self) -> bytes:
        """keccak256 of the current packed state."""
        self._sync()
        return self._state.hash()

    # --- syncing between unicorn and the State -------------------------------------
    def _sync(self, demote: bool = False) -> None:
        """Copy unicorn's registers and written pages into the State snapshot."""
        if self._synced and not demote:
            return
        st = self._state
        st.regs, st.hi, st.lo = self._engine.read_regs()
        st.pc, st.next_pc, st.step = self._pc, self._next_pc, self._step
        self._pending.update(self._engine.sync_pages(st.memory, demote=demote))
        self._synced = True

    def _rewind(self) -> None:
        """Put unicorn back at the last sync point."""
        st = self._state
        self._engine.revert_pages(st.memory)
        self._engine.reset_cpu(st.regs, st.hi, st.lo)
        self._pc, self._next_pc, self._step = st.pc, st.next_pc, st.step
        self._synced = True

    def _reference_step(self, count: int = 1) -> None:
        """Execute `count` steps (fewer if the program halts) with the reference stepper, then
        push their effects (registers, stored-to pages) into unicorn."""
        self._sync()
        st = self._state
        memory, regs = st.memory, st.regs
        store_pages: set[int] = set()
        for _ in range(count):
            if st.exited:
                break
            if not st.pc & 3:
                word = memory.read_u32(st.pc)
                if word >> 26 in STORE_OPCODES:
                    addr = regs[(word >> 21) & 0x1F] + ((word & 0xFFFF) ^ 0x8000) - 0x8000
                    store_pages.add((addr & MASK32) >> PAGE_SHIFT)
            stepper.step(st)
            regs = st.regs
        for idx in store_pages:
            page = memory._pages.get(idx)
            if page is None and idx not in self._engine.perms:
                continue             # never written (a faulting store): nothing to push
            data = bytes(page) if page is not None else ZERO_PAGE
            self._engine.write_page(idx, data)
            self._pending[idx] = data
        self._engine.write_regs(st.regs, st.hi, st.lo)
        self._pc, self._next_pc, self._step = st.pc, st.next_pc, st.step

    # --- running -------------------------------------------------------------------
    def run_to(self, target: int) -> None:
        """Execute until exactly `target` steps were taken, or the program halts first."""
        if target > MAX_STEPS:
            raise ValueError(f"step {target} is beyond the VM bound 2**48")
        if self._closed and self._step < target and not self._state.exited:
            raise FastRunnerError("this runner was closed; it cannot run")
        stalled = 0
        while self._step < target and not self._state.exited:
            before = self._step
            if (self._next_pc != (self._pc + 4) & MASK32 or self._pc == 0 or self._pc & 3
                    or self._pc in self._engine.stop_addrs):
                self._reference_step()
            else:
                self._run_unicorn(target)
            stalled = stalled + 1 if self._step == before else 0
            if stalled > MAX_REPLAYS:
                raise FastRunnerError(f"no progress at step {self._step}, pc {self._pc:#x}")

    def _at(self, step: int, pc: int) -> None:
        self._step, self._pc, self._next_pc = step, pc, (pc + 4) & MASK32
        self._synced = False

    def _run_unicorn(self, target: int) -> None:
        """One unicorn run from a block start towards `target`."""
        self._sync()
        engine, st = self._engine, self._state
        engine.reset_cpu(st.regs, st.hi, st.lo)
        start_step, pc = self._step, self._pc
        # a long run stops (between blocks) to sync every so often, so that a page event late in
        # the run replays at most that far; the spacing grows with the run (syncs stay rare)
        sync_at = start_step + min(MAX_SYNC_SPACING, max(MIN_SYNC_SPACING, start_step >> 5))
        engine.start(pc, min(target, sync_at) - start_step)
        c = engine.counter
        if engine.event is not None:
            self._replay(start_step + engine.event_base, target)
            return
        if engine.hook_stop is not None:
            self._at(start_step + c.block_base + (engine.hook_stop - c.block_pc) // 4,
                     engine.hook_stop)
            self._reference_step()
            return
        if not c.stopped:
            raise FastRunnerError(f"unicorn stopped unexpectedly near pc {c.block_pc:#x}")
        self._at(start_step + c.executed, c.block_pc)
        if sync_at < target:
            # a sync stop: the next run starts from a new sync point; pages not written since the
            # last one go back to read-only, so a sync costs O(pages written lately)
            self._sync(demote=True)
            return
        remaining = target - self._step
        if remaining > 0:
            self._finish_block(remaining)

    def _finish_block(self, remaining: int) -> None:
        """Run the last `remaining` instructions before an exact stop (fewer than one block: the
        block hook stops unicorn only between blocks) on the reference stepper. This also takes
        a branch whose delay slot lies past the boundary, and costs no translation-cache flush."""
        self._reference_step(remaining)

    def _replay(self, event_step: int, target: int) -> None:
        """After an event or fault: rewind to the last sync, run exactly to `event_step` (the
        start of the block it happened in), sync; after a fault the stepper runs that block."""
        engine = self._engine
        fault, block_size = engine.fault, engine.event_size
        self._renew_if_poisoned()
        self._rewind()
        for _ in range(MAX_REPLAYS):
            if self._step >= event_step:
                break
            engine = self._engine
            engine.start(self._pc, event_step - self._step)
            c = engine.counter
            if engine.event is not None:       # a page event the first run did not reach
                self._renew_if_poisoned()
                self._rewind()
                continue
            if engine.hook_stop is not None or not c.stopped:
                raise FastRunnerError(f"replay to step {event_step} diverged near pc "
                                      f"{c.block_pc:#x}")
            self._at(self._step + c.executed, c.block_pc)
        else:
            raise FastRunnerError(f"unicorn did not replay deterministically to step {event_step}")
        self._sync()
        if fault:
            end = event_step + block_size + 1
            while not self._state.exited and self._step < target and (
                    self._step < end or self._in_delay_slot()):
                self._reference_step()

    def _renew_if_poisoned(self) -> None:
        """Replace an engine that met an emulation error by a fresh one at the last sync."""
        old = self._engine
        if not old.poisoned:
            return
        code_pages = old.scanned | old.pending_maps
        self._engine = Engine(self._state.memory, code_pages)
        self._engine.events = old.events
        self._engine.renewals = old.renewals + 1

    def _in_delay_slot(self) -> bool:
        return self._next_pc != (self._pc + 4) & MASK32

    def run(self, max_steps: int | None = None) -> int:
        """Run until the program halts (or `max_steps` more steps), recording checkpoints."""
        limit = MAX_STEPS if max_steps is None else min(MAX_STEPS, self._step + max_steps)
        self._checkpoint()
        self._advance_to(limit)
        return self._step

    def _checkpoint(self) -> None:
        """Record a checkpoint if the step is on the grid (or the program halted)."""
        if self.checkpoints is None:
            return
        if self._step % self.interval and not self._state.exited:
            return
        self._sync(demote=True)
        self.checkpoints.record(self._state, self._pending)
        self._pending = {}

    # --- history -------------------------------------------------------------------
    def _advance_to(self, step: int) -> None:
        """Run forward to `step` recording checkpoints on the way."""
        while not self._state.exited and self._step < step:
            self.run_to(min(step, (self._step // self.interval + 1) * self.interval))
            self._checkpoint()

    def _seek(self, step: int) -> None:
        """Position the runner at `step` (or at the halted state if the program ends before)."""
        if step < self._step:
            if self.checkpoints is None:
                raise FastRunnerError("this runner keeps no checkpoints; it cannot go back")
            self._load(self.checkpoints.state_before(step))
        self._advance_to(step)

    def state_hash_at(self, step: int) -> bytes:
        """State hash after `step` steps (the final state's hash if the program halted earlier)."""
        if self.checkpoints is not None:
            known = self.checkpoints.hash_at(step)
            if known is not None:
                return known
        self._seek(step)
        return self.state_hash()

    def state_at(self, step: int) -> State:
        """Full state after `step` steps (a copy; the halted state if the program ends before)."""
        self._seek(step)
        return self.state()
