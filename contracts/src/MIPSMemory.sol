// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title MIPSMemory: the VM's 4 GiB Merkle memory (docs/vm-spec.md).
/// @notice Leaves are raw 32-byte chunks, node = keccak256(left || right), depth 27. A witness carries memory
///         proofs in compact form: leaf (32 bytes) || mask (4 bytes, big-endian: bit k set = sibling k is the
///         zero hash of level k and is omitted) || the other siblings, bottom-up (32 bytes each).
library MIPSMemory {
    uint256 internal constant TREE_DEPTH = 27;
    uint256 internal constant LEAF_SIZE = 32;
    uint256 internal constant PROOF_SIZE = 32 * (1 + TREE_DEPTH);   // a full proof: leaf and 27 siblings
    uint256 internal constant PROOF_MASK_SIZE = 4;

    /// @notice Length of the compact proof that starts `proof` (from its mask), or type(uint256).max when
    ///         `proof` is shorter than leaf and mask or the mask has bits above level 26.
    function proofLength(bytes calldata proof) internal pure returns (uint256) {
        if (proof.length < LEAF_SIZE + PROOF_MASK_SIZE) return type(uint256).max;
        uint256 mask = uint32(bytes4(proof[LEAF_SIZE:LEAF_SIZE + PROOF_MASK_SIZE]));
        if (mask >> TREE_DEPTH != 0) return type(uint256).max;
        return LEAF_SIZE + PROOF_MASK_SIZE + 32 * (TREE_DEPTH - _popcount(mask));
    }

    /// @notice zero[k] = root of an all-zero subtree of height k (zero[0] = a zero leaf); mipsvm.memory.ZERO_HASHES.
    function zeroHashes() internal pure returns (bytes32[TREE_DEPTH] memory z) {
        assembly ("memory-safe") {
            // z[0] is the zero leaf (the array is zero-initialised)
            mstore(add(z, 0x20), 0xad3228b676f7d3cd4284a5443f17f1962b36e491b30a40b2405849e597ba5fb5)
            mstore(add(z, 0x40), 0xb4c11951957c6f8f642c4af61cd6b24640fec6dc7fc607ee8206a99e92410d30)
            mstore(add(z, 0x60), 0x21ddb9a356815c3fac1026b6dec5df3124afbadb485c9ba5a3e3398a04b7ba85)
            mstore(add(z, 0x80), 0xe58769b32a1beaf1ea27375a44095a0d1fb664ce2dd358e7fcbfb78c26a19344)
            mstore(add(z, 0xa0), 0x0eb01ebfc9ed27500cd4dfc979272d1f0913cc9f66540d7e8005811109e1cf2d)
            mstore(add(z, 0xc0), 0x887c22bd8750d34016ac3c66b5ff102dacdd73f6b014e710b51e8022af9a1968)
            mstore(add(z, 0xe0), 0xffd70157e48063fc33c97a050f7f640233bf646cc98d9524c6b92bcf3ab56f83)
            mstore(add(z, 0x100), 0x9867cc5f7f196b93bae1e27e6320742445d290f2263827498b54fec539f756af)
            mstore(add(z, 0x120), 0xcefad4e508c098b9a7e1d8feb19955fb02ba9675585078710969d3440f5054e0)
            mstore(add(z, 0x140), 0xf9dc3e7fe016e050eff260334f18a5d4fe391d82092319f5964f2e2eb7c1c3a5)
            mstore(add(z, 0x160), 0xf8b13a49e282f609c317a833fb8d976d11517c571d1221a265d25af778ecf892)
            mstore(add(z, 0x180), 0x3490c6ceeb450aecdc82e28293031d10c7d73bf85e57bf041a97360aa2c5d99c)
            mstore(add(z, 0x1a0), 0xc1df82d9c4b87413eae2ef048f94b4d3554cea73d92b0f7af96e0271c691e2bb)
            mstore(add(z, 0x1c0), 0x5c67add7c6caf302256adedf7ab114da0acfe870d449a3a489f781d659e8becc)
            mstore(add(z, 0x1e0), 0xda7bce9f4e8618b6bd2f4132ce798cdc7a60e7e1460a7299e3c6342a579626d2)
            mstore(add(z, 0x200), 0x2733e50f526ec2fa19a22b31e8ed50f23cd1fdf94c9154ed3a7609a2f1ff981f)
            mstore(add(z, 0x220), 0xe1d3b5c807b281e4683cc6d6315cf95b9ade8641defcb32372f1c126e398ef7a)
            mstore(add(z, 0x240), 0x5a2dce0a8a7f68bb74560f8f71837c2c2ebbcbf7fffb42ae1896f13f7c7479a0)
            mstore(add(z, 0x260), 0xb46a28b6f55540f89444f63de0378e3d121be09e06cc9ded1c20e65876d36aa0)
            mstore(add(z, 0x280), 0xc65e9645644786b620e2dd2ad648ddfcbf4a7e5b1a3a4ecfe7f64667a3f0b7e2)
            mstore(add(z, 0x2a0), 0xf4418588ed35a2458cffeb39b93d26f18d2ab13bdce6aee58e7b99359ec2dfd9)
            mstore(add(z, 0x2c0), 0x5a9c16dc00d6ef18b7933a6f8dc65ccb55667138776f7dea101070dc8796e377)
            mstore(add(z, 0x2e0), 0x4df84f40ae0c8229d0d6069e5c8f39a7c299677a09d367fc7b05e3bc380ee652)
            mstore(add(z, 0x300), 0xcdc72595f74c7b1043d0e1ffbab734648c838dfb0527d971b602bc216c9619ef)
            mstore(add(z, 0x320), 0x0abf5ac974a1ed57f4050aa510dd9c74f508277b39d7973bb2dfccc5eeb0618d)
            mstore(add(z, 0x340), 0xb8cd74046ff337f0a7bf2c8e03e10f642c1886798d71806ab1e888d9e5ee87d0)
        }
    }

    /// @notice Root of the tree holding `leaf` at leaf index `addr >> 5`, using the siblings of the compact
    ///         `proof` (exactly one compact proof: the caller checked its length with `proofLength`).
    function rootWithLeaf(bytes calldata proof, bytes32[TREE_DEPTH] memory zeros, uint32 addr, bytes32 leaf)
        internal
        pure
        returns (bytes32 node)
    {
        assembly ("memory-safe") {
            node := leaf
            // bits: the mask above bit 32, the leaf index below; both shift right by one a level
            let bits := or(shl(32, shr(224, calldataload(add(proof.offset, LEAF_SIZE)))), shr(5, addr))
            let sibling := add(proof.offset, add(LEAF_SIZE, PROOF_MASK_SIZE))
            let end := add(zeros, mul(32, TREE_DEPTH))
            for { let z := zeros } lt(z, end) { z := add(z, 32) } {
                let other := mload(z) // zero[k]: the sibling when bit k of the mask is set
                if iszero(and(shr(32, bits), 1)) {
                    other := calldataload(sibling)
                    sibling := add(sibling, 32)
                }
                // bit k of the index: 0 = the node is a left child (hashed at 0x00), 1 = a right child (at 0x20)
                let nodeAt := shl(5, and(bits, 1))
                mstore(nodeAt, node)
                mstore(xor(nodeAt, 0x20), other)
                node := keccak256(0x00, 0x40)
                bits := shr(1, bits)
            }
        }
    }

    /// @notice The root `proof` implies for its own leaf and the root with `leaf` in its place, in one walk up
    ///         the tree (a store: verify, then update). Same preconditions as `rootWithLeaf`.
    function rootsWithLeaf(bytes calldata proof, bytes32[TREE_DEPTH] memory zeros, uint32 addr, bytes32 leaf)
        internal
        pure
        returns (bytes32 oldNode, bytes32 newNode)
    {
        assembly ("memory-safe") {
            oldNode := calldataload(proof.offset)
            newNode := leaf
            let buf := mload(0x40) // scratch past the free pointer: the old pair at buf, the new pair at buf + 64
            let bits := or(shl(32, shr(224, calldataload(add(proof.offset, LEAF_SIZE)))), shr(5, addr))
            let sibling := add(proof.offset, add(LEAF_SIZE, PROOF_MASK_SIZE))
            let end := add(zeros, mul(32, TREE_DEPTH))
            for { let z := zeros } lt(z, end) { z := add(z, 32) } {
                let other := mload(z)
                if iszero(and(shr(32, bits), 1)) {
                    other := calldataload(sibling)
                    sibling := add(sibling, 32)
                }
                let nodeAt := add(buf, shl(5, and(bits, 1)))
                let otherAt := add(buf, xor(shl(5, and(bits, 1)), 0x20))
                mstore(nodeAt, oldNode)
                mstore(otherAt, other)
                mstore(add(nodeAt, 64), newNode)
                mstore(add(otherAt, 64), other)
                oldNode := keccak256(buf, 0x40)
                newNode := keccak256(add(buf, 64), 0x40)
                bits := shr(1, bits)
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
    function root(bytes calldata proof, bytes32[TREE_DEPTH] memory zeros, uint32 addr) internal pure returns (bytes32) {
        return rootWithLeaf(proof, zeros, addr, leafOf(proof));
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

    /// @notice Number of set bits of a mask below 2**27 (SWAR popcount: pairs, nibbles, then bytes summed).
    function _popcount(uint256 x) private pure returns (uint256) {
        x = x - ((x >> 1) & 0x55555555);
        x = (x & 0x33333333) + ((x >> 2) & 0x33333333);
        x = (x + (x >> 4)) & 0x0F0F0F0F;
        return ((x * 0x01010101) >> 24) & 0xFF;
    }
}
