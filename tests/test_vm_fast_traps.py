"""Traps run on unicorn (the compiler guards every div with `teq`); a trap that fires halts like the spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from mipsvm import layout, stepper
from mipsvm.elf import initial_state, load_elf
from mipsvm.fast import FastRunner
from mipsvm.toolchain import compile_elf

DIVIDE = r"""
static volatile int divisor;
static volatile int sink;
int main(void) {
    int acc = 0;
    for (int i = 1; i < 2000; i++) { divisor = i; acc += 1000000 / divisor; }
    sink = acc;
    divisor = 0;
    return 1000000 / divisor;   /* teq fires: fault 0x84 */
}
"""


@pytest.fixture(scope="module")
def divide_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("c") / "divide_by_zero.c"
    src.write_text(DIVIDE)
    return compile_elf([src])


def test_trap_fires_identically_on_fast_runner_and_stepper(divide_elf: Path) -> None:
    program = load_elf(divide_elf)
    reference = initial_state(program)
    stepper.run(reference)
    runner = FastRunner(initial_state(program))
    runner.run()
    fast = runner.state()
    assert reference.exited and reference.exit_code == layout.FAULT_TRAP
    assert (fast.step, fast.exit_code, fast.hash()) == (reference.step, reference.exit_code,
                                                        reference.hash())


def test_untaken_traps_do_not_leave_unicorn(divide_elf: Path) -> None:
    """The ~2000 guarded divisions run without handing a step to the reference stepper."""
    runner = FastRunner(initial_state(load_elf(divide_elf)))
    calls = 0
    original = runner._reference_step

    def counting() -> None:
        nonlocal calls
        calls += 1
        original()

    runner._reference_step = counting  # type: ignore[method-assign]
    runner.run()
    assert runner.state().exit_code == layout.FAULT_TRAP
    assert calls < 50, f"{calls} steps went to the stepper"
