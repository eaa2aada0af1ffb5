"""Batched results with the real daemons on anvil (JSON-RPC): a batch of 100 requests with two lies."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from challenger.models import toy_model
from contracts.chain import Anvil
from optimist.world import World
from tests.test_daemon_anvil import _anvil_package_installed
from tests.test_daemon_batches import BOND, CLOCK, MAX_STEPS, WINDOW, play_batch_with_lies

pytestmark = pytest.mark.anvil

if not _anvil_package_installed():  # pragma: no cover
    pytest.skip("the npm anvil package is not installed (make setup)", allow_module_level=True)


def test_a_batch_of_100_with_two_lies_on_anvil(tmp_path: Path) -> None:
    with Anvil() as node:
        world = World.deploy(node.web3(), toy_model(engine="fast"), window=WINDOW, clock=CLOCK, result_bond=BOND,
                             challenge_bond=BOND, db_dir=tmp_path, trace_interval=4096, engine="fast",
                             max_steps=MAX_STEPS)
        t0 = time.perf_counter()
        play_batch_with_lies(world, 100, (17, 71))
        print(f"\n100 requests, 2 lies, on anvil: {time.perf_counter() - t0:.1f} s")
