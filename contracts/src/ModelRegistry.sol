// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {PackedState} from "./PackedState.sol";
import {NodeChecker} from "./NodeChecker.sol";
import {RegionMerkle} from "./RegionMerkle.sol";

/// @title ModelRegistry: model images and the initial VM state of a request (docs/game-rules.md §1).
/// @notice A model image is the VM memory (program + model blob) with the input region zeroed. The registry
///         keeps the sibling path from the input region up to the memory root, so the initial state of any
///         input is computed on-chain: merkleize the input (zero-padded to the region), climb the path.
abstract contract ModelRegistry {
    /// @notice What a model owner registers.
    struct ModelSpec {
        bytes32 imageRoot;      // memory root of the image with the input region all zero
        bytes32 modelHash;      // keccak256 of the model file (e.g. the .mdnn bytes)
        uint32 entry;           // ELF entry point: initial pc
        uint32 inputBase;       // input region: aligned, power-of-two size >= 32 bytes
        uint32 inputSize;
        uint32 inputLength;     // exact input byte length a request must carry (<= inputSize)
        uint32 outputBase;      // output region: aligned, power-of-two size >= 32 bytes
        uint32 outputSize;
        uint32 outputLength;    // exact output byte length a result must carry (<= outputSize)
        uint64 maxSteps;        // step bound: a run still going at maxSteps has the outcome "did not halt"
        string metadataURI;
    }

    /// @notice A registered model (the input path lives in the code of `inputPath`, SSTORE2-style).
    struct Model {
        address inputPath;      // data contract holding the input region's sibling path
        uint32 entry;
        uint32 inputBase;
        uint32 inputLength;
        address owner;
        uint32 outputBase;
        uint32 outputSize;
        uint32 outputLength;
        bytes32 imageRoot;
        bytes32 modelHash;
        uint32 inputSize;
        uint64 maxSteps;
        string metadataURI;
    }

    /// @notice What a graph model's owner registers (two-phase games, docs/two-phase.md).
    struct GraphSpec {
        bytes32 nodesRoot;      // slot tree (SLOT_DEPTH levels) over the node descriptor hashes, node j at index j
        bytes32 modelHash;      // keccak256 of the model file (the .mdnn bytes)
        uint32 nodeCount;       // m: nodes 1..m run in order; the output is node m's
        uint32 inputLength;     // exact input byte length a request must carry
        uint32 outputLength;    // exact output byte length a result must carry
        uint32 period;          // generation models: nodes per token P of the template (0: single pass; two-phase.md §10)
        string metadataURI;
    }

    /// @notice A registered graph model.
    struct GraphModel {
        bytes32 nodesRoot;
        address owner;
        uint32 nodeCount;
        uint32 inputLength;
        uint32 outputLength;
        uint32 period;
        bytes32 modelHash;
        string metadataURI;
    }

    uint256 internal constant TREE_DEPTH = 27;
    /// @notice Depth of the phase-1 slot tree of graph models: slot 0 the input, slot j node j's output.
    uint256 public constant SLOT_DEPTH = 16;
    /// @notice Most nodes a graph model may have (slots 1..MAX_NODES).
    uint256 public constant MAX_NODES = 65535;
    /// @notice Upper bound of every model's maxSteps: at most 48 bisection rounds.
    uint256 public constant MAX_STEPS = 1 << 48;

    uint256 public modelCount;
    mapping(uint256 modelId => Model) public models;
    /// @notice Graph models (ids shared with `models`: an id is one or the other).
    mapping(uint256 modelId => GraphModel) public graphs;

    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        bytes32 imageRoot,
        bytes32 modelHash,
        uint32 entry,
        uint32 inputBase,
        uint32 inputSize,
        uint32 inputLength,
        uint32 outputBase,
        uint32 outputSize,
        uint32 outputLength,
        uint64 maxSteps,
        string metadataURI
    );

    event GraphModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        bytes32 nodesRoot,
        bytes32 modelHash,
        uint32 nodeCount,
        uint32 inputLength,
        uint32 outputLength,
        uint32 period,
        string metadataURI
    );

    error UnknownModel(uint256 modelId);
    error ZeroNodesRoot();
    error BadNodeCount(uint256 nodeCount, uint256 limit);
    error BadTensorLength(string name, uint256 length);
    error BadRegion(uint32 base, uint32 size, uint32 length);
    error RegionsOverlap();
    error WrongPathLength(uint256 expected, uint256 got);
    error InputPathMismatch(bytes32 computed, bytes32 imageRoot);
    error WrongInputLength(uint256 expected, uint256 got);
    error PathStoreFailed();
    error BadEntry(uint32 entry);
    error BadMaxSteps(uint64 maxSteps, uint256 limit);

    /// @notice Register a model image; `inputPath` is the 27 - log2(inputSize / 32) siblings, bottom-up.
    function registerModel(ModelSpec calldata spec, bytes32[] calldata inputPath)
        external
        returns (uint256 modelId)
    {
        _checker().checkModel(
            spec.imageRoot, spec.entry, spec.inputBase, spec.inputSize, spec.inputLength, spec.outputBase,
            spec.outputSize, spec.outputLength, spec.maxSteps, inputPath
        );

        modelId = ++modelCount;
        models[modelId] = Model({
            inputPath: _storePath(inputPath),
            entry: spec.entry,
            inputBase: spec.inputBase,
            inputLength: spec.inputLength,
            owner: msg.sender,
            outputBase: spec.outputBase,
            outputSize: spec.outputSize,
            outputLength: spec.outputLength,
            imageRoot: spec.imageRoot,
            modelHash: spec.modelHash,
            inputSize: spec.inputSize,
            maxSteps: spec.maxSteps,
            metadataURI: spec.metadataURI
        });
        emit ModelRegistered(
            modelId, msg.sender, spec.imageRoot, spec.modelHash, spec.entry, spec.inputBase, spec.inputSize,
            spec.inputLength, spec.outputBase, spec.outputSize, spec.outputLength, spec.maxSteps, spec.metadataURI
        );
    }

    /// @notice Register a graph model (docs/two-phase.md); its results are bisected over nodes first.
    function registerGraphModel(GraphSpec calldata spec) external returns (uint256 modelId) {
        if (spec.nodesRoot == bytes32(0)) revert ZeroNodesRoot();
        if (spec.nodeCount == 0 || spec.nodeCount > MAX_NODES) revert BadNodeCount(spec.nodeCount, MAX_NODES);
        if (spec.inputLength == 0) revert BadTensorLength("input", 0);
        if (spec.outputLength == 0) revert BadTensorLength("output", 0);
        // a generation template: node 1, one token's P nodes, a suffix; the input a request of 4 + T words
        if (spec.period != 0 && (spec.nodeCount <= spec.period || spec.inputLength < 20 || spec.inputLength % 4 != 0)) {
            revert BadNodeCount(spec.period, spec.nodeCount);
        }
        modelId = ++modelCount;
        graphs[modelId] = GraphModel({
            nodesRoot: spec.nodesRoot,
            owner: msg.sender,
            nodeCount: spec.nodeCount,
            inputLength: spec.inputLength,
            outputLength: spec.outputLength,
            period: spec.period,
            modelHash: spec.modelHash,
            metadataURI: spec.metadataURI
        });
        emit GraphModelRegistered(
            modelId, msg.sender, spec.nodesRoot, spec.modelHash, spec.nodeCount, spec.inputLength, spec.outputLength,
            spec.period, spec.metadataURI
        );
    }

    /// @notice Hash of the initial VM state of `modelId` run on `input`; for a graph model, its C_0.
    function initialStateHash(uint256 modelId, bytes calldata input) public view returns (bytes32 init) {
        (init,) = _initial(modelId, input);
    }

    /// @dev initialStateHash and, for a generation model, the request's unrolled node count (else 0).
    function _initial(uint256 modelId, bytes calldata input) internal view returns (bytes32, uint256) {
        Model storage m = models[modelId];
        if (m.inputPath == address(0)) {
            bytes32 root = _graphInitialRoot(modelId, input);   // checks the input length first
            return (root, _unrolledSteps(modelId, input));
        }
        (address pathStore, uint32 entry, uint32 inputBase, uint32 inputLength) =
            (m.inputPath, m.entry, m.inputBase, m.inputLength);
        if (input.length != inputLength) revert WrongInputLength(inputLength, input.length);
        bytes32[] memory path = RegionMerkle.loadPath(pathStore);
        bytes32 memRoot = RegionMerkle.rootWith(input, inputBase, TREE_DEPTH - path.length, path);
        return (PackedState.initialHash(memRoot, entry), 0);
    }

    /// @notice C_0 of graph model `modelId` on `input`: tensorRoot(input) at slot 0, all other slots empty.
    function _graphInitialRoot(uint256 modelId, bytes calldata input) private view returns (bytes32) {
        uint256 length = graphs[modelId].inputLength;
        if (length == 0) revert UnknownModel(modelId);
        if (input.length != length) revert WrongInputLength(length, input.length);
        return RegionMerkle.lift(_tensorRoot(input), 0, SLOT_DEPTH);
    }

    /// @notice A generation model's request: the node count of its unrolled sequence, nodeCount + (k - 1) period,
    ///         k = input word 1 (1..T); 0 for other models (docs/two-phase.md §10).
    function _unrolledSteps(uint256 modelId, bytes calldata input) internal view returns (uint256) {
        GraphModel storage gm = graphs[modelId];
        uint256 period = gm.period;
        if (period == 0) return 0;
        uint256 k = uint32(bytes4(input[4:8]));
        k = (k >> 24) | ((k >> 8) & 0xff00) | ((k << 8) & 0xff0000) | ((k & 0xff) << 24);   // little-endian
        if (k == 0 || k > input.length / 4 - 4) revert BadTensorLength("tokens", k);
        uint256 steps = gm.nodeCount + (k - 1) * period;
        if (steps > MAX_NODES) revert BadNodeCount(steps, MAX_NODES);
        return steps;
    }

    /// @notice Root of a tensor's bytes in the smallest region (power of two >= 32 bytes) holding them.
    function _tensorRoot(bytes calldata data) internal pure returns (bytes32) {
        return RegionMerkle.regionRoot(data, RegionMerkle.levelOf(data.length));
    }

    /// @notice The input region's sibling path of `modelId`, bottom-up.
    function inputPathOf(uint256 modelId) external view returns (bytes32[] memory) {
        return RegionMerkle.loadPath(_model(modelId).inputPath);
    }

    function _model(uint256 modelId) internal view returns (Model storage m) {
        m = models[modelId];
        if (m.inputPath == address(0)) revert UnknownModel(modelId);
    }

    /// @dev The stateless checker of model specs, claims and transitions (Optimist's NodeChecker).
    function _checker() internal view virtual returns (NodeChecker);

    /// @dev Deploy a data contract whose code is 0x00 || path (read back with extcodecopy).
    function _storePath(bytes32[] calldata path) private returns (address store) {
        bytes memory code = abi.encodePacked(hex"600B5981380380925939F3", hex"00", path);
        assembly ("memory-safe") {
            store := create(0, add(code, 32), mload(code))
        }
        if (store == address(0)) revert PathStoreFailed();
    }
}
