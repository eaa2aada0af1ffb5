// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptimistConsumer} from "./IOptimistConsumer.sol";

/// @notice The part of Optimist this example calls.
interface IOptimistRequests {
    function requestWithCallback(
        uint256 modelId,
        bytes calldata input,
        uint256 deadline,
        address callback,
        uint256 callbackGas
    ) external payable returns (uint256);
    function request(uint256 modelId, bytes calldata input) external payable returns (uint256);
    function outcomeOf(uint256 requestId)
        external
        view
        returns (uint8 outcome, uint8 exitCode, uint64 steps, bytes32 outputHash, uint256 resultId);
    function batches() external view returns (ILeafOutcomes);
}

/// @notice The part of OptimistBatches this example calls: a final batch leaf's outcome, proven by the leaf.
interface ILeafOutcomes {
    /// Same fields and order as OptimistBatches.Leaf (docs/game-rules.md §3a).
    struct Leaf {
        uint256 requestId;
        bytes32 finalStateHash;
        bytes32 outputHash;
        uint64 steps;
        uint8 outcome;
        uint8 exitCode;
    }

    function leafOutcome(uint256 batchId, uint256 index, Leaf calldata leaf, bytes32[] calldata proof)
        external
        view
        returns (uint256 requestId, uint8 outcome, uint8 exitCode, uint64 steps, bytes32 outputHash);
}

/// @title DigitBounty: an example dapp settling on a model's classification of an image.
/// @notice The deployer funds a bounty for the first image a classifier (e.g. the digits MLP,
///         examples/models/mlp_digits.onnx: 784 float32 pixels in, 10 float32 logits out) puts in class
///         `target`. Anyone submits an image with `submit` (msg.value is the Optimist fee); when the
///         request's result finalizes, Optimist calls `onOptimistResult`; if the output's argmax is `target`
///         the submitter wins and takes the bounty with `claim`. Only finalized results reach the callback:
///         a lying operator's result is rejected in its game and never finalizes.
///         A request with a callback is never batched. `submitPlain` asks without one, so that an operator may answer
///         it in a batch of results (docs/game-rules.md §3a), cheaper per inference; anyone then has it judged with
///         the finalized answer: `judgeLeaf` (a batch leaf, proven by OptimistBatches.leafOutcome) or `judgeResult`
///         (a single result, Optimist.outcomeOf), the output bytes checked against the proven output hash.
contract DigitBounty is IOptimistConsumer {
    uint256 public constant CALLBACK_GAS = 60_000;   // what onOptimistResult needs, with room to spare

    IOptimistRequests public immutable optimist;
    uint256 public immutable modelId;
    uint256 public immutable classes;   // the model's output: `classes` little-endian float32 logits
    uint256 public immutable target;
    uint256 public immutable bounty;

    address public winner;
    bool public claimed;
    mapping(uint256 requestId => address submitter) public submitterOf;

    event Submitted(uint256 indexed requestId, address indexed submitter);
    /// predicted: the argmax class (type(uint256).max when the run did not succeed).
    event Judged(uint256 indexed requestId, address indexed submitter, uint8 outcome, uint256 predicted, bool won);
    event Claimed(address indexed winner, uint256 amount);

    error NotOptimist();
    error NotOurRequest(uint256 requestId);
    error BountyWon(address winner);
    error NotWinner();
    error AlreadyClaimed();
    error TransferFailed();
    error BadTarget(uint256 target, uint256 classes);
    error OutputMismatch(bytes32 expected, bytes32 got);

    /// @notice msg.value is the bounty, paid to the winner.
    constructor(IOptimistRequests optimist_, uint256 modelId_, uint256 classes_, uint256 target_) payable {
        if (target_ >= classes_) revert BadTarget(target_, classes_);
        optimist = optimist_;
        modelId = modelId_;
        classes = classes_;
        target = target_;
        bounty = msg.value;
    }

    /// @notice Ask Optimist to classify `image` (the model's input bytes); msg.value is the request fee.
    function submit(bytes calldata image) external payable returns (uint256 requestId) {
        if (winner != address(0)) revert BountyWon(winner);
        requestId = optimist.requestWithCallback{value: msg.value}(modelId, image, 0, address(this), CALLBACK_GAS);
        submitterOf[requestId] = msg.sender;
        emit Submitted(requestId, msg.sender);
    }

    /// @notice As `submit`, without a callback: judged later by `judgeLeaf` or `judgeResult` (anyone may call them).
    function submitPlain(bytes calldata image) external payable returns (uint256 requestId) {
        if (winner != address(0)) revert BountyWon(winner);
        requestId = optimist.request{value: msg.value}(modelId, image);
        submitterOf[requestId] = msg.sender;
        emit Submitted(requestId, msg.sender);
    }

    /// @notice Judge a `submitPlain` request answered by leaf `index` of batch `batchId` once it is final: `leaf` and
    ///         `proof` as OptimistBatches.leafOutcome takes them (the leaf is in its ResultPosted event), `output` the
    ///         answer's bytes (empty unless its outcome is Success).
    function judgeLeaf(
        uint256 batchId,
        uint256 index,
        ILeafOutcomes.Leaf calldata leaf,
        bytes32[] calldata proof,
        bytes calldata output
    ) external {
        (uint256 requestId, uint8 outcome,,, bytes32 outputHash) =
            optimist.batches().leafOutcome(batchId, index, leaf, proof);
        _judge(requestId, outcome, outputHash, output);
    }

    /// @notice Judge a `submitPlain` request answered by a single result once it is finalized (`output` as above).
    function judgeResult(uint256 requestId, bytes calldata output) external {
        (uint8 outcome,,, bytes32 outputHash,) = optimist.outcomeOf(requestId);
        _judge(requestId, outcome, outputHash, output);
    }

    /// @inheritdoc IOptimistConsumer
    function onOptimistResult(uint256 requestId, uint8 outcome, uint8, bytes calldata output) external {
        if (msg.sender != address(optimist)) revert NotOptimist();
        _judged(requestId, outcome, output);   // Optimist checked the output against the result's hash
    }

    function _judge(uint256 requestId, uint8 outcome, bytes32 outputHash, bytes calldata output) private {
        if (outcome == 0 && keccak256(output) != outputHash) revert OutputMismatch(outputHash, keccak256(output));
        _judged(requestId, outcome, output);
    }

    function _judged(uint256 requestId, uint8 outcome, bytes calldata output) private {
        address submitter = submitterOf[requestId];
        if (submitter == address(0)) revert NotOurRequest(requestId);
        delete submitterOf[requestId];
        uint256 predicted = type(uint256).max;
        if (outcome == 0 && output.length == 4 * classes) predicted = argmax(output);
        bool won = predicted == target && winner == address(0);
        if (won) winner = submitter;
        emit Judged(requestId, submitter, outcome, predicted, won);
    }

    /// @notice The winner takes the bounty.
    function claim() external {
        if (msg.sender != winner) revert NotWinner();
        if (claimed) revert AlreadyClaimed();
        claimed = true;
        emit Claimed(msg.sender, bounty);
        (bool ok,) = msg.sender.call{value: bounty}("");
        if (!ok) revert TransferFailed();
    }

    /// @notice Index of the largest little-endian float32 in `output` (the first on ties), in IEEE 754
    ///         totalOrder: -NaN < -inf < ... < -0 < +0 < ... < +inf < +NaN.
    function argmax(bytes calldata output) public pure returns (uint256 best) {
        uint256 bestKey;
        for (uint256 i = 0; i < output.length / 4; i++) {
            uint256 bits = uint256(uint8(output[4 * i])) | uint256(uint8(output[4 * i + 1])) << 8
                | uint256(uint8(output[4 * i + 2])) << 16 | uint256(uint8(output[4 * i + 3])) << 24;
            // Map the float's bits to an unsigned key with the same order.
            uint256 key = bits & 0x80000000 != 0 ? (~bits) & 0xffffffff : bits | 0x80000000;
            if (i == 0 || key > bestKey) (best, bestKey) = (i, key);
        }
    }
}
