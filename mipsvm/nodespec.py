"""The descriptor of one node's VM image in a two-phase game (docs/two-phase.md §2; Solidity
`NodeChecker.NodeSpec`): the image root with its input region zero, entry, input/output regions, the
phase-1 slots of its run-time inputs, its step bound and the input region's sibling path.

One definition for both sides: minidnn builds descriptors, contracts sends them (both floors sit on
mipsvm).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode

from mipsvm.memory import keccak256

NODE_SPEC_ABI = "(bytes32,uint32,uint32,uint32,uint32,uint16[],uint32[],uint32,uint32,uint64,bytes32[])"


@dataclass(frozen=True)
class NodeSpec:
    """The descriptor of node j (Solidity `struct NodeSpec`, docs/two-phase.md §2)."""

    image_root: bytes
    entry: int
    input_base: int
    input_size: int
    arg_size: int
    args: tuple[int, ...]
    arg_sizes: tuple[int, ...]
    output_base: int
    output_size: int
    max_steps: int
    input_path: tuple[bytes, ...]

    def as_tuple(self) -> tuple[Any, ...]:
        """The struct as a tuple in field order (web3 / eth_abi argument)."""
        return (self.image_root, self.entry, self.input_base, self.input_size, self.arg_size,
                list(self.args), list(self.arg_sizes), self.output_base, self.output_size,
                self.max_steps, list(self.input_path))

    @classmethod
    def from_tuple(cls, t: Sequence[Any]) -> NodeSpec:
        """The descriptor from its tuple (as_tuple's order; e.g. decoded from calldata or an event)."""
        if len(t) != 11:
            raise ValueError(f"a NodeSpec tuple has 11 fields, got {len(t)}")
        return cls(bytes(t[0]), int(t[1]), int(t[2]), int(t[3]), int(t[4]), tuple(int(a) for a in t[5]),
                   tuple(int(a) for a in t[6]), int(t[7]), int(t[8]), int(t[9]),
                   tuple(bytes(p) for p in t[10]))

    def encode(self) -> bytes:
        """abi.encode(spec)."""
        return abi_encode([NODE_SPEC_ABI], [self.as_tuple()])

    def hash(self) -> bytes:
        """keccak256(abi.encode(spec)): the leaf of nodesRoot."""
        return keccak256(self.encode())
