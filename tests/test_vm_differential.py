"""Differential tests: the unicorn fast runner against the reference stepper (the spec).

Known limitation (not compared): unicorn runs in kernel mode, where kseg0/kseg1
(0x80000000-0xBFFFFFFF) alias physical low memory; the spec's memory is flat. Programs that
follow the memory map never go there; cases whose reference run touches it are skipped.

- single instructions: hypothesis-generated words (biased toward every implemented opcode/funct,
  plus arbitrary words) with random registers and a random data word near the address they
  use; after one and two steps both agree on the state hash (or both halt with the same code);
- whole programs: the hash at EVERY step of short programs, and at checkpoints of long ones.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mipsvm import isa, stepper
from mipsvm.elf import initial_state, load_elf
from mipsvm.fast import FastRunner
from mipsvm.memory import Memory
from mipsvm.state import State
from mipsvm.toolchain import compile_elf

PROGRAMS = Path(__file__).parent / "programs"
CODE = 0x0040_0000
DATA = 0x1000_0000
EXAMPLES = int(os.environ.get("OPTIMIST_DIFF_EXAMPLES", "300"))

# --- single instructions -----------------------------------------------------------------

EDGE_VALUES = [0, 1, 2, 3, 4, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000,
               0x8000_0001, 0xFFFF_FFFF, 0xFFFF_FFFE, DATA, DATA + 1, DATA + 2, DATA + 3]
reg_value = st.one_of(st.sampled_from(EDGE_VALUES), st.integers(0, 0xFFFF_FFFF),
                      st.integers(DATA - 0x8000, DATA + 0x8000))


def _compose(op: int, rs: int, rt: int, rd: int, sa: int, funct: int) -> int:
    return (op << 26) | (rs << 21) | (rt << 16) | (rd << 11) | (sa << 6) | funct


field5 = st.integers(0, 31)
small_reg = st.sampled_from([0, 1, 2, 3, 4, 8, 29, 31])
special = st.builds(lambda f, rs, rt, rd, sa: _compose(0, rs, rt, rd, sa, f),
                    st.sampled_from(sorted(isa.SPECIAL)), small_reg, small_reg, small_reg,
                    st.one_of(st.just(0), field5))
special2 = st.builds(lambda f, rs, rt, rd, sa: _compose(0x1C, rs, rt, rd, sa, f),
                     st.sampled_from(sorted(isa.SPECIAL2)), small_reg, small_reg, small_reg,
                     st.one_of(st.just(0), field5))
regimm = st.builds(lambda rt, rs, imm: (1 << 26) | (rs << 21) | (rt << 16) | imm,
                   st.sampled_from(sorted(isa.REGIMM)), small_reg,
                   st.one_of(st.sampled_from([0, 1, 2, 0xFFFF, 0x8000]), st.integers(0, 0xFFFF)))
immediate = st.builds(lambda op, rs, rt, imm: (op << 26) | (rs << 21) | (rt << 16) | imm,
                      st.sampled_from(sorted(isa.OPCODES)), small_reg, small_reg,
                      st.one_of(st.integers(0, 7), st.integers(0xFFF8, 0xFFFF),
                                st.integers(0, 0xFFFF)))
instruction_word = st.one_of(special, special, special2, regimm, immediate, immediate,
                             st.integers(0, 0xFFFF_FFFF))


def _single_state(word: int, regs: list[int], hi: int, lo: int, data: int) -> State:
    memory = Memory()
    memory.write_u32(CODE, word)
    for reg in regs:                         # a data word wherever a register points (aligned)
        if DATA - 0x10000 <= reg < DATA + 0x10000:
            memory.write_u32(reg & ~3, data)
    memory.write_u32(DATA, data)
    return State(memory=memory, pc=CODE, next_pc=CODE + 4, hi=hi, lo=lo, regs=[0, *regs[1:]])


KSEG01 = range(0x8000_0000, 0xC000_0000)


def _touches_kseg01(state: State, steps: int) -> bool:
    """Does the reference run fetch or access data in kseg0/kseg1 (unicorn aliases those)?"""
    probe = state.copy()
    for _ in range(steps):
        addr = stepper.data_access(probe)
        if probe.pc in KSEG01 or (addr is not None and addr in KSEG01):
            return True
        stepper.step(probe)
    return probe.pc in KSEG01


def _compare_single(word: int, regs: list[int], hi: int, lo: int, data: int) -> bool:
    """Compare 1, 2 and 3 steps; False (nothing compared) if the run touches kseg0/kseg1."""
    ref = _single_state(word, regs, hi, lo, data)
    if _touches_kseg01(ref, 3):
        return False
    runner = FastRunner(_single_state(word, regs, hi, lo, data), checkpoints=False)
    for n in (1, 2, 3):
        stepper.step(ref)
        runner.run_to(n)
        assert runner.exited == ref.exited and runner.exit_code == ref.exit_code, \
            f"word {word:#010x}: exit {runner.exit_code:#x} vs spec {ref.exit_code:#x}"
        assert runner.state_hash() == ref.hash(), f"word {word:#010x} differs after {n} steps"
    return True


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(word=instruction_word, regs=st.lists(reg_value, min_size=32, max_size=32),
       hi=reg_value, lo=reg_value, data=st.integers(0, 0xFFFF_FFFF))
def test_single_instruction_agrees(word: int, regs: list[int], hi: int, lo: int,
                                   data: int) -> None:
    assume(_compare_single(word, regs, hi, lo, data))


@pytest.mark.slow
@settings(max_examples=20 * EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(word=instruction_word, regs=st.lists(reg_value, min_size=32, max_size=32),
       hi=reg_value, lo=reg_value, data=st.integers(0, 0xFFFF_FFFF))
def test_single_instruction_agrees_many(word: int, regs: list[int], hi: int, lo: int,
                                        data: int) -> None:
    assume(_compare_single(word, regs, hi, lo, data))


@pytest.mark.parametrize("funct", sorted(isa.SPECIAL))
def test_every_special_funct(funct: int) -> None:
    regs = [0, 5, 0xFFFF_FFFB, DATA, 0x7FFF_0000, 7, 0, 0, 3] + [i * 0x1111 for i in range(23)]
    assert _compare_single(_compose(0, 1, 2, 3, 0, funct), regs, 0x1234, 0x5678, 0xDEADBEEF)
    assert _compare_single(_compose(0, 5, 2, 8, 5, funct), regs, 0, 0, 1)


@pytest.mark.parametrize("op", sorted(isa.OPCODES))
def test_every_opcode(op: int) -> None:
    regs = [0, 5, 0xFFFF_FFFB, DATA, 0x7FFF_0000, 7, 0, 0, 3] + [i * 0x1111 for i in range(23)]
    for rs, rt, imm in ((3, 1, 4), (3, 2, 0xFFFC), (1, 2, 1), (4, 4, 0x7FFF)):
        assert _compare_single((op << 26) | (rs << 21) | (rt << 16) | imm, regs, 0, 0,
                               0xA5A5_5A5A)


@pytest.mark.parametrize("word", [
    0x0000_000C,              # syscall with v0 = 0: bad syscall
    0x0000_000D,              # break
    0x0022_0034,              # teq r1, r2 (equal when both zero)
    0x2021_7FFF,              # addi r1, r1, 0x7fff overflows for r1 = 0x7fffffff
    0x8C22_0001,              # lw unaligned
    0x0020_0008,              # jr to an unaligned target
    0x4400_0000,              # COP1: invalid
    0x4200_0018,              # eret: invalid
    0xC022_0000,              # ll
    0x5022_0002,              # beql not taken: annulled slot
])
def test_faults_and_stepper_only_words(word: int) -> None:
    regs = [0] * 32
    regs[1] = 0x7FFF_FFFF if word >> 26 == 0x08 else DATA + 2
    assert _compare_single(word, regs, 0, 0, 0x1234_5678)


def test_exit_syscall_in_delay_slot() -> None:
    memory = Memory()
    for i, w in enumerate([0x2402_0FA1, 0x2404_0007, 0x1000_0003, 0x0000_000C]):  # beq; syscall
        memory.write_u32(CODE + 4 * i, w)
    ref = State(memory=memory.copy(), pc=CODE, next_pc=CODE + 4)
    runner = FastRunner(State(memory=memory, pc=CODE, next_pc=CODE + 4), checkpoints=False)
    stepper.run(ref, 100)
    runner.run_to(100)
    assert ref.exited and ref.exit_code == 7
    assert runner.state_hash() == ref.hash()


# --- whole programs ------------------------------------------------------------------------

SHORT_PROGRAMS = ["exit42", "switch", "packed", "compares"]
LONG_PROGRAMS = ["memops", "int64", "sol_mix", "softfloat", "recursion"]


def _program(name: str, defines: tuple[str, ...] = ()) -> Path:
    return compile_elf([PROGRAMS / f"{name}.c"], include_dirs=[PROGRAMS], defines=defines)


@pytest.mark.parametrize("name", SHORT_PROGRAMS)
def test_hash_at_every_step(name: str) -> None:
    program = load_elf(_program(name))
    ref = initial_state(program)
    runner = FastRunner(initial_state(program), checkpoints=False)
    while not ref.exited:
        stepper.step(ref)
        runner.run_to(ref.step)
        assert runner.state_hash() == ref.hash(), f"{name}: differs at step {ref.step}"
    assert runner.exited and runner.exit_code == ref.exit_code


@pytest.mark.parametrize("name", LONG_PROGRAMS)
def test_hash_at_checkpoints(name: str) -> None:
    program = load_elf(_program(name))
    ref = initial_state(program)
    runner = FastRunner(initial_state(program), checkpoint_interval=1024)
    runner.run()
    assert runner.checkpoints is not None
    for cp in runner.checkpoints:
        stepper.run(ref, cp.step - ref.step)
        assert cp.hash == ref.hash(), f"{name}: checkpoint at step {cp.step} differs"
    assert ref.exited and runner.exit_code == ref.exit_code and runner.step == ref.step


@pytest.mark.slow
def test_long_softfloat_program_checkpoints() -> None:
    program = load_elf(_program("fast_softfloat", ("ITERATIONS=30",)))
    ref = initial_state(program)
    runner = FastRunner(initial_state(program), checkpoint_interval=1 << 16)
    runner.run()
    assert runner.checkpoints is not None
    for cp in runner.checkpoints:
        stepper.run(ref, cp.step - ref.step)
        assert cp.hash == ref.hash(), f"checkpoint at step {cp.step} differs"
    assert ref.exited and runner.exit_code == ref.exit_code


def test_jump_to_an_unaligned_pc_in_a_scanned_code_page() -> None:
    """The fast runner hands an unaligned pc to the stepper (fault 0x87) even where unicorn could
    fetch the aligned word below it (the program region's pages are executable from the start)."""
    regs = [0] * 32
    regs[2] = CODE + 0x11
    for below in (0x0000_0000, 0xFFFF_FFFF):          # a nop, an invalid word
        memory = Memory()
        memory.write_u32(CODE, _compose(0, 2, 0, 0, 0, 0x08))          # jr $2
        memory.write_u32(CODE + 0x10, below)
        ref = State(memory=memory.copy(), pc=CODE, next_pc=CODE + 4, regs=list(regs))
        runner = FastRunner(State(memory=memory, pc=CODE, next_pc=CODE + 4, regs=list(regs)),
                            checkpoints=False)
        for n in range(1, 5):                          # stops at every step, then one run
            stepper.step(ref)
            runner.run_to(n)
            assert runner.state_hash() == ref.hash(), f"word {below:#x} below, step {n}"
        assert ref.exited and ref.exit_code == 0x87


@pytest.mark.parametrize("mapped", [True, False])
def test_jump_into_a_long_straight_run_outside_the_program_region(mapped: bool) -> None:
    """A page first executed late (here model-region zeros: 1,024 `nop`s) gets its short-block
    hooks before unicorn translates it (unicorn 2.1.4 crashed on the long block)."""
    memory = Memory()
    memory.write_u32(CODE, _compose(0, 3, 0, 0, 0, 0x08))              # jr $3
    if mapped:
        memory.write_u32(DATA + 0xFFC, 0xFFFF_FFFF)                     # page present: invalid end
    regs = [0] * 32
    regs[3] = DATA
    ref = State(memory=memory.copy(), pc=CODE, next_pc=CODE + 4, regs=list(regs))
    runner = FastRunner(State(memory=memory, pc=CODE, next_pc=CODE + 4, regs=list(regs)),
                        checkpoints=False)
    for target in (3, 700, 1_200, 5_000):
        stepper.run(ref, target - ref.step)
        runner.run_to(target)
        assert runner.state_hash() == ref.hash(), f"step {target}"
