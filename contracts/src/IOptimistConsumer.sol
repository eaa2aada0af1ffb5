// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IOptimistConsumer: what a contract implements to receive results of Optimist requests.
/// @notice Name the contract in `Optimist.requestWithCallback`; when the request's result finalizes,
///         Optimist calls `onOptimistResult` with exactly the callback gas limit of the request.
///         A callback that reverts or runs out of gas does not undo the finalization: Optimist records it
///         in a `CallbackCalled` event (ok = false) and goes on. While the callback runs, Optimist's
///         state-changing functions revert (its reentrancy lock is held); its views can be read.
///         Anyone may name any contract as the callback of their request: check `msg.sender` is the
///         Optimist contract and that `requestId` is a request you made (or otherwise expect).
interface IOptimistConsumer {
    /// @param requestId the finalized request
    /// @param outcome 0 = Success (the program exited with code 0; `output` is its proven output),
    ///        1 = Failure (exited with code `exitCode` != 0; `output` empty),
    ///        2 = NoHalt (still running at the model's maxSteps; `output` empty) — Optimist.Outcome
    /// @param exitCode the program's exit code (0 unless outcome == 1)
    /// @param output the output region's bytes (the model's output length) for a Success, else empty
    function onOptimistResult(uint256 requestId, uint8 outcome, uint8 exitCode, bytes calldata output) external;
}
