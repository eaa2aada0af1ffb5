"""Batched results and requests (contracts/src/OptimistBatches.sol, docs/game-rules.md §3a, §3b): leaves, roots,
proofs, ids.

Off-chain mirrors of what the contracts compute: a leaf is keccak256(abi.encode(requestId, finalStateHash,
outputHash, steps, outcome, exitCode)), its outputHash keccak256(output) or, for a graph model's output, the output's
tensor root (`output_hash`); a batch's root is the Merkle root of its leaves padded with zero
leaves to a power of two (node = keccak256(left || right)); leaf i of batch b has the result id
BATCH_FLAG | b << INDEX_BITS | i. Entry i of request batch r is the request ENTRY_FLAG | r << INDEX_BITS | i; a
request batch's inputs root is the same tree over its inputs' roots: an input's root is the memory-tree root of
the region of region_size(inputLength) bytes holding it, zero-padded (the contract computes an entry's initial
state from it, without the bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode

from mipsvm.layout import region_size
from mipsvm.memory import keccak256, zero_hash
from mipsvm.regions import region_root, tensor_root

BATCH_FLAG = 1 << 62   # result ids stay below 2**63 (SQLite integers)
INDEX_BITS = 16
MAX_BATCH = 1024
ENTRY_FLAG = 1 << 61   # request ids of request-batch entries (docs/game-rules.md §3b)
# sent to OptimistBatches, not Optimist
BATCH_FUNCTIONS = frozenset({"postBatch", "finalizeBatch", "requestBatch", "requestBatchData", "postEntries",
                             "finalizeEntries", "rejectEntry", "cancelEntries", "leafOutcome", "entryTaken",
                             "entryBarred", "requestBatches", "entryReopenAt"})


@dataclass(frozen=True)
class Claim:
    """One result of a batch as postBatch takes it (postResult's arguments)."""

    request_id: int
    output: bytes
    final_state: bytes
    output_proof: list[bytes]

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.request_id, bytes(self.output), bytes(self.final_state), [bytes(p) for p in self.output_proof])


@dataclass(frozen=True)
class Leaf:
    """One committed result of a batch (OptimistBatches.Leaf)."""

    request_id: int
    final_state_hash: bytes
    output_hash: bytes
    steps: int
    outcome: int
    exit_code: int

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.request_id, bytes(self.final_state_hash), bytes(self.output_hash), self.steps,
                int(self.outcome), self.exit_code)

    def hash(self) -> bytes:
        """The Merkle leaf: keccak256(abi.encode(leaf))."""
        return keccak256(abi_encode(["uint256", "bytes32", "bytes32", "uint64", "uint8", "uint8"], self.as_tuple()))

    @classmethod
    def from_args(cls, x: Any) -> Leaf:
        """A Leaf of decoded calldata (disputeLeaf's `leaf`: a dict or a tuple)."""
        if isinstance(x, dict):
            x = (x["requestId"], x["finalStateHash"], x["outputHash"], x["steps"], x["outcome"], x["exitCode"])
        return cls(x[0], bytes(x[1]), bytes(x[2]), x[3], x[4], x[5])

    @classmethod
    def from_posted(cls, args: dict[str, Any], *, graph: bool) -> Leaf:
        """The leaf of a ResultPosted event's arguments (its output bytes hashed by `output_hash`: `graph` says
        whether the batch's model is a graph model)."""
        return cls(args["requestId"], bytes(args["finalStateHash"]), output_hash(bytes(args["output"]), graph),
                   args["steps"], int(args["outcome"]), args["exitCode"])


def output_hash(output: bytes, graph: bool) -> bytes:
    """A batch leaf's outputHash (OptimistBatches.Leaf): keccak256(output) for a program model; for a graph model's
    output (non-empty: a Success) its tensor root (mipsvm.regions.tensor_root, OptimistBatches.tensorRoot: the value
    of slot m in C_m, docs/two-phase.md §1), which rejectEntry proves with 32 bytes whatever the output's size;
    keccak256(b"") for an empty output either way. A single result (postResult) keeps keccak256(output)."""
    output = bytes(output)
    return tensor_root(output) if graph and output else keccak256(output)


def output_matches(output: bytes, leaf: Leaf | EntryLeaf, graph_output_length: int | None) -> bool:
    """True if `output` is the output `leaf` commits (`output_hash`), as postEntries checks calldata outputs; for a
    graph model (`graph_output_length` its outputLength; None for a program model) a Success's output must also be
    exactly outputLength bytes: a tensor root does not bind the zeros filling its region (the output with zero
    bytes appended, or without its trailing zero bytes, has the same root). Readers of blob outputs (not checked
    on-chain) must use this, not `output_hash` alone."""
    graph = graph_output_length is not None
    if graph and leaf.outcome == 0 and len(output) != graph_output_length:   # 0: Outcome.SUCCESS
        return False
    return output_hash(output, graph) == leaf.output_hash


@dataclass(frozen=True)
class EntryLeaf:
    """One answered entry as postEntries takes it (OptimistBatches.EntryLeaf): the leaf without its request id."""

    index: int                # entry of the request batch
    final_state_hash: bytes
    output_hash: bytes
    steps: int
    outcome: int
    exit_code: int

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.index, bytes(self.final_state_hash), bytes(self.output_hash), self.steps, int(self.outcome),
                self.exit_code)

    @classmethod
    def from_args(cls, x: Any) -> EntryLeaf:
        """An EntryLeaf of decoded postEntries calldata (a dict or a tuple)."""
        if isinstance(x, dict):
            x = (x["index"], x["finalStateHash"], x["outputHash"], x["steps"], x["outcome"], x["exitCode"])
        return cls(x[0], bytes(x[1]), bytes(x[2]), x[3], x[4], x[5])

    def leaf(self, request_batch_id: int) -> Leaf:
        """The Merkle leaf it becomes in a batch answering request batch `request_batch_id`."""
        return Leaf(entry_ref(request_batch_id, self.index), self.final_state_hash, self.output_hash, self.steps,
                    int(self.outcome), self.exit_code)


@dataclass(frozen=True)
class BatchInfo:
    batch_id: int
    operator: str
    posted_at: int
    count: int
    disputed: int             # leaves brought into Optimist by disputeLeaf (or rejected by rejectEntry)
    model_id: int
    settled: bool             # finalizeBatch / finalizeEntries done
    request_batch: int        # an entry batch (postEntries): the request batch it answers; 0 for postBatch
    root: bytes


@dataclass(frozen=True)
class RequestBatchInfo:
    request_batch_id: int
    requester: str
    model_id: int
    count: int
    fee: int                  # wei per entry
    deadline: int
    reopened: bool            # rejectEntry reopened an entry
    max_steps: int
    inputs_root: bytes
    graph: bool               # a graph model's entries: leaves commit outputs by their tensor roots (output_hash)
    output_length: int = 0    # a graph model's outputLength (a Success's output is exactly that long), 0: a program

    @property
    def graph_output_length(self) -> int | None:
        """What output_matches takes: the graph model's outputLength, None for a program model."""
        return self.output_length if self.graph else None


def entry_ref(request_batch_id: int, index: int) -> int:
    """The request id of entry `index` of request batch `request_batch_id`."""
    return ENTRY_FLAG | request_batch_id << INDEX_BITS | index


def is_entry(request_id: int) -> bool:
    """True for the request id of a request-batch entry."""
    return bool(request_id & ENTRY_FLAG)


def entry_position(request_id: int) -> tuple[int, int]:
    """(request batch id, index) of an entry's request id."""
    if not is_entry(request_id):
        raise ValueError(f"request {request_id} is not a request-batch entry")
    return _position(request_id ^ ENTRY_FLAG)


def input_region_size(input_length: int) -> int:
    """Bytes of the region an input root covers: the smallest power of two (>= 32) holding `input_length` bytes."""
    return region_size(input_length)


def input_root(data: bytes, input_length: int) -> bytes:
    """The root of an entry's input bytes for a model of `input_length` input bytes (RegionError if they do not fit
    its region)."""
    return region_root(bytes(data), input_region_size(input_length))


def input_roots(inputs: list[bytes], input_length: int) -> list[bytes]:
    """The roots of a request batch's inputs."""
    return [input_root(x, input_length) for x in inputs]


def entry_input(data: bytes, input_length: int) -> bytes | None:
    """The model input that bytes of an entry stand for: `data` zero-padded or cut to `input_length` (the region,
    and so the root, is the same); None when a byte at or past `input_length` is not zero (a malformed input:
    rejectEntry voids it) or the bytes overflow the region."""
    data = bytes(data)
    if len(data) > input_region_size(input_length) or any(data[input_length:]):
        return None
    return data[:input_length].ljust(input_length, b"\0")


POST_ENTRIES = keccak256(b"postEntries(uint256,(uint256,bytes32,bytes32,uint64,uint8,uint8)[],bytes[])")[:4]
REQUEST_BATCH_DATA = keccak256(b"requestBatchData(uint256,bytes32[],bytes[],uint256)")[:4]


def _word(args: bytes, at: int) -> int:
    """The 32-byte word of call arguments `args` at byte `at` (ValueError past their end)."""
    if at + 32 > len(args):
        raise ValueError(f"the call's data ends before byte {at + 32}")
    return int.from_bytes(args[at:at + 32], "big")


def _array(args: bytes, head: int, item_size: int) -> tuple[int, int]:
    """(start, length) of the dynamic array whose offset is at `head` (items of `item_size` bytes inline)."""
    at = _word(args, head)
    n = _word(args, at)
    if at + 32 + n * item_size > len(args):
        raise ValueError(f"an array of {n} items does not fit the call's data")
    return at + 32, n


def _bytes_array(args: bytes, head: int) -> list[bytes]:
    """The items of the bytes[] whose offset is at `head` (each item's offset counts from the array's first word)."""
    start, n = _array(args, head, 32)
    out = []
    for i in range(n):
        at = start + _word(args, start + 32 * i)
        length = _word(args, at)
        if at + 32 + length > len(args):
            raise ValueError(f"item {i} of a bytes[] does not fit the call's data")
        out.append(args[at + 32:at + 32 + length])
    return out


def decode_post_entries(data: bytes) -> dict[str, Any]:
    """The arguments of a postEntries call `data` (requestBatchId, leaves as tuples, outputs), read as solc reads
    calldata: padding bytes and the offsets' order are not checked (web3's decoder refuses non-zero padding, which
    solc ignores). ValueError if `data` is no postEntries call. posted_entries checks the leaves against the batch's
    root."""
    data = bytes(data)
    if data[:4] != POST_ENTRIES:
        raise ValueError("not a postEntries call")
    args = data[4:]
    start, n = _array(args, 32, 192)
    leaves = []
    for i in range(n):
        f = [_word(args, start + 192 * i + 32 * k) for k in range(6)]
        if f[3] >> 64 or f[4] >> 8 or f[5] >> 8:
            raise ValueError(f"leaf {i} has a field out of its type's range")
        leaves.append((f[0], f[1].to_bytes(32, "big"), f[2].to_bytes(32, "big"), f[3], f[4], f[5]))
    return {"requestBatchId": _word(args, 0), "leaves": leaves, "outputs": _bytes_array(args, 64)}


def posted_entries(call: tuple[str, dict[str, Any]], request_batch_id: int,
                   root: bytes) -> tuple[list[EntryLeaf], list[bytes]]:
    """The leaves and calldata outputs (one per leaf; none when they travel in blobs) of the entry batch answering
    request batch `request_batch_id` whose root is `root` (EntriesPosted's, the batch's), from its transaction's
    input decoded as `call` = (function name, arguments) (contracts.system.decode_call: postEntries read as solc
    reads it). ValueError unless it is a postEntries call of that request batch whose leaves hash to `root`
    (postEntries takes only direct calls, so only a deployment of other contracts gets there)."""
    fn, args = call
    if fn != "postEntries" or args["requestBatchId"] != request_batch_id:
        raise ValueError(f"the transaction calls {fn}, not postEntries({request_batch_id}, ...)")
    leaves = [EntryLeaf.from_args(x) for x in args["leaves"]]
    if not leaves or batch_root([x.leaf(request_batch_id).hash() for x in leaves]) != bytes(root):
        raise ValueError("its leaves do not hash to the batch's root")
    outputs = [bytes(o) for o in args["outputs"]]
    return leaves, outputs if len(outputs) == len(leaves) else []   # postEntries takes n outputs or none


def decode_request_batch_data(data: bytes) -> dict[str, Any]:
    """The arguments of a requestBatchData call `data`, read as decode_post_entries reads postEntries (check each
    input against its root). ValueError if `data` is no requestBatchData call."""
    data = bytes(data)
    if data[:4] != REQUEST_BATCH_DATA:
        raise ValueError("not a requestBatchData call")
    args = data[4:]
    start, n = _array(args, 32, 32)
    roots = [args[start + 32 * i:start + 32 * i + 32] for i in range(n)]
    return {"modelId": _word(args, 0), "inputRoots": roots, "inputs": _bytes_array(args, 64),
            "deadline": _word(args, 96)}


def inputs_root(roots: list[bytes]) -> bytes:
    """A request batch's inputs root: the batch tree over its inputs' roots."""
    return batch_root(roots)


def input_proof(roots: list[bytes], index: int) -> list[bytes]:
    """The inclusion proof of entry `index`'s input root in the inputs root."""
    return leaf_proof(roots, index)


def leaf_result_id(batch_id: int, index: int) -> int:
    """The result id of leaf `index` of batch `batch_id`."""
    return BATCH_FLAG | batch_id << INDEX_BITS | index


def is_leaf(result_id: int) -> bool:
    """True for the result id of a batch leaf."""
    return bool(result_id & BATCH_FLAG)


def leaf_position(result_id: int) -> tuple[int, int]:
    """(batch id, index) of a leaf's result id."""
    if not is_leaf(result_id):
        raise ValueError(f"result {result_id} is not a batch leaf")
    return _position(result_id ^ BATCH_FLAG)


def _position(unflagged: int) -> tuple[int, int]:
    """(batch id, index) of an id `batch << INDEX_BITS | index` without its flag."""
    return unflagged >> INDEX_BITS, unflagged & ((1 << INDEX_BITS) - 1)


def depth_of(count: int) -> int:
    """Levels of a batch tree of `count` leaves (every proof's length): ceil(log2(count))."""
    depth = 0
    while (1 << depth) < count:
        depth += 1
    return depth


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """The tree bottom-up: level 0 the leaves, each level padded on the right with the zero subtree."""
    if not leaves:
        raise ValueError("a batch has at least one leaf")
    levels = [list(leaves)]
    height = 0
    while len(levels[-1]) > 1:
        nodes = levels[-1] + ([zero_hash(height)] if len(levels[-1]) % 2 else [])
        levels.append([keccak256(nodes[i] + nodes[i + 1]) for i in range(0, len(nodes), 2)])
        height += 1
    return levels


def batch_root(leaf_hashes: list[bytes]) -> bytes:
    """OptimistBatches.rootOf."""
    return _levels(leaf_hashes)[-1][0]


def leaf_proof(leaf_hashes: list[bytes], index: int) -> list[bytes]:
    """The inclusion proof of leaf `index` (siblings bottom-up, depth_of(len) of them)."""
    if not 0 <= index < len(leaf_hashes):
        raise ValueError(f"leaf index {index} outside 0..{len(leaf_hashes) - 1}")
    proof = []
    for height, nodes in enumerate(_levels(leaf_hashes)[:-1]):
        sibling = index ^ 1
        proof.append(nodes[sibling] if sibling < len(nodes) else zero_hash(height))
        index >>= 1
    return proof
