"""VM benchmarks (pytest-benchmark): fast runner and reference stepper steps/s, root after 10^7 steps.

Disabled by default (`--benchmark-disable` in pyproject: each runs once, kept small). Bigger
runs: `OPTIMIST_BENCH_ITERATIONS=2000 pytest tests/bench_vm.py --benchmark-enable`.
Run with: `.venv/bin/pytest tests/bench_vm.py --benchmark-enable`.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest

from mipsvm import stepper
from mipsvm.elf import initial_state, load_elf
from mipsvm.fast import DEFAULT_CHECKPOINT_INTERVAL, FastRunner
from mipsvm.toolchain import compile_elf

PROGRAMS = Path(__file__).parent / "programs"
ITERATIONS = int(os.environ.get("OPTIMIST_BENCH_ITERATIONS", "20"))      # ~39k steps each
ROOT_STEPS = int(os.environ.get("OPTIMIST_BENCH_ROOT_STEPS", str(200_000)))  # 10**7 for the table
STEPPER_STEPS = int(os.environ.get("OPTIMIST_BENCH_STEPPER_STEPS", "20000"))


@pytest.fixture(scope="module")
def softfloat_program():
    return load_elf(compile_elf([PROGRAMS / "fast_softfloat.c"],
                                defines=[f"ITERATIONS={ITERATIONS}"]))


@pytest.fixture(scope="module")
def long_program():
    return load_elf(compile_elf([PROGRAMS / "fast_softfloat.c"], defines=["ITERATIONS=1000000"]))


def test_bench_fast_runner(benchmark, softfloat_program) -> None:
    """Fast runner to exit, checkpoints every 2**20 steps (steps/s in extra_info)."""
    def run() -> FastRunner:
        runner = FastRunner(initial_state(softfloat_program),
                            checkpoint_interval=DEFAULT_CHECKPOINT_INTERVAL)
        runner.run()
        return runner

    start = time.perf_counter()
    runner = benchmark.pedantic(run, rounds=1, iterations=1)
    seconds = time.perf_counter() - start
    assert runner.exited
    benchmark.extra_info["steps"] = runner.step
    benchmark.extra_info["steps_per_second"] = runner.step / seconds
    benchmark.extra_info["replays"] = runner.events


def test_bench_reference_stepper(benchmark, softfloat_program) -> None:
    """Reference stepper steps/s."""
    def run() -> int:
        return stepper.run(initial_state(softfloat_program), STEPPER_STEPS)

    start = time.perf_counter()
    steps = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["steps_per_second"] = steps / (time.perf_counter() - start)


def test_bench_root_after_steps(benchmark, long_program) -> None:
    """Run ROOT_STEPS steps (10**7 for the table), then time the state hash (memory root)."""
    runner = FastRunner(initial_state(long_program))
    start = time.perf_counter()
    runner.run(max_steps=ROOT_STEPS)
    run_seconds = time.perf_counter() - start
    assert runner.step == ROOT_STEPS
    state_hash = benchmark.pedantic(runner.state_hash, rounds=1, iterations=1)
    assert len(state_hash) == 32
    benchmark.extra_info["steps"] = ROOT_STEPS
    benchmark.extra_info["run_seconds"] = run_seconds
    benchmark.extra_info["steps_per_second"] = ROOT_STEPS / run_seconds
    benchmark.extra_info["checkpoints"] = len(runner.checkpoints)
    benchmark.extra_info["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
