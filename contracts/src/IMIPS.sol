// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IMIPS: the one-step MIPS interpreter the dispute game calls (docs/vm-spec.md).
interface IMIPS {
    /// @notice Execute one instruction.
    /// @param state 186-byte packed pre-state.
    /// @param proof fetch proof (896 bytes), then the data proof (896 bytes) for a load or store.
    /// @return postStateHash keccak256 of the packed post-state.
    function step(bytes calldata state, bytes calldata proof) external returns (bytes32 postStateHash);
}
