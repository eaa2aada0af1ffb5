"""Deploy the optimist contracts in one call and drive them from Python (the daemons build on this).

    system = deploy_system(w3, challenge_window=600, clock=300)
    model_id = system.register_model(ModelImage.from_memory(image_memory, entry=..., ...))
    request_id = system.request(model_id, input_bytes, fee=10**16)      # or deadline=<unix time>
    result_id = system.post_result(request_id, output, final_state, output_proof, sender=operator)
    # a failed run (exit code != 0) or a run still going at the model's max_steps is posted with
    # output=b"" and output_proof=[]; once final, system.outcome(request_id) tells the requester
    game_id = system.open_game(result_id, sender=challenger)
    for event in system.events_since(block): ...

Graph models (two-phase games, docs/two-phase.md): `register_graph_model(GraphModelSpec(...))`, a request
as above (its initial hash is C_0), `post_graph_result(request_id, output, c_m, slot_proof)`, phase 1 with
post_midpoint/respond over node indices, then `enter_node(game_id, NodeEntry(...))` in the TRANSITION
phase and phase 2 as above.

Every transaction method waits for its receipt (kept in `system.last_receipt`) and returns the new id
(register/request/post/open) or the receipt. A reverting call raises `ContractRevert` whose `.name`
and `.fields` are the decoded custom error (e.g. "WrongInputLength", {"expected": 3136, "got": 3132}).
The game rules are in docs/game-rules.md.
"""

from __future__ import annotations

import ast
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak
from eth_utils.abi import get_abi_input_types, get_abi_output_types
from hexbytes import HexBytes
from web3 import Web3
from web3._utils.abi import map_abi_data, named_tree
from web3._utils.normalizers import BASE_RETURN_NORMALIZERS
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

from contracts.batches import (
    BATCH_FUNCTIONS,
    BatchInfo,
    Claim,
    EntryLeaf,
    Leaf,
    RequestBatchInfo,
    _array,
    _word,
    batch_root,
    decode_post_entries,
    decode_request_batch_data,
    input_roots,
    is_leaf,
    leaf_position,
    leaf_result_id,
    posted_entries,
)
from contracts.compile import SRC_DIR, compile_contracts, stage_files, staged_sources
from mipsvm.layout import INPUT_BASE, OUTPUT_BASE, region_size
from mipsvm.memory import Memory, zero_hash
from mipsvm.nodespec import NODE_SPEC_ABI, NodeSpec
from mipsvm.regions import region_level, region_path

try:  # eth-tester raises its own exception for some reverts
    from eth_tester.exceptions import TransactionFailed
except ImportError:  # pragma: no cover - eth-tester is optional for real chains
    class TransactionFailed(Exception):  # type: ignore[no-redef]
        """Placeholder when eth-tester is not installed."""

REVERTS = (ContractCustomError, ContractLogicError, ContractPanicError, TransactionFailed)

SLOT_DEPTH = 16               # phase-1 slot tree of graph models (docs/two-phase.md)
# enterNode's parameters (what NodeChecker.check decodes from its `move` argument)
ENTER_NODE_TYPES = ["uint256", "uint64", NODE_SPEC_ABI, "bytes32[]", "bytes32[]", "bytes32[][]", "bytes", "bytes32",
                    "bytes32[]", "bytes32[]"]
SYSTEM_SOURCES = ("IMIPS.sol", "IOptimistConsumer.sol", "ModelRegistry.sol", "NodeChecker.sol", "Optimist.sol", "OptimistBatches.sol",
                  "PackedState.sol", "RegionMerkle.sol")
DEFAULT_WINDOW = 3600         # seconds during which a result can be disputed
DEFAULT_CLOCK = 1800          # seconds on each side's chess clock
DEFAULT_RESULT_BOND = 10**17  # wei
DEFAULT_CHALLENGE_BOND = 10**17
DEFAULT_BURN_BPS = 5000       # half of a losing bond is burnt
DEFAULT_REOPEN_DELAY = 1      # seconds: a rejected request takes results again from the next block on
DEFAULT_MAX_STEPS = 1 << 40   # a model's step bound unless registered otherwise
MAX_STEPS = 1 << 48           # the contract's bound on any model's max_steps
MAX_REQUEST_TIME = 30 * 24 * 3600   # latest request deadline, seconds from the request
MAX_CALLBACK_GAS = 5_000_000        # largest callback gas limit of a request (Optimist.MAX_CALLBACK_GAS)
ZERO_ADDRESS = "0x" + "00" * 20
MIN_PERIOD, MAX_WINDOW, MAX_CLOCK, MAX_REOPEN_DELAY = 30, 30 * 24 * 3600, 7 * 24 * 3600, 3600
BPS = 10_000
BURN_ADDRESS = "0x000000000000000000000000000000000000dEaD"
GAS_MARGIN = 1.25
ETH_TESTER_GAS = 20_000_000


class OptimistError(RuntimeError):
    """Base class of this module's errors."""


class DeployError(OptimistError):
    """The system could not be deployed (e.g. MIPS.sol missing)."""


class ContractRevert(OptimistError):
    """A call or transaction reverted; `name`/`fields` hold the decoded custom error when known."""

    def __init__(self, function: str, name: str, fields: dict[str, Any], data: bytes) -> None:
        self.function = function
        self.name = name
        self.fields = fields
        self.data = data
        shown = ", ".join(f"{k}={_show(v)}" for k, v in fields.items())
        super().__init__(f"{function} reverted: {name}({shown})")


class Phase(enum.IntEnum):
    """Game phase: who moves next (Optimist.Phase)."""
    MIDPOINT = 0   # defender posts the hash at (lo + hi) / 2
    RESPONSE = 1   # challenger agrees or disagrees
    PROOF = 2      # one step left: anyone proves; the challenger's clock runs
    TRANSITION = 3  # a graph model's game narrowed to one node: the defender enters it (enter_node)


class RequestStatus(enum.IntEnum):
    NONE = 0
    OPEN = 1
    POSTED = 2
    FINALIZED = 3
    CANCELLED = 4


class Outcome(enum.IntEnum):
    """What a result claims (Optimist.Outcome)."""
    SUCCESS = 0    # exited with code 0; the output is proven
    FAILURE = 1    # exited with a non-zero code (trap, fault, program error)
    NO_HALT = 2    # still running at the model's max_steps


class ResultStatus(enum.IntEnum):
    NONE = 0
    PENDING = 1
    REJECTED = 2
    FINALIZED = 3


class GameStatus(enum.IntEnum):
    NONE = 0
    ACTIVE = 1
    CHALLENGER_WON = 2
    DEFENDER_WON = 3
    CANCELLED = 4


def _show(v: Any) -> str:
    return "0x" + v.hex() if isinstance(v, bytes | bytearray) else repr(v)


# --------------------------------------------------------------------------- data classes

@dataclass(frozen=True)
class ModelImage:
    """What `register_model` needs: the image root (input region zero), regions, path, hashes."""

    image_root: bytes
    entry: int
    input_base: int
    input_size: int
    input_length: int
    output_base: int
    output_size: int
    output_length: int
    input_path: list[bytes]
    model_hash: bytes = bytes(32)
    metadata_uri: str = ""
    max_steps: int = DEFAULT_MAX_STEPS

    @classmethod
    def from_memory(cls, memory: Memory, *, entry: int, input_length: int, output_length: int,
                    model_hash: bytes = bytes(32), metadata_uri: str = "",
                    input_base: int = INPUT_BASE, output_base: int = OUTPUT_BASE,
                    max_steps: int = DEFAULT_MAX_STEPS) -> ModelImage:
        """Describe an image loaded in `memory` (its input region must be all zero)."""
        input_size, output_size = region_size(input_length), region_size(output_length)
        level = region_level(input_base, input_size)
        region_level(output_base, output_size)
        if memory.subtree_root(input_base, input_size) != zero_hash(level):
            raise ValueError(f"the image's input region [{input_base:#x}, +{input_size:#x}) is not zero "
                             "(fix: build the image without input; requests supply it)")
        return cls(memory.root(), entry, input_base, input_size, input_length, output_base, output_size,
                   output_length, region_path(memory, input_base, input_size), model_hash, metadata_uri,
                   max_steps)

    def spec(self) -> tuple[Any, ...]:
        """The ModelSpec tuple of Optimist.registerModel."""
        return (self.image_root, self.model_hash, self.entry, self.input_base, self.input_size,
                self.input_length, self.output_base, self.output_size, self.output_length, self.max_steps,
                self.metadata_uri)


@dataclass(frozen=True)
class GraphModelSpec:
    """What `register_graph_model` needs (docs/two-phase.md): the descriptors' slot-tree root and sizes."""

    nodes_root: bytes
    node_count: int
    input_length: int
    output_length: int
    model_hash: bytes = bytes(32)
    metadata_uri: str = ""
    period: int = 0          # generation models: nodes per token of the template (docs/two-phase.md §10)

    def spec(self) -> tuple[Any, ...]:
        """The GraphSpec tuple of Optimist.registerGraphModel."""
        return (bytes(self.nodes_root), bytes(self.model_hash), self.node_count, self.input_length,
                self.output_length, self.period, self.metadata_uri)


@dataclass(frozen=True)
class NodeEntry:
    """The defender's transition move (Optimist.enterNode) into node `node`: proofs against the model's
    nodes_root (spec_proof), C_{j-1} (arg_proofs, slot_proof) and C_j (slot_proof), the claimed final VM
    state of the node and its output region's root and path in that state."""

    node: int
    spec: NodeSpec
    spec_proof: list[bytes]
    arg_roots: list[bytes]
    arg_proofs: list[list[bytes]]
    final_state: bytes
    output_root: bytes
    output_path: list[bytes]
    slot_proof: list[bytes]

    def args(self) -> tuple[Any, ...]:
        """enterNode's arguments after the game id."""
        return (self.node, self.spec.as_tuple(), [bytes(p) for p in self.spec_proof],
                [bytes(r) for r in self.arg_roots], [[bytes(p) for p in proof] for proof in self.arg_proofs],
                bytes(self.final_state), bytes(self.output_root), [bytes(p) for p in self.output_path],
                [bytes(p) for p in self.slot_proof])


@dataclass(frozen=True)
class GraphModelInfo:
    model_id: int
    owner: str
    nodes_root: bytes
    node_count: int
    input_length: int
    output_length: int
    model_hash: bytes
    metadata_uri: str
    period: int = 0


@dataclass(frozen=True)
class ModelInfo:
    model_id: int
    owner: str
    image_root: bytes
    model_hash: bytes
    entry: int
    input_base: int
    input_size: int
    input_length: int
    output_base: int
    output_size: int
    output_length: int
    metadata_uri: str
    max_steps: int


@dataclass(frozen=True)
class RequestInfo:
    request_id: int
    requester: str
    status: RequestStatus
    model_id: int
    fee: int
    result_id: int            # the result posted or finalized (0 while open)
    initial_state_hash: bytes # binds the input (its bytes: RequestCreated, or the entry's request batch)
    deadline: int             # the requester may cancel an open request after this time
    reopen_at: int            # after a rejection, no result is accepted before this time (0: never rejected)
    callback: str = ZERO_ADDRESS   # IOptimistConsumer called on finalization (zero address: none)
    callback_gas: int = 0          # the callback's gas limit (0: no callback)

    @property
    def has_callback(self) -> bool:
        return self.callback_gas != 0


@dataclass(frozen=True)
class ResultInfo:
    result_id: int
    operator: str
    status: ResultStatus
    open_games: int
    posted_at: int
    request_id: int
    steps: int
    bond: int                 # always the contract's resultBond (postResult takes exactly that)
    final_state_hash: bytes
    output_hash: bytes
    deadline: int
    outcome: Outcome
    exit_code: int
    sharers: int              # games active when it was rejected (0 unless rejected)
    graph: bool = False       # a graph model's result: final_state_hash is C_m, steps is m
    defended: int = 0         # games the operator won (paid out when the result is finalized or rejected)


@dataclass(frozen=True)
class OutcomeInfo:
    """What a finalized request came to (Optimist.outcomeOf)."""

    outcome: Outcome
    exit_code: int
    steps: int
    output_hash: bytes
    result_id: int


@dataclass(frozen=True)
class GameInfo:
    game_id: int
    challenger: str
    status: GameStatus
    phase: Phase
    result_id: int
    over_nodes: bool          # phase 1 of a graph model's game: lo/hi are node indices, hashes are C_j
    lo: int
    hi: int
    last_move_at: int
    challenger_clock: int
    defender_clock: int
    lo_hash: bytes
    hi_hash: bytes
    mid_hash: bytes

    @property
    def mid(self) -> int:
        """The step the defender posts next (or whose hash the challenger judges)."""
        return self.lo + (self.hi - self.lo) // 2

    @property
    def clock_deadline(self) -> int:
        """When the side to move runs out of time (Optimist.clockDeadline, without a call): the
        defender's clock while a midpoint or a transition is due, the challenger's otherwise."""
        defender = self.phase in (Phase.MIDPOINT, Phase.TRANSITION)
        return self.last_move_at + (self.defender_clock if defender else self.challenger_clock)


@dataclass(frozen=True)
class Event:
    """A decoded log of the Optimist contract."""

    name: str
    args: dict[str, Any]
    block: int
    tx_hash: bytes
    log_index: int

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


@dataclass(frozen=True)
class Params:
    challenge_window: int
    clock: int
    result_bond: int
    challenge_bond: int
    mips: str
    burn_bps: int
    reopen_delay: int

    def burn_share(self, bond: int) -> int:
        """Wei burnt from a losing `bond`."""
        return bond * self.burn_bps // BPS


# --------------------------------------------------------------------------- compile and deploy

def compile_system() -> dict[str, dict[str, Any]]:
    """Artifacts of the system contracts alone (unaffected by other contracts' state of work)."""
    return compile_contracts(staged_sources(SYSTEM_SOURCES, "system_src"))


EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


def compile_examples() -> dict[str, dict[str, Any]]:
    """Artifacts of the example dapps (contracts/examples/*.sol, compiled with IOptimistConsumer.sol)."""
    files = {"IOptimistConsumer.sol": (SRC_DIR / "IOptimistConsumer.sol").read_text()}
    files.update({f.name: f.read_text() for f in sorted(EXAMPLES_DIR.glob("*.sol"))})
    return compile_contracts(stage_files(files, "examples_src"))


def deploy_contract(w3: Web3, artifact: dict[str, Any], *args: Any, sender: str | None = None) -> Contract:
    """Deploy one compiled contract and return it bound to its address."""
    sender = sender or w3.eth.default_account
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    constructor = factory.constructor(*args)
    try:
        tx = constructor.build_transaction({"from": sender})
    except REVERTS as exc:
        data = _revert_data(exc)
        if not data:   # eth-tester's estimate words the error; a call returns its data
            try:
                w3.eth.call({"from": sender, "data": constructor.data_in_transaction})
            except REVERTS as again:
                data = _revert_data(again)
        name, fields = decode_revert(data, _error_table(artifact["abi"]))
        raise ContractRevert("constructor", name, fields, data) from None
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))
    if receipt["status"] != 1:
        raise DeployError(f"deployment failed (receipt {receipt['transactionHash'].hex()})")
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def deploy_mips(w3: Web3, sender: str | None = None) -> Contract:
    """Deploy contracts/src/MIPS.sol."""
    from contracts.evm import compile_mips

    arts = compile_mips()
    if "MIPS" not in arts:
        raise DeployError("contracts/src/MIPS.sol did not produce a MIPS contract")
    return deploy_contract(w3, arts["MIPS"], sender=sender)


def check_params(challenge_window: int, clock: int, result_bond: int, challenge_bond: int, burn_bps: int,
                 reopen_delay: int) -> None:
    """The constructor's argument rules (docs/game-rules.md §0), as a clear ValueError."""
    rules = (
        (MIN_PERIOD <= challenge_window <= MAX_WINDOW, f"challenge_window must be {MIN_PERIOD}..{MAX_WINDOW} s"),
        (MIN_PERIOD <= clock <= MAX_CLOCK, f"clock must be {MIN_PERIOD}..{MAX_CLOCK} s"),
        (1 <= burn_bps <= BPS, f"burn_bps must be 1..{BPS}"),
        (0 < result_bond < 2**128 and result_bond * burn_bps >= BPS,
         "result_bond must be positive and large enough that its burn share is at least 1 wei"),
        (0 < challenge_bond < 2**128 and challenge_bond * burn_bps >= BPS,
         "challenge_bond must be positive and large enough that its burn share is at least 1 wei"),
        (1 <= reopen_delay <= MAX_REOPEN_DELAY, f"reopen_delay must be 1..{MAX_REOPEN_DELAY} s"),
    )
    for ok, message in rules:
        if not ok:
            raise ValueError(message)


def deploy_system(w3: Web3, *, challenge_window: int = DEFAULT_WINDOW, clock: int = DEFAULT_CLOCK,
                  result_bond: int = DEFAULT_RESULT_BOND, challenge_bond: int = DEFAULT_CHALLENGE_BOND,
                  mips_address: str | None = None, sender: str | None = None,
                  burn_bps: int = DEFAULT_BURN_BPS, reopen_delay: int = DEFAULT_REOPEN_DELAY,
                  node_checker_address: str | None = None) -> System:
    """Deploy MIPS and NodeChecker (unless their addresses are given) and Optimist; return the wrapper."""
    check_params(challenge_window, clock, result_bond, challenge_bond, burn_bps, reopen_delay)
    if mips_address is None:
        mips_address = deploy_mips(w3, sender).address
    if node_checker_address is None:
        node_checker_address = deploy_contract(w3, compile_system()["NodeChecker"], sender=sender).address
    optimist = deploy_contract(w3, compile_system()["Optimist"], mips_address, node_checker_address,
                               challenge_window, clock, result_bond, challenge_bond, burn_bps, reopen_delay,
                               sender=sender)
    return System(w3, optimist.address, deploy_block=w3.eth.block_number)


# --------------------------------------------------------------------------- errors

def _error_table(abi: list[dict[str, Any]]) -> dict[bytes, tuple[str, list[str], list[str]]]:
    table = {}
    for item in abi:
        if item.get("type") == "error":
            types = [_abi_type(i) for i in item["inputs"]]
            sig = f"{item['name']}({','.join(types)})"
            table[keccak(text=sig)[:4]] = (item["name"], [i["name"] for i in item["inputs"]], types)
    return table


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


_PANIC = keccak(text="Panic(uint256)")[:4]
_ERROR = keccak(text="Error(string)")[:4]


def decode_revert(data: bytes, table: dict[bytes, tuple[str, list[str], list[str]]]) -> tuple[str, dict[str, Any]]:
    """(error name, {arg: value}) of raw revert data."""
    sel, body = data[:4], data[4:]
    if sel in table:
        name, names, types = table[sel]
        try:
            return name, dict(zip(names, abi_decode(types, body), strict=True))
        except Exception:  # malformed payload: keep the name
            return name, {"raw": body}
    if sel == _PANIC:
        return "Panic", {"code": abi_decode(["uint256"], body)[0]}
    if sel == _ERROR:
        return "Error", {"message": abi_decode(["string"], body)[0]}
    if not data:
        return "Revert", {}
    return "UnknownError", {"data": data}


def decode_call(contract: Contract, data: bytes) -> tuple[str, dict[str, Any]]:
    """(function name, arguments) of a transaction input `data` calling `contract`; postEntries, requestBatchData and
    prove are read as solc reads calldata (contracts.batches.decode_post_entries: web3's decode_function_input refuses
    non-zero padding bytes, which solc ignores, so a sender could make a transaction the contract took undecodable).
    ValueError if it is no decodable call of `contract`."""
    data = bytes(data)
    try:
        fn = contract.get_function_by_selector(data[:4])
        if fn.fn_name in _LENIENT:   # the calls whose bytes the daemons and the explorer read back
            return fn.fn_name, _LENIENT[fn.fn_name](data)
        types = get_abi_input_types(fn.abi)
        decoded = contract.w3.codec.decode(types, data[4:])
    except (DecodingError, ValueError) as exc:
        raise ValueError(f"not a decodable call of the contract: {str(exc)[:160]}") from None
    return fn.fn_name, dict(named_tree(fn.abi["inputs"], map_abi_data(BASE_RETURN_NORMALIZERS, types, decoded)))


def decode_prove(data: bytes) -> dict[str, Any]:
    """The arguments of a prove(gameId, state, proof) call `data`, read as solc reads calldata (padding bytes
    unchecked: anyone may send a game's proof, and its 186-byte state leaves six). ValueError past the data's end."""
    args = bytes(data)[4:]
    (s0, n0), (s1, n1) = _array(args, 32, 1), _array(args, 64, 1)
    return {"gameId": _word(args, 0), "state": args[s0:s0 + n0], "proof": args[s1:s1 + n1]}


_LENIENT = {"postEntries": decode_post_entries, "requestBatchData": decode_request_batch_data, "prove": decode_prove}


def _revert_data(exc: Exception) -> bytes:
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return b""
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    # eth-tester sometimes raises TransactionFailed("execution reverted: b'...'") instead.
    message = str(exc.args[0]) if exc.args else ""
    match = re.search(r"execution reverted: (b'.*'|b\".*\")$", message, re.S)
    if match:
        try:
            return bytes(ast.literal_eval(match.group(1)))
        except (ValueError, SyntaxError):
            return b""
    return b""


# --------------------------------------------------------------------------- the wrapper

@dataclass
class System:
    """Typed access to a deployed Optimist contract (and the MIPS contract it calls)."""

    w3: Web3
    address: str
    contract: Contract = field(init=False)
    deploy_block: int = 0          # first block worth scanning for events (set by deploy_system)
    last_receipt: dict[str, Any] | None = field(default=None, init=False)
    fixed_gas: int | None = None   # gas limit for every tx; None = estimate (default except eth-tester)

    def __post_init__(self) -> None:
        if self.fixed_gas is None and getattr(self.w3.provider, "ethereum_tester", None) is not None:
            self.fixed_gas = ETH_TESTER_GAS   # eth-tester's estimate is a slow binary search
        arts = compile_system()
        self.contract = self.w3.eth.contract(address=self.address, abi=arts["Optimist"]["abi"])
        self._errors = _error_table(arts["NodeChecker"]["abi"])   # enterNode's checks revert there
        self._checker_abi = arts["NodeChecker"]["abi"]
        self._errors.update(_error_table(arts["OptimistBatches"]["abi"]))
        self._errors.update(_error_table(arts["Optimist"]["abi"]))
        self._batches_abi = arts["OptimistBatches"]["abi"]
        self._batches: Contract | None = None
        self._checker: Contract | None = None
        self._mips_errors_loaded = False
        self._functions_abi: dict[str, tuple[bytes, list[str], list[str]]] = {}
        self._event_objects: dict[tuple[str, str], Any] = {}
        self._events = {keccak(text=_event_sig(e)): e["name"] for e in arts["Optimist"]["abi"] + self._batches_abi
                        if e.get("type") == "event"}

    # ---- transactions -------------------------------------------------------------------------
    @property
    def batches(self) -> Contract:
        """The OptimistBatches contract this Optimist deployed (batched results, docs/game-rules.md §3a)."""
        if self._batches is None:
            self._batches = self.w3.eth.contract(address=self.contract.functions.batches().call(),
                                                 abi=self._batches_abi)
        return self._batches

    @property
    def checker(self) -> Contract:
        """The NodeChecker contract this Optimist uses (its stateless checks, docs/game-rules.md §4a)."""
        if self._checker is None:
            self._checker = self.w3.eth.contract(address=self.contract.functions.nodeChecker().call(),
                                                 abi=self._checker_abi)
        return self._checker

    def target(self, fn_name: str) -> Contract:
        """The contract a function belongs to: OptimistBatches for postBatch/finalizeBatch, else Optimist."""
        return self.batches if fn_name in BATCH_FUNCTIONS else self.contract

    def _send(self, fn_name: str, *args: Any, sender: str | None = None, value: int = 0) -> dict[str, Any]:
        sender = sender or self.w3.eth.default_account
        fn = getattr(self.target(fn_name).functions, fn_name)(*args)
        params: dict[str, Any] = {"from": sender, "value": value}
        try:
            if self.fixed_gas is None:
                params["gas"] = int(fn.estimate_gas(params) * GAS_MARGIN) + 10_000
            else:
                params["gas"] = self.fixed_gas
            tx_hash = fn.transact(params)
        except REVERTS as exc:
            raise self._revert(fn_name, exc) from None
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        self.last_receipt = receipt
        if receipt["status"] != 1:
            # Reverted on inclusion (state or time moved since the estimate): replay it to name the error.
            for block in (receipt["blockNumber"], receipt["blockNumber"] - 1):
                try:
                    fn.call(params, block_identifier=block)
                except REVERTS as exc:
                    raise self._revert(fn_name, exc) from None
            raise ContractRevert(fn_name, "Revert", {"tx": receipt["transactionHash"].hex()}, b"")
        return receipt

    def _load_mips_errors(self) -> None:
        self._mips_errors_loaded = True
        try:
            from contracts.evm import compile_mips
            self._errors.update(_error_table(compile_mips().get("MIPS", {}).get("abi", [])))
        except Exception:  # naming MIPS errors is a nicety; the raw data is kept
            pass

    def _call(self, fn_name: str, *args: Any) -> Any:
        try:
            return getattr(self.target(fn_name).functions, fn_name)(*args).call()
        except REVERTS as exc:
            raise self._revert(fn_name, exc) from None

    def _revert(self, fn_name: str, exc: Exception) -> ContractRevert:
        data = _revert_data(exc)
        if data[:4] and data[:4] not in self._errors and not self._mips_errors_loaded:
            self._load_mips_errors()   # a revert bubbled up from MIPS.step
        name, args = decode_revert(data, self._errors)
        if name == "Revert" and not data:
            args = {"message": f"{type(exc).__name__}: {exc}"}
        return ContractRevert(fn_name, name, args, data)

    def _event_arg(self, receipt: dict[str, Any], event: str, arg: str) -> Any:
        for ev in self.decode_logs(receipt["logs"]):
            if ev.name == event:
                return ev.args[arg]
        raise OptimistError(f"{event} not found in receipt {receipt['transactionHash'].hex()}")

    def register_model(self, image: ModelImage, *, sender: str | None = None) -> int:
        """Register a model image; returns the model id."""
        receipt = self._send("registerModel", image.spec(), list(image.input_path), sender=sender)
        return self._event_arg(receipt, "ModelRegistered", "modelId")

    def register_graph_model(self, spec: GraphModelSpec, *, sender: str | None = None) -> int:
        """Register a graph model (two-phase games, docs/two-phase.md); returns the model id."""
        if len(spec.nodes_root) != 32 or len(spec.model_hash) != 32:
            raise ValueError("nodes_root and model_hash must be 32 bytes")
        receipt = self._send("registerGraphModel", spec.spec(), sender=sender)
        return self._event_arg(receipt, "GraphModelRegistered", "modelId")

    def request(self, model_id: int, input_bytes: bytes, fee: int = 0, *, sender: str | None = None,
                deadline: int | None = None, callback: str | None = None, callback_gas: int = 200_000) -> int:
        """Request inference of `model_id` on `input_bytes` paying `fee` wei; returns the request id.
        `deadline` (unix time, at most MAX_REQUEST_TIME ahead): after it the requester may cancel an open
        request; None = the contract's maximum. `callback`: an IOptimistConsumer contract called with
        exactly `callback_gas` gas when the result finalizes (requestWithCallback)."""
        if callback is not None:
            receipt = self._send("requestWithCallback", model_id, bytes(input_bytes), deadline or 0,
                                 Web3.to_checksum_address(callback), callback_gas, sender=sender, value=fee)
        elif deadline is None:
            receipt = self._send("request", model_id, bytes(input_bytes), sender=sender, value=fee)
        else:
            receipt = self._send("requestUntil", model_id, bytes(input_bytes), deadline, sender=sender, value=fee)
        return self._event_arg(receipt, "RequestCreated", "requestId")

    def cancel_request(self, request_id: int, *, sender: str | None = None) -> int:
        """Requester: cancel an open request after its deadline; returns the fee credited back."""
        receipt = self._send("cancelRequest", request_id, sender=sender)
        return self._event_arg(receipt, "RequestCancelled", "fee")

    def post_result(self, request_id: int, output: bytes, final_state: bytes, output_proof: list[bytes], *,
                    sender: str | None = None, bond: int | None = None) -> int:
        """Post `output`, the packed final state and the output region's path; returns the result id."""
        value = self.params.result_bond if bond is None else bond
        receipt = self._send("postResult", request_id, bytes(output), bytes(final_state), list(output_proof),
                             sender=sender, value=value)
        return self._event_arg(receipt, "ResultPosted", "resultId")

    def post_graph_result(self, request_id: int, output: bytes, final_commitment: bytes, slot_proof: list[bytes],
                          *, sender: str | None = None, bond: int | None = None) -> int:
        """A graph model's result: `output`, C_m (32 bytes) and the slot proof of tensor_root(output) at
        slot m (16 siblings, bottom-up); returns the result id."""
        if len(final_commitment) != 32:
            raise ValueError(f"final_commitment (C_m) must be 32 bytes, got {len(final_commitment)}")
        return self.post_result(request_id, output, final_commitment, slot_proof, sender=sender, bond=bond)

    def post_graph_failure(self, request_id: int, claim: bytes, *, sender: str | None = None,
                           bond: int | None = None) -> int:
        """A graph model's Failure / NoHalt result: `claim` is C_{j-1} (32 bytes), the failed node j as a
        32-byte word and node j's packed final state (`minidnn.phase1.failure_claim`); no output. Returns
        the result id."""
        return self.post_result(request_id, b"", claim, [], sender=sender, bond=bond)

    def post_batch(self, model_id: int, claims: list[Claim], *, sender: str | None = None,
                   bond: int | None = None) -> int:
        """Post results for many open requests of `model_id` in one transaction (OptimistBatches.postBatch,
        `result_bond` per claim); returns the batch id. Leaf i's result id is `leaf_result_id(batch, i)`."""
        value = self.params.result_bond * len(claims) if bond is None else bond
        receipt = self._send("postBatch", model_id, [c.as_tuple() for c in claims], sender=sender, value=value)
        return self._event_arg(receipt, "BatchPosted", "batchId")

    def dispute_leaf(self, batch_id: int, index: int, leaf: Leaf, proof: list[bytes], *, sender: str | None = None,
                     bond: int | None = None, input_root: bytes = bytes(32), input_proof: list[bytes] | None = None
                     ) -> int:
        """Dispute leaf `index` of a batch (its fields and inclusion proof) with the challenge bond: the leaf
        becomes a pending result and a game opens on it; returns the game id. A leaf of an entry batch also
        needs its entry's input root and that root's proof in the request batch's inputs root (§3b)."""
        value = self.params.challenge_bond if bond is None else bond
        receipt = self._send("disputeLeaf", batch_id, index, leaf.as_tuple(), [bytes(p) for p in proof],
                             bytes(input_root), [bytes(p) for p in input_proof or []], sender=sender, value=value)
        return self._event_arg(receipt, "GameOpened", "gameId")

    def request_batch(self, model_id: int, input_roots: list[bytes], fee: int = 0, *, deadline: int | None = None,
                      sender: str | None = None) -> int:
        """Many requests by their input roots (OptimistBatches.requestBatch; `fee` is the total, divisible by the
        count); the bytes travel elsewhere (`request_batch_blobs` sends them in blobs). Returns its id."""
        receipt = self._send("requestBatch", model_id, [bytes(h) for h in input_roots], self._deadline(deadline),
                             sender=sender, value=fee)
        return self._event_arg(receipt, "RequestBatchPosted", "requestBatchId")

    def request_batch_data(self, model_id: int, inputs: list[bytes], fee: int = 0, *, deadline: int | None = None,
                           sender: str | None = None) -> int:
        """Many requests with the inputs in the calldata (OptimistBatches.requestBatchData, their roots computed
        here for the model's input length); returns its id."""
        roots = input_roots(inputs, self.batch_input_length(model_id))
        receipt = self._send("requestBatchData", model_id, roots, [bytes(x) for x in inputs],
                             self._deadline(deadline), sender=sender, value=fee)
        return self._event_arg(receipt, "RequestBatchPosted", "requestBatchId")

    def request_batch_blobs(self, model_id: int, inputs: list[bytes], fee: int, private_key: bytes | str, *,
                            deadline: int | None = None) -> int:
        """requestBatch with the inputs' bytes in the transaction's blobs (contracts.blobs layout), signed with
        `private_key` (a node with blob support: anvil); returns the request batch id."""
        from contracts.blobs import pack_blobs

        fn = self.batches.functions.requestBatch(model_id, input_roots(inputs, self.batch_input_length(model_id)),
                                                 self._deadline(deadline))
        receipt = self._send_blobs("requestBatch", fn, private_key, pack_blobs(inputs), fee)
        return self._event_arg(receipt, "RequestBatchPosted", "requestBatchId")

    def post_entries(self, request_batch_id: int, leaves: list[EntryLeaf], outputs: list[bytes] | None = None, *,
                     sender: str | None = None, bond: int | None = None, private_key: bytes | str | None = None,
                     blob_outputs: list[bytes] | None = None) -> int:
        """Answer entries of a request batch (OptimistBatches.postEntries, `result_bond` per leaf); `outputs` in
        the calldata, or `blob_outputs` in blobs (needs `private_key`). Returns the batch id."""
        value = self.params.result_bond * len(leaves) if bond is None else bond
        args = (request_batch_id, [x.as_tuple() for x in leaves], [bytes(o) for o in outputs or []])
        if blob_outputs is not None:
            from contracts.blobs import pack_blobs

            if private_key is None:
                raise ValueError("blob outputs need the sender's private key (a type-3 transaction is signed)")
            receipt = self._send_blobs("postEntries", self.batches.functions.postEntries(*args), private_key,
                                       pack_blobs(blob_outputs), value)
        else:
            receipt = self._send("postEntries", *args, sender=sender, value=value)
        return self._event_arg(receipt, "EntriesPosted", "batchId")

    def finalize_entries(self, batch_id: int, *, sender: str | None = None) -> dict[str, Any]:
        """After the window: finalize an entry batch (every leaf not disputed) in one O(1) call."""
        return self._send("finalizeEntries", batch_id, sender=sender)

    def reject_entry(self, batch_id: int, index: int, leaf: Leaf, proof: list[bytes], input_root: bytes,
                     input_proof: list[bytes], final_state: bytes = b"", output_region: bytes = b"",
                     output_proof: list[bytes] | None = None, *, input_region: bytes = b"",
                     sender: str | None = None) -> dict[str, Any]:
        """Reject an entry batch's leaf without a game (§3b): its input is malformed (`input_region`: the bytes of
        the input root's region, a non-zero one past the input length), or it contradicts `final_state` (its
        finalStateHash's preimage) with the output (or its whole region) proven in it; a graph model's C_m with the
        output's tensor root (32 bytes) and its slot proof (OptimistBatches.Rejection)."""
        rejection = (bytes(input_root), [bytes(p) for p in input_proof], bytes(input_region), bytes(final_state),
                     bytes(output_region), [bytes(p) for p in output_proof or []])
        return self._send("rejectEntry", batch_id, index, leaf.as_tuple(), [bytes(p) for p in proof], rejection,
                          sender=sender)

    def cancel_entries(self, request_batch_id: int, *, sender: str | None = None) -> int:
        """Requester, after the deadline: cancel the entries nobody took; returns how many."""
        receipt = self._send("cancelEntries", request_batch_id, sender=sender)
        return self._event_arg(receipt, "EntriesCancelled", "count")

    def request_batch_info(self, request_batch_id: int) -> RequestBatchInfo:
        """A request batch (ContractRevert UnknownRequestBatch if none)."""
        raw = self.batches.functions.requestBatches(request_batch_id).call()
        if raw[2] == 0:
            raise ContractRevert("requestBatches", "UnknownRequestBatch", {"requestBatchId": request_batch_id}, b"")
        return RequestBatchInfo(request_batch_id, raw[0], raw[1], raw[2], raw[3], raw[4], bool(raw[5]), raw[6],
                                bytes(raw[9]), bool(raw[7]), raw[8])

    def leaf_outcome(self, batch_id: int, index: int, leaf: Leaf, proof: list[bytes]) -> tuple[Any, ...]:
        """(request id, outcome, exit code, steps, output hash) of a finalized batch leaf, proven by the leaf and its
        inclusion proof (an entry's request id is its entry ref)."""
        return tuple(self._call("leafOutcome", batch_id, index, leaf.as_tuple(), [bytes(p) for p in proof]))

    def entry_taken(self, request_batch_id: int, index: int) -> bool:
        return bool(self._call("entryTaken", request_batch_id, index))

    def _deadline(self, deadline: int | None) -> int:
        if deadline is not None:
            return deadline
        return int(self.w3.eth.get_block("latest")["timestamp"]) + 30 * 86400 - 60

    def _send_blobs(self, fn_name: str, fn: Any, private_key: bytes | str, blobs: list[bytes],
                    value: int) -> dict[str, Any]:
        from contracts.blobs import send_blob_call

        try:
            receipt = send_blob_call(self.w3, fn, private_key, blobs, value=value)
        except REVERTS as exc:
            raise self._revert(fn_name, exc) from None
        self.last_receipt = receipt
        if receipt["status"] != 1:
            raise ContractRevert(fn_name, "Revert", {"tx": receipt["transactionHash"].hex()}, b"")
        return receipt

    def finalize_batch(self, batch_id: int, leaves: list[Leaf], *, sender: str | None = None) -> dict[str, Any]:
        """After the window: finalize every undisputed leaf of a batch (`leaves`: all of them, in order)."""
        return self._send("finalizeBatch", batch_id, [leaf.as_tuple() for leaf in leaves], sender=sender)

    def batch(self, batch_id: int) -> BatchInfo:
        """A posted batch (ContractRevert UnknownBatch if none)."""
        raw = self.batches.functions.batches(batch_id).call()
        if raw[2] == 0:
            raise ContractRevert("batches", "UnknownBatch", {"batchId": batch_id}, b"")
        return BatchInfo(batch_id, *raw[:5], bool(raw[5]), raw[6], bytes(raw[7]))

    def batch_posted(self, batch_id: int, block: int | None = None,
                     read_block: Callable[[int], list[Event]] | None = None,
                     graph_of: Callable[[int], bool] | None = None) -> tuple[list[Leaf], list[bytes]]:
        """(leaves, outputs) of result batch `batch_id` (postBatch), in order, from the ResultPosted events of its
        posting transaction (which may post other batches too: a contract's), checked against its BatchPosted's
        count and root. `block`: the posting block (else looked up from `deploy_block` on, after checking the batch
        exists and is no entry batch); `read_block(block)`: that block's events (default `events_since(block,
        block)`; a daemon passes its retrying RPC); `graph_of(model_id)`: whether the batch's model is a graph model
        (default `is_graph_model`; its Success leaves commit their outputs by tensor root). ContractRevert
        UnknownBatch; ValueError for an entry batch (its leaves are in its postEntries calldata:
        contracts.batches.posted_entries) or when the events are not readable or do not hash to the root."""
        if block is None:
            info = self.batch(batch_id)
            if info.request_batch:
                raise ValueError(f"batch {batch_id} is an entry batch: its leaves are in its postEntries calldata")
            logs = self.batches.events.BatchPosted().get_logs(from_block=self.deploy_block,
                                                              argument_filters={"batchId": batch_id})
            if len(logs) != 1:
                raise ValueError(f"{len(logs)} BatchPosted events of batch {batch_id} since block {self.deploy_block} "
                                 "(pass the deployment block as from_block)")
            block = int(logs[0]["blockNumber"])
        events = (read_block or (lambda b: self.events_since(b, b)))(block)
        posted = [e for e in events if e.name == "BatchPosted" and e["batchId"] == batch_id]
        if len(posted) != 1:
            raise ValueError(f"block {block} holds {len(posted)} BatchPosted events of batch {batch_id}")
        count = posted[0]["count"]
        found = {leaf_position(e["resultId"])[1]: e.args for e in events
                 if e.name == "ResultPosted" and is_leaf(e["resultId"]) and leaf_position(e["resultId"])[0] == batch_id
                 and e.tx_hash == posted[0].tx_hash}
        if sorted(found) != list(range(count)):
            raise ValueError(f"batch {batch_id} has {count} leaves; block {block} holds ResultPosted events of "
                             f"{len(found)} of them")
        args = [found[i] for i in range(count)]
        graph = (graph_of or self.is_graph_model)(int(posted[0]["modelId"]))
        leaves = [Leaf.from_posted(a, graph=graph) for a in args]
        if batch_root([x.hash() for x in leaves]) != bytes(posted[0]["root"]):
            raise ValueError(f"the ResultPosted events of batch {batch_id} do not hash to its root")
        return leaves, [bytes(a["output"]) for a in args]

    def enter_node(self, game_id: int, entry: NodeEntry, *, sender: str | None = None) -> dict[str, Any]:
        """Defender, in the Transition phase: enter the disputed node (phase 2 starts on the same game)."""
        return self._send("enterNode", game_id, *entry.args(), sender=sender)

    def open_game(self, result_id: int, *, sender: str | None = None, bond: int | None = None) -> int:
        """Dispute `result_id` with the challenge bond; returns the game id."""
        value = self.params.challenge_bond if bond is None else bond
        receipt = self._send("openGame", result_id, sender=sender, value=value)
        return self._event_arg(receipt, "GameOpened", "gameId")

    def post_midpoint(self, game_id: int, mid: int, mid_hash: bytes, *, sender: str | None = None
                      ) -> dict[str, Any]:
        """Defender: the state hash at step `mid` (must be the game's current midpoint)."""
        return self._send("postMidpoint", game_id, mid, mid_hash, sender=sender)

    def respond(self, game_id: int, mid: int, agree: bool, *, sender: str | None = None) -> dict[str, Any]:
        """Challenger: agree or disagree with the defender's hash at step `mid`."""
        return self._send("respond", game_id, mid, agree, sender=sender)

    def prove(self, game_id: int, state: bytes, proof: bytes, *, sender: str | None = None) -> dict[str, Any]:
        """One-step proof: packed pre-state at `lo` and its witness proof (fetch proof || data proof if used)."""
        return self._send("prove", game_id, bytes(state), bytes(proof), sender=sender)

    def timeout(self, game_id: int, *, sender: str | None = None) -> dict[str, Any]:
        """End a game whose side to move ran out of time."""
        return self._send("timeout", game_id, sender=sender)

    def cancel_game(self, game_id: int, *, sender: str | None = None) -> dict[str, Any]:
        """Close a game whose result was rejected by another game (refunds its challenger)."""
        return self._send("cancelGame", game_id, sender=sender)

    def finalize(self, result_id: int, *, sender: str | None = None, output: bytes | None = None
                 ) -> dict[str, Any]:
        """Accept a result after its window with no open game. `output` (the posted output bytes, checked
        against the stored hash) goes to finalizeWithOutput: a request with a callback needs it."""
        if output is not None:
            return self._send("finalizeWithOutput", result_id, bytes(output), sender=sender)
        return self._send("finalize", result_id, sender=sender)

    def send_burn(self, *, sender: str | None = None) -> int:
        """Send the burnt wei not sent yet to BURN_ADDRESS (anyone); returns the amount."""
        receipt = self._send("sendBurn", sender=sender)
        return self._event_arg(receipt, "BurnSent", "amount")

    def withdraw(self, *, sender: str | None = None) -> int:
        """Take everything credited to `sender`; returns the amount in wei."""
        receipt = self._send("withdraw", sender=sender)
        return self._event_arg(receipt, "Withdrawn", "amount")

    # ---- views ----------------------------------------------------------------------------------
    @property
    def params(self) -> Params:
        if not hasattr(self, "_params"):
            f = self.contract.functions
            self._params = Params(f.challengeWindow().call(), f.clock().call(), f.resultBond().call(),
                                  f.challengeBond().call(), f.mips().call(), f.burnBps().call(),
                                  f.reopenDelay().call())
        return self._params

    def batch_input_length(self, model_id: int) -> int:
        """The input length of a request batch's entries of `model_id`: a program model's inputLength or a graph
        model's (ContractRevert UnknownModel if neither)."""
        m = self.contract.functions.models(model_id).call()
        if m[0] != "0x" + "00" * 20:
            return m[3]
        return self.graph_model(model_id).input_length

    def model(self, model_id: int) -> ModelInfo:
        return self.model_info(model_id, self.contract.functions.models(model_id).call())

    def model_info(self, model_id: int, m: tuple[Any, ...]) -> ModelInfo:
        """A ModelInfo from the raw `models(model_id)` view."""
        if m[0] == "0x" + "00" * 20:
            raise ContractRevert("models", "UnknownModel", {"modelId": model_id}, b"")
        (_, entry, in_base, in_len, owner, out_base, out_size, out_len, image_root, model_hash, in_size,
         max_steps, uri) = m
        return ModelInfo(model_id, owner, image_root, model_hash, entry, in_base, in_size, in_len, out_base,
                         out_size, out_len, uri, max_steps)

    def node_checker_failure_hash(self, prev: bytes, j: int, final_state_hash: bytes) -> bytes:
        """NodeChecker.failureHash: C_j after node j failed (docs/two-phase.md §3a)."""
        return bytes(self.checker.functions.failureHash(prev, j, final_state_hash).call())

    def check_node_entry(self, nodes_root: bytes, prev: bytes, next_: bytes, entry: NodeEntry, *,
                         node_count: int = 0, period: int = 0, steps: int = 0) -> tuple[bytes, bytes, int]:
        """Dry-run enterNode's checks (NodeChecker.check, a call) for a transition from C_{j-1} = `prev` to
        C_j = `next_`: (initial state hash I, keccak256(final state), steps) or ContractRevert naming the
        failed check. A generation model's game: its node count, period and the game's unrolled node count
        (docs/two-phase.md §10)."""
        move = abi_encode(ENTER_NODE_TYPES, [0, *entry.args()])
        try:
            shape = (node_count << 128) | (period << 64) | steps
            init, final_hash, steps = self.checker.functions.check(nodes_root, shape, prev, next_, move).call()
        except REVERTS as exc:
            raise self._revert("check", exc) from None
        return bytes(init), bytes(final_hash), steps

    def is_graph_model(self, model_id: int) -> bool:
        """True if `model_id` is a registered graph model (its batch leaves commit outputs by their tensor roots:
        contracts.batches.output_hash); cached once the id is registered (a model never changes kind; an id not yet
        registered is not cached: it may become a graph model)."""
        cache = self.__dict__.setdefault("_graph_kinds", {})
        if model_id not in cache:
            graph = self.contract.functions.graphs(model_id).call()[2] != 0
            if not graph and self.contract.functions.models(model_id).call()[0] == "0x" + "00" * 20:
                return False   # no model yet
            cache[model_id] = graph
        return bool(cache[model_id])

    def graph_model(self, model_id: int) -> GraphModelInfo:
        """A registered graph model (ContractRevert UnknownModel if `model_id` is not one)."""
        nodes_root, owner, node_count, input_length, output_length, period, model_hash, uri = \
            self.contract.functions.graphs(model_id).call()
        if node_count == 0:
            raise ContractRevert("graphs", "UnknownModel", {"modelId": model_id}, b"")
        return GraphModelInfo(model_id, owner, nodes_root, node_count, input_length, output_length, model_hash,
                              uri, period)

    def output_proof(self, model_id: int, final_memory: Memory) -> list[bytes]:
        """The `output_proof` argument of post_result: the model's output region path in `final_memory`."""
        m = self.model(model_id)
        return region_path(final_memory, m.output_base, m.output_size)

    def input_path(self, model_id: int) -> list[bytes]:
        return list(self._call("inputPathOf", model_id))

    def initial_state_hash(self, model_id: int, input_bytes: bytes) -> bytes:
        """The initial state hash of a request (C_0 for a graph model)."""
        return self._call("initialStateHash", model_id, bytes(input_bytes))

    def get_request(self, request_id: int) -> RequestInfo:
        return self.request_info(request_id, self.contract.functions.requests(request_id).call())

    def request_info(self, request_id: int, raw: tuple[Any, ...]) -> RequestInfo:
        """A RequestInfo from the raw `requests(request_id)` view."""
        (requester, model_id, callback_gas, fee, status, result_id, deadline, reopen_at, callback, init) = raw
        return RequestInfo(request_id, requester, RequestStatus(status), model_id, fee, result_id, init,
                           deadline, reopen_at, callback, callback_gas)

    def result(self, result_id: int) -> ResultInfo:
        return self.result_info(result_id, self.contract.functions.results(result_id).call())

    def result_info(self, result_id: int, raw: tuple[Any, ...]) -> ResultInfo:
        """A ResultInfo from the raw `results(result_id)` view."""
        (operator, status, outcome, exit_code, graph, posted_at, request_id, steps, open_games, sharers, defended,
         final_hash, output_hash) = raw
        bond = self.params.result_bond if status else 0
        return ResultInfo(result_id, operator, ResultStatus(status), open_games, posted_at, request_id, steps,
                          bond, final_hash, output_hash, posted_at + self.params.challenge_window,
                          Outcome(outcome), exit_code, sharers, graph, defended)

    def outcome(self, request_id: int) -> OutcomeInfo:
        """The outcome of a finalized request (ContractRevert RequestNotFinalized otherwise)."""
        try:
            outcome, exit_code, steps, output_hash, result_id = self._call("outcomeOf", request_id)
        except ContractRevert as exc:
            if exc.name != "OutcomeInBatch":
                raise
            return self._leaf_outcome(exc.fields["resultId"])
        return OutcomeInfo(Outcome(outcome), exit_code, steps, output_hash, result_id)

    def _leaf_outcome(self, result_id: int) -> OutcomeInfo:
        """The outcome of a request finalized as a batch leaf: the contracts store only the batch's root, the leaf's
        fields are in its ResultPosted (emitted once per leaf id, by OptimistBatches) or, for an entry leaf, in its
        postEntries calldata (or its disputes' calldata). ContractRevert OutcomeInBatch when none is readable."""
        logs = self.batches.events.ResultPosted().get_logs(from_block=self.deploy_block,
                                                           argument_filters={"resultId": result_id})
        batch_id, index = leaf_position(result_id)
        leaf = Leaf.from_posted(dict(logs[0]["args"]), graph=self.is_graph_model(self.batch(batch_id).model_id)) \
            if logs else None
        if leaf is None:
            try:
                leaf = self.entry_batch_leaves(batch_id)[index]
            except (ValueError, ContractRevert, IndexError):
                leaf = self.disputed_leaf(result_id)
        if leaf is None:
            raise ContractRevert("outcomeOf", "OutcomeInBatch", {"resultId": result_id}, b"")
        return OutcomeInfo(Outcome(leaf.outcome), leaf.exit_code, leaf.steps, leaf.output_hash, result_id)

    def entry_batch_leaves(self, batch_id: int) -> list[Leaf]:
        """The leaves of entry batch `batch_id`, in order, from its postEntries calldata (postEntries takes only a
        direct call), checked against the batch's root (contracts.batches.posted_entries). ValueError when they are
        not readable (or not an entry batch), ContractRevert UnknownBatch."""
        info = self.batch(batch_id)
        if not info.request_batch:
            raise ValueError(f"batch {batch_id} is no entry batch")
        logs = self.batches.events.EntriesPosted().get_logs(from_block=self.deploy_block,
                                                            argument_filters={"batchId": batch_id})
        if len(logs) != 1:
            raise ValueError(f"{len(logs)} EntriesPosted events of batch {batch_id} since block {self.deploy_block}")
        call = decode_call(self.batches, self.w3.eth.get_transaction(logs[0]["transactionHash"])["input"])
        leaves, _ = posted_entries(call, info.request_batch, info.root)
        return [x.leaf(info.request_batch) for x in leaves]

    def disputed_leaf(self, result_id: int) -> Leaf | None:
        """The leaf a disputeLeaf transaction brought into Optimist as `result_id` (the first of its games'
        transactions that is a readable direct disputeLeaf call: the contract accepted each with the leaf's
        inclusion proof); None if the leaf was never disputed or no such transaction is readable (contracts' calls,
        calldata that solc takes and web3's decoder refuses)."""
        logs = self.contract.events.GameOpened().get_logs(from_block=self.deploy_block,
                                                         argument_filters={"resultId": result_id})
        for log in logs:
            tx = self.w3.eth.get_transaction(log["transactionHash"])
            try:
                fn, args = decode_call(self.contract, tx["input"])
            except ValueError:
                continue
            if fn != "disputeLeaf" or leaf_result_id(args["batchId"], args["index"]) != result_id:
                continue
            return Leaf.from_args(args["leaf"])
        return None

    def burned(self) -> int:
        """Total wei burnt from losing bonds (settled games; `burn_sent()` of it is at BURN_ADDRESS)."""
        return self.contract.functions.burned().call()

    def burn_sent(self) -> int:
        """Wei of `burned()` already sent to BURN_ADDRESS (`send_burn`)."""
        return self.contract.functions.burnSent().call()

    def is_barred(self, request_id: int, operator: str) -> bool:
        """True once a result of `operator` on `request_id` was rejected: it cannot post there again."""
        return self.contract.functions.barred(request_id, operator).call()

    def game(self, game_id: int) -> GameInfo:
        return self.game_info(game_id, self.contract.functions.games(game_id).call())

    @staticmethod
    def game_info(game_id: int, g: tuple[Any, ...]) -> GameInfo:
        """A GameInfo from the raw `games(game_id)` view."""
        return GameInfo(game_id, g[0], GameStatus(g[1]), Phase(g[2]), g[3], bool(g[4]), *g[5:])

    def clock_deadline(self, game_id: int) -> int:
        """Timestamp after which the side to move loses by timeout."""
        return self.contract.functions.clockDeadline(game_id).call()

    def game_of(self, result_id: int, challenger: str) -> int:
        """The game `challenger` opened on `result_id` (0 if none)."""
        return self.contract.functions.gameOf(result_id, challenger).call()

    def balance(self, account: str) -> int:
        """Wei credited to `account` and not yet withdrawn."""
        return self.contract.functions.balances(account).call()

    def counts(self) -> tuple[int, int, int, int]:
        """(models, requests, results, games) created so far (ids run 1..count)."""
        f = self.contract.functions
        return (f.modelCount().call(), f.requestCount().call(), f.resultCount().call(), f.gameCount().call())

    # ---- views by name (batched reads: challenger.client) ---------------------------------------
    def _function_abi(self, fn_name: str) -> tuple[bytes, list[str], list[str]]:
        """(selector, input types, output types) of a function, looked up once (web3 validates the
        whole ABI on every contract-function object it builds, which costs more than the encoding)."""
        if fn_name not in self._functions_abi:
            abi = self.target(fn_name).get_function_by_name(fn_name).abi
            inputs = get_abi_input_types(abi)
            selector = keccak(text=f"{fn_name}({','.join(inputs)})")[:4]
            self._functions_abi[fn_name] = (selector, inputs, get_abi_output_types(abi))
        return self._functions_abi[fn_name]

    def call_data(self, fn_name: str, *args: Any) -> str:
        """The calldata (0x-hex) of `fn_name(*args)`."""
        selector, inputs, _ = self._function_abi(fn_name)
        return "0x" + (selector + self.w3.codec.encode(inputs, args)).hex()

    def view_call(self, fn_name: str, *args: Any) -> dict[str, str]:
        """The eth_call transaction ({to, data}) of the view `fn_name(*args)`."""
        return {"to": self.target(fn_name).address, "data": self.call_data(fn_name, *args)}

    def decode_view(self, fn_name: str, data: bytes) -> Any:
        """The return value of the view `fn_name` from its raw eth_call output, as `.call()` gives it."""
        types = self._function_abi(fn_name)[2]
        values = map_abi_data(BASE_RETURN_NORMALIZERS, types, self.w3.codec.decode(types, bytes(data)))
        return values[0] if len(values) == 1 else values

    # ---- events ---------------------------------------------------------------------------------
    def log_addresses(self) -> list[str]:
        """The addresses whose events make up this deployment's log: Optimist and OptimistBatches."""
        return [self.address, self.batches.address]

    def decode_logs(self, logs: list[Any]) -> list[Event]:
        """Decode the logs this contract emitted, in order; others are skipped."""
        out = []
        ours = {self.address.lower(): self.contract}
        if logs:
            ours[self.batches.address.lower()] = self.batches
        for log in logs:
            contract = ours.get(log["address"].lower())
            if contract is None or not log["topics"]:
                continue
            name = self._events.get(bytes(log["topics"][0]))
            if name is None:
                continue
            if (name, contract.address) not in self._event_objects:
                self._event_objects[name, contract.address] = getattr(contract.events, name)()
            ev = self._event_objects[name, contract.address].process_log(log)
            out.append(Event(name, {k: _plain(v) for k, v in ev["args"].items()}, ev["blockNumber"],
                             bytes(ev["transactionHash"]), ev["logIndex"]))
        return out

    def events_since(self, from_block: int, to_block: int | str = "latest") -> list[Event]:
        """Every Optimist (and OptimistBatches) event in blocks [from_block, to_block], in chain order."""
        logs = self.w3.eth.get_logs({"address": self.log_addresses(), "fromBlock": from_block, "toBlock": to_block})
        return self.decode_logs(list(logs))


def _event_sig(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(_abi_type(i) for i in item['inputs'])})"


def _plain(v: Any) -> Any:
    return bytes(v) if isinstance(v, HexBytes | bytes) else v


def advance_time(w3: Web3, seconds: int) -> int:
    """Move the chain's clock forward by `seconds` and mine a block (eth-tester or anvil); returns its time."""
    now = w3.eth.get_block("latest")["timestamp"]
    tester = getattr(w3.provider, "ethereum_tester", None)
    if tester is not None:
        tester.time_travel(now + seconds)
    else:
        w3.provider.make_request("evm_increaseTime", [seconds])
        w3.provider.make_request("evm_mine", [])
    return w3.eth.get_block("latest")["timestamp"]
