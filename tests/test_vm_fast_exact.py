"""The fast runner against the reference stepper on minidnn MLPs: exact stops anywhere (delay-slot
boundaries included) and identical final hashes at several widths, on every runner path."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest

from minidnn.examples import mlp, sample_input
from minidnn.image import vm_initial_state
from mipsvm import stepper
from mipsvm.fast import FastRunner
from mipsvm.runs import Run, run_to
from mipsvm.state import State


def _mlp_state(dims: tuple[int, ...]) -> State:
    blob = mlp(dims, seed=3)
    path = Path(tempfile.mkdtemp()) / "m.mdnn"
    path.write_bytes(blob)
    return vm_initial_state(path, sample_input(blob, seed=4))[0]


def _stepper_hashes(start: State, steps: list[int]) -> dict[int, bytes]:
    state, out = start.copy(), {}
    for target in sorted(steps):
        stepper.run(state, target - state.step)
        out[target] = state.hash()
    return out


def test_exact_stops_at_delay_slots_and_block_ends() -> None:
    """Stops in delay slots (after a branch), on the branch itself and at random steps."""
    start = _mlp_state((64, 32, 10))
    probe, slots = start.copy(), []
    while len(slots) < 40 and not probe.exited:
        stepper.step(probe)
        if probe.next_pc != (probe.pc + 4) & 0xFFFF_FFFF and probe.step > 2_000:
            slots.append(probe.step)
            stepper.run(probe, random.Random(probe.step).randrange(500, 5_000))
    rng = random.Random(5)
    steps = sorted({*slots, *(s - 1 for s in slots), *(rng.randrange(1, 300_000) for _ in range(20))})
    expected = _stepper_hashes(start, steps)
    runner = FastRunner(start.copy(), checkpoints=False)      # one runner, forward
    for step in steps:
        runner.run_to(step)
        assert runner.state_hash() == expected[step], f"one runner, step {step}"
    for step in steps[::7]:                                    # fresh runners and run_to
        assert run_to(start.copy(), step).hash() == expected[step], f"fresh run_to({step})"


@pytest.mark.parametrize("dims", [(16, 8, 4), (64, 32, 10), (128, 64, 10)])
def test_final_hash_equals_the_stepper_at_several_widths(dims: tuple[int, ...]) -> None:
    start = _mlp_state(dims)
    reference = run_to(start.copy(), 1 << 40, "stepper")
    assert reference.exited and reference.exit_code == 0
    assert run_to(start.copy(), 1 << 40).hash() == reference.hash()
    checkpointed = FastRunner(start.copy(), checkpoint_interval=1 << 16)
    checkpointed.run()
    assert checkpointed.state_hash() == reference.hash()
    run = Run(start, interval=1 << 17)
    assert run.final_hash == reference.hash() and run.last == reference.step
