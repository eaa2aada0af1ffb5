"""The daemons' runs (mipsvm.runs.Run): checkpoints keep only changed pages and still answer every
step exactly, on both engines."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from minidnn.examples import mlp, sample_input
from minidnn.image import vm_initial_state
from mipsvm.fast import FastRunner
from mipsvm.layout import MODEL_BASE, MODEL_END
from mipsvm.runs import Run, check_engine, run_to
from mipsvm.state import State


def _start() -> State:
    blob = mlp((64, 32, 10), seed=2)
    path = Path(tempfile.mkdtemp()) / "m.mdnn"
    path.write_bytes(blob)
    return vm_initial_state(path, sample_input(blob, seed=1))[0]


def test_checkpoints_store_only_changed_pages() -> None:
    start = _start()
    run = Run(start, interval=20_000)
    model_pages = [i for i in start.memory.pages() if MODEL_BASE <= i << 12 < MODEL_END]
    assert len(run.checkpoints) >= 3 and model_pages
    # the model's (unchanged) pages are stored once, in the log's base memory, not per checkpoint
    assert run.checkpoints.stored_pages > 0
    assert not set(run.checkpoints._versions) & set(model_pages)


def test_checkpointed_run_gives_exact_hashes() -> None:
    run = Run(_start(), interval=20_000)
    for step in (0, 19_999, 20_000, 45_123, run.last - 1, run.last, run.last + 5):
        runner = FastRunner(_start(), checkpoints=False)
        runner.run_to(step)
        assert run.hash_at(step) == runner.state_hash(), step
    # answering a step must not disturb the checkpoints it started from
    assert run.hash_at(45_123) == run.hash_at(45_123)
    assert run.state_at(45_123).hash() == run.hash_at(45_123)


def test_run_from_a_later_start_and_the_stepper_engine_agree() -> None:
    mid = run_to(_start(), 30_001)
    fast = Run(mid, interval=7_000)
    slow = Run(mid, interval=7_000, engine="stepper")
    assert mid.step == 30_001 and fast.first == slow.first == 30_001
    assert fast.final_hash == slow.final_hash and fast.last == slow.last
    for step in (30_001, 30_002, 35_000, 41_999, 42_000, fast.last - 1):
        assert fast.hash_at(step) == slow.hash_at(step), step
    with pytest.raises(ValueError, match="starts at step"):
        fast.hash_at(30_000)


def test_one_engine_name_for_the_reference_stepper() -> None:
    assert check_engine("stepper") == "stepper"
    for bad in ("reference", "qemu", ""):
        with pytest.raises(ValueError, match="'fast' .* 'stepper'"):
            check_engine(bad)
        with pytest.raises(ValueError, match="unknown VM engine"):
            run_to(_start(), 10, bad)
