// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {RegionMerkle} from "./RegionMerkle.sol";

/// @dev Result id of leaf i of batch b: BATCH_FLAG | b << INDEX_BITS | i (single results count up from 1 and never
///      reach it; every id stays below 2**63).
uint256 constant BATCH_FLAG = 1 << 62;
uint256 constant INDEX_BITS = 16;

/// @notice What OptimistBatches needs from its Optimist (only Optimist's constructor deploys it).
interface IBatchHost {
    function resultBond() external view returns (uint128);
    function challengeWindow() external view returns (uint64);
    function checkClaim(
        uint256 modelId,
        uint256 requestId,
        bytes calldata output,
        bytes calldata finalState,
        bytes32[] calldata proof
    ) external view returns (uint64 steps, uint8 outcome, uint8 exitCode, bytes32 finalHash);
    function takeRequests(address operator, uint256 modelId, uint256[] calldata requestIds, uint256 base)
        external
        payable;
    function settleLeaves(address operator, uint256[] calldata requestIds, uint256 base, bool disputes)
        external
        returns (uint256[] memory fees);
}

/// @title OptimistBatches: many results in one transaction (docs/game-rules.md §3a).
/// @notice An operator posts results for up to MAX_BATCH open requests of one model with one bond of
///         `resultBond` per result. Each claim is checked as postResult checks it (Optimist.checkClaim); the batch
///         keeps only the Merkle root of its leaves. A challenger disputes one leaf in Optimist.disputeLeaf (leaf +
///         inclusion proof, checked here by `verifyLeaf`): the leaf becomes an ordinary pending result of Optimist
///         and the game is today's game on it. After the window `finalizeBatch` finalizes every undisputed leaf.
///         The bonds and fees stay in Optimist, which pays them out; this contract holds no ether.
contract OptimistBatches {
    /// @notice One result of a batch; its Merkle leaf is keccak256(abi.encode(leaf)).
    struct Leaf {
        uint256 requestId;
        bytes32 finalStateHash;
        bytes32 outputHash;     // keccak256 of the output bytes (in ResultPosted and in postBatch's calldata)
        uint64 steps;
        uint8 outcome;          // Optimist.Outcome
        uint8 exitCode;
    }

    /// @notice What postBatch takes per request: postResult's arguments.
    struct Claim {
        uint256 requestId;
        bytes output;
        bytes finalState;
        bytes32[] outputProof;
    }

    struct Batch {
        address operator;
        uint64 postedAt;
        uint16 count;
        uint16 disputed;        // leaves brought into Optimist by disputeLeaf (they settle as single results)
        uint64 modelId;
        bool settled;           // finalizeBatch done
        bytes32 root;
    }

    /// @notice Most results in one batch.
    uint256 public constant MAX_BATCH = 1024;

    IBatchHost public immutable optimist;
    uint256 public batchCount;
    mapping(uint256 batchId => Batch) public batches;

    /// @notice Same signature as Optimist's events: one per leaf, as a single result would emit them.
    event ResultPosted(
        uint256 indexed resultId, uint256 indexed requestId, address indexed operator, bytes32 finalStateHash,
        uint64 steps, uint64 deadline, bytes output, uint8 outcome, uint8 exitCode
    );
    event ResultFinalized(
        uint256 indexed resultId, uint256 indexed requestId, address indexed operator, uint256 fee, uint8 outcome,
        uint8 exitCode
    );
    event BatchPosted(
        uint256 indexed batchId, uint256 indexed modelId, address indexed operator, uint256 count, bytes32 root,
        uint64 deadline
    );
    event BatchFinalized(uint256 indexed batchId, uint256 finalized, uint256 fees);

    error BadBatchSize(uint256 size, uint256 expected);
    error WrongBond(uint256 expected, uint256 sent);
    error UnknownBatch(uint256 batchId);
    error LeafIndexOutOfRange(uint256 index, uint256 count);
    error WrongPathLength(uint256 expected, uint256 got);
    error LeafMismatch(bytes32 computed, bytes32 root);
    error BatchSettled(uint256 batchId);
    error ChallengeWindowOpen(uint256 deadline);
    error NotOptimist();

    constructor() {
        optimist = IBatchHost(msg.sender);
    }

    /// @notice Post results for 1..MAX_BATCH open requests of `modelId` (msg.value: `resultBond` per claim). Each
    ///         request becomes Posted with the result id of its leaf; returns the batch id.
    function postBatch(uint256 modelId, Claim[] calldata claims) external payable returns (uint256 batchId) {
        uint256 n = claims.length;
        if (n == 0 || n > MAX_BATCH) revert BadBatchSize(n, MAX_BATCH);
        uint256 bond = uint256(optimist.resultBond()) * n;
        if (msg.value != bond) revert WrongBond(bond, msg.value);
        batchId = ++batchCount;
        uint256 base = BATCH_FLAG | batchId << INDEX_BITS;
        uint64 deadline = uint64(block.timestamp) + optimist.challengeWindow();
        uint256[] memory requestIds = new uint256[](n);
        bytes32[] memory nodes = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            Claim calldata c = claims[i];
            (uint64 steps, uint8 outcome, uint8 exitCode, bytes32 finalHash) =
                optimist.checkClaim(modelId, c.requestId, c.output, c.finalState, c.outputProof);
            requestIds[i] = c.requestId;
            nodes[i] = keccak256(abi.encode(Leaf(c.requestId, finalHash, keccak256(c.output), steps, outcome, exitCode)));
            emit ResultPosted(base | i, c.requestId, msg.sender, finalHash, steps, deadline, c.output, outcome, exitCode);
        }
        // the request checks (open, not reopening, operator not barred, this model, no callback, no duplicate)
        optimist.takeRequests{value: msg.value}(msg.sender, modelId, requestIds, base);
        bytes32 root = rootOf(nodes);
        batches[batchId] = Batch(msg.sender, uint64(block.timestamp), uint16(n), 0, uint64(modelId), false, root);
        emit BatchPosted(batchId, modelId, msg.sender, n, root, deadline);
    }

    /// @notice Optimist.disputeLeaf: check `leafHash` is leaf `index` of the batch and count the dispute; returns
    ///         the batch's operator and post time.
    function verifyLeaf(uint256 batchId, uint256 index, bytes32 leafHash, bytes32[] calldata proof)
        external
        returns (address operator, uint64 postedAt)
    {
        if (msg.sender != address(optimist)) revert NotOptimist();
        Batch storage b = _batch(batchId);
        uint256 count = b.count;
        if (index >= count) revert LeafIndexOutOfRange(index, count);
        uint256 depth = depthOf(count);
        if (proof.length != depth) revert WrongPathLength(depth, proof.length);
        bytes32 root = RegionMerkle.climb(leafHash, index, proof);
        if (root != b.root) revert LeafMismatch(root, b.root);
        b.disputed += 1;
        return (b.operator, b.postedAt);
    }

    /// @notice Anyone, after the challenge window: finalize every undisputed leaf of a batch. `leaves` are all its
    ///         leaves in order (from ResultPosted), checked against the root. Disputed leaves are single results in
    ///         Optimist from their dispute on (finalize, or rejected by their game).
    function finalizeBatch(uint256 batchId, Leaf[] calldata leaves) external {
        Batch storage b = _batch(batchId);
        if (b.settled) revert BatchSettled(batchId);
        uint256 deadline = uint256(b.postedAt) + optimist.challengeWindow();
        if (block.timestamp <= deadline) revert ChallengeWindowOpen(deadline);
        uint256 n = b.count;
        if (leaves.length != n) revert BadBatchSize(leaves.length, n);
        b.settled = true;
        bytes32[] memory nodes = new bytes32[](n);
        uint256[] memory requestIds = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            nodes[i] = keccak256(abi.encode(leaves[i]));
            requestIds[i] = leaves[i].requestId;
        }
        bytes32 root = rootOf(nodes);
        if (root != b.root) revert LeafMismatch(root, b.root);
        address operator = b.operator;
        uint256 base = BATCH_FLAG | batchId << INDEX_BITS;
        uint256[] memory fees = optimist.settleLeaves(operator, requestIds, base, b.disputed != 0);
        uint256 total;
        uint256 finalized;
        for (uint256 i; i < n; ++i) {
            uint256 fee = fees[i];
            if (fee == type(uint256).max) continue;   // disputed: settled in Optimist
            total += fee;
            finalized += 1;
            emit ResultFinalized(base | i, requestIds[i], operator, fee, leaves[i].outcome, leaves[i].exitCode);
        }
        emit BatchFinalized(batchId, finalized, total);
    }

    /// @notice Levels of a batch's tree (the length of every inclusion proof): ceil(log2(count)).
    function depthOf(uint256 count) public pure returns (uint256 depth) {
        while ((1 << depth) < count) depth++;
    }

    /// @notice Merkle root of `nodes` padded with zero leaves to a power of two (node = keccak256(left || right),
    ///         bit i of a leaf's index says whether it is a right child at height i). Overwrites `nodes`.
    function rootOf(bytes32[] memory nodes) public pure returns (bytes32) {
        uint256 n = nodes.length;
        bytes32 zero;   // root of an all-zero subtree of the current height
        while (n > 1) {
            uint256 m = (n + 1) / 2;
            for (uint256 i; i < m; ++i) {
                bytes32 right = 2 * i + 1 < n ? nodes[2 * i + 1] : zero;
                nodes[i] = keccak256(abi.encodePacked(nodes[2 * i], right));
            }
            zero = keccak256(abi.encodePacked(zero, zero));
            n = m;
        }
        return nodes[0];
    }

    function _batch(uint256 batchId) private view returns (Batch storage b) {
        b = batches[batchId];
        if (b.count == 0) revert UnknownBatch(batchId);
    }
}
