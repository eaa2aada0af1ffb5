// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {PackedState} from "./PackedState.sol";
import {RegionMerkle} from "./RegionMerkle.sol";

/// @dev Result id of leaf i of batch b: BATCH_FLAG | b << INDEX_BITS | i (single results count up from 1 and never
///      reach it; every id stays below 2**63).
uint256 constant BATCH_FLAG = 1 << 62;
uint256 constant INDEX_BITS = 16;

/// @dev The result id of leaf `index` of batch `batchId`.
function leafResultId(uint256 batchId, uint256 index) pure returns (uint256) {
    return BATCH_FLAG | batchId << INDEX_BITS | index;
}
/// @dev Request reference of entry i of request batch r: ENTRY_FLAG | r << INDEX_BITS | i (docs/game-rules.md §3b). A
///      disputed entry becomes Optimist's request under this id (single requests count up from 1 and never reach it).
uint256 constant ENTRY_FLAG = 1 << 61;

/// @notice The graph claim derivation of NodeChecker (docs/two-phase.md): what postResult derives from a graph result.
interface INodeClaims {
    function graphClaim(
        bytes calldata output,
        bytes calldata finalState,
        bytes32[] calldata outputProof,
        uint32 outputLength,
        uint64 m
    ) external pure returns (uint64 steps, uint8 outcome, uint8 exitCode, bytes32 finalHash);
}

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
    function fund(address account, uint256 credit, uint256 burnt) external payable;
    function burnBps() external view returns (uint16);
    function modelCount() external view returns (uint256);
    function reopenDelay() external view returns (uint32);
    function hasResult(uint256 resultId) external view returns (bool);
    function results(uint256 resultId)
        external
        view
        returns (
            address operator,
            uint8 status,
            uint8 outcome,
            uint8 exitCode,
            bool graph,
            uint64 postedAt,
            uint64 requestId,
            uint64 steps,
            uint32 openGames,
            uint32 sharers,
            uint32 defended,
            bytes32 finalStateHash,
            bytes32 outputHash
        );
    function rejectLeaf(uint256 resultId, address by, bool void) external;
    function nodeChecker() external view returns (INodeClaims);
    function graphs(uint256 modelId)
        external
        view
        returns (
            bytes32 nodesRoot,
            address owner,
            uint32 nodeCount,
            uint32 inputLength,
            uint32 outputLength,
            uint32 period,
            bytes32 modelHash,
            string memory metadataURI
        );
    function models(uint256 modelId)
        external
        view
        returns (
            address inputPath,
            uint32 entry,
            uint32 inputBase,
            uint32 inputLength,
            address owner,
            uint32 outputBase,
            uint32 outputSize,
            uint32 outputLength,
            bytes32 imageRoot,
            bytes32 modelHash,
            uint32 inputSize,
            uint64 maxSteps,
            string memory metadataURI
        );
}

/// @title OptimistBatches: many results in one transaction (docs/game-rules.md §3a).
/// @notice An operator posts results for up to MAX_BATCH open requests of one model with one bond of
///         `resultBond` per result. Each claim is checked as postResult checks it (Optimist.checkClaim); the batch
///         keeps only the Merkle root of its leaves. A challenger disputes one leaf in Optimist.disputeLeaf (leaf +
///         inclusion proof, checked here by `verifyLeaf`): the leaf becomes an ordinary pending result of Optimist
///         and the game is today's game on it. After the window `finalizeBatch` finalizes every undisputed leaf.
///         The bonds and fees stay in Optimist, which pays them out; this contract holds no ether.
contract OptimistBatches {
    /// @notice One result of a batch; its Merkle leaf is keccak256(abi.encode(leaf)). `outputHash` commits to the
    ///         output bytes (in ResultPosted, or postEntries' calldata or blobs): keccak256(output) for a program model;
    ///         for a graph model's Success, the output's **tensor root** (`tensorRoot`: the value of slot m in C_m,
    ///         docs/two-phase.md §1), so that rejectEntry proves it with 32 bytes whatever the output's size; a leaf
    ///         without output (Failure, NoHalt) has keccak256("") either way.
    struct Leaf {
        uint256 requestId;
        bytes32 finalStateHash;
        bytes32 outputHash;     // keccak256(output); a graph model's Success: tensorRoot(output)
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
        bool settled;           // finalizeBatch / finalizeEntries done
        uint64 requestBatch;    // an entry batch (postEntries): the request batch it answers (0: postBatch)
        bytes32 root;
    }

    /// @notice Many requests of one model in one transaction (requestBatch): only the Merkle root of the inputs'
    ///         roots is stored; the bytes travel in blobs or calldata (docs/game-rules.md §3b). An input's root is the
    ///         memory-tree root of the region of 32 << levelOf(inputLength) bytes holding it (zero-padded): an entry's
    ///         initial state follows from it without the bytes (a program model: climbed with the model's input path;
    ///         a graph model: its C_0, the root lifted from slot 0 of the slot tree, docs/two-phase.md).
    struct RequestBatch {
        address requester;
        uint64 modelId;
        uint16 count;
        uint96 fee;             // wei per entry
        uint40 deadline;        // after it, the requester may cancel the entries nobody took
        uint16 reopened;        // 1 once rejectEntry reopened an entry (operator bars are checked from then on)
        uint64 maxSteps;        // the model's (a graph model: its node count m)
        bool graph;             // a graph model: its leaves commit their outputs by their tensor roots
        uint32 outputLength;    // a graph model's (a Success's calldata output is exactly that long); 0: a program
        bytes32 inputsRoot;     // Merkle root of every entry's input root (same tree as the batch roots)
    }

    /// @notice What postEntries takes per answered entry: the leaf's fields without the request reference.
    struct EntryLeaf {
        uint256 index;          // the entry of the request batch
        bytes32 finalStateHash;
        bytes32 outputHash;     // as Leaf.outputHash (a graph model's Success: the output's tensor root)
        uint64 steps;
        uint8 outcome;
        uint8 exitCode;
    }

    /// @notice What rejectEntry takes (no game): the entry's input root and either its malformed input region or the
    ///         true final state of the leaf's finalStateHash with the output proven in it. A program model: the
    ///         packed final VM state, the output (or the whole output region) and its path to the memory root. A
    ///         graph model: C_m (32 bytes), the output's tensor root (32 bytes, whatever the output's size: the
    ///         leaf's outputHash if the leaf is true) and its SLOT_DEPTH-sibling slot proof at slot m; or a failure
    ///         claim (C_{j-1}, j, node j's packed final state) with an empty output and proof (NodeChecker.graphClaim);
    ///         or the 64 bytes of a slot-tree root's two children (no output nor proof): that hash claims only a
    ///         Success at m (it cannot be a failure's).
    struct Rejection {
        bytes32 inputRoot;
        bytes32[] inputProof;   // the input root's inclusion proof in the request batch's inputsRoot
        bytes inputRegion;      // to show the input malformed: the input region's bytes (else empty)
        bytes finalState;       // the preimage of leaf.finalStateHash (a graph model: C_m itself, a failure claim or
                                // the root's children)
        bytes outputRegion;     // Success only (else empty): the output (outputLength bytes, the rest of the region
                                // zero) or the whole output region (a graph model: the output's tensor root, 32 bytes)
        bytes32[] outputProof;  // Success only (else empty): its memory path (a graph model: its slot proof)
    }

    /// @notice Most results in one batch.
    uint256 public constant MAX_BATCH = 1024;

    /// @notice Latest request batch deadline: block.timestamp + MAX_REQUEST_TIME (Optimist's bound).
    uint256 public constant MAX_REQUEST_TIME = 30 days;
    uint256 private constant BARRED = 1;
    uint8 private constant RESULT_NONE = 0;        // Optimist.ResultStatus
    uint8 private constant RESULT_FINALIZED = 3;
    uint8 private constant SUCCESS = 0;
    uint8 private constant FAILURE = 1;
    uint8 private constant NO_HALT = 2;
    uint256 private constant TREE_DEPTH = 27;
    uint256 private constant SLOT_DEPTH = 16;   // ModelRegistry.SLOT_DEPTH

    IBatchHost public immutable optimist;
    uint256 public batchCount;
    mapping(uint256 batchId => Batch) public batches;
    uint256 public requestBatchCount;
    mapping(uint256 requestBatchId => RequestBatch) public requestBatches;
    /// @dev Bit i of word w of request batch r (key r << 8 | w): entry 256w + i is taken (answered, cancelled, void).
    mapping(uint256 key => uint256) private _taken;
    /// @dev Bit i of word w of entry batch b (key b << 8 | w): leaf 256w + i was rejected by rejectEntry (a leaf
    ///      disputed by a game is a result in Optimist: `hasResult`).
    mapping(uint256 key => uint256) private _rejectedLeaves;
    /// @dev Entries reopened by rejectEntry: the operators barred from them and the time they take results again.
    mapping(uint256 entryRef => mapping(address operator => uint256)) private _entryBars;
    mapping(uint256 entryRef => uint256) public entryReopenAt;

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
    /// @notice `inputRoots` are the inputs' roots; `blobHashes` the versioned hashes of the transaction's blobs
    ///         (the inputs' bytes, `contracts/blobs.py` layout), empty when the inputs are in the calldata.
    event RequestBatchPosted(
        uint256 indexed requestBatchId, uint256 indexed modelId, address indexed requester, uint256 count, uint256 fee,
        uint64 deadline, bytes32 inputsRoot, bytes32[] inputRoots, bytes32[] blobHashes
    );
    /// @notice The leaves are in the calldata (postEntries); the outputs in the calldata or in the blobs.
    event EntriesPosted(
        uint256 indexed batchId, uint256 indexed requestBatchId, address indexed operator, uint256 count, bytes32 root,
        uint64 deadline, bytes32[] blobHashes
    );
    event EntriesFinalized(uint256 indexed batchId, uint256 finalized, uint256 fees);
    event EntriesCancelled(uint256 indexed requestBatchId, uint256 count, uint256 refund);
    /// @notice A leaf rejected without a game: `malformed` = its entry's input does not fit the model (the entry is
    ///         void, its fee refunded); else the leaf contradicts its own final state (the entry reopens, the
    ///         operator barred from it).
    event EntryRejected(
        uint256 indexed batchId, uint256 index, uint256 indexed entryRef, address indexed challenger, bool malformed,
        uint64 reopenAt
    );

    error BadBatchSize(uint256 size, uint256 expected);
    error WrongBond(uint256 expected, uint256 sent);
    error UnknownBatch(uint256 batchId);
    error LeafIndexOutOfRange(uint256 index, uint256 count);
    error WrongPathLength(uint256 expected, uint256 got);
    error LeafMismatch(bytes32 computed, bytes32 root);
    error BatchSettled(uint256 batchId);
    error ChallengeWindowOpen(uint256 deadline);
    error NotOptimist();
    error UnknownModel(uint256 modelId);
    error GenerationModel(uint256 modelId);
    error BadDeadline(uint256 deadline, uint256 latest);
    error FeeNotDivisible(uint256 value, uint256 count);
    error WrongInputLength(uint256 expected, uint256 got);
    error UnknownRequestBatch(uint256 requestBatchId);
    error EntryOutOfRange(uint256 index, uint256 count);
    error DuplicateEntry(uint256 index);
    error EntryTaken(uint256 index);
    error EntryReopening(uint256 reopenAt);
    error OperatorBarred(uint256 requestId, address operator);
    error BadOutcome(uint8 outcome);
    error StepsOutOfRange(uint64 steps, uint64 maxSteps);
    error OutputMismatch(uint256 index);
    error EntryBatch(uint256 batchId);
    error NotEntryBatch(uint256 batchId);
    error LeafDisputed(uint256 resultId);
    error InputMismatch(bytes32 computed, bytes32 committed);
    error InputWellFormed();
    error ChallengeWindowClosed(uint256 deadline);
    error SelfChallenge();
    error BadStateLength(uint256 got);
    error WrongPreState(bytes32 expected, bytes32 got);
    error WrongOutputLength(uint256 expected, uint256 got);
    error OutputProofMismatch(bytes32 computed, bytes32 memRoot);
    error LeafConsistent();
    error NotRequester();
    error DeadlineNotReached(uint256 deadline);
    error NothingToCancel();
    error NotFinalized(uint256 batchId);
    error NotDirectCall();

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
            // a 32-byte final state is a graph model's Success (C_m; a program model's state is STATE_SIZE bytes)
            bytes32 outputHash = c.finalState.length == 32 ? tensorRoot(c.output) : keccak256(c.output);
            nodes[i] = keccak256(abi.encode(Leaf(c.requestId, finalHash, outputHash, steps, outcome, exitCode)));
            emit ResultPosted(base | i, c.requestId, msg.sender, finalHash, steps, deadline, c.output, outcome, exitCode);
        }
        // the request checks (open, not reopening, operator not barred, this model, no callback, no duplicate)
        optimist.takeRequests{value: msg.value}(msg.sender, modelId, requestIds, base);
        bytes32 root = rootOf(nodes);
        batches[batchId] = Batch(msg.sender, uint64(block.timestamp), uint16(n), 0, uint64(modelId), false, 0, root);
        emit BatchPosted(batchId, modelId, msg.sender, n, root, deadline);
    }

    /// @notice Optimist.disputeLeaf (its arguments): check `leaf` is leaf `index` of the batch and, on the leaf's first
    ///         game, count the dispute; returns the batch's operator and post time. On a first game in an entry batch
    ///         (§3b) also check that `inputRoot` is the input root of the leaf's entry (leaf.requestId) and return the
    ///         entry's request (requester non-zero) with its initial state: Optimist creates the request. A later game
    ///         on the leaf (Optimist has its result) needs the leaf and its proof only.
    function verifyLeaf(
        uint256 batchId,
        uint256 index,
        Leaf calldata leaf,
        bytes32[] calldata proof,
        bytes32 inputRoot,
        bytes32[] calldata inputProof
    )
        external
        returns (
            address operator,
            uint64 postedAt,
            address requester,
            uint64 modelId,
            uint96 fee,
            uint40 deadline,
            bytes32 initialState
        )
    {
        if (msg.sender != address(optimist)) revert NotOptimist();
        Batch storage b = _leaf(batchId, index, keccak256(abi.encode(leaf)), proof);
        if (optimist.hasResult(leafResultId(batchId, index))) return (b.operator, b.postedAt, address(0), 0, 0, 0, 0);
        uint256 rb = b.requestBatch;
        if (rb != 0) {
            (RequestBatch memory e,) = _entry(batchId, index, rb, leaf.requestId, inputRoot, inputProof);
            initialState = _initialState(e.modelId, inputRoot);
            (requester, modelId, fee, deadline) = (e.requester, e.modelId, e.fee, e.deadline);
        }
        b.disputed += 1;
        return (b.operator, b.postedAt, requester, modelId, fee, deadline, initialState);
    }

    /// @notice Anyone, after the challenge window: finalize every undisputed leaf of a batch. `leaves` are all its
    ///         leaves in order (from ResultPosted), checked against the root. Disputed leaves are single results in
    ///         Optimist from their dispute on (finalize, or rejected by their game).
    function finalizeBatch(uint256 batchId, Leaf[] calldata leaves) external {
        Batch storage b = _batch(batchId);
        if (b.requestBatch != 0) revert EntryBatch(batchId);   // finalizeEntries
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

    // ------------------------------------------------------------ request batches (docs/game-rules.md §3b)

    /// @notice Ask for model `modelId` run on many inputs at once, given by their roots; the bytes travel in
    ///         this transaction's blobs (their versioned hashes are in RequestBatchPosted) or elsewhere. msg.value is
    ///         the fees: `fee` = msg.value / count per entry, exactly. Nothing is computed per input: an entry's
    ///         initial state is computed from its root when a game needs it (Optimist.disputeLeaf). An entry whose
    ///         bytes nobody can read, or whose bytes do not match its root, is not answered (the requester cancels it).
    function requestBatch(uint256 modelId, bytes32[] calldata inputRoots, uint256 deadline)
        external
        payable
        returns (uint256)
    {
        (uint64 maxSteps, uint32 outputLength) = _batchModel(modelId);
        return _newRequestBatch(modelId, maxSteps, outputLength, inputRoots, deadline, _blobHashes());
    }

    /// @notice `requestBatch` with the inputs' bytes in the calldata instead of blobs (`inputs[i]` the bytes of root
    ///         `inputRoots[i]`): read and checked off-chain like blob bytes, not here.
    function requestBatchData(uint256 modelId, bytes32[] calldata inputRoots, bytes[] calldata inputs, uint256 deadline)
        external
        payable
        returns (uint256)
    {
        (uint64 maxSteps, uint32 outputLength) = _batchModel(modelId);
        if (inputs.length != inputRoots.length) revert BadBatchSize(inputs.length, inputRoots.length);
        return _newRequestBatch(modelId, maxSteps, outputLength, inputRoots, deadline, new bytes32[](0));
    }

    /// @notice Operator: answer entries of a request batch (msg.value: `resultBond` per leaf). Each entry is answered
    ///         once (`EntryTaken`); nothing is checked per claim but its outcome and step range: a leaf that
    ///         contradicts its own final state is rejected without a game (rejectEntry), any other lie by a game
    ///         (Optimist.disputeLeaf). `outputs`: the outputs in the calldata (each must match its leaf's outputHash:
    ///         keccak256, or for a graph model's non-empty output its tensorRoot; a graph Success's output must be
    ///         exactly the model's outputLength bytes, since a tensor root does not bind the zeros that fill its
    ///         region), or empty when they travel in the transaction's blobs.
    function postEntries(uint256 requestBatchId, EntryLeaf[] calldata leaves, bytes[] calldata outputs)
        external
        payable
        returns (uint256 batchId)
    {
        // EntriesPosted carries only the leaves' root: challengers read the leaves from this transaction's input, so
        // it must be this very call (sent straight here by an account without code, not through a contract)
        if (msg.sender != tx.origin || msg.sender.code.length != 0) revert NotDirectCall();
        RequestBatch storage r = requestBatches[requestBatchId];
        uint256 count = r.count;
        if (count == 0) revert UnknownRequestBatch(requestBatchId);
        uint256 n = leaves.length;
        if (n == 0 || n > count) revert BadBatchSize(n, count);
        if (outputs.length != 0 && outputs.length != n) revert BadBatchSize(outputs.length, n);
        uint256 bond = uint256(optimist.resultBond()) * n;
        if (msg.value != bond) revert WrongBond(bond, msg.value);
        batchId = ++batchCount;
        uint256 refBase = ENTRY_FLAG | requestBatchId << INDEX_BITS;
        bool reopened = r.reopened != 0;
        uint64 maxSteps = r.maxSteps;
        bool graph = r.graph;
        uint32 outputLength = r.outputLength;
        uint256[] memory claimed = new uint256[]((count + 255) >> 8);
        bytes32[] memory nodes = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            EntryLeaf calldata e = leaves[i];
            uint256 idx = e.index;
            if (idx >= count) revert EntryOutOfRange(idx, count);
            uint256 bit = 1 << (idx & 255);
            if (claimed[idx >> 8] & bit != 0) revert DuplicateEntry(idx);
            claimed[idx >> 8] |= bit;
            if (e.outcome > NO_HALT) revert BadOutcome(e.outcome);
            if (e.steps == 0 || e.steps > maxSteps) revert StepsOutOfRange(e.steps, maxSteps);
            if (reopened) _checkReopened(refBase | idx);
            if (outputs.length != 0) {
                bytes calldata out = outputs[i];
                if (graph && e.outcome == SUCCESS && out.length != outputLength) {
                    revert WrongOutputLength(outputLength, out.length);
                }
                if (_outputHash(out, graph) != e.outputHash) revert OutputMismatch(idx);
            }
            nodes[i] = keccak256(
                abi.encode(Leaf(refBase | idx, e.finalStateHash, e.outputHash, e.steps, e.outcome, e.exitCode))
            );
        }
        for (uint256 w; w < claimed.length; ++w) {
            uint256 bits = claimed[w];
            if (bits == 0) continue;
            uint256 key = requestBatchId << 8 | w;
            uint256 taken = _taken[key];
            if (taken & bits != 0) revert EntryTaken(w << 8 | _lowestBit(taken & bits));
            _taken[key] = taken | bits;
        }
        optimist.fund{value: msg.value}(address(0), 0, 0);
        bytes32 root = rootOf(nodes);
        batches[batchId] = Batch(
            msg.sender, uint64(block.timestamp), uint16(n), 0, r.modelId, false, uint64(requestBatchId), root
        );
        emit EntriesPosted(
            batchId, requestBatchId, msg.sender, n, root, uint64(block.timestamp) + optimist.challengeWindow(),
            _blobHashes()
        );
    }

    /// @notice Anyone, after the challenge window: finalize an entry batch in O(1): the operator is credited fee +
    ///         resultBond for every leaf not disputed (disputed leaves settle in Optimist or were rejected).
    function finalizeEntries(uint256 batchId) external {
        Batch storage b = _batch(batchId);
        uint256 rb = b.requestBatch;
        if (rb == 0) revert NotEntryBatch(batchId);
        if (b.settled) revert BatchSettled(batchId);
        uint256 deadline = uint256(b.postedAt) + optimist.challengeWindow();
        if (block.timestamp <= deadline) revert ChallengeWindowOpen(deadline);
        b.settled = true;
        uint256 n = b.count - b.disputed;
        uint256 fees = n * requestBatches[rb].fee;
        optimist.fund(b.operator, fees + n * optimist.resultBond(), 0);
        emit EntriesFinalized(batchId, n, fees);
    }

    /// @notice Anyone but the batch's operator, within the window: reject leaf `index` of an entry batch without a
    ///         game when (a) its entry's input does not fit the model (`x.inputRegion`: the bytes of the committed input
    ///         root's region hold a non-zero byte at or past inputLength): the entry is void and its fee goes back to
    ///         the requester; or (b) the leaf contradicts the final state it names
    ///         (`x.finalState`, the preimage of its finalStateHash: steps, outcome, exit code or output differ from
    ///         what postResult would derive): the entry reopens, the operator barred from it. Either way the
    ///         leaf's resultBond pays the caller (its burn share burnt). A consistent leaf reverts `LeafConsistent`:
    ///         dispute it with a game (Optimist.disputeLeaf). A leaf a game already brought into Optimist is rejected
    ///         there while its result is pending (Optimist.rejectLeaf: its request reopens as an Optimist request, or
    ///         ends with its fee refunded for a malformed input; the caller shares the bond with the games active on
    ///         it), so no game can shield a contradicting leaf or a malformed entry.
    function rejectEntry(
        uint256 batchId,
        uint256 index,
        Leaf calldata leaf,
        bytes32[] calldata proof,
        Rejection calldata x
    ) external {
        Batch storage b = _leaf(batchId, index, keccak256(abi.encode(leaf)), proof);
        uint256 rb = b.requestBatch;
        if (rb == 0) revert NotEntryBatch(batchId);
        uint256 deadline = uint256(b.postedAt) + optimist.challengeWindow();
        if (block.timestamp > deadline) revert ChallengeWindowClosed(deadline);
        address operator = b.operator;
        if (msg.sender == operator) revert SelfChallenge();
        (RequestBatch memory r, uint256 key) = _entry(batchId, index, rb, leaf.requestId, x.inputRoot, x.inputProof);
        (address inputPath,,, uint32 inputLength,, uint32 outputBase, uint32 outputSize, uint32 outputLength,,,,,) =
            optimist.models(r.modelId);
        bool malformed = x.inputRegion.length != 0;
        if (malformed) {
            if (inputPath == address(0)) (,,, inputLength,,,,) = optimist.graphs(r.modelId);
            _checkMalformed(x.inputRegion, x.inputRoot, inputLength);
        } else if (
            inputPath == address(0)
                ? !_graphContradicts(leaf, x, r.maxSteps)
                : !_contradicts(leaf, x, r.maxSteps, outputBase, outputSize, outputLength)
        ) {
            revert LeafConsistent();
        }
        uint256 ref = leaf.requestId;
        uint64 reopenAt = uint64(block.timestamp) + optimist.reopenDelay();
        uint256 resultId = leafResultId(batchId, index);
        if (optimist.hasResult(resultId)) {
            // a game brought the leaf into Optimist (disputeLeaf, maybe an accomplice's, lost on purpose: the trace
            // is true): its pending result is rejected there, the request reopening as an Optimist request (a
            // malformed input: void there, its fee back to the requester)
            optimist.rejectLeaf(resultId, msg.sender, malformed);
            emit EntryRejected(batchId, index, ref, msg.sender, malformed, malformed ? 0 : reopenAt);
            return;
        }
        _rejectedLeaves[key] |= 1 << (index & 255);
        b.disputed += 1;
        if (!malformed) {
            uint256 e = ref & ((1 << INDEX_BITS) - 1);
            _taken[rb << 8 | e >> 8] &= ~(1 << (e & 255));
            _entryBars[ref][operator] = BARRED;
            entryReopenAt[ref] = reopenAt;
            requestBatches[rb].reopened = 1;
        }
        uint256 bond = optimist.resultBond();
        uint256 burnt = bond * optimist.burnBps() / 10_000;
        optimist.fund(msg.sender, bond - burnt, burnt);
        if (malformed) optimist.fund(r.requester, r.fee, 0);
        emit EntryRejected(batchId, index, ref, msg.sender, malformed, malformed ? 0 : reopenAt);
    }

    /// @notice Requester, after the deadline: cancel every entry nobody took (fees credited back in Optimist).
    function cancelEntries(uint256 requestBatchId) external {
        RequestBatch storage r = requestBatches[requestBatchId];
        uint256 count = r.count;
        if (count == 0) revert UnknownRequestBatch(requestBatchId);
        if (msg.sender != r.requester) revert NotRequester();
        if (block.timestamp <= r.deadline) revert DeadlineNotReached(r.deadline);
        uint256 n;
        for (uint256 w; w << 8 < count; ++w) {
            uint256 left = count - (w << 8);
            uint256 mask = left >= 256 ? type(uint256).max : (1 << left) - 1;
            uint256 key = requestBatchId << 8 | w;
            uint256 taken = _taken[key];
            uint256 open = mask & ~taken;
            if (open == 0) continue;
            _taken[key] = taken | open;
            for (; open != 0; open &= open - 1) ++n;
        }
        if (n == 0) revert NothingToCancel();
        uint256 refund = n * r.fee;
        optimist.fund(msg.sender, refund, 0);
        emit EntriesCancelled(requestBatchId, n, refund);
    }

    /// @notice A finalized leaf's outcome, proven by the leaf and its inclusion proof (a request finalized as a batch
    ///         leaf: Optimist.outcomeOf reverts OutcomeInBatch). Final: undisputed in a settled batch (in an entry
    ///         batch: not rejected either), or disputed and its result finalized in Optimist (which stores no output
    ///         hash for a leaf). NotFinalized while its batch is not settled; LeafDisputed while its result is pending
    ///         or once it was rejected (its request reopened). `outputHash` is the leaf's (Leaf.outputHash): for a
    ///         graph model's Success the output's tensor root, not its keccak256 (the same in result and entry
    ///         batches): check bytes against it with `tensorRoot(output)` AND `output.length` == the model's
    ///         outputLength (Optimist.graphs): a tensor root does not bind the zeros filling its region, so the
    ///         output with zero bytes appended, or without its trailing zero bytes, has the same root (off-chain:
    ///         contracts.batches.output_matches).
    function leafOutcome(uint256 batchId, uint256 index, Leaf calldata leaf, bytes32[] calldata proof)
        external
        view
        returns (uint256 requestId, uint8 outcome, uint8 exitCode, uint64 steps, bytes32 outputHash)
    {
        Batch storage b = _leaf(batchId, index, keccak256(abi.encode(leaf)), proof);
        uint256 resultId = leafResultId(batchId, index);
        (, uint8 status,,,,,,,,,,,) = optimist.results(resultId);
        if (status == RESULT_NONE) {
            if (!b.settled) revert NotFinalized(batchId);
            if (_rejectedLeaves[batchId << 8 | index >> 8] >> (index & 255) & 1 != 0) revert LeafDisputed(resultId);
        } else if (status != RESULT_FINALIZED) {
            revert LeafDisputed(resultId);
        }
        return (leaf.requestId, leaf.outcome, leaf.exitCode, leaf.steps, leaf.outputHash);
    }

    /// @notice The tensor root of a graph model's output (docs/two-phase.md §1): the root of the region of
    ///         32 << levelOf(output.length) bytes holding it, zero-padded, as NodeChecker.graphClaim proves it at slot
    ///         m of C_m. A graph model's Success leaf commits its output by it (Leaf.outputHash). It binds the
    ///         bytes only up to the zeros filling the region: check `output.length` against the model's outputLength
    ///         too.
    function tensorRoot(bytes calldata output) public pure returns (bytes32) {
        return RegionMerkle.regionRoot(output, RegionMerkle.levelOf(output.length));
    }

    /// @notice True once entry `index` of the request batch was answered, cancelled or made void.
    function entryTaken(uint256 requestBatchId, uint256 index) external view returns (bool) {
        return _taken[requestBatchId << 8 | index >> 8] >> (index & 255) & 1 != 0;
    }

    /// @notice True once a leaf of `operator` on the entry was rejected by rejectEntry.
    function entryBarred(uint256 entryRef, address operator) external view returns (bool) {
        return _entryBars[entryRef][operator] == BARRED;
    }

    function _newRequestBatch(
        uint256 modelId,
        uint64 maxSteps,
        uint32 outputLength,
        bytes32[] memory hashes,
        uint256 deadline,
        bytes32[] memory blobHashes
    ) private returns (uint256 id) {
        uint256 n = hashes.length;
        if (n == 0 || n > MAX_BATCH) revert BadBatchSize(n, MAX_BATCH);
        uint256 latest = block.timestamp + MAX_REQUEST_TIME;
        if (deadline <= block.timestamp || deadline > latest) revert BadDeadline(deadline, latest);
        uint256 fee = msg.value / n;   // < 2**96: all the ether there is
        if (fee * n != msg.value) revert FeeNotDivisible(msg.value, n);
        if (msg.value != 0) optimist.fund{value: msg.value}(address(0), 0, 0);
        bytes32[] memory nodes = new bytes32[](n);
        for (uint256 i; i < n; ++i) nodes[i] = hashes[i];
        bytes32 root = rootOf(nodes);
        id = ++requestBatchCount;
        requestBatches[id] = RequestBatch(
            msg.sender, uint64(modelId), uint16(n), uint96(fee), uint40(deadline), 0, maxSteps, outputLength != 0,
            outputLength, root
        );
        emit RequestBatchPosted(id, modelId, msg.sender, n, fee, uint64(deadline), root, hashes, blobHashes);
    }

    /// @dev A request batch's step bound (a program model's maxSteps, a graph model's node count m) and a graph
    ///      model's outputLength (0 for a program model; a graph model's is never 0). Generation models are refused:
    ///      their node count depends on the input's token count, which its root does not tell.
    function _batchModel(uint256 modelId) private view returns (uint64 maxSteps, uint32 outputLength) {
        address inputPath;
        (inputPath,,,,,,,,,,, maxSteps,) = optimist.models(modelId);
        if (inputPath != address(0)) return (maxSteps, 0);
        (,, uint32 nodeCount,, uint32 length, uint32 period,,) = optimist.graphs(modelId);
        if (nodeCount == 0) revert UnknownModel(modelId);
        if (period != 0) revert GenerationModel(modelId);
        return (nodeCount, length);
    }

    /// @dev Leaf.outputHash of `output`: its tensor root for a graph model's output, else (and for an empty output)
    ///      keccak256.
    function _outputHash(bytes calldata output, bool graph) private pure returns (bytes32) {
        return graph && output.length != 0 ? tensorRoot(output) : keccak256(output);
    }

    /// @dev A reopened entry: the operator must not be barred from it and its reopen time must have come.
    function _checkReopened(uint256 ref) private view {
        if (_entryBars[ref][msg.sender] == BARRED) revert OperatorBarred(ref, msg.sender);
        uint256 at = entryReopenAt[ref];
        if (block.timestamp < at) revert EntryReopening(at);
    }

    /// @dev The batch, after checking `leafHash` is its leaf `index` (inclusion proof `proof`).
    function _leaf(uint256 batchId, uint256 index, bytes32 leafHash, bytes32[] calldata proof)
        private
        view
        returns (Batch storage b)
    {
        b = _batch(batchId);
        uint256 count = b.count;
        if (index >= count) revert LeafIndexOutOfRange(index, count);
        uint256 depth = depthOf(count);
        if (proof.length != depth) revert WrongPathLength(depth, proof.length);
        bytes32 root = RegionMerkle.climb(leafHash, index, proof);
        if (root != b.root) revert LeafMismatch(root, b.root);
    }

    /// @dev Leaf `index` of entry batch `batchId` answers `ref` of request batch `rb` and was not rejected: check
    ///      `inputRoot` against the request batch's inputs root. Returns the request batch and the bitmap word's key.
    function _entry(
        uint256 batchId,
        uint256 index,
        uint256 rb,
        uint256 ref,
        bytes32 inputRoot,
        bytes32[] calldata inputProof
    ) private view returns (RequestBatch memory r, uint256 key) {
        key = batchId << 8 | index >> 8;
        if (_rejectedLeaves[key] >> (index & 255) & 1 != 0) revert LeafDisputed(leafResultId(batchId, index));
        r = requestBatches[rb];
        uint256 depth = depthOf(r.count);
        if (inputProof.length != depth) revert WrongPathLength(depth, inputProof.length);
        bytes32 root = RegionMerkle.climb(inputRoot, ref & ((1 << INDEX_BITS) - 1), inputProof);
        if (root != r.inputsRoot) revert InputMismatch(root, r.inputsRoot);
    }

    /// @dev `region` is the input region of `inputRoot` (32 << levelOf(inputLength) bytes) with a non-zero byte at or
    ///      past inputLength: no input of the model has this root.
    function _checkMalformed(bytes calldata region, bytes32 inputRoot, uint256 inputLength) private pure {
        uint256 level = RegionMerkle.levelOf(inputLength);
        if (region.length != 32 << level) revert WrongInputLength(32 << level, region.length);
        bytes32 root = RegionMerkle.regionRoot(region, level);
        if (root != inputRoot) revert InputMismatch(root, inputRoot);
        for (uint256 i = inputLength; i < region.length; ++i) {
            if (region[i] != 0) return;
        }
        revert InputWellFormed();
    }

    /// @dev The initial state hash of model `modelId` on the input of root `inputRoot`: what the registry's
    ///      initialStateHash computes from the input's bytes (a graph model: C_0, the input's tensor root, which is
    ///      its input root, at slot 0 of an otherwise empty slot tree).
    function _initialState(uint256 modelId, bytes32 inputRoot) private view returns (bytes32) {
        (address inputPath, uint32 entry, uint32 inputBase, uint32 inputLength,,,,,,,,,) = optimist.models(modelId);
        if (inputPath == address(0)) return RegionMerkle.lift(inputRoot, 0, SLOT_DEPTH);
        bytes32[] memory path = RegionMerkle.loadPath(inputPath);
        uint256 level = TREE_DEPTH - path.length;
        bytes32 node = RegionMerkle.lift(inputRoot, RegionMerkle.levelOf(inputLength), level);
        return PackedState.initialHash(RegionMerkle.climb(node, uint256(inputBase) >> (5 + level), path), entry);
    }

    /// @dev True if `leaf` differs from the claim postResult derives from its final state `x.finalState` (whose hash
    ///      must be the leaf's) and that state's output region; reverts when the caller's data are wrong.
    function _contradicts(
        Leaf calldata leaf,
        Rejection calldata x,
        uint64 maxSteps,
        uint32 outputBase,
        uint32 outputSize,
        uint32 outputLength
    ) private pure returns (bool) {
        bytes calldata state = x.finalState;
        if (state.length != PackedState.STATE_SIZE) revert BadStateLength(state.length);
        bytes32 got = keccak256(state);
        if (got != leaf.finalStateHash) revert WrongPreState(leaf.finalStateHash, got);
        (bool valid, uint64 steps, uint8 outcome, uint8 exitCode, bytes32 memRoot) = PackedState.claimOf(state, maxSteps);
        if (!valid || steps != leaf.steps || outcome != leaf.outcome || exitCode != leaf.exitCode) return true;
        if (outcome != SUCCESS) return leaf.outputHash != keccak256("");
        bytes calldata region = x.outputRegion;   // the output (zero-padded: postResult's proof) or the whole region
        if (region.length != outputLength && region.length != outputSize) {
            revert WrongOutputLength(outputSize, region.length);
        }
        uint256 level = RegionMerkle.levelOf(outputSize);
        if (x.outputProof.length != TREE_DEPTH - level) revert WrongPathLength(TREE_DEPTH - level, x.outputProof.length);
        bytes32 root = RegionMerkle.rootWith(region, outputBase, level, x.outputProof);
        if (root != memRoot) revert OutputProofMismatch(root, memRoot);
        for (uint256 i = outputLength; i < region.length; ++i) {
            if (region[i] != 0) return true;   // no postResult claim has this final state
        }
        return keccak256(region[:outputLength]) != leaf.outputHash;
    }

    /// @dev True if graph leaf `leaf` differs from the claim postResult derives (m = `nodes`) from `x.finalState`
    ///      (whose hash must be the leaf's); reverts when the caller's data are wrong. C_m (32 bytes): `x.outputRegion`
    ///      is the output's tensor root (32 bytes) and `x.outputProof` its slot proof at slot m, so the claim is
    ///      (C_m, that root, m, Success, 0) whatever the output's size. A failure claim: NodeChecker.graphClaim (no
    ///      output). A 64-byte `x.finalState` is the two children of a slot-tree root (an intermediate C_j too): no
    ///      failure claim hashes 64 bytes, so the only claim of that hash is a Success at m (exit code 0), its output
    ///      unchecked here.
    function _graphContradicts(Leaf calldata leaf, Rejection calldata x, uint64 nodes) private view returns (bool) {
        bytes calldata state = x.finalState;
        (uint64 steps, uint8 outcome, uint8 exitCode, bytes32 finalHash) = (nodes, SUCCESS, 0, keccak256(state));
        bytes32 outputHash = leaf.outputHash;   // the children: unchecked
        if (state.length == 32) {
            bytes calldata root = x.outputRegion;
            if (root.length != 32) revert WrongOutputLength(32, root.length);
            if (x.outputProof.length != SLOT_DEPTH) revert WrongPathLength(SLOT_DEPTH, x.outputProof.length);
            (finalHash, outputHash) = (bytes32(state), bytes32(root));
            bytes32 got = RegionMerkle.climb(outputHash, nodes, x.outputProof);
            if (got != finalHash) revert OutputProofMismatch(got, finalHash);
        } else if (state.length != 64) {
            (steps, outcome, exitCode, finalHash) =
                optimist.nodeChecker().graphClaim(x.outputRegion, state, x.outputProof, 0, nodes);
            outputHash = keccak256("");   // a failure claim has no output (graphClaim reverts OutputNotEmpty)
        }
        if (finalHash != leaf.finalStateHash) revert WrongPreState(leaf.finalStateHash, finalHash);
        return steps != leaf.steps || outcome != leaf.outcome || exitCode != leaf.exitCode
            || outputHash != leaf.outputHash;
    }

    /// @dev The versioned hashes of this transaction's blobs.
    function _blobHashes() private view returns (bytes32[] memory hashes) {
        uint256 n;
        while (blobhash(n) != 0) ++n;
        hashes = new bytes32[](n);
        for (uint256 i; i < n; ++i) hashes[i] = blobhash(i);
    }

    function _lowestBit(uint256 x) private pure returns (uint256 i) {
        while (x >> i & 1 == 0) ++i;
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
