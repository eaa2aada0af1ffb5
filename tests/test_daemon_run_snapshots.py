"""The daemons' run snapshots share unchanged pages and still answer every step exactly."""

from __future__ import annotations

import tempfile
from pathlib import Path

from challenger.models import Run
from minidnn.examples import mlp, sample_input
from minidnn.image import vm_initial_state
from mipsvm.fast import FastRunner


def _start():  # type: ignore[no-untyped-def]
    blob = mlp((64, 32, 10), seed=2)
    path = Path(tempfile.mkdtemp()) / "m.mdnn"
    path.write_bytes(blob)
    return vm_initial_state(path, sample_input(blob, seed=1))[0]


def test_snapshots_share_unchanged_pages() -> None:
    run = Run(_start(), interval=20_000)
    assert len(run.snaps) >= 3
    for before, after in zip(run.snaps[1:], run.snaps[2:], strict=False):
        shared = [i for i, page in after.memory._pages.items()
                  if before.memory._pages.get(i) is page]
        assert shared, "consecutive snapshots should share the model's (unchanged) pages"


def test_shared_snapshots_give_exact_hashes() -> None:
    run = Run(_start(), interval=20_000)
    for step in (0, 19_999, 20_000, 45_123, run.last - 1, run.last):
        runner = FastRunner(_start(), checkpoints=False)
        runner.run_to(step)
        assert run.hash_at(step) == runner.state_hash(), step
    # answering a step must not disturb the snapshots it started from
    assert run.hash_at(45_123) == run.hash_at(45_123)
