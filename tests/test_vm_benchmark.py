"""mipsvm.benchmark: bare unicorn and the fast runner side by side (figures, not speed claims)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mipsvm import stepper
from mipsvm.benchmark import BenchmarkError, bare_unicorn_run, benchmark_state, format_table
from mipsvm.elf import initial_state, load_elf
from mipsvm.state import State
from mipsvm.toolchain import compile_elf

PROGRAMS = Path(__file__).parent / "programs"


def _state(name: str) -> State:
    return initial_state(load_elf(compile_elf([PROGRAMS / f"{name}.c"], include_dirs=[PROGRAMS])))


def test_benchmark_reports_both_engines_on_the_same_run() -> None:
    state = _state("memops")
    before = state.hash()
    result = benchmark_state(state, "memops", repeats=2)
    assert state.hash() == before                       # the input state is not consumed
    ref = state.copy()
    stepper.run(ref)
    assert result.steps == ref.step and len(result.bare_s) == len(result.fast_s) == 2
    figures = result.as_dict()
    assert figures["ratio_best"] > 0 and figures["fast_steps_per_s_best"] > 0
    assert "| memops | " in format_table([result])
    with pytest.raises(ValueError, match="repeats"):
        benchmark_state(state, repeats=0)


def test_bare_run_must_end_at_the_exit_syscall() -> None:
    state = _state("exit42")
    state.memory.write_u32(state.pc, 0x0000_000D)       # `break` instead of the entry's first word
    with pytest.raises(BenchmarkError, match="not at the exit syscall"):
        bare_unicorn_run(state)
