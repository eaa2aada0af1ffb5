// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title MIPSMemory: the VM's 4 GiB Merkle memory (docs/vm-spec.md).
/// @notice Leaves are raw 32-byte chunks, node = keccak256(left || right), depth 27.
///         A proof is leaf (32 bytes) || 27 sibling hashes, bottom-up (896 bytes in calldata).
library MIPSMemory {
    uint256 internal constant TREE_DEPTH = 27;
    uint256 internal constant LEAF_SIZE = 32;
    uint256 internal constant PROOF_SIZE = 32 * (1 + TREE_DEPTH);

    /// @notice Root of the tree holding `leaf` at leaf index `addr >> 5`, using the siblings of `proof`.
    function rootWithLeaf(bytes calldata proof, uint32 addr, bytes32 leaf) internal pure returns (bytes32 node) {
        assembly ("memory-safe") {
            node := leaf
            let index := shr(5, addr)
            let sibling := add(proof.offset, 32)
            let end := add(sibling, mul(32, TREE_DEPTH))
            for {} lt(sibling, end) { sibling := add(sibling, 32) } {
                // bit k of the index: 0 = the node is a left child (hashed at 0x00), 1 = a right child (at 0x20)
                let nodeAt := shl(5, and(index, 1))
                mstore(nodeAt, node)
                mstore(xor(nodeAt, 0x20), calldataload(sibling))
                node := keccak256(0x00, 0x40)
                index := shr(1, index)
            }
        }
    }

    /// @notice The leaf a proof carries.
    function leafOf(bytes calldata proof) internal pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            leaf := calldataload(proof.offset)
        }
    }

    /// @notice Root implied by `proof` for the leaf holding `addr` (compare it with the state's memRoot).
    function root(bytes calldata proof, uint32 addr) internal pure returns (bytes32) {
        return rootWithLeaf(proof, addr, leafOf(proof));
    }

    /// @notice The little-endian 32-bit word at aligned `addr` inside `leaf`.
    function wordAt(bytes32 leaf, uint32 addr) internal pure returns (uint32) {
        uint256 shift = 8 * (28 - (uint256(addr) & 28));
        uint32 be = uint32(uint256(leaf) >> shift);
        return _swap32(be);
    }

    /// @notice `leaf` with the little-endian 32-bit word at aligned `addr` replaced by `value`.
    function withWord(bytes32 leaf, uint32 addr, uint32 value) internal pure returns (bytes32) {
        uint256 shift = 8 * (28 - (uint256(addr) & 28));
        uint256 cleared = uint256(leaf) & ~(uint256(0xFFFFFFFF) << shift);
        return bytes32(cleared | (uint256(_swap32(value)) << shift));
    }

    function _swap32(uint32 v) private pure returns (uint32) {
        return (v >> 24) | ((v >> 8) & 0xFF00) | ((v << 8) & 0xFF0000) | (v << 24);
    }
}
