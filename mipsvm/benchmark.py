"""The fast runner against bare unicorn, side by side on the same image.

*Bare unicorn* is the ceiling: the same CPU model and translation-cache size, every region of the
memory map (program, model, input, output, arena, stack) mapped whole and read-write-execute, no
hooks at all, `emu_start` from the entry until the program's exit syscall stops it. It counts no steps, checks no instruction and keeps no state; the ratio says how much of unicorn's
speed the fast runner keeps. Both timings include setting up the emulator (mapping and writing
memory) and exclude the final Merkle root. Each is run `repeats` times, alternating.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from unicorn import (
    UC_ARCH_MIPS,
    UC_MODE_LITTLE_ENDIAN,
    UC_MODE_MIPS32,
    UC_PROT_ALL,
    Uc,
    UcError,
)
from unicorn import mips_const as mc

from mipsvm.fast import _GPRS, PAGE_SHIFT, TCG_BUFFER_SIZE, FastRunner, _page_runs
from mipsvm.layout import (
    ARENA_BASE,
    ARENA_END,
    INPUT_BASE,
    INPUT_END,
    MAX_STEPS,
    MODEL_BASE,
    MODEL_END,
    OUTPUT_BASE,
    OUTPUT_END,
    PAGE_SIZE,
    PROGRAM_BASE,
    PROGRAM_END,
    STACK_BOTTOM,
    SYS_EXIT,
    SYS_EXIT_GROUP,
)
from mipsvm.state import State

# whole regions the bare run maps (the stack region runs to the end of the user address space)
BARE_REGIONS = ((PROGRAM_BASE, PROGRAM_END), (MODEL_BASE, MODEL_END), (INPUT_BASE, INPUT_END), (OUTPUT_BASE, OUTPUT_END), (ARENA_BASE, ARENA_END),
                (STACK_BOTTOM, 0x8000_0000))


class BenchmarkError(RuntimeError):
    """The program did not run to its exit on one of the two engines."""


def _is_syscall(uc: Uc, addr: int) -> bool:
    try:
        word = int.from_bytes(uc.mem_read(addr & 0xFFFF_FFFF, 4), "little")
    except UcError:
        return False
    return word & 0xFC00_003F == 0x0000_000C


def bare_unicorn_run(state: State) -> float:
    """Seconds to set up bare unicorn for `state` and run it to its exit syscall."""
    t0 = time.perf_counter()
    uc = Uc(UC_ARCH_MIPS, UC_MODE_MIPS32 | UC_MODE_LITTLE_ENDIAN, mc.UC_CPU_MIPS32_4KC)
    uc.ctl_set_tcg_buffer_size(TCG_BUFFER_SIZE)
    for base, end in BARE_REGIONS:
        uc.mem_map(base, end - base, UC_PROT_ALL)
    in_regions = [(b >> PAGE_SHIFT, e >> PAGE_SHIFT) for b, e in BARE_REGIONS]
    outside = [i for i in state.memory.pages() if not any(b <= i < e for b, e in in_regions)]
    for first, count in _page_runs(outside):
        uc.mem_map(first << PAGE_SHIFT, count * PAGE_SIZE, UC_PROT_ALL)
    for idx in state.memory.pages():
        uc.mem_write(idx << PAGE_SHIFT, bytes(state.memory._pages[idx]))
    for reg, value in zip(_GPRS, state.regs, strict=True):
        uc.reg_write(reg, value)
    uc.reg_write(mc.UC_MIPS_REG_HI, state.hi)
    uc.reg_write(mc.UC_MIPS_REG_LO, state.lo)
    try:
        uc.emu_start(state.pc, 0)
    except UcError:
        pass                         # the exit syscall raises (no interrupt hook): checked below
    seconds = time.perf_counter() - t0
    pc = uc.reg_read(mc.UC_MIPS_REG_PC)      # unicorn reports the pc after the syscall
    if (not any(_is_syscall(uc, a) for a in (pc - 4, pc))
            or uc.reg_read(mc.UC_MIPS_REG_V0) not in (SYS_EXIT, SYS_EXIT_GROUP)):
        raise BenchmarkError(f"bare unicorn stopped at pc {pc:#x}, not at the exit syscall")
    return seconds


def fast_runner_run(state: State) -> tuple[float, int]:
    """(seconds, steps) to set up a FastRunner for a copy of `state` (made before the clock
    starts: the runner takes the state over) and run it to halt."""
    start = state.copy()
    t0 = time.perf_counter()
    runner = FastRunner(start, checkpoints=False)
    runner.run_to(MAX_STEPS)
    seconds = time.perf_counter() - t0
    if not runner.exited:
        raise BenchmarkError("the fast runner did not halt")
    return seconds, runner.step


@dataclass
class VMBenchmark:
    """Side-by-side timings of one image: bare unicorn and the fast runner (seconds per repeat)."""

    name: str
    steps: int
    bare_s: list[float] = field(default_factory=list)
    fast_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Steps/s of both (min and median time) and the fast/bare speed ratio."""
        bare_min, fast_min = min(self.bare_s), min(self.fast_s)
        bare_med, fast_med = statistics.median(self.bare_s), statistics.median(self.fast_s)
        return {"name": self.name, "steps": self.steps, "repeats": len(self.fast_s),
                "bare_steps_per_s_best": self.steps / bare_min,
                "bare_steps_per_s_median": self.steps / bare_med,
                "fast_steps_per_s_best": self.steps / fast_min,
                "fast_steps_per_s_median": self.steps / fast_med,
                "ratio_best": bare_min / fast_min, "ratio_median": bare_med / fast_med}


def benchmark_state(state: State, name: str = "", repeats: int = 3) -> VMBenchmark:
    """Time bare unicorn and the fast runner on `state` (not modified), `repeats` times each."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    result = VMBenchmark(name, 0)
    for _ in range(repeats):
        result.bare_s.append(bare_unicorn_run(state))
        seconds, result.steps = fast_runner_run(state)
        result.fast_s.append(seconds)
    return result


def format_table(results: list[VMBenchmark]) -> str:
    """A Markdown table of benchmark results."""
    lines = ["| image | steps | bare unicorn Msteps/s (best / median) | fast runner Msteps/s "
             "(best / median) | fast / bare (best / median) |", "|---|---:|---:|---:|---:|"]
    for r in results:
        d = r.as_dict()
        lines.append(f"| {r.name} | {r.steps:,} | {d['bare_steps_per_s_best'] / 1e6:.0f} / "
                     f"{d['bare_steps_per_s_median'] / 1e6:.0f} | "
                     f"{d['fast_steps_per_s_best'] / 1e6:.0f} / "
                     f"{d['fast_steps_per_s_median'] / 1e6:.0f} | "
                     f"{d['ratio_best']:.0%} / {d['ratio_median']:.0%} |")
    return "\n".join(lines)
