"""Checkpoints of a run: state hashes every K steps and enough to resume from any of them.

The one snapshot mechanism of mipsvm: `FastRunner` records into a `CheckpointLog`, and so does
`mipsvm.runs.Run` on either engine.

Each checkpoint keeps the packed state (scalars + memRoot) and its hash. Memory is stored
copy-on-write: the log holds the initial memory once and, per checkpoint, only the pages that
changed since the previous checkpoint. A page's version at checkpoint i is its last version
recorded at or before i, so resuming costs O(pages ever changed), not O(checkpoints x memory).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from mipsvm.memory import Memory, keccak256
from mipsvm.state import State, decode_state


class CheckpointError(LookupError):
    """No checkpoint can serve the requested step."""


@dataclass(frozen=True)
class Checkpoint:
    """The packed state (186 bytes, memRoot included) after `step` steps, and its hash."""

    step: int
    packed: bytes
    hash: bytes
    exited: bool


class CheckpointLog:
    """Checkpoints of one run, in step order, with copy-on-write page versions."""

    def __init__(self, initial: State) -> None:
        """A log whose first checkpoint is `initial` (not taken over: its memory is copied)."""
        self._base = initial.memory.copy()
        self._base.root()            # restored memories copy the base's hashed tree
        self._checkpoints: list[Checkpoint] = []
        self._by_step: dict[int, int] = {}
        self._versions: dict[int, tuple[list[int], list[bytes]]] = {}
        self.record(initial, {})

    def __len__(self) -> int:
        return len(self._checkpoints)

    def __iter__(self):
        return iter(self._checkpoints)

    @property
    def stored_pages(self) -> int:
        """Page versions held (each PAGE_SIZE bytes)."""
        return sum(len(idxs) for idxs, _ in self._versions.values())

    @property
    def last(self) -> Checkpoint:
        """The latest checkpoint."""
        return self._checkpoints[-1]

    def record(self, state: State, changed_pages: dict[int, bytes] | None = None) -> Checkpoint | None:
        """Add a checkpoint for `state`; `changed_pages` = pages changed since the previous one
        (default: the pages written since `state`'s memory root was last computed).

        A step already recorded (after going back in time) is not recorded twice.
        """
        if changed_pages is None:
            changed_pages = state.memory.written_pages()
        if state.step in self._by_step:
            return None
        if self._checkpoints and state.step < self._checkpoints[-1].step:
            raise CheckpointError(f"checkpoint at step {state.step} is older than the last one "
                                  f"({self._checkpoints[-1].step}) and was never recorded")
        index = len(self._checkpoints)
        for idx, data in changed_pages.items():
            idxs, datas = self._versions.setdefault(idx, ([], []))
            if datas and datas[-1] == data:
                continue
            idxs.append(index)
            datas.append(data)
        packed = state.encode()
        cp = Checkpoint(state.step, packed, keccak256(packed), state.exited)
        self._checkpoints.append(cp)
        self._by_step[state.step] = index
        return cp

    def hash_at(self, step: int) -> bytes | None:
        """The recorded hash for `step`, or None if no checkpoint answers it directly."""
        index = self._by_step.get(step)
        if index is not None:
            return self._checkpoints[index].hash
        if self._checkpoints and self._checkpoints[-1].exited and step >= self._checkpoints[-1].step:
            return self._checkpoints[-1].hash
        return None

    def index_before(self, step: int) -> int:
        """Index of the last checkpoint at or before `step`."""
        steps = [cp.step for cp in self._checkpoints]
        i = bisect_right(steps, step) - 1
        if i < 0:
            raise CheckpointError(f"no checkpoint at or before step {step}")
        return i

    def step_of(self, index: int) -> int:
        """The step of checkpoint `index`."""
        return self._checkpoints[index].step

    def memory_at(self, index: int) -> Memory:
        """The full memory at checkpoint `index` (a new Memory)."""
        memory = self._base.copy()
        for idx, (idxs, datas) in self._versions.items():
            k = bisect_right(idxs, index) - 1
            if k >= 0:
                memory.set_page(idx, datas[k])
        return memory

    def state_at_index(self, index: int) -> State:
        """The full state at checkpoint `index`."""
        fields = decode_state(self._checkpoints[index].packed)
        return State(memory=self.memory_at(index), pc=fields["pc"], next_pc=fields["next_pc"],
                     lo=fields["lo"], hi=fields["hi"], exit_code=fields["exit_code"],
                     exited=fields["exited"], step=fields["step"], regs=fields["regs"])

    def state_before(self, step: int) -> State:
        """The full state of the last checkpoint at or before `step`."""
        return self.state_at_index(self.index_before(step))
