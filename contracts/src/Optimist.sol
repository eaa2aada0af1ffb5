// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IMIPS} from "./IMIPS.sol";
import {IOptimistConsumer} from "./IOptimistConsumer.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {NodeChecker} from "./NodeChecker.sol";
import {BATCH_FLAG, INDEX_BITS, OptimistBatches, leafResultId} from "./OptimistBatches.sol";
import {PackedState} from "./PackedState.sol";
import {RegionMerkle} from "./RegionMerkle.sol";

/// @title Optimist: requests, optimistic results and bisection games over MIPS execution.
/// @notice The rules (outcomes, turns, clocks, bonds, burns, corner cases) are in docs/game-rules.md; the daemons
///         follow them. Payments are pull-based: every payout is credited to `balances` and taken with `withdraw`.
///         The burnt share of a losing bond is counted in `burned` when the game is settled and sent to
///         BURN_ADDRESS by `sendBurn` (anyone, any time): no transfer per game.
contract Optimist is ModelRegistry {
    enum RequestStatus { None, Open, Posted, Finalized, Cancelled }
    enum ResultStatus { None, Pending, Rejected, Finalized }
    enum GameStatus { None, Active, ChallengerWon, DefenderWon, Cancelled }
    /// Midpoint: defender to post the midpoint hash. Response: challenger to agree/disagree.
    /// Proof: one step left; anyone may prove, the challenger's clock runs.
    /// Transition: a graph model's game narrowed to one node; the defender must enterNode (docs/two-phase.md).
    enum Phase { Midpoint, Response, Proof, Transition }
    enum MoveKind { Midpoint, Agree, Disagree }
    enum Reason { Proof, Timeout }
    /// Success: exited with code 0, output proven. Failure: exited with a non-zero code (trap, fault,
    /// program error). NoHalt: still running at the model's maxSteps.
    enum Outcome { Success, Failure, NoHalt }

    struct Request {
        address requester;
        uint64 modelId;
        uint24 callbackGas;     // gas limit of the callback (0: the request has no callback)
        // the next five share one slot, so that a rejection rewrites one slot (status, resultId, reopenAt):
        uint96 fee;             // wei (more than all the ether there is)
        RequestStatus status;
        uint64 resultId;        // the result currently posted or finalized (0 when open)
        uint40 deadline;        // after it, the requester may cancel an Open request
        uint40 reopenAt;        // after a rejection: no result may be posted before this time
        address callback;       // IOptimistConsumer called when the result finalizes (0: none)
        bytes32 initialStateHash; // binds the input (its bytes are in RequestCreated, or in the entry's batch)
    }

    struct Result {
        address operator;
        ResultStatus status;
        Outcome outcome;
        uint8 exitCode;         // the final state's exit code (0 unless outcome == Failure)
        bool graph;             // a graph model's result: finalStateHash is C_m, steps is m (docs/two-phase.md)
        uint64 postedAt;
        uint64 requestId;
        uint64 steps;
        uint32 openGames;       // active games on this result
        uint32 sharers;         // set on rejection: games active then, sharing the unburnt result bond
        uint32 defended;        // games the operator won, paid out (and their burn counted) when the result
                                // is finalized or rejected
        // the two hashes are zero for a batch leaf: they stay in its batch's root (disputeLeaf, leafOutcome)
        bytes32 finalStateHash;
        bytes32 outputHash;     // keccak256 of the output bytes (the bytes are in ResultPosted)
    }

    struct Game {
        address challenger;
        GameStatus status;
        Phase phase;
        uint64 resultId;
        bool overNodes;         // phase 1 of a graph model's game: lo/hi are node indices, hashes are C_j
        uint64 lo;              // agreed step: state hash loHash
        uint64 hi;              // disputed step: state hash hiHash (defender's claim)
        uint64 lastMoveAt;
        uint32 challengerClock; // seconds left on each side's chess clock
        uint32 defenderClock;
        bytes32 loHash;
        bytes32 hiHash;
        bytes32 midHash;        // defender's hash at (lo + hi) / 2 (valid in the Response phase)
    }

    /// @notice Where burnt bond shares go: nobody holds its key.
    address public constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;
    uint256 public constant BPS = 10_000;
    uint256 private constant BAR_READY = 1;
    uint256 private constant BARRED = 2;
    /// @notice Latest request deadline: block.timestamp + MAX_REQUEST_TIME (also the deadline of `request`).
    uint256 public constant MAX_REQUEST_TIME = 30 days;
    uint256 public constant MIN_PERIOD = 30;          // seconds: least challenge window and clock
    uint256 public constant MAX_WINDOW = 30 days;
    uint256 public constant MAX_CLOCK = 7 days;
    uint256 public constant MAX_REOPEN_DELAY = 1 hours;
    /// @notice Largest callback gas limit a request may name.
    uint256 public constant MAX_CALLBACK_GAS = 5_000_000;
    /// @notice Gas kept aside for the CALL itself when checking that the callback gets its whole limit.
    uint256 public constant CALLBACK_CALL_GAS = 1_000;
    /// @notice At most this many bytes of a failed callback's revert data are recorded in CallbackCalled.
    uint256 public constant MAX_CALLBACK_REASON = 256;

    IMIPS public immutable mips;
    /// @notice The stateless transition checks of two-phase games (deployed before Optimist, like `mips`).
    NodeChecker public immutable nodeChecker;
    /// @notice Batched results (docs/game-rules.md §3a; deployed by the constructor).
    OptimistBatches public immutable batches;
    uint64 public immutable challengeWindow;
    uint32 public immutable clock;
    uint128 public immutable resultBond;
    uint128 public immutable challengeBond;
    uint16 public immutable burnBps;        // share of a losing bond that is burnt, in basis points
    uint32 public immutable reopenDelay;    // seconds between a rejection and the next accepted post

    uint256 public requestCount;
    // the next three share one slot: it is non-zero from the first result on, so counting a burn costs a
    // non-zero-to-non-zero write (a settlement never creates the slot)
    uint64 public resultCount;
    uint96 public burned;                   // total wei burnt (settled losing-bond shares)
    uint96 public burnSent;                 // of which sent to BURN_ADDRESS (`sendBurn`)
    uint256 public gameCount;
    mapping(uint256 requestId => Request) public requests;
    mapping(uint256 resultId => Result) public results;
    mapping(uint256 gameId => Game) public games;
    mapping(uint256 resultId => mapping(address challenger => uint256 gameId)) public gameOf;
    /// @dev BAR_READY once a game was opened on one of the operator's results on the request (openGame creates
    ///      the slot, so a rejection rewrites it), BARRED once one of them was rejected (see `barred`).
    mapping(uint256 requestId => mapping(address operator => uint256)) private _bars;
    /// @dev Credit plus one once the account's slot exists (0: never credited): withdraw leaves 1, so a later
    ///      credit rewrites a non-zero slot (5k gas) instead of creating one (22k); openGame creates it.
    mapping(address account => uint256) private _credits;
    /// @dev A generation model's request: its unrolled node count (docs/two-phase.md §10); 0 otherwise.
    mapping(uint256 requestId => uint256) private _unrolled;

    event RequestCreated(
        uint256 indexed requestId, uint256 indexed modelId, address indexed requester, uint256 fee,
        bytes32 initialStateHash, bytes input, uint64 deadline
    );
    event RequestCancelled(uint256 indexed requestId, address indexed requester, uint256 fee);
    event ResultPosted(
        uint256 indexed resultId, uint256 indexed requestId, address indexed operator, bytes32 finalStateHash,
        uint64 steps, uint64 deadline, bytes output, Outcome outcome, uint8 exitCode
    );
    event GameOpened(
        uint256 indexed gameId, uint256 indexed resultId, address indexed challenger, uint256 requestId,
        uint64 steps, bytes32 initialStateHash, bytes32 finalStateHash
    );
    event MoveMade(
        uint256 indexed gameId, address indexed mover, MoveKind kind, uint64 lo, uint64 hi, uint64 mid,
        bytes32 midHash, Phase next
    );
    event GameResolved(
        uint256 indexed gameId, uint256 indexed resultId, address indexed winner, bool challengerWon, Reason reason,
        uint256 paid, uint256 burnt
    );
    event GameCancelled(uint256 indexed gameId, uint256 indexed resultId, uint256 refund);
    event ResultRejected(uint256 indexed resultId, uint256 indexed requestId, uint256 gameId, uint64 reopenAt);
    event ResultFinalized(
        uint256 indexed resultId, uint256 indexed requestId, address indexed operator, uint256 fee, Outcome outcome,
        uint8 exitCode
    );
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice A graph model's game entered node `node`: phase 2 bisects 0..steps from the node's initial state.
    event NodeEntered(
        uint256 indexed gameId, uint64 node, bytes32 initialStateHash, bytes32 finalStateHash, uint64 steps, Phase next
    );
    event BurnSent(uint256 amount);
    /// @notice The callback of a finalized request was called: ok = it returned; otherwise `reason` holds
    ///         the first MAX_CALLBACK_REASON bytes of its revert data (empty when it ran out of gas).
    event CallbackCalled(uint256 indexed requestId, address indexed callback, bool ok, bytes reason);

    error BadParameter(string name, uint256 value);
    error UnknownRequest(uint256 requestId);
    error RequestNotOpen(uint256 requestId);
    error RequestReopening(uint256 reopenAt);
    error OperatorBarred(uint256 requestId, address operator);
    error BadDeadline(uint256 deadline, uint256 latest);
    error NotRequester();
    error DeadlineNotReached(uint256 deadline);
    error RequestNotFinalized(uint256 requestId);
    error WrongBond(uint256 expected, uint256 sent);
    error BadStateLength(uint256 got);
    error StepsOutOfRange(uint64 steps, uint64 maxSteps);
    error RunNotFinished(uint64 steps, uint64 maxSteps);
    error OutputNotEmpty();
    error NodeNotFailed(uint8 exitCode, uint64 steps);
    error WrongOutputLength(uint256 expected, uint256 got);
    error OutputProofMismatch(bytes32 computed, bytes32 memRoot);
    error UnknownResult(uint256 resultId);
    error ResultNotPending(uint256 resultId);
    error ResultNotRejected(uint256 resultId);
    error ChallengeWindowClosed(uint256 deadline);
    error ChallengeWindowOpen(uint256 deadline);
    error GamesOpen(uint256 count);
    error SelfChallenge();
    error AlreadyChallenged(uint256 gameId);
    error GameNotActive(uint256 gameId);
    error NotDefender();
    error NotChallenger();
    error WrongPhase(Phase expected, Phase actual);
    error WrongStep(uint64 expected, uint64 got);
    error ClockExpired(uint256 deadline);
    error ClockNotExpired(uint256 deadline);
    error WrongPreState(bytes32 expected, bytes32 got);
    error NothingToWithdraw();
    error TransferFailed();
    error Reentrancy();
    error OutputMismatch(bytes32 expected, bytes32 got);
    error InsufficientCallbackGas(uint256 needed, uint256 left);
    error DuplicateRequest(uint256 requestId);
    error WrongModel(uint256 requestId, uint256 modelId);
    error CallbackInBatch(uint256 requestId);
    error LeafResult(uint256 resultId);
    error OutcomeInBatch(uint256 resultId);
    error NotBatches();

    modifier nonReentrant() {
        assembly ("memory-safe") {
            if tload(0) {
                mstore(0, 0xab143c06) // Reentrancy()
                revert(28, 4)
            }
            tstore(0, 1)
        }
        _;
        assembly ("memory-safe") {
            tstore(0, 0)
        }
    }

    /// @param mips_ the one-step interpreter (a deployed contract)
    /// @param nodeChecker_ the two-phase transition checks (a deployed NodeChecker; stateless)
    /// @param challengeWindow_ seconds after posting during which games can be opened (MIN_PERIOD..MAX_WINDOW)
    /// @param clock_ seconds on each side's chess clock per game (MIN_PERIOD..MAX_CLOCK)
    /// @param resultBond_ bond an operator posts with a result (> 0; its burnt share must be >= 1 wei)
    /// @param challengeBond_ bond a challenger posts to open a game (same rule)
    /// @param burnBps_ share of a losing bond that is burnt, in basis points (1..10000)
    /// @param reopenDelay_ seconds after a rejection before the request takes results again (1..MAX_REOPEN_DELAY)
    constructor(
        IMIPS mips_,
        NodeChecker nodeChecker_,
        uint64 challengeWindow_,
        uint32 clock_,
        uint128 resultBond_,
        uint128 challengeBond_,
        uint16 burnBps_,
        uint32 reopenDelay_
    ) {
        if (address(mips_).code.length == 0) revert BadParameter("mips", uint256(uint160(address(mips_))));
        if (address(nodeChecker_).code.length == 0) {
            revert BadParameter("nodeChecker", uint256(uint160(address(nodeChecker_))));
        }
        if (challengeWindow_ < MIN_PERIOD || challengeWindow_ > MAX_WINDOW) {
            revert BadParameter("challengeWindow", challengeWindow_);
        }
        if (clock_ < MIN_PERIOD || clock_ > MAX_CLOCK) revert BadParameter("clock", clock_);
        if (burnBps_ == 0 || burnBps_ > BPS) revert BadParameter("burnBps", burnBps_);
        if (uint256(resultBond_) * burnBps_ < BPS) revert BadParameter("resultBond", resultBond_);
        if (uint256(challengeBond_) * burnBps_ < BPS) revert BadParameter("challengeBond", challengeBond_);
        if (reopenDelay_ == 0 || reopenDelay_ > MAX_REOPEN_DELAY) revert BadParameter("reopenDelay", reopenDelay_);
        mips = mips_;
        challengeWindow = challengeWindow_;
        clock = clock_;
        resultBond = resultBond_;
        challengeBond = challengeBond_;
        burnBps = burnBps_;
        reopenDelay = reopenDelay_;
        nodeChecker = nodeChecker_;
        batches = new OptimistBatches();
    }

    // ---------------------------------------------------------------- requests and results

    /// @notice Ask for `modelId` run on `input`; msg.value is the fee paid to the operator whose result stands.
    ///         The requester may cancel it while Open after `block.timestamp + MAX_REQUEST_TIME`.
    function request(uint256 modelId, bytes calldata input) external payable nonReentrant returns (uint256) {
        return _request(modelId, input, block.timestamp + MAX_REQUEST_TIME, address(0), 0);
    }

    /// @notice `request` with the requester's own cancel deadline (now < deadline <= now + MAX_REQUEST_TIME).
    function requestUntil(uint256 modelId, bytes calldata input, uint256 deadline)
        external
        payable
        nonReentrant
        returns (uint256)
    {
        uint256 latest = block.timestamp + MAX_REQUEST_TIME;
        if (deadline <= block.timestamp || deadline > latest) revert BadDeadline(deadline, latest);
        return _request(modelId, input, deadline, address(0), 0);
    }

    /// @notice `requestUntil` whose finalization calls `callback` (an IOptimistConsumer contract) with
    ///         exactly `callbackGas` gas (1..MAX_CALLBACK_GAS); `deadline` 0 = now + MAX_REQUEST_TIME.
    ///         The finalizer must pass the output (`finalizeWithOutput`) when the outcome is Success.
    function requestWithCallback(
        uint256 modelId,
        bytes calldata input,
        uint256 deadline,
        address callback,
        uint256 callbackGas
    ) external payable nonReentrant returns (uint256) {
        uint256 latest = block.timestamp + MAX_REQUEST_TIME;
        if (deadline == 0) deadline = latest;
        if (deadline <= block.timestamp || deadline > latest) revert BadDeadline(deadline, latest);
        if (callback.code.length == 0) revert BadParameter("callback", uint256(uint160(callback)));
        if (callbackGas == 0 || callbackGas > MAX_CALLBACK_GAS) revert BadParameter("callbackGas", callbackGas);
        return _request(modelId, input, deadline, callback, callbackGas);
    }

    /// @notice Requester: take the fee back from a request still Open after its deadline.
    function cancelRequest(uint256 requestId) external nonReentrant {
        Request storage req = requests[requestId];
        if (req.status == RequestStatus.None) revert UnknownRequest(requestId);
        if (msg.sender != req.requester) revert NotRequester();
        if (req.status != RequestStatus.Open) revert RequestNotOpen(requestId);
        if (block.timestamp <= req.deadline) revert DeadlineNotReached(req.deadline);
        req.status = RequestStatus.Cancelled;
        uint256 fee = req.fee;
        _credit(msg.sender, fee);
        emit RequestCancelled(requestId, msg.sender, fee);
    }

    /// @notice Post the outcome of a request: the packed final state and, for a successful exit (code 0),
    ///         `output` with the output region's sibling path in that state (bottom-up). A failed exit
    ///         (code != 0) or a state still running at the model's maxSteps is an outcome too; it carries
    ///         no output (`output` and `outputProof` empty). msg.value must be `resultBond`.
    function postResult(
        uint256 requestId,
        bytes calldata output,
        bytes calldata finalState,
        bytes32[] calldata outputProof
    ) external payable nonReentrant returns (uint256 resultId) {
        Request storage req = _openRequest(requestId, msg.sender);
        if (msg.value != resultBond) revert WrongBond(resultBond, msg.value);
        (uint64 steps, Outcome outcome, uint8 exitCode, bytes32 finalHash, bool graph) =
            _checkClaim(req.modelId, requestId, output, finalState, outputProof);

        resultId = ++resultCount;
        _storeResult(resultId, msg.sender, outcome, exitCode, graph, uint64(block.timestamp), requestId, steps);
        Result storage res = results[resultId];
        res.finalStateHash = finalHash;
        res.outputHash = keccak256(output);
        req.status = RequestStatus.Posted;
        req.resultId = uint64(resultId);
        emit ResultPosted(
            resultId, requestId, msg.sender, finalHash, steps,
            uint64(block.timestamp) + challengeWindow, output, outcome, exitCode
        );
    }

    /// @notice Accept a result after its challenge window when no game is open: fee and bond go to the operator.
    ///         A request with a callback whose outcome is Success needs its output: use `finalizeWithOutput`.
    function finalize(uint256 resultId) external nonReentrant {
        _finalize(resultId, msg.data[0:0], false);
    }

    /// @notice `finalize` passing the result's output bytes (from ResultPosted; checked against the stored
    ///         hash), which the request's callback receives.
    function finalizeWithOutput(uint256 resultId, bytes calldata output) external nonReentrant {
        _finalize(resultId, output, true);
    }

    /// @notice Send the caller everything credited to it.
    function withdraw() external nonReentrant returns (uint256 amount) {
        uint256 stored = _credits[msg.sender];
        if (stored <= 1) revert NothingToWithdraw();
        amount = stored - 1;
        _credits[msg.sender] = 1;   // keep the slot: the next credit rewrites it
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    /// @notice Anyone: send every burnt share not sent yet to BURN_ADDRESS (no code: it cannot re-enter or refuse).
    function sendBurn() external nonReentrant returns (uint256 amount) {
        amount = burned - burnSent;
        if (amount == 0) revert NothingToWithdraw();
        burnSent = burned;
        emit BurnSent(amount);
        (bool ok,) = BURN_ADDRESS.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    // ---------------------------------------------------------------- the bisection game

    /// @notice Dispute a pending result (one game per challenger); msg.value must be `challengeBond`.
    ///         A batch leaf's games open with disputeLeaf (`LeafResult`): Optimist keeps no final state hash for it.
    function openGame(uint256 resultId) external payable nonReentrant returns (uint256) {
        if (resultId & BATCH_FLAG != 0) revert LeafResult(resultId);
        return _openGame(resultId, results[resultId].finalStateHash);
    }

    /// @dev A game on the pending result `resultId` whose final state hash is `finalHash`.
    function _openGame(uint256 resultId, bytes32 finalHash) private returns (uint256 gameId) {
        Result storage res = _pendingResult(resultId);
        uint256 deadline = uint256(res.postedAt) + challengeWindow;
        if (block.timestamp > deadline) revert ChallengeWindowClosed(deadline);
        if (msg.value != challengeBond) revert WrongBond(challengeBond, msg.value);
        if (msg.sender == res.operator) revert SelfChallenge();
        if (gameOf[resultId][msg.sender] != 0) revert AlreadyChallenged(gameOf[resultId][msg.sender]);

        uint64 steps = res.steps;
        uint256 requestId = res.requestId;
        bytes32 init = requests[requestId].initialStateHash;
        // create the slots a rejection writes (the challenger's credit, the operator's bar), so that the
        // proof that rejects rewrites them instead of creating them (see _credits and _bars)
        if (_credits[msg.sender] == 0) _credits[msg.sender] = 1;
        mapping(address => uint256) storage bars = _bars[requestId];
        if (bars[res.operator] == 0) bars[res.operator] = BAR_READY;
        gameId = ++gameCount;
        gameOf[resultId][msg.sender] = gameId;
        Game storage g = games[gameId];
        g.challenger = msg.sender;
        g.status = GameStatus.Active;
        g.phase = steps == 1 ? (res.graph ? Phase.Transition : Phase.Proof) : Phase.Midpoint;
        g.resultId = uint64(resultId);
        g.overNodes = res.graph;
        g.hi = steps;
        g.lastMoveAt = uint64(block.timestamp);
        g.challengerClock = clock;
        g.defenderClock = clock;
        g.loHash = init;
        g.hiHash = finalHash;
        g.midHash = finalHash;   // non-zero placeholder: later writes cost 2.9k, not 20k
        res.openGames += 1;
        emit GameOpened(gameId, resultId, msg.sender, requestId, steps, init, finalHash);
    }

    /// @notice Defender: post the state hash at step `mid` = (lo + hi) / 2.
    function postMidpoint(uint256 gameId, uint64 mid, bytes32 midHash) external nonReentrant {
        (Game storage g, Result storage res) = _activeGame(gameId);
        if (msg.sender != res.operator) revert NotDefender();
        _expectPhase(g, Phase.Midpoint);
        uint64 expected = _mid(g);
        if (mid != expected) revert WrongStep(expected, mid);
        g.defenderClock = _spend(g, g.defenderClock);
        g.midHash = midHash;
        g.phase = Phase.Response;
        emit MoveMade(gameId, msg.sender, MoveKind.Midpoint, g.lo, g.hi, mid, midHash, Phase.Response);
    }

    /// @notice Challenger: agree (the interval moves right) or disagree (left) with the hash at step `mid`.
    function respond(uint256 gameId, uint64 mid, bool agree) external nonReentrant {
        (Game storage g,) = _activeGame(gameId);
        if (msg.sender != g.challenger) revert NotChallenger();
        _expectPhase(g, Phase.Response);
        uint64 expected = _mid(g);
        if (mid != expected) revert WrongStep(expected, mid);
        g.challengerClock = _spend(g, g.challengerClock);
        bytes32 midHash = g.midHash;
        if (agree) {
            g.lo = mid;
            g.loHash = midHash;
        } else {
            g.hi = mid;
            g.hiHash = midHash;
        }
        Phase next = g.hi - g.lo == 1 ? (g.overNodes ? Phase.Transition : Phase.Proof) : Phase.Midpoint;
        g.phase = next;
        emit MoveMade(
            gameId, msg.sender, agree ? MoveKind.Agree : MoveKind.Disagree, g.lo, g.hi, mid, midHash, next
        );
    }

    /// @notice Anyone: one-step proof from the agreed state at `lo` (its packed preimage) to step lo + 1.
    ///         The defender wins iff MIPS.step's post-state hash equals the defender's hash at `hi`.
    function prove(uint256 gameId, bytes calldata state, bytes calldata proof) external nonReentrant {
        (Game storage g,) = _activeGame(gameId);
        _expectPhase(g, Phase.Proof);
        uint256 deadline = uint256(g.lastMoveAt) + g.challengerClock;
        if (block.timestamp > deadline) revert ClockExpired(deadline);
        if (state.length != PackedState.STATE_SIZE) revert BadStateLength(state.length);
        bytes32 pre = keccak256(state);
        if (pre != g.loHash) revert WrongPreState(g.loHash, pre);
        bytes32 post = mips.step(state, proof);
        _resolve(gameId, g, post != g.hiHash, Reason.Proof);
    }

    /// @notice Anyone: end a game whose side to move ran out of time; that side loses.
    function timeout(uint256 gameId) external nonReentrant {
        (Game storage g,) = _activeGame(gameId);
        bool defenderToMove = _defenderToMove(g.phase);
        uint256 deadline = clockDeadline(gameId);
        if (block.timestamp <= deadline) revert ClockNotExpired(deadline);
        _resolve(gameId, g, defenderToMove, Reason.Timeout);
    }

    /// @notice Anyone: close a game whose result was already rejected by another game; its challenger gets
    ///         its bond back plus an equal share of the unburnt result bond (docs/game-rules.md §5).
    function cancelGame(uint256 gameId) external nonReentrant {
        Game storage g = games[gameId];
        if (g.status != GameStatus.Active) revert GameNotActive(gameId);
        Result storage res = results[g.resultId];
        if (res.status != ResultStatus.Rejected) revert ResultNotRejected(g.resultId);
        g.status = GameStatus.Cancelled;
        res.openGames -= 1;
        uint256 refund = uint256(challengeBond) + (resultBond - _burnShare(resultBond)) / res.sharers;
        _credit(g.challenger, refund);
        emit GameCancelled(gameId, g.resultId, refund);
    }

    // ---------------------------------------------------------------- two-phase games (docs/two-phase.md)

    /// @notice Defender, in the Transition phase of a graph model's game (agreed C_{j-1}, disputed C_j, j = hi):
    ///         enter node `j` with its registered descriptor and claimed final VM state. NodeChecker checks the
    ///         move (descriptor, argument roots, empty slot, C_j, final state, output root); then phase 2 bisects
    ///         steps 0..step(finalState) from the node's initial state to keccak256(finalState).
    function enterNode(
        uint256 gameId,
        uint64 j,
        NodeChecker.NodeSpec calldata spec,
        bytes32[] calldata specProof,
        bytes32[] calldata argRoots,
        bytes32[][] calldata argProofs,
        bytes calldata finalState,
        bytes32 outputRoot,
        bytes32[] calldata outputPath,
        bytes32[] calldata slotProof
    ) external nonReentrant {
        (Game storage g, Result storage res) = _activeGame(gameId);
        if (msg.sender != res.operator) revert NotDefender();
        _expectPhase(g, Phase.Transition);
        if (j != g.hi) revert WrongStep(g.hi, j);
        g.defenderClock = _spend(g, g.defenderClock);
        GraphModel storage gm = graphs[requests[res.requestId].modelId];
        // the checker decodes this very calldata (the parameters above) itself; a generation model's node j is
        // its template node's descriptor with shifted arg slots (docs/two-phase.md §10)
        (bytes32 init, bytes32 finalHash, uint64 steps) = nodeChecker.check(
            gm.nodesRoot, (uint256(gm.nodeCount) << 128) | (uint256(gm.period) << 64) | res.steps, g.loHash, g.hiHash,
            msg.data[4:]
        );
        Phase next = steps == 1 ? Phase.Proof : Phase.Midpoint;
        g.overNodes = false;
        g.phase = next;
        g.lo = 0;
        g.hi = steps;
        g.loHash = init;
        g.hiHash = finalHash;
        emit NodeEntered(gameId, j, init, finalHash, steps, next);
    }

    // ---------------------------------------------------------------- batches (docs/game-rules.md §3a)

    /// @notice Dispute leaf `index` of batch `batchId` (its fields and inclusion proof, OptimistBatches) with
    ///         msg.value `challengeBond`: a game opens on it, as openGame, with the leaf's final state hash. The
    ///         leaf's first game makes it a pending result (the batch's operator and post time, result id
    ///         BATCH_FLAG | batchId << INDEX_BITS | index, no hashes); every further game on it comes here too. On the
    ///         first game, a leaf of an entry batch (§3b) names a request batch's entry: its input root and that root's
    ///         inclusion proof create the entry's request here first, under the id leaf.requestId, with its initial
    ///         state; other leaves and later games take zero and an empty proof.
    function disputeLeaf(
        uint256 batchId,
        uint256 index,
        OptimistBatches.Leaf calldata leaf,
        bytes32[] calldata,
        bytes32,
        bytes32[] calldata
    ) external payable nonReentrant returns (uint256) {
        uint256 resultId = leafResultId(batchId, index);
        uint256 requestId = leaf.requestId;
        // OptimistBatches.verifyLeaf takes this function's arguments as they are
        (bool ok, bytes memory ret) =
            address(batches).call(bytes.concat(OptimistBatches.verifyLeaf.selector, msg.data[4:]));
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        if (results[resultId].status == ResultStatus.None) {   // its first game brings the leaf on-chain
            (address operator, uint64 postedAt, address requester, uint256 modelId, uint256 fee, uint256 deadline,
             bytes32 init) = abi.decode(ret, (address, uint64, address, uint256, uint256, uint256, bytes32));
            if (requester != address(0)) {
                _writeRequest(requestId, requester, modelId, fee, RequestStatus.Posted, resultId, deadline, address(0),
                              0, init);
            }
            // its hashes stay in the batch root: every game on the leaf brings them with the leaf's proof
            _storeResult(resultId, operator, Outcome(leaf.outcome), leaf.exitCode,
                         graphs[requests[requestId].modelId].nodeCount != 0, postedAt, requestId, leaf.steps);
        }
        return _openGame(resultId, leaf.finalStateHash);
    }

    /// @notice OptimistBatches: take msg.value (fees, bonds), credit `credit` to `account` and count `burnt` burnt.
    function fund(address account, uint256 credit, uint256 burnt) external payable {
        if (msg.sender != address(batches)) revert NotBatches();
        if (credit != 0) _credit(account, credit);
        if (burnt != 0) _burn(burnt);
    }

    /// @notice postResult's checks of a claim (for OptimistBatches).
    function checkClaim(
        uint256 modelId,
        uint256 requestId,
        bytes calldata output,
        bytes calldata finalState,
        bytes32[] calldata proof
    ) external view returns (uint64 steps, Outcome outcome, uint8 exitCode, bytes32 finalHash) {
        (steps, outcome, exitCode, finalHash,) = _checkClaim(modelId, requestId, output, finalState, proof);
    }

    /// @notice OptimistBatches.postBatch: the batch's requests become Posted with their leaves' result ids
    ///         (`base | i`); msg.value is their bonds.
    function takeRequests(address operator, uint256 modelId, uint256[] calldata requestIds, uint256 base)
        external
        payable
        nonReentrant
    {
        if (msg.sender != address(batches)) revert NotBatches();
        for (uint256 i; i < requestIds.length; ++i) {
            uint256 requestId = requestIds[i];
            Request storage req = requests[requestId];
            if (req.resultId >> INDEX_BITS == base >> INDEX_BITS) revert DuplicateRequest(requestId);
            _openRequest(requestId, operator);
            if (req.modelId != modelId) revert WrongModel(requestId, req.modelId);
            if (req.callbackGas != 0) revert CallbackInBatch(requestId);
            req.status = RequestStatus.Posted;
            req.resultId = uint64(base | i);
        }
    }

    /// @notice OptimistBatches.finalizeBatch (the leaves checked there): finalize each leaf's request unless the
    ///         leaf was disputed (then its fee is type(uint256).max: it settles as a single result); the operator
    ///         is credited the fees and a result bond per leaf finalized.
    function settleLeaves(address operator, uint256[] calldata requestIds, uint256 base, bool disputes)
        external
        nonReentrant
        returns (uint256[] memory fees)
    {
        if (msg.sender != address(batches)) revert NotBatches();
        uint256 n = requestIds.length;
        fees = new uint256[](n);
        uint256 due;
        for (uint256 i; i < n; ++i) {
            if (disputes && results[base | i].status != ResultStatus.None) {
                fees[i] = type(uint256).max;
                continue;
            }
            Request storage req = requests[requestIds[i]];
            req.status = RequestStatus.Finalized;
            fees[i] = req.fee;
            due += req.fee + resultBond;
        }
        _credit(operator, due);
    }

    // ---------------------------------------------------------------- views

    /// @notice True once a result of `operator` on `requestId` was rejected: it cannot post there again.
    function barred(uint256 requestId, address operator) external view returns (bool) {
        return _bars[requestId][operator] == BARRED;
    }

    /// @notice Wei credited to `account` and not withdrawn yet.
    function balances(address account) external view returns (uint256) {
        uint256 stored = _credits[account];
        return stored == 0 ? 0 : stored - 1;
    }

    /// @notice The time after which the side to move in `gameId` loses by timeout.
    function clockDeadline(uint256 gameId) public view returns (uint256) {
        Game storage g = games[gameId];
        uint32 left = _defenderToMove(g.phase) ? g.defenderClock : g.challengerClock;
        return uint256(g.lastMoveAt) + left;
    }

    /// @notice The step whose hash the defender must post next: (lo + hi) / 2.
    function midStep(uint256 gameId) external view returns (uint64) {
        return _mid(games[gameId]);
    }

    /// @notice OptimistBatches.rejectEntry on an entry leaf a game brought in (§3b): its pending result is rejected as
    ///         a won game rejects it, `by` sharing the unburnt bond with the games active on it. `void` (a malformed
    ///         input): the request ends instead of reopening, its fee back to the requester (as without a game).
    function rejectLeaf(uint256 resultId, address by, bool void) external {
        if (msg.sender != address(batches)) revert NotBatches();
        Result storage res = _pendingResult(resultId);
        (uint256 share,, uint256 requestId, uint64 reopenAt) = _reject(res, res.openGames + 1);
        _credit(by, share);
        if (void) {
            Request storage req = requests[requestId];
            req.status = RequestStatus.Cancelled;
            _credit(req.requester, req.fee);
            reopenAt = 0;
        }
        emit ResultRejected(resultId, requestId, 0, reopenAt);
    }

    /// @notice True once a result exists under `resultId` (posted, or a batch leaf brought in by disputeLeaf).
    function hasResult(uint256 resultId) external view returns (bool) {
        return results[resultId].status != ResultStatus.None;
    }

    /// @notice End of the challenge window of `resultId`.
    function resultDeadline(uint256 resultId) external view returns (uint256) {
        return uint256(results[resultId].postedAt) + challengeWindow;
    }

    /// @notice The outcome of a finalized request: Success (output hash), Failure (exit code) or NoHalt
    ///         (still running at maxSteps), with the number of steps and the result id.
    function outcomeOf(uint256 requestId)
        external
        view
        returns (Outcome outcome, uint8 exitCode, uint64 steps, bytes32 outputHash, uint256 resultId)
    {
        Request storage req = requests[requestId];
        if (req.status != RequestStatus.Finalized) revert RequestNotFinalized(requestId);
        resultId = req.resultId;
        Result storage res = results[resultId];
        if (resultId & BATCH_FLAG != 0) revert OutcomeInBatch(resultId);   // OptimistBatches.leafOutcome proves it
        return (res.outcome, res.exitCode, res.steps, res.outputHash, resultId);
    }

    // ---------------------------------------------------------------- internals

    function _request(uint256 modelId, bytes calldata input, uint256 deadline, address callback, uint256 callbackGas)
        private
        returns (uint256 requestId)
    {
        if (msg.value > type(uint96).max) revert BadParameter("fee", msg.value);
        (bytes32 init, uint256 unrolled) = _initial(modelId, input);
        requestId = ++requestCount;
        if (unrolled != 0) _unrolled[requestId] = unrolled;
        _writeRequest(requestId, msg.sender, modelId, msg.value, RequestStatus.Open, 0, deadline, callback, callbackGas,
                      init);
        emit RequestCreated(requestId, modelId, msg.sender, msg.value, init, input, uint64(deadline));
    }

    function _writeRequest(
        uint256 requestId,
        address requester,
        uint256 modelId,
        uint256 fee,
        RequestStatus status,
        uint256 resultId,
        uint256 deadline,
        address callback,
        uint256 callbackGas,
        bytes32 init
    ) private {
        Request storage req = requests[requestId];   // member by member: no callback, no write of its slot
        req.requester = requester;
        req.modelId = uint64(modelId);
        req.callbackGas = uint24(callbackGas);
        req.fee = uint96(fee);
        req.status = status;
        req.resultId = uint64(resultId);
        req.deadline = uint40(deadline);
        if (callback != address(0)) req.callback = callback;
        req.initialStateHash = init;
    }

    function _checker() internal view override returns (NodeChecker) {
        return nodeChecker;
    }

    /// @dev A program model's claim (`_checkFinalState`, hash keccak256(finalState)) or a graph model's:
    ///      `finalState` is C_m (32 bytes) and `outputProof` the slot proof of tensorRoot(output) at slot m.
    function _checkClaim(
        uint256 modelId,
        uint256 requestId,
        bytes calldata output,
        bytes calldata finalState,
        bytes32[] calldata outputProof
    ) private view returns (uint64 steps, Outcome outcome, uint8 exitCode, bytes32 finalHash, bool graph) {
        GraphModel storage gm = graphs[modelId];
        steps = gm.nodeCount;
        if (steps == 0) {
            (steps, outcome, exitCode) = _checkFinalState(modelId, output, finalState, outputProof);
            return (steps, outcome, exitCode, keccak256(finalState), false);
        }
        uint256 unrolled = _unrolled[requestId];   // a generation request's M (docs/two-phase.md §10)
        if (unrolled != 0) steps = uint64(unrolled);
        uint8 kind;
        (steps, kind, exitCode, finalHash) = nodeChecker.graphClaim(output, finalState, outputProof, gm.outputLength, steps);
        return (steps, Outcome(kind), exitCode, finalHash, true);
    }

    /// @dev A new pending result, without its hashes (postResult writes them; a batch leaf has none here).
    function _storeResult(
        uint256 resultId,
        address operator,
        Outcome outcome,
        uint8 exitCode,
        bool graph,
        uint64 postedAt,
        uint256 requestId,
        uint64 steps
    ) private {
        Result storage res = results[resultId];   // member by member: the two hash slots are not touched
        res.operator = operator;
        res.status = ResultStatus.Pending;
        res.outcome = outcome;
        res.exitCode = exitCode;
        res.graph = graph;
        res.postedAt = postedAt;
        res.requestId = uint64(requestId);
        res.steps = steps;
    }

    /// @dev The request, if `operator` may post a result on it now.
    function _openRequest(uint256 requestId, address operator) private view returns (Request storage req) {
        req = requests[requestId];
        if (req.status == RequestStatus.None) revert UnknownRequest(requestId);
        if (req.status != RequestStatus.Open) revert RequestNotOpen(requestId);
        if (block.timestamp < req.reopenAt) revert RequestReopening(req.reopenAt);
        if (_bars[requestId][operator] == BARRED) revert OperatorBarred(requestId, operator);
    }

    /// @dev The defender moves in Midpoint and Transition; the challenger in Response and Proof.
    function _defenderToMove(Phase phase) private pure returns (bool) {
        return phase == Phase.Midpoint || phase == Phase.Transition;
    }

    /// @dev The outcome a final state claims: exited with code 0 (output proven against memRoot), exited with
    ///      another code, or not exited at exactly maxSteps. Exited claims need 1 <= step <= maxSteps.
    function _checkFinalState(
        uint256 modelId,
        bytes calldata output,
        bytes calldata finalState,
        bytes32[] calldata outputProof
    ) private view returns (uint64 steps, Outcome outcome, uint8 exitCode) {
        Model storage m = models[modelId];
        uint8 kind;
        (steps, kind, exitCode) = nodeChecker.programClaim(
            finalState, output, outputProof, m.maxSteps, m.outputBase, m.outputSize, m.outputLength
        );
        outcome = Outcome(kind);
    }

    /// @dev Finalize; then, for a request with a callback, check `output` against the stored hash (also
    ///      when `checkOutput`) and call the consumer.
    function _finalize(uint256 resultId, bytes calldata output, bool checkOutput) private {
        Result storage res = _pendingResult(resultId);
        uint256 deadline = uint256(res.postedAt) + challengeWindow;
        if (block.timestamp <= deadline) revert ChallengeWindowOpen(deadline);
        if (res.openGames != 0) revert GamesOpen(res.openGames);
        uint256 requestId = res.requestId;
        Request storage req = requests[requestId];
        res.status = ResultStatus.Finalized;
        req.status = RequestStatus.Finalized;
        uint256 fee = req.fee;
        _credit(res.operator, fee + resultBond + _settleDefended(res));
        emit ResultFinalized(resultId, requestId, res.operator, fee, res.outcome, res.exitCode);
        uint256 callbackGas = req.callbackGas;
        if (callbackGas == 0 && !checkOutput) return;
        bytes32 got = keccak256(output);
        if (got != res.outputHash) revert OutputMismatch(res.outputHash, got);
        if (callbackGas != 0) _callConsumer(requestId, req.callback, callbackGas, res.outcome, res.exitCode, output);
    }

    /// @dev Call the consumer with exactly `gasLimit` gas. Its failure (revert, out of gas, no code) is
    ///      recorded in CallbackCalled, never propagated. EIP-150 forwards at most 63/64 of the gas left:
    ///      unless that covers `gasLimit` the whole transaction reverts, so a finalizer cannot starve it.
    function _callConsumer(
        uint256 requestId,
        address consumer,
        uint256 gasLimit,
        Outcome outcome,
        uint8 exitCode,
        bytes calldata output
    ) private {
        bytes memory data =
            abi.encodeCall(IOptimistConsumer.onOptimistResult, (requestId, uint8(outcome), exitCode, output));
        bool ok;
        bytes memory reason;
        if (consumer.code.length != 0) {   // also warms the address: the CALL below costs a fixed 100
            uint256 left = gasleft();
            if (left < CALLBACK_CALL_GAS || (left - CALLBACK_CALL_GAS) * 63 / 64 < gasLimit) {
                revert InsufficientCallbackGas(gasLimit * 64 / 63 + CALLBACK_CALL_GAS, left);
            }
            uint256 size;
            assembly ("memory-safe") {
                ok := call(gasLimit, consumer, 0, add(data, 0x20), mload(data), 0, 0)
                size := returndatasize()
            }
            if (!ok) {   // copy a bounded prefix of the revert data: a huge one cannot cost the finalizer
                if (size > MAX_CALLBACK_REASON) size = MAX_CALLBACK_REASON;
                reason = new bytes(size);
                assembly ("memory-safe") {
                    returndatacopy(add(reason, 0x20), 0, size)
                }
            }
        }
        emit CallbackCalled(requestId, consumer, ok, reason);
    }

    function _pendingResult(uint256 resultId) private view returns (Result storage res) {
        res = results[resultId];
        if (res.status == ResultStatus.None) revert UnknownResult(resultId);
        if (res.status != ResultStatus.Pending) revert ResultNotPending(resultId);
    }

    function _activeGame(uint256 gameId) private view returns (Game storage g, Result storage res) {
        g = games[gameId];
        if (g.status != GameStatus.Active) revert GameNotActive(gameId);
        res = results[g.resultId];
        if (res.status != ResultStatus.Pending) revert ResultNotPending(g.resultId);
    }

    function _expectPhase(Game storage g, Phase expected) private view {
        if (g.phase != expected) revert WrongPhase(expected, g.phase);
    }

    function _mid(Game storage g) private view returns (uint64) {
        return g.lo + (g.hi - g.lo) / 2;
    }

    /// @dev Charge the mover for the time since the last move; returns its clock left.
    function _spend(Game storage g, uint32 left) private returns (uint32) {
        uint256 elapsed = block.timestamp - g.lastMoveAt;
        if (elapsed > left) revert ClockExpired(uint256(g.lastMoveAt) + left);
        g.lastMoveAt = uint64(block.timestamp);
        return left - uint32(elapsed);
    }

    function _burnShare(uint256 bond) private view returns (uint256) {
        return bond * burnBps / BPS;
    }

    /// @dev Add `amount` to the account's credit (creating its slot at credit + 1 when it has none).
    function _credit(address account, uint256 amount) private {
        uint256 stored = _credits[account];
        _credits[account] = (stored == 0 ? 1 : stored) + amount;
    }

    /// @dev Count `amount` as burnt; `sendBurn` sends it to BURN_ADDRESS later. The cast cannot truncate: every
    ///      amount counted is part of a bond this contract holds, and all the ether there is is below 2**96 wei.
    function _burn(uint256 amount) private {
        burned += uint96(amount);
    }

    /// @dev Settle the games the operator of `res` won (paid `challengeBond - burn` each, burn counted): called
    ///      once, when the result is finalized or rejected. Returns the operator's due.
    function _settleDefended(Result storage res) private returns (uint256 due) {
        uint256 defended = res.defended;
        if (defended == 0) return 0;
        uint256 burnt = _burnShare(challengeBond);
        _burn(defended * burnt);
        return defended * (challengeBond - burnt);
    }

    /// @dev The loser's bond: its burn share is burnt, the rest goes to the winner side. A defender's win is
    ///      settled with its result (finalize or rejection: `_settleDefended`); GameResolved reports it now. A
    ///      rejected result's unburnt bond is split equally among the games active at rejection (this one
    ///      included); the others collect their share in cancelGame; the division's remainder is burnt too.
    function _resolve(uint256 gameId, Game storage g, bool challengerWon, Reason reason) private {
        uint256 resultId = g.resultId;
        Result storage res = results[resultId];
        uint256 active = res.openGames;
        res.openGames = uint32(active - 1);
        if (!challengerWon) {
            g.status = GameStatus.DefenderWon;
            res.defended += 1;
            uint256 burnC = _burnShare(challengeBond);
            emit GameResolved(gameId, resultId, res.operator, false, reason, challengeBond - burnC, burnC);
            return;
        }
        g.status = GameStatus.ChallengerWon;
        (uint256 share, uint256 burnt, uint256 requestId, uint64 reopenAt) = _reject(res, active);
        uint256 paid = uint256(challengeBond) + share;
        _credit(g.challenger, paid);
        emit GameResolved(gameId, resultId, g.challenger, true, reason, paid, burnt);
        emit ResultRejected(resultId, requestId, gameId, reopenAt);
    }

    /// @dev Reject a pending result won by `sharers` (the games active on it, and a rejectEntry): its request reopens
    ///      with the operator barred, its defended games are settled, its unburnt bond is split in equal shares (the
    ///      remainder burnt; the games still active take theirs in cancelGame).
    function _reject(Result storage res, uint256 sharers)
        private
        returns (uint256 share, uint256 burnt, uint256 requestId, uint64 reopenAt)
    {
        res.status = ResultStatus.Rejected;
        res.sharers = uint32(sharers);
        share = (resultBond - _burnShare(resultBond)) / sharers;
        burnt = resultBond - share * sharers;
        requestId = res.requestId;
        Request storage req = requests[requestId];
        req.status = RequestStatus.Open;
        req.resultId = 0;
        reopenAt = uint64(block.timestamp) + reopenDelay;
        req.reopenAt = uint40(reopenAt);
        address operator = res.operator;
        _bars[requestId][operator] = BARRED;
        uint256 due = _settleDefended(res);
        if (due != 0) _credit(operator, due);
        _burn(burnt);
    }
}
