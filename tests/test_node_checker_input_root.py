"""NodeChecker.inputRoot (the root of a node's input region from its argument tensor roots) equals the
Merkle root of the region the VM image holds (minidnn.nodes: arg i at offset i * argSize, zero padding
up to next_pow2(args) positions), for every argument count 1..6 and mixed argument sizes: the counts
that are not a power of two leave zero positions (docs/two-phase.md §2)."""

from __future__ import annotations

import numpy as np
import pytest

from contracts.evm import LocalEVM
from minidnn.nodes import next_pow2, tensor_root
from mipsvm import layout
from mipsvm.regions import region_root


@pytest.fixture(scope="module")
def checker():
    return LocalEVM().deploy("NodeChecker")


def spec(arg_sizes: list[int]) -> tuple:
    """A NodeSpec tuple: inputRoot reads only argSize and argSizes (the rest is placeholder)."""
    arg_size = max(arg_sizes)
    return (bytes(32), 0, 0, arg_size * next_pow2(len(arg_sizes)), arg_size, list(range(len(arg_sizes))),
            arg_sizes, 0, 0, 1, [])


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6])
def test_input_root_is_the_root_of_the_input_region(checker, count: int) -> None:
    rng = np.random.default_rng(count)
    args = [rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8).tobytes() for _ in range(count)]
    sizes = [layout.region_size(len(a)) for a in args]
    arg_size = max(sizes)
    region = bytearray(arg_size * next_pow2(count))
    for i, a in enumerate(args):
        region[i * arg_size:i * arg_size + len(a)] = a
    expected = region_root(bytes(region), len(region))
    got = checker.call("inputRoot", spec(sizes), [tensor_root(a) for a in args])
    assert got == expected
