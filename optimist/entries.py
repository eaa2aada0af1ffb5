"""Request batches for dapps (docs/game-rules.md §3b): submit many inputs at once, follow and read each entry.

`submit_request_batch` checks everything the contract would refuse (unknown or generation model, input lengths, batch
size, a fee that does not split evenly, blobs on a chain without them) before sending requestBatch (inputs in
EIP-4844 blobs) or requestBatchData (inputs in calldata). `entry_state` says where an entry is, in words, from the
chain alone: open, answered (window open), awaiting finalizeEntries, finalized, disputed (an ordinary Optimist
request from then on), void, reopened, cancelled, expired. `entry_result` reads a finalized entry: the leaf from
its postEntries calldata, checked by the `leafOutcome` view, and the output bytes from that transaction's
calldata or blobs, checked against the leaf's output hash.

An entry is named by its request id `ENTRY_FLAG | rb << 16 | i` (contracts.batches.entry_ref) or, on the command
line, `RB:I` (entry I of request batch RB).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

from web3 import Web3

from contracts.batches import (
    MAX_BATCH,
    EntryLeaf,
    Leaf,
    RequestBatchInfo,
    entry_position,
    entry_ref,
    is_entry,
    is_leaf,
    leaf_position,
    leaf_proof,
    leaf_result_id,
    output_matches,
    posted_entries,
)
from contracts.system import ContractRevert, Event, Outcome, RequestStatus, System, decode_call


class EntryError(ValueError):
    """A request batch that cannot be sent, or an entry that cannot be read (the message says why)."""


# ---- names -------------------------------------------------------------------------------------------
def parse_ref(text: str) -> int:
    """A request id: a number, or `RB:I` for entry I of request batch RB."""
    t = text.strip()
    if ":" in t:
        rb, _, i = t.partition(":")
        if not (_whole(rb) and _whole(i)) or int(rb) == 0:
            raise EntryError(f"{text!r} is not an entry: give RB:I (entry I of request batch RB, e.g. 3:0)")
        if int(i) >= MAX_BATCH:
            raise EntryError(f"{text!r}: an entry index is below {MAX_BATCH}")
        if int(rb) >= 1 << 44:
            raise EntryError(f"{text!r}: a request batch id is below {1 << 44}")
        return entry_ref(int(rb), int(i))
    if not _whole(t) or int(t) >= 1 << 256:
        raise EntryError(f"{text!r} is not a request id (a whole number) or an entry (RB:I)")
    return int(t)


def _whole(text: str) -> bool:
    """`text` is a whole number in ASCII digits (str.isdigit also takes '²', which int() refuses)."""
    return text.isascii() and text.isdigit()


def known_ids(kind: str, count: int) -> str:
    """'this deployment has models 1..3', or '... no models yet' (ids run 1..count)."""
    return f"this deployment has {kind}s 1..{count}" if count else f"this deployment has no {kind}s yet"


def format_ref(ref: int) -> str:
    """`RB:I` for an entry's request id, the number otherwise."""
    if is_entry(ref):
        rb, i = entry_position(ref)
        return f"{rb}:{i}"
    return str(ref)


# ---- submitting --------------------------------------------------------------------------------------
def supports_blobs(w3: Web3) -> bool:
    """Whether the node takes blob transactions and keeps their blobs readable: a post-Cancun JSON-RPC node (the
    embedded eth-tester chain does not keep blob sidecars, so operators could not read the inputs)."""
    if getattr(w3.provider, "ethereum_tester", None) is not None:
        return False
    try:
        block = w3.eth.get_block("latest")
    except Exception:   # any failure means: no blobs known here
        return False
    return "excessBlobGas" in block


@dataclass(frozen=True)
class Submitted:
    """A request batch on chain."""

    request_batch_id: int
    refs: list[int]
    fee_each: int
    via: str                 # "blobs" or "calldata"
    gas: int
    blob_gas: int            # 0 for calldata
    blobs: int
    tx_hash: bytes


def batch_model_input_length(system: System, model_id: int) -> int:
    """The input length of a request batch's entries of `model_id` (a program model or a graph model); EntryError
    for a generation model or an unknown id."""
    try:
        return system.model(model_id).input_length
    except ContractRevert:
        pass
    try:
        g = system.graph_model(model_id)
    except ContractRevert:
        raise EntryError(f"unknown model id {model_id} ({known_ids('model', system.counts()[0])})") from None
    if g.period != 0:
        raise EntryError(f"model {model_id} is a generation model (its node count depends on each input's token "
                         "count, which an input root does not tell): request batches do not take it (the contract "
                         "reverts GenerationModel); request each input with `optimist request`")
    return g.input_length


def split_fee(total: int, count: int) -> int:
    """The per-entry fee of `total` wei over `count` entries; EntryError when it does not split evenly."""
    if total % count:
        low = total - total % count
        raise EntryError(f"a total fee of {total} wei does not split evenly over {count} entries (the contract "
                         f"reverts FeeNotDivisible): give {low} or {low + count} wei, or a per-entry fee")
    return total // count


def check_deadline(w3: Web3, deadline: int | None) -> None:
    """`deadline` (None: the contract's default) is a unix time the contract can take: after the latest block and at
    most 30 days on; EntryError otherwise (a duration given for a unix time is the usual mistake)."""
    from contracts.system import MAX_REQUEST_TIME

    if deadline is None:
        return
    if isinstance(deadline, bool) or not isinstance(deadline, Integral):
        raise EntryError(f"deadline is a unix time in whole seconds, got {deadline!r}")
    latest = int(w3.eth.get_block("latest")["timestamp"])
    if deadline <= latest:
        raise EntryError(f"deadline {deadline} is past (the chain's time is {latest}): it is a unix time, not a "
                         "duration (e.g. int(time.time()) + 3600 for an hour from now)")
    if deadline > max(latest, int(time.time())) + MAX_REQUEST_TIME:
        raise EntryError(f"deadline {deadline} is more than {MAX_REQUEST_TIME // 86400} days after the chain's time "
                         f"({latest}), the contract's limit")


def submit_request_batch(system: System, model_id: int, inputs: list[bytes], fee_each: int, *, sender: str,
                         blobs: bool | None = None, private_key: bytes | str | None = None,
                         deadline: int | None = None) -> Submitted:
    """Send `inputs` as one request batch paying `fee_each` wei per entry. `blobs`: True = in blobs (EntryError
    if the chain has none), False = in calldata, None = blobs when the chain supports them (and a key is given)."""
    from contracts.blobs import BLOB_CAPACITY, MAX_BLOBS_PER_TX, pack_blobs

    n = len(inputs)
    if not 1 <= n <= MAX_BATCH:
        raise EntryError(f"a request batch has 1..{MAX_BATCH} inputs, got {n}")
    want = batch_model_input_length(system, model_id)
    for i, x in enumerate(inputs):
        if len(x) != want:
            raise EntryError(f"model {model_id} takes {want} input bytes; input {i} has {len(x)}")
    check_deadline(system.w3, deadline)
    can = supports_blobs(system.w3)
    if blobs and not can:
        raise EntryError("this chain does not support blob transactions (EIP-4844): send the inputs in calldata")
    use_blobs = can and private_key is not None if blobs is None else blobs
    if use_blobs and private_key is None:
        raise EntryError("a blob transaction is signed locally: give the requester's private key")
    if use_blobs:
        packed = pack_blobs(inputs)
        if len(packed) > MAX_BLOBS_PER_TX:
            per = BLOB_CAPACITY * MAX_BLOBS_PER_TX // (want + 4)
            raise EntryError(f"{n} inputs of {want} bytes need {len(packed)} blobs; a transaction carries at most "
                             f"{MAX_BLOBS_PER_TX} (send at most {per} inputs per batch, or send them in calldata)")
        assert private_key is not None
        rb = system.request_batch_blobs(model_id, inputs, fee_each * n, private_key, deadline=deadline)
    else:
        rb = system.request_batch_data(model_id, inputs, fee_each * n, deadline=deadline, sender=sender)
    receipt = system.last_receipt or {}
    n_blobs = len(pack_blobs(inputs)) if use_blobs else 0
    return Submitted(rb, [entry_ref(rb, i) for i in range(n)], fee_each, "blobs" if use_blobs else "calldata",
                     int(receipt.get("gasUsed", 0)), int(receipt.get("blobGasUsed", 0) or 0), n_blobs,
                     bytes(receipt.get("transactionHash", b"")))


# ---- reading -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """One leaf answering the entry: entry batch `batch_id`, leaf `position` of it."""

    batch_id: int
    position: int
    leaf: Leaf
    leaves: list[Leaf]
    operator: str
    deadline: int            # end of the challenge window
    tx_hash: bytes
    blob_hashes: list[bytes]
    rejected: bool = False
    malformed: bool = False
    reopen_at: int = 0


# states, each with its words in EntryState.words
OPEN, EXPIRED, ANSWERED, WINDOW_OVER, FINALIZED, DISPUTED, VOID, REOPENED, CANCELLED = (
    "OPEN", "EXPIRED", "ANSWERED", "WINDOW_OVER", "FINALIZED", "DISPUTED", "VOID", "REOPENED", "CANCELLED")


@dataclass(frozen=True)
class EntryState:
    """Where entry `index` of request batch `request_batch` is."""

    ref: int
    request_batch: int
    index: int
    model_id: int
    requester: str
    fee: int
    deadline: int            # the requester may cancel it after this time if nobody took it
    state: str
    words: str
    answers: list[Answer] = field(default_factory=list)
    request_status: RequestStatus = RequestStatus.NONE   # in Optimist: NONE unless disputed

    @property
    def answer(self) -> Answer | None:
        """The answer that stands (the last one, unless rejected)."""
        return self.answers[-1] if self.answers and not self.answers[-1].rejected else None


def _decode(system: System, tx_hash: bytes) -> tuple[str, dict[str, Any]]:
    tx = system.w3.eth.get_transaction(tx_hash)
    try:
        return decode_call(system.batches, tx["input"])
    except ValueError as exc:
        raise EntryError(f"transaction {tx_hash.hex()} is no readable OptimistBatches call ({exc})") from None


def _now(system: System) -> int:
    return max(int(system.w3.eth.get_block("latest")["timestamp"]), int(time.time()))


Call = Callable[[bytes], tuple[str, dict[str, Any]]]   # a transaction's hash -> its decoded input (_decode)


def _posted(call: Call, tx_hash: bytes, batch_id: int, rb: int, root: bytes) -> tuple[list[EntryLeaf], list[bytes]]:
    """The leaves and calldata outputs of entry batch `batch_id` (answering request batch `rb`, root `root`) from its
    transaction `tx_hash`, decoded by `call` (contracts.batches.posted_entries); EntryError when they are not there."""
    decoded = call(tx_hash)
    try:
        return posted_entries(decoded, rb, root)
    except ValueError as exc:
        raise EntryError(f"entry batch {batch_id} is not readable: {exc} (transaction 0x{tx_hash.hex()})") from None


def _collect(rb: int, events: list[Event], call: Call) -> tuple[dict[int, list[Answer]], bool]:
    """Every leaf answering an entry of request batch `rb` (by entry index, in chain order, rejections marked) and
    whether the requester cancelled entries, from `events`; `call(tx_hash)` gives a transaction's decoded input."""
    answers: dict[int, list[Answer]] = defaultdict(list)
    cancelled = False
    for ev in events:
        if ev.name == "EntriesPosted" and ev["requestBatchId"] == rb:
            leaves = _posted(call, ev.tx_hash, ev["batchId"], rb, ev["root"])[0]
            as_leaves = [x.leaf(rb) for x in leaves]
            for p, e in enumerate(leaves):
                answers[e.index].append(Answer(ev["batchId"], p, as_leaves[p], as_leaves, ev["operator"],
                                               ev["deadline"], ev.tx_hash, [bytes(h) for h in ev["blobHashes"]]))
        elif ev.name == "EntryRejected" and is_entry(ev["entryRef"]) and entry_position(ev["entryRef"])[0] == rb:
            mine = answers.get(entry_position(ev["entryRef"])[1], [])
            for k, a in enumerate(mine):
                if a.batch_id == ev["batchId"] and a.position == ev["index"]:
                    mine[k] = Answer(**{**a.__dict__, "rejected": True, "malformed": ev["malformed"],
                                        "reopen_at": ev["reopenAt"]})
        elif ev.name == "EntriesCancelled" and ev["requestBatchId"] == rb:
            cancelled = True
    return answers, cancelled


def _classify(base: dict[str, Any], answers: list[Answer], cancelled: bool, request_status: RequestStatus, now: int,
              taken: Callable[[], bool], settled: Callable[[int], bool], *, all_events: bool = False,
              result_id: int = 0) -> EntryState:
    """An entry's state in words from its answers, the batch's cancellation, its status in Optimist (NONE unless a
    leaf answering it was disputed; `result_id`: its pending or final result there), the time, and (read only when
    needed) entryTaken and its batch's settlement.
    `all_events`: the events go back to the request batch, so an entry never answered was taken only if cancelled."""
    if request_status != RequestStatus.NONE:   # brought into Optimist by disputeLeaf: an ordinary request from then on
        own = {leaf_result_id(a.batch_id, a.position) for a in answers}
        posted = "disputed: a game runs on its answer (an ordinary Optimist request now)" \
            if not result_id or result_id in own else \
            "disputed, its answer rejected by a game, and answered again as an ordinary Optimist request " \
            f"(result {result_id}, in its challenge window)"
        words = {RequestStatus.POSTED: posted,
                 RequestStatus.OPEN: "disputed and its answer rejected by a game: reopened as an ordinary Optimist "
                                     "request (any operator may answer it)",
                 RequestStatus.FINALIZED: "finalized after a dispute (an ordinary Optimist request)",
                 RequestStatus.CANCELLED: "disputed, its answer rejected, then cancelled by the requester"}
        state = FINALIZED if request_status == RequestStatus.FINALIZED else \
            CANCELLED if request_status == RequestStatus.CANCELLED else DISPUTED
        return EntryState(**base, state=state, words=words.get(request_status, request_status.name),
                          request_status=request_status)
    last = answers[-1] if answers else None
    if last is not None and last.rejected:
        if last.malformed:
            return EntryState(**base, state=VOID, words="void: its input does not fit the model (an answer to it "
                              "was rejected; the fee went back to the requester)")
        if cancelled and taken():
            return EntryState(**base, state=CANCELLED, words="cancelled by the requester (fee refunded) after its "
                              "answer was rejected")
        when = "now" if now >= last.reopen_at else f"from {last.reopen_at} ({last.reopen_at - now} s)"
        return EntryState(**base, state=REOPENED, words=f"reopened: the answer of {last.operator} contradicted its "
                          f"own final state and was rejected; the entry takes answers again {when}")
    if last is not None:
        if settled(last.batch_id):
            return EntryState(**base, state=FINALIZED, words=f"finalized: answered by {last.operator} in entry "
                              f"batch {last.batch_id}, undisputed")
        if now <= last.deadline:
            return EntryState(**base, state=ANSWERED, words=f"answered by {last.operator} in entry batch "
                              f"{last.batch_id}; challenge window open until {last.deadline} "
                              f"({last.deadline - now} s left)")
        return EntryState(**base, state=WINDOW_OVER, words=f"answered in entry batch {last.batch_id}, window "
                          f"over: final once anyone sends finalizeEntries({last.batch_id})")
    if (cancelled or not all_events) and taken():
        return EntryState(**base, state=CANCELLED, words="cancelled by the requester (fee refunded), never answered")
    if now > base["deadline"]:
        return EntryState(**base, state=EXPIRED, words="unanswered past its deadline: the requester may cancel it "
                          "(fee back)")
    return EntryState(**base, state=OPEN, words="open: waiting for an operator")


def _request_batch(system: System, rb: int, index: int | None = None) -> RequestBatchInfo:
    try:
        info = system.request_batch_info(rb)
    except ContractRevert:
        raise EntryError(f"unknown request batch {rb}" + ("" if index is None else f" (entry {rb}:{index})")) from None
    if index is not None and index >= info.count:
        raise EntryError(f"request batch {rb} has entries 0..{info.count - 1}, not {index}")
    return info


def _base(info: RequestBatchInfo, index: int, answers: list[Answer]) -> dict[str, Any]:
    rb = info.request_batch_id
    return dict(ref=entry_ref(rb, index), request_batch=rb, index=index, model_id=info.model_id,
                requester=info.requester, fee=info.fee, deadline=info.deadline, answers=answers)


def entry_state(system: System, ref: int, from_block: int = 0, events: list[Event] | None = None) -> EntryState:
    """The entry's state from the chain: its request batch, every leaf answering it, rejections, cancellation."""
    if not is_entry(ref):
        raise EntryError(f"request {ref} is not a request-batch entry")
    rb, index = entry_position(ref)
    info = _request_batch(system, rb, index)
    events = system.events_since(from_block) if events is None else events
    answers, cancelled = _collect(rb, events, lambda tx: _decode(system, tx))
    mine = answers.get(index, [])
    req = system.get_request(ref)
    return _classify(_base(info, index, mine), mine, cancelled, req.status, _now(system),
                     lambda: system.entry_taken(rb, index), lambda b: system.batch(b).settled, result_id=req.result_id)


def entry_states(system: System, rb: int, events: list[Event], call: Call | None = None) -> list[EntryState]:
    """`entry_state` of every entry of request batch `rb` at once (from the deployment's `events` since before the
    request batch was posted; `call(tx_hash)`: a transaction's (function name, arguments), e.g. cached): the request
    batch, the time and each entry batch's settlement read once, Optimist's request only for entries whose answer a
    game disputed (disputeLeaf creates it and opens a GameOpened on the leaf in the same transaction), entryTaken
    only after a cancellation."""
    info = _request_batch(system, rb)
    answers, cancelled = _collect(rb, events, call or (lambda tx: _decode(system, tx)))
    disputed = {ev["resultId"] for ev in events if ev.name == "GameOpened" and is_leaf(ev["resultId"])}
    now = _now(system)
    settled: dict[int, bool] = {}

    def is_settled(batch_id: int) -> bool:
        if batch_id not in settled:
            settled[batch_id] = system.batch(batch_id).settled
        return settled[batch_id]

    out = []
    for index in range(info.count):
        mine = answers.get(index, [])
        ref = entry_ref(rb, index)
        req = system.get_request(ref) if any(
            leaf_result_id(a.batch_id, a.position) in disputed for a in mine) else None
        out.append(_classify(_base(info, index, mine), mine, cancelled, RequestStatus.NONE if req is None else
                             req.status, now, lambda i=index: system.entry_taken(rb, i), is_settled, all_events=True,
                             result_id=0 if req is None else req.result_id))
    return out


def answer_output(system: System, answer: Answer, beacon_url: str | None = None) -> bytes:
    """The output bytes of `answer`: from its postEntries calldata, or its blobs (from the beacon API at
    `beacon_url`, else anvil; checked against the event's versioned hashes), and checked against the leaf's output
    hash (contracts.batches.output_matches: a graph model's output by its tensor root, exactly outputLength bytes)."""
    _, outputs = _posted(lambda tx: _decode(system, tx), answer.tx_hash, answer.batch_id,
                         entry_position(answer.leaf.request_id)[0], system.batch(answer.batch_id).root)
    if outputs:
        output = outputs[answer.position]
    else:
        from contracts.blobs import BlobError, checked_items, fetch_blobs

        try:
            blobs = fetch_blobs(system.w3, answer.tx_hash, beacon_url)
        except Exception as exc:   # a node without the anvil method, or a beacon node without the blobs
            where = "the beacon node does" if beacon_url else "the node (not anvil? give a beacon API URL) does"
            raise EntryError(f"entry batch {answer.batch_id} has its outputs in blobs and {where} not serve "
                             f"them ({str(exc)[:300]})") from None
        try:
            items = checked_items(blobs, answer.blob_hashes)
        except BlobError as exc:   # blobs other than EntriesPosted's versioned hashes, or no output list in them
            raise EntryError(f"entry batch {answer.batch_id}: its output blobs are not usable ({exc})") from None
        if len(items) <= answer.position:
            raise EntryError(f"entry batch {answer.batch_id}: its blobs hold {len(items)} outputs, "
                             f"not leaf {answer.position}")
        output = items[answer.position]
    info = system.request_batch_info(entry_position(answer.leaf.request_id)[0])
    if not output_matches(output, answer.leaf, info.graph_output_length):
        raise EntryError(f"entry batch {answer.batch_id} leaf {answer.position}: the published output does not "
                         "hash to the leaf's output hash" + (" (its tensor root)" if info.graph else ""))
    return output


@dataclass(frozen=True)
class EntryOutcome:
    """A finalized entry's answer."""

    ref: int
    result_id: int           # the leaf's result id
    outcome: Outcome
    exit_code: int
    steps: int
    output: bytes
    operator: str


def entry_outcome(system: System, ref: int, from_block: int = 0, beacon_url: str | None = None) -> EntryOutcome:
    """The answer of a finalized entry, undisputed or disputed and defended: its leaf from its postEntries calldata,
    proven by the leafOutcome view, and the output from the same transaction (blob outputs from the beacon API at
    `beacon_url`, else anvil).
    EntryError otherwise (with the entry's state in words); an entry reopened and answered as an ordinary request
    is read with optimist.client's Request.result()."""
    st = entry_state(system, ref, from_block)
    if st.state != FINALIZED:
        raise EntryError(f"entry {format_ref(ref)} is not finalized: {st.words}")
    a = st.answer
    if st.request_status == RequestStatus.FINALIZED:   # disputed, defended and finalized in Optimist
        rid = system.get_request(ref).result_id
        match = [x for x in st.answers if is_leaf(rid) and leaf_position(rid) == (x.batch_id, x.position)]
        if not match:
            raise EntryError(f"entry {format_ref(ref)} was finalized by result {rid}, not an entry leaf: read it as "
                             "an ordinary request")
        a = match[0]
    assert a is not None
    proof = leaf_proof([x.hash() for x in a.leaves], a.position)
    got_ref, outcome, exit_code, steps, output_hash = system.leaf_outcome(a.batch_id, a.position, a.leaf, proof)
    if got_ref != ref or bytes(output_hash) != a.leaf.output_hash:
        raise EntryError(f"leafOutcome of entry batch {a.batch_id} leaf {a.position} does not match its calldata")
    output = answer_output(system, a, beacon_url)
    return EntryOutcome(ref, leaf_result_id(a.batch_id, a.position), Outcome(outcome), exit_code, steps, output,
                        a.operator)
