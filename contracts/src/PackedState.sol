// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title PackedState: the 186-byte big-endian VM state (docs/vm-spec.md §1).
/// @notice memRoot(32) pc(4) nextPC(4) lo(4) hi(4) exitCode(1) exited(1) step(8) regs[32](4 each).
library PackedState {
    uint256 internal constant STATE_SIZE = 186;
    uint32 internal constant STACK_TOP = 0x7FFFF000;
    uint256 internal constant SP_OFFSET = 58 + 4 * 29;   // regs start at byte 58; $sp is r29
    /// @notice Outcomes of a claim (Optimist.Outcome).
    uint8 internal constant SUCCESS = 0;
    uint8 internal constant FAILURE = 1;
    uint8 internal constant NO_HALT = 2;

    /// @notice Hash of the initial state: pc = entry, nextPC = entry + 4, $sp = STACK_TOP, all else zero.
    function initialHash(bytes32 memRoot, uint32 entry) internal pure returns (bytes32 hash) {
        uint256 pcs = (uint256(entry) << 224) | (uint256(uint32(entry + 4)) << 192);
        assembly ("memory-safe") {
            let buf := mload(0x40)
            for { let i := 0 } lt(i, 224) { i := add(i, 32) } { mstore(add(buf, i), 0) }
            mstore(buf, memRoot)
            mstore(add(buf, 32), pcs)
            mstore(add(buf, SP_OFFSET), shl(224, STACK_TOP))
            hash := keccak256(buf, STATE_SIZE)
        }
    }

    /// @notice memRoot, exitCode, exited and step of a packed state in calldata (length checked by caller).
    function summary(bytes calldata state)
        internal
        pure
        returns (bytes32 memRoot, uint8 exitCode, bool exited, uint64 step)
    {
        uint256 word;
        assembly ("memory-safe") {
            memRoot := calldataload(state.offset)
            word := calldataload(add(state.offset, 32))
        }
        exitCode = uint8(word >> 120);   // byte 48 of the state
        exited = uint8(word >> 112) != 0; // byte 49
        step = uint64(word >> 48);       // bytes 50..57
    }

    /// @notice The claim a program's final state makes (length checked by caller): Success or Failure (exit code
    ///         non-zero) if it exited, NoHalt (exit code 0) if not; `valid` unless its step count rules out every
    ///         claim: an exit within 1..maxSteps, or still running at exactly maxSteps.
    function claimOf(bytes calldata state, uint64 maxSteps)
        internal
        pure
        returns (bool valid, uint64 steps, uint8 outcome, uint8 exitCode, bytes32 memRoot)
    {
        bool exited;
        (memRoot, exitCode, exited, steps) = summary(state);
        if (!exited) return (steps == maxSteps, steps, NO_HALT, 0, memRoot);
        return (steps != 0 && steps <= maxSteps, steps, exitCode == 0 ? SUCCESS : FAILURE, exitCode, memRoot);
    }
}
