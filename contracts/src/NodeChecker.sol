// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {PackedState} from "./PackedState.sol";
import {RegionMerkle} from "./RegionMerkle.sol";

/// @title NodeChecker: the stateless checks of a two-phase game's transition (docs/two-phase.md).
/// @notice Optimist.enterNode forwards its own arguments here (`move` = its calldata after the selector),
///         with the graph model's `nodesRoot` and the game's agreed C_{j-1} (`prev`) and disputed C_j
///         (`next`). Every check of the transition reverts with its own error; on success the node's
///         initial state hash, the claimed final state hash and its step count start phase 2.
///         A separate contract keeps Optimist's runtime code under the 24 KB limit.
contract NodeChecker {
    /// @notice Descriptor of one graph node (hashed as keccak256(abi.encode(spec)) into the model's nodesRoot).
    struct NodeSpec {
        bytes32 imageRoot;      // node image root with the input region zero
        uint32 entry;
        uint32 inputBase;
        uint32 inputSize;       // argSize * next_pow2(args.length)
        uint32 argSize;         // power of two >= 32: the largest of argSizes
        uint16[] args;          // phase-1 slot of each run-time input, in order (each < j)
        uint32[] argSizes;      // region_size of each run-time input's bytes (its tensor root's region)
        uint32 outputBase;
        uint32 outputSize;      // power of two >= 32
        uint64 maxSteps;        // 1 .. 2**48
        bytes32[] inputPath;    // 27 - log2(inputSize / 32) siblings of the input region in the image
    }

    /// @notice Depth of the phase-1 slot tree (65,536 slots).
    uint256 public constant SLOT_DEPTH = 16;
    uint256 public constant MAX_NODE_STEPS = 1 << 48;
    uint256 internal constant TREE_DEPTH = 27;
    /// @notice Domain tag of a failed node's phase-1 state: C_j = keccak256(FAILURE_TAG, C_{j-1}, j,
    ///         keccak256(finalState)) for a node j that exits with a non-zero code or is still running at its
    ///         maxSteps (docs/two-phase.md §3a). A 128-byte preimage: never a slot-tree root (64 bytes).
    ///         The value is keccak256("optimist.node-failure") (minidnn.phase1.FAILURE_TAG; tests compare them).
    bytes32 public constant FAILURE_TAG = 0xddd540558a4d2df381c641c908d533d8c9cbdb2b63e6770664f60f8aedc9881a;

    error BadNodeSpec(string field, uint256 value);
    error WrongPathLength(uint256 expected, uint256 got);
    error InputPathMismatch(bytes32 computed, bytes32 imageRoot);
    error NodeSpecMismatch(bytes32 computed, bytes32 nodesRoot);
    error WrongArgCount(uint256 expected, uint256 got);
    error ArgRootMismatch(uint256 arg, bytes32 computed, bytes32 prev);
    error SlotNotEmpty(uint256 slot, bytes32 computed, bytes32 prev);
    error OutputRootMismatch(bytes32 computed, bytes32 next);
    error BadStateLength(uint256 got);
    error NodeStepsOutOfRange(uint64 steps, uint64 maxSteps);
    error NodeOutputMismatch(bytes32 computed, bytes32 memRoot);
    error FailureMismatch(bytes32 computed, bytes32 next);
    error BadParameter(string name, uint256 value);
    error StepsOutOfRange(uint64 steps, uint64 maxSteps);
    error RunNotFinished(uint64 steps, uint64 maxSteps);
    error OutputNotEmpty();
    error NodeNotFailed(uint8 exitCode, uint64 steps);
    error WrongOutputLength(uint256 expected, uint256 got);
    error OutputProofMismatch(bytes32 computed, bytes32 memRoot);
    error BadEntry(uint32 entry);
    error BadMaxSteps(uint64 maxSteps, uint256 limit);
    error BadRegion(uint32 base, uint32 size, uint32 length);
    error RegionsOverlap();

    /// @notice Outcome values, as Optimist.Outcome orders them.
    uint8 internal constant SUCCESS = 0;
    uint8 internal constant FAILURE = 1;
    uint8 internal constant NO_HALT = 2;

    /// @notice Check a transition move. `move` is abi.encode(gameId, j, spec, specProof, argRoots, argProofs,
    ///         finalState, outputRoot, outputPath, slotProof) (Optimist.enterNode's arguments). `shape` packs the
    ///         model's nodeCount (bits 128..), period (bits 64..127) and the game's node count M (bits 0..63): node j
    ///         of a generation model (period > 0) is template node jt = j - shift with every arg slot + shift
    ///         (docs/two-phase.md §10); a single-pass model has jt = j, shift = 0.
    /// @return init hash of the node's initial VM state (from `spec` and the argument roots)
    /// @return finalHash keccak256(finalState)
    /// @return steps the final state's step count (phase 2 bisects 0..steps)
    function check(bytes32 nodesRoot, uint256 shape, bytes32 prev, bytes32 next, bytes calldata move)
        external
        pure
        returns (bytes32 init, bytes32 finalHash, uint64 steps)
    {
        (
            ,
            uint64 j,
            NodeSpec memory spec,
            bytes32[] memory specProof,
            bytes32[] memory argRoots,
            bytes32[][] memory argProofs,
            bytes memory finalState,
            bytes32 outputRoot,
            bytes32[] memory outputPath,
            bytes32[] memory slotProof
        ) = abi.decode(
            move, (uint256, uint64, NodeSpec, bytes32[], bytes32[], bytes32[][], bytes, bytes32, bytes32[], bytes32[])
        );
        uint256 shift = shiftOf(j, shape);
        // 1. the registered descriptor of node j (template node j - shift)
        bytes32 root = slotRoot(keccak256(abi.encode(spec)), j - shift, specProof);
        if (root != nodesRoot) revert NodeSpecMismatch(root, nodesRoot);
        uint256 inLevel = checkSpec(spec, uint64(j - shift));
        // 2. the run-time inputs are the tensors of the agreed C_{j-1}
        if (argRoots.length != spec.args.length) revert WrongArgCount(spec.args.length, argRoots.length);
        if (argProofs.length != spec.args.length) revert WrongArgCount(spec.args.length, argProofs.length);
        for (uint256 i = 0; i < argRoots.length; i++) {
            root = slotRoot(argRoots[i], spec.args[i] + shift, argProofs[i]);
            if (root != prev) revert ArgRootMismatch(i, root, prev);
        }
        finalHash = keccak256(finalState);
        if (isSuccess(finalState)) {
            // 3. slot j is empty in C_{j-1}, and C_j is C_{j-1} with outputRoot at slot j
            root = slotRoot(bytes32(0), j, slotProof);
            if (root != prev) revert SlotNotEmpty(j, root, prev);
            root = slotRoot(outputRoot, j, slotProof);
            if (root != next) revert OutputRootMismatch(root, next);
            // 4. the claimed final state exited with code 0 within maxSteps, outputRoot at its output region
            steps = checkFinal(spec, finalState, outputRoot, outputPath);
        } else {
            // 3'-4'. a failed node: C_j is the failure hash of (C_{j-1}, j, finalState), which exited with a
            // non-zero code within maxSteps or is still running at exactly maxSteps (outputRoot, outputPath
            // and slotProof are not used)
            steps = checkFailed(spec, finalState);
            root = failureHash(prev, j, finalHash);
            if (root != next) revert FailureMismatch(root, next);
        }
        // 5. the node's initial state from the descriptor and the argument roots
        bytes32 memRoot = RegionMerkle.climb(
            inputRoot(spec, argRoots), uint256(spec.inputBase) >> (5 + inLevel), spec.inputPath
        );
        init = PackedState.initialHash(memRoot, spec.entry);
    }

    /// @notice A program model's registration (Optimist.registerModel): a word-aligned entry, 1 <= maxSteps <=
    ///         2**48, input and output regions aligned powers of two >= 32 bytes holding their lengths, apart,
    ///         and `inputPath` (27 - level siblings) climbing the all-zero input region to `imageRoot`.
    function checkModel(
        bytes32 imageRoot,
        uint32 entry,
        uint32 inputBase,
        uint32 inputSize,
        uint32 inputLength,
        uint32 outputBase,
        uint32 outputSize,
        uint32 outputLength,
        uint64 maxSteps,
        bytes32[] calldata inputPath
    ) external pure {
        if (entry % 4 != 0) revert BadEntry(entry);
        if (maxSteps == 0 || maxSteps > MAX_NODE_STEPS) revert BadMaxSteps(maxSteps, MAX_NODE_STEPS);
        uint256 inLevel = checkRegion(inputBase, inputSize, inputLength);
        checkRegion(outputBase, outputSize, outputLength);
        if (uint256(inputBase) < uint256(outputBase) + outputSize && uint256(outputBase) < uint256(inputBase) + inputSize) {
            revert RegionsOverlap();
        }
        if (inputPath.length != TREE_DEPTH - inLevel) revert WrongPathLength(TREE_DEPTH - inLevel, inputPath.length);
        bytes32 root = RegionMerkle.climb(RegionMerkle.zeroHash(inLevel), uint256(inputBase) >> (5 + inLevel), inputPath);
        if (root != imageRoot) revert InputPathMismatch(root, imageRoot);
    }

    /// @dev Region = aligned power of two >= 32 bytes holding `length` bytes; returns its tree level.
    function checkRegion(uint32 base, uint32 size, uint32 length) internal pure returns (uint256) {
        if (size < 32 || size & (size - 1) != 0 || base % size != 0 || length == 0 || length > size) {
            revert BadRegion(base, size, length);
        }
        return RegionMerkle.levelOf(size);
    }

    /// @notice A program model's claim (Optimist.postResult): `finalState` exited with a non-zero code (Failure)
    ///         or 0 (Success: `output` proven by `outputProof` at the model's output region of its memRoot)
    ///         within 1..maxSteps, or is still running at exactly maxSteps (NoHalt); no output unless Success.
    function programClaim(
        bytes calldata finalState,
        bytes calldata output,
        bytes32[] calldata outputProof,
        uint64 maxSteps,
        uint32 outputBase,
        uint32 outputSize,
        uint32 outputLength
    ) external pure returns (uint64 steps, uint8 outcome, uint8 exitCode) {
        if (finalState.length != PackedState.STATE_SIZE) revert BadStateLength(finalState.length);
        bool valid;
        bytes32 memRoot;
        (valid, steps, outcome, exitCode, memRoot) = PackedState.claimOf(finalState, maxSteps);
        if (!valid) {
            if (outcome == NO_HALT) revert RunNotFinished(steps, maxSteps);
            revert StepsOutOfRange(steps, maxSteps);
        }
        if (outcome != SUCCESS) {
            if (output.length != 0 || outputProof.length != 0) revert OutputNotEmpty();
            return (steps, outcome, exitCode);
        }
        if (output.length != outputLength) revert WrongOutputLength(outputLength, output.length);
        uint256 level = RegionMerkle.levelOf(outputSize);
        if (outputProof.length != TREE_DEPTH - level) revert WrongPathLength(TREE_DEPTH - level, outputProof.length);
        bytes32 root = RegionMerkle.rootWith(output, outputBase, level, outputProof);
        if (root != memRoot) revert OutputProofMismatch(root, memRoot);
    }

    /// @notice A graph model's claim on a request of m nodes (Optimist.postResult, docs/two-phase.md §3, §3a):
    ///         Success: `finalState` is C_m (32 bytes) and `outputProof` the slot proof of tensorRoot(output) (of
    ///         `outputLength` bytes) at slot m; Failure / NoHalt: see failedClaim (no output).
    function graphClaim(
        bytes calldata output,
        bytes calldata finalState,
        bytes32[] calldata outputProof,
        uint32 outputLength,
        uint64 m
    ) external pure returns (uint64 steps, uint8 outcome, uint8 exitCode, bytes32 finalHash) {
        if (finalState.length == 64 + PackedState.STATE_SIZE) {
            return failedClaim(finalState, output.length + outputProof.length, m);
        }
        if (finalState.length != 32) revert BadStateLength(finalState.length);
        if (output.length != outputLength) revert WrongOutputLength(outputLength, output.length);
        if (outputProof.length != SLOT_DEPTH) revert WrongPathLength(SLOT_DEPTH, outputProof.length);
        finalHash = bytes32(finalState);
        bytes32 root = RegionMerkle.climb(
            RegionMerkle.regionRoot(output, RegionMerkle.levelOf(output.length)), m, outputProof
        );
        if (root != finalHash) revert OutputProofMismatch(root, finalHash);
        return (m, SUCCESS, 0, finalHash);
    }

    /// @notice A graph model's failure claim: `claim` is C_{j-1} (32 bytes), j (a 32-byte word, 1..m) and node j's
    ///         packed final state, which exited with a non-zero code (Failure) or did not exit (NoHalt; its step must
    ///         be node j's maxSteps, checked at the transition); `outputWords` (the output's bytes plus its proof's
    ///         length) must be 0. Returns steps = j and the failure hash C_j.
    function failedClaim(bytes calldata claim, uint256 outputWords, uint64 m)
        public
        pure
        returns (uint64 steps, uint8 outcome, uint8 exitCode, bytes32 finalHash)
    {
        if (outputWords != 0) revert OutputNotEmpty();
        uint256 j = uint256(bytes32(claim[32:64]));
        if (j == 0 || j > m) revert BadParameter("node", j);
        bytes calldata state = claim[64:];
        (, uint8 code, bool exited, uint64 nodeSteps) = PackedState.summary(state);
        if (exited) {
            if (code == 0 || nodeSteps == 0) revert NodeNotFailed(code, nodeSteps);
            (outcome, exitCode) = (FAILURE, code);
        } else {
            outcome = NO_HALT;
        }
        return (uint64(j), outcome, exitCode, failureHash(bytes32(claim[0:32]), j, keccak256(state)));
    }

    /// @notice The slot shift of node j (docs/two-phase.md §10): t * period for token t = min((j - 2) / period, k - 1),
    ///         k = (M - nodeCount) / period + 1; 0 for node 1 and for single-pass models.
    function shiftOf(uint256 j, uint256 shape) public pure returns (uint256) {
        uint256 period = uint64(shape >> 64);
        if (period == 0 || j < 2) return 0;
        uint256 last = (uint64(shape) - (shape >> 128)) / period;   // k - 1
        uint256 t = (j - 2) / period;
        return (t < last ? t : last) * period;
    }

    /// @notice The phase-1 state after node `j` failed (see FAILURE_TAG).
    function failureHash(bytes32 prev, uint256 j, bytes32 finalStateHash) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(FAILURE_TAG, prev, j, finalStateHash));
    }

    /// @notice Root of the slot tree from `leaf` at `slot` and its SLOT_DEPTH siblings (bottom-up).
    function slotRoot(bytes32 leaf, uint256 slot, bytes32[] memory proof) public pure returns (bytes32) {
        if (proof.length != SLOT_DEPTH) revert WrongPathLength(SLOT_DEPTH, proof.length);
        return RegionMerkle.climb(leaf, slot, proof);
    }

    /// @notice Root of the node's input region: each argument's tensor root lifted to argSize, zero
    ///         subtrees for the unused positions up to next_pow2(args.length).
    function inputRoot(NodeSpec memory spec, bytes32[] memory argRoots) public pure returns (bytes32) {
        uint256 argLevel = RegionMerkle.levelOf(spec.argSize);
        uint256 k = argRoots.length;
        uint256 width = 1;
        while (width < k) width <<= 1;
        bytes32[] memory nodes = new bytes32[](width);
        bytes32 zero = RegionMerkle.zeroHash(argLevel);
        for (uint256 i = 0; i < width; i++) {
            nodes[i] = i < k ? RegionMerkle.lift(argRoots[i], RegionMerkle.levelOf(spec.argSizes[i]), argLevel) : zero;
        }
        for (; width > 1; width >>= 1) {
            for (uint256 i = 0; i < width / 2; i++) {
                nodes[i] = keccak256(abi.encodePacked(nodes[2 * i], nodes[2 * i + 1]));
            }
        }
        return nodes[0];
    }

    /// @dev The descriptor's own rules (docs/two-phase.md §2); returns the input region's tree level.
    function checkSpec(NodeSpec memory spec, uint64 j) internal pure returns (uint256 inLevel) {
        if (spec.entry % 4 != 0) revert BadNodeSpec("entry", spec.entry);
        if (spec.maxSteps == 0 || spec.maxSteps > MAX_NODE_STEPS) revert BadNodeSpec("maxSteps", spec.maxSteps);
        uint256 k = spec.args.length;
        if (k == 0) revert BadNodeSpec("args", 0);
        if (spec.argSizes.length != k) revert BadNodeSpec("argSizes", spec.argSizes.length);
        uint256 largest;
        for (uint256 i = 0; i < k; i++) {
            if (spec.args[i] >= j) revert BadNodeSpec("args", spec.args[i]);
            uint256 size = spec.argSizes[i];
            if (!isRegionSize(size)) revert BadNodeSpec("argSizes", size);
            if (size > largest) largest = size;
        }
        if (spec.argSize != largest) revert BadNodeSpec("argSize", spec.argSize);
        uint256 width = 1;
        while (width < k) width <<= 1;
        if (spec.inputSize != largest * width) revert BadNodeSpec("inputSize", spec.inputSize);
        if (spec.inputBase % spec.inputSize != 0) revert BadNodeSpec("inputBase", spec.inputBase);
        if (!isRegionSize(spec.outputSize)) revert BadNodeSpec("outputSize", spec.outputSize);
        if (spec.outputBase % spec.outputSize != 0) revert BadNodeSpec("outputBase", spec.outputBase);
        inLevel = RegionMerkle.levelOf(spec.inputSize);
        if (spec.inputPath.length != TREE_DEPTH - inLevel) {
            revert WrongPathLength(TREE_DEPTH - inLevel, spec.inputPath.length);
        }
        bytes32 root = RegionMerkle.climb(
            RegionMerkle.zeroHash(inLevel), uint256(spec.inputBase) >> (5 + inLevel), spec.inputPath
        );
        if (root != spec.imageRoot) revert InputPathMismatch(root, spec.imageRoot);
    }

    /// @dev True if the packed state exited with code 0 (a successful node run claim; any length, the
    ///      checks that follow reject a malformed state).
    function isSuccess(bytes memory finalState) internal pure returns (bool) {
        if (finalState.length != PackedState.STATE_SIZE) return true;
        uint256 word;
        assembly ("memory-safe") {
            word := mload(add(finalState, 64))
        }
        return uint8(word >> 112) != 0 && uint8(word >> 120) == 0;
    }

    /// @dev Check 4 of a failed node: exited with a non-zero code at 1 <= step <= maxSteps, or not exited at
    ///      exactly maxSteps.
    function checkFailed(NodeSpec memory spec, bytes memory finalState) internal pure returns (uint64 steps) {
        uint256 word;
        assembly ("memory-safe") {
            word := mload(add(finalState, 64))
        }
        steps = uint64(word >> 48);
        bool exited = uint8(word >> 112) != 0;
        if (exited ? steps == 0 || steps > spec.maxSteps : steps != spec.maxSteps) {
            revert NodeStepsOutOfRange(steps, spec.maxSteps);
        }
    }

    /// @dev Check 4 of a successful node (exited with code 0: `isSuccess`): 1 <= step <= maxSteps, outputRoot at
    ///      the output region of memRoot.
    function checkFinal(NodeSpec memory spec, bytes memory finalState, bytes32 outputRoot, bytes32[] memory path)
        internal
        pure
        returns (uint64 steps)
    {
        if (finalState.length != PackedState.STATE_SIZE) revert BadStateLength(finalState.length);
        bytes32 memRoot;
        uint256 word;
        assembly ("memory-safe") {
            memRoot := mload(add(finalState, 32))
            word := mload(add(finalState, 64))
        }
        steps = uint64(word >> 48);            // bytes 50..57 (exited with code 0: isSuccess)
        if (steps == 0 || steps > spec.maxSteps) revert NodeStepsOutOfRange(steps, spec.maxSteps);
        uint256 level = RegionMerkle.levelOf(spec.outputSize);
        if (path.length != TREE_DEPTH - level) revert WrongPathLength(TREE_DEPTH - level, path.length);
        bytes32 root = RegionMerkle.climb(outputRoot, uint256(spec.outputBase) >> (5 + level), path);
        if (root != memRoot) revert NodeOutputMismatch(root, memRoot);
    }

    /// @dev A power of two of at least one 32-byte leaf, within the 32-bit address space.
    function isRegionSize(uint256 size) internal pure returns (bool) {
        return size >= 32 && size <= (1 << 32) && size & (size - 1) == 0;
    }
}
