// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title RegionMerkle: roots of aligned power-of-two memory regions (docs/vm-spec.md §2).
/// @notice Leaves are raw 32-byte chunks, node = keccak256(left || right), the whole tree has depth 27.
///         A region of 2**level leaves is one subtree; its `path` is the 27 - level sibling hashes from the
///         region's root up to the memory root, bottom-up.
library RegionMerkle {
    uint256 internal constant TREE_DEPTH = 27;
    uint256 internal constant LEAF_SIZE = 32;

    /// @notice Root of an all-zero subtree of height `level`.
    function zeroHash(uint256 level) internal pure returns (bytes32 node) {
        assembly ("memory-safe") {
            for { let l := 0 } lt(l, level) { l := add(l, 1) } {
                mstore(0x00, node)
                mstore(0x20, node)
                node := keccak256(0x00, 0x40)
            }
        }
    }

    /// @notice Tree height of a region of `size` bytes (size = 32 << level).
    function levelOf(uint256 size) internal pure returns (uint256 level) {
        while ((LEAF_SIZE << level) < size) level++;
    }

    /// @notice Root of the region of 2**level leaves holding `data` followed by zeros.
    /// @dev Caller ensures data.length <= 32 << level. Hashes only the non-zero part; zero
    ///      subtrees use their precomputed hash. Uses memory past the free pointer as scratch.
    function regionRoot(bytes calldata data, uint256 level) internal pure returns (bytes32 root) {
        assembly ("memory-safe") {
            let len := data.length
            let n := shr(5, add(len, 31))            // leaves that hold data
            let buf := mload(0x40)
            calldatacopy(buf, data.offset, len)
            mstore(add(buf, len), 0)                 // zero-pad the last leaf
            let zero := 0
            for { let l := 0 } lt(l, level) { l := add(l, 1) } {
                let m := shr(1, add(n, 1))
                for { let i := 0 } lt(i, m) { i := add(i, 1) } {
                    let left := add(buf, shl(6, i))
                    mstore(0x00, mload(left))
                    switch lt(add(shl(1, i), 1), n)
                    case 1 { mstore(0x20, mload(add(left, 32))) }
                    default { mstore(0x20, zero) }
                    mstore(add(buf, shl(5, i)), keccak256(0x00, 0x40))
                }
                n := m
                mstore(0x00, zero)
                mstore(0x20, zero)
                zero := keccak256(0x00, 0x40)
            }
            switch n
            case 0 { root := zero }
            default { root := mload(buf) }
        }
    }

    /// @notice Root of the same bytes in a region of 2**to leaves, from their root `node` in a region of
    ///         2**from leaves (from <= to): the node climbs as a left child over zero subtrees.
    function lift(bytes32 node, uint256 from, uint256 to) internal pure returns (bytes32) {
        bytes32 zero = zeroHash(from);
        assembly ("memory-safe") {
            for { let l := from } lt(l, to) { l := add(l, 1) } {
                mstore(0x00, node)
                mstore(0x20, zero)
                node := keccak256(0x00, 0x40)
                mstore(0x00, zero)
                zero := keccak256(0x00, 0x40)
            }
        }
        return node;
    }

    /// @notice Memory root from a subtree `node` at node index `index` (addr >> (5 + level)) and its path.
    function climb(bytes32 node, uint256 index, bytes32[] memory path) internal pure returns (bytes32) {
        assembly ("memory-safe") {
            let n := mload(path)
            let p := add(path, 32)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let sibling := mload(add(p, shl(5, i)))
                switch and(shr(i, index), 1)
                case 0 {
                    mstore(0x00, node)
                    mstore(0x20, sibling)
                }
                default {
                    mstore(0x00, sibling)
                    mstore(0x20, node)
                }
                node := keccak256(0x00, 0x40)
            }
        }
        return node;
    }

    /// @notice Memory root of a region of 2**level leaves at byte address `base` holding `data` (zero-padded; see
    ///         regionRoot), from the region's `path`.
    function rootWith(bytes calldata data, uint256 base, uint256 level, bytes32[] memory path)
        internal
        pure
        returns (bytes32)
    {
        return climb(regionRoot(data, level), base >> (5 + level), path);
    }

    /// @notice The sibling path stored (SSTORE2) in the code of `store` after its leading 0x00 byte.
    function loadPath(address store) internal view returns (bytes32[] memory path) {
        uint256 n = (store.code.length - 1) / 32;
        path = new bytes32[](n);
        assembly ("memory-safe") {
            extcodecopy(store, add(path, 32), 1, shl(5, n))
        }
    }
}
