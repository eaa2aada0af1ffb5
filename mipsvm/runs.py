"""Run management: run a state to an exact step on either engine, and whole runs with checkpoints.

Two engines execute the VM and give the same states at every step:

- "fast": `mipsvm.fast.FastRunner` (unicorn; exact stops, faults on the stepper);
- "stepper": `mipsvm.stepper`, the reference stepper (the spec; slow).

`run_to(state, target)` runs one state forward; `Run` runs a state to halt keeping a
`CheckpointLog` every `interval` steps, and answers the hash or state at any step from the nearest
checkpoint at or before it.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING

from mipsvm import stepper
from mipsvm.checkpoints import CheckpointLog
from mipsvm.layout import MAX_STEPS
from mipsvm.state import State

if TYPE_CHECKING:
    from mipsvm.fast import FastRunner

ENGINES = ("fast", "stepper")
DEFAULT_INTERVAL = 1 << 20
DEFAULT_MAX_STEPS = 1 << 40
CURSORS = 2                # fast-runner cursors kept alive per process (each holds the run's memory)
STEPS_PER_PAGE = 2048      # a cursor this many steps per memory page behind a checkpoint runs on (cheaper
                           # than loading the checkpoint's pages into a new engine: ~7 us a page, ~2 ns a step)


class RunError(RuntimeError):
    """A run that did not halt within its step budget."""


def check_engine(engine: str) -> str:
    """`engine` if it names a VM engine; ValueError (with the valid names) otherwise."""
    if engine not in ENGINES:
        raise ValueError(f"unknown VM engine {engine!r}: use 'fast' (unicorn) or 'stepper' "
                         "(the reference stepper)")
    return engine


def run_to(state: State, target: int, engine: str = "fast") -> State:
    """Run `state` (taken over, updated in place) to exactly step `target`, or to its halt."""
    check_engine(engine)
    if target > MAX_STEPS:
        raise ValueError(f"step {target} is beyond the VM bound 2**48")
    if engine == "stepper":
        while state.step < target and not state.exited:
            stepper.step(state)
        return state
    from mipsvm.fast import FastRunner

    runner = FastRunner(state, checkpoints=False)
    runner.run_to(target)
    runner.close()
    return runner.state(copy=False)


_cursor_lock = threading.Lock()
# runs holding a cursor, least recently used first (weakly: a dropped run frees its cursor with it)
_cursor_runs: OrderedDict[int, weakref.ref[Run]] = OrderedDict()


def _keep_cursor(run: Run) -> None:
    """Note `run`'s cursor as the most recent; close the cursors of runs beyond CURSORS (a run whose
    cursor is in use right now keeps it for the moment)."""
    with _cursor_lock:
        _cursor_runs[id(run)] = weakref.ref(run)
        _cursor_runs.move_to_end(id(run))
        for key in list(_cursor_runs)[:-CURSORS]:
            victim = _cursor_runs[key]()
            if victim is None:
                del _cursor_runs[key]
            elif victim._lock.acquire(blocking=False):
                try:
                    victim._drop_cursor()
                finally:
                    victim._lock.release()
                del _cursor_runs[key]


class Run:
    """A run from `start` (not taken over) to halt, with a checkpoint every `interval` steps.

    `hash_at` / `state_at` answer any step from the nearest checkpoint at or before it (a fresh
    run of at most `interval` steps), or, on the fast engine, by running on a kept runner (the
    *cursor*) already at or shortly before that step: a bisection's queries mostly move forward
    by less than loading a checkpoint into a new engine would cost. A run that has not halted after `max_steps` steps ends there:
    RunError if `must_halt`, else its final state is that unhalted state (`halted` is False).
    """

    def __init__(self, start: State, interval: int = DEFAULT_INTERVAL,
                 max_steps: int = DEFAULT_MAX_STEPS, engine: str = "fast", *, must_halt: bool = True) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.engine = check_engine(engine)
        self.interval = interval
        self._cursor: FastRunner | None = None
        self._pages = 0                    # memory pages of the cursor's start (its load cost)
        self._lock = threading.Lock()
        self.first = start.step
        limit = min(MAX_STEPS, self.first + max_steps)
        if engine == "fast":
            from mipsvm.fast import FastRunner

            runner = FastRunner(start.copy(), checkpoint_interval=interval)
            runner.run(limit - self.first)
            runner.close()
            self.checkpoints: CheckpointLog = runner.checkpoints  # type: ignore[assignment]
            final = runner.state()
        else:
            final = start.copy()
            self.checkpoints = CheckpointLog(final)
            while not final.exited and final.step < limit:
                run_to(final, min(limit, (final.step // interval + 1) * interval), "stepper")
                self.checkpoints.record(final)
        if not final.exited and must_halt:
            raise RunError(f"the run did not halt within {max_steps} steps")
        self.halted = final.exited
        self.final = final
        self.final_hash = final.hash()

    @property
    def last(self) -> int:
        """The step of the final state (halted, or the step bound)."""
        return self.final.step

    def _check_step(self, step: int) -> None:
        if step < self.first:
            raise ValueError(f"this run starts at step {self.first}")
        if step > self.last and not self.halted:
            raise ValueError(f"this run stopped unhalted at step {self.last}; step {step} is beyond it")

    def _state_at(self, step: int) -> State:
        self._check_step(step)
        if self.engine != "fast":
            return run_to(self.checkpoints.state_before(step), step, self.engine)
        with self._lock:
            return self._cursor_at(step).state()

    def _cursor_at(self, step: int) -> FastRunner:
        """The cursor, run to exactly `step` (from itself if it is at most a checkpoint load's worth of
        steps behind the last checkpoint at or before `step`, else from that checkpoint). Under `_lock`."""
        from mipsvm.fast import FastRunner

        index = self.checkpoints.index_before(step)
        base = self.checkpoints.step_of(index)
        cur = self._cursor
        if cur is None or cur.step > step or base - cur.step > self._reuse_steps:
            self._drop_cursor()
            start = self.checkpoints.state_at_index(index)
            self._pages = sum(1 for _ in start.memory.pages())
            cur = self._cursor = FastRunner(start, checkpoints=False)
        cur.run_to(step)
        _keep_cursor(self)
        return cur

    @property
    def _reuse_steps(self) -> int:
        return max(self.interval, STEPS_PER_PAGE * self._pages)

    def _drop_cursor(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def hash_at(self, step: int) -> bytes:
        """Hash of the state after `step` steps (the final state's from its halt on)."""
        self._check_step(step)
        if step >= self.last:
            return self.final_hash
        known = self.checkpoints.hash_at(step)
        if known is not None:
            return known
        if self.engine != "fast":
            return self._state_at(step).hash()
        with self._lock:
            return self._cursor_at(step).state_hash()

    def state_at(self, step: int) -> State:
        """The state after `step` steps (a new State; the final state's copy from its halt on)."""
        if step > self.last and not self.halted:
            self._state_at(step)   # raises
        if step >= self.last:
            return self.final.copy()
        return self._state_at(step)
