"""The two-phase encodings (docs/two-phase.md) computed by a small Solidity reference on pyrevm equal
minidnn.phase1's: the descriptor hash keccak256(abi.encode(NodeSpec)), slot climbs (C_0, proofs) and
a node's initial state hash I from its descriptor and arg roots (lifting, the input tree, the climb
into the image, the packed initial state)."""

from __future__ import annotations

import numpy as np
import pytest

from minidnn.format import ModelBuilder
from minidnn.nodes import NODE_SPEC_ABI, split_model
from minidnn.phase1 import commit, input_commitment, reference_input, run_trace, transition

REFERENCE = r"""
// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

contract TwoPhaseReference {
    struct NodeSpec {
        bytes32 imageRoot; uint32 entry; uint32 inputBase; uint32 inputSize; uint32 argSize;
        uint16[] args; uint32[] argSizes; uint32 outputBase; uint32 outputSize; uint64 maxSteps;
        bytes32[] inputPath;
    }

    function zeroHash(uint256 level) internal pure returns (bytes32 z) {
        for (uint256 i = 0; i < level; i++) z = keccak256(abi.encodePacked(z, z));
    }

    function log2(uint256 x) internal pure returns (uint256 r) {
        while (x > 1) { x >>= 1; r++; }
    }

    function specHash(NodeSpec calldata s) external pure returns (bytes32) {
        return keccak256(abi.encode(s));
    }

    function slotClimb(bytes32 node, uint256 slot, bytes32[] calldata proof) public pure returns (bytes32) {
        for (uint256 i = 0; i < 16; i++) {
            node = (slot >> i) & 1 == 1 ? keccak256(abi.encodePacked(proof[i], node))
                                        : keccak256(abi.encodePacked(node, proof[i]));
        }
        return node;
    }

    function inputCommitment(bytes calldata input) external pure returns (bytes32) {
        uint256 size = 32;
        while (size < input.length) size <<= 1;
        bytes memory padded = new bytes(size);
        for (uint256 i = 0; i < input.length; i++) padded[i] = input[i];
        uint256 n = size / 32;
        bytes32[] memory level = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            bytes32 w;
            assembly { w := mload(add(add(padded, 32), mul(i, 32))) }
            level[i] = w;
        }
        while (n > 1) {
            n /= 2;
            for (uint256 i = 0; i < n; i++) level[i] = keccak256(abi.encodePacked(level[2 * i], level[2 * i + 1]));
        }
        bytes32 node = level[0];
        for (uint256 i = 0; i < 16; i++) node = keccak256(abi.encodePacked(node, zeroHash(i)));
        return node;
    }

    function initialStateHash(NodeSpec calldata s, bytes32[] calldata argRoots) external pure returns (bytes32) {
        uint256 k = argRoots.length;
        uint256 p = 1;
        while (p < k) p <<= 1;
        uint256 argLevel = log2(s.argSize / 32);
        bytes32[] memory nodes = new bytes32[](p);
        for (uint256 i = 0; i < p; i++) {
            if (i >= k) { nodes[i] = zeroHash(argLevel); continue; }
            bytes32 r = argRoots[i];
            for (uint256 h = log2(s.argSizes[i] / 32); h < argLevel; h++) r = keccak256(abi.encodePacked(r, zeroHash(h)));
            nodes[i] = r;
        }
        while (p > 1) {
            p /= 2;
            for (uint256 i = 0; i < p; i++) nodes[i] = keccak256(abi.encodePacked(nodes[2 * i], nodes[2 * i + 1]));
        }
        bytes32 root = nodes[0];
        uint256 index = uint256(s.inputBase) >> (5 + log2(s.inputSize / 32));
        for (uint256 i = 0; i < s.inputPath.length; i++) {
            root = (index >> i) & 1 == 1 ? keccak256(abi.encodePacked(s.inputPath[i], root))
                                         : keccak256(abi.encodePacked(root, s.inputPath[i]));
        }
        bytes memory regs = new bytes(128);
        uint32 sp = 0x7FFFF000;
        for (uint256 b = 0; b < 4; b++) regs[29 * 4 + b] = bytes1(uint8(sp >> (8 * (3 - b))));
        return keccak256(abi.encodePacked(root, s.entry, s.entry + 4, uint32(0), uint32(0), uint8(0), uint8(0),
                                          uint64(0), regs));
    }
}
"""


@pytest.fixture(scope="module")
def reference():
    from contracts.compile import compile_contracts, stage_files
    from contracts.evm import LocalEVM

    artifacts = compile_contracts(stage_files({"TwoPhaseReference.sol": REFERENCE}, "two_phase_ref"))
    return LocalEVM().deploy("TwoPhaseReference", artifacts)


def call(contract, name: str, types: list[str], *args):
    """contract.name(*args) -> bytes32, encoding tuple arguments (LocalEVM.call does not)."""
    from eth_abi import decode, encode

    from contracts.evm import selector

    data = selector(f"{name}({','.join(types)})") + encode(types, list(args))
    return decode(["bytes32"], contract.evm.transact(contract.address, data, contract.abi))[0]


def small_model() -> bytes:
    """Add of two run-time inputs of different sizes (broadcast), one of them the graph input."""
    b = ModelBuilder().add_input("x", (3, 20))
    b.add_node("Relu", ["x"], ["r"])
    b.add_node("ReduceSum", ["r"], ["s"], axes=[0], shapes=[(1, 20)])
    b.add_node("Add", ["x", "s"], ["a"])
    b.add_node("Concat", ["a", "s", "r"], ["c"], axis=0)
    return b.set_output("c").to_bytes()


def test_solidity_reference_agrees(reference):
    split = split_model(small_model())
    x = reference_input(split, seed=2)
    trace = run_trace(split, x)
    commitment = commit(split, x)
    assert call(reference, "inputCommitment", ["bytes"], trace.tensors[0]) == trace.commitments[0] == \
        input_commitment(trace.tensors[0])
    for j in range(1, split.node_count + 1):
        move, _ = transition(trace, commitment, j)
        spec = move.spec.as_tuple()
        climb = ["bytes32", "uint256", "bytes32[]"]
        assert call(reference, "specHash", [NODE_SPEC_ABI], spec) == move.spec.hash()
        assert call(reference, "slotClimb", climb, move.spec.hash(), j, list(move.spec_proof)) == \
            commitment.nodes_root
        assert call(reference, "slotClimb", climb, move.output_root, j, list(move.slot_proof)) == \
            trace.commitments[j]
        assert call(reference, "initialStateHash", [NODE_SPEC_ABI, "bytes32[]"], spec,
                    list(move.arg_roots)) == move.initial_hash
    assert [len(n.args) for n in split.nodes] == [1, 1, 2, 3]
    assert np.array_equal(trace.output, np.concatenate([x + np.maximum(x, 0).sum(0, keepdims=True),
                                                        np.maximum(x, 0).sum(0, keepdims=True),
                                                        np.maximum(x, 0)]))
