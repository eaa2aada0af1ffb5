"""Request batches in the daemons (OptimistBatches.requestBatch / postEntries, docs/game-rules.md §3b).

Ingest: a RequestBatchPosted becomes one store request per entry (id `entry_ref(rb, i)`, status `entry`), its
input read from the transaction's blobs (from the daemon's `beacon_url`, else anvil_getBlobsByTransactionHash;
checked against the event's versioned hashes) or calldata (requestBatchData) and checked against the entry's
committed input root (`unavailable` otherwise: nobody can check a run of it; a beacon node that cannot answer now
is waited out like an RPC outage). Bytes shorter than the model's input, or longer with zeros past it, stand for
the zero-padded or cut input (the same root); bytes with a non-zero byte past it are kept as they are: a malformed
input. An EntriesPosted becomes one store result per leaf (leaf result id), the leaves decoded from the
transaction's calldata.

The outputs of an entry batch are read from its calldata or, when it has none there, from its transaction's blobs
(checked against the event's versioned hashes, decoded, and each against its leaf's outputHash: keccak256, a graph
model's tensor root with the exact outputLength, contracts.batches.output_matches): a leaf whose bytes
are missing or do not match keeps an empty output in the store and is logged (`entry_outputs_unavailable`); it
is judged like any other leaf, on its fields (docs/game-rules.md §3b, "Withheld outputs").

Operator: `answer_entries` posts, per request batch, one postEntries for the entries whose runs are ready, the
outputs in blobs or the calldata (`Operator.entry_outputs`; 'auto': blobs when the node takes them, asked once;
calldata for a chunk whose outputs need more blobs than a transaction carries); an entry whose input does not fit
the model is never answered; `finalize_entry_batches` sends finalizeEntries after the window. Challenger:
`entry_verdict` judges a leaf (malformed input, a leaf that contradicts its own true final state, a wrong final
state, or agree) and `dispute_entry` answers it with rejectEntry (the first two; a malformed input with its input
region's bytes) or disputeLeaf with the entry's input root (a game; the request is created on-chain then, its
initial state computed from the root).
"""

from __future__ import annotations

import logging
from typing import Any

from challenger.batching import due_batches
from challenger.graph_games import GraphTrace, is_graph
from contracts.batches import (
    MAX_BATCH,
    EntryLeaf,
    Leaf,
    entry_input,
    entry_position,
    entry_ref,
    input_region_size,
    input_root,
    is_leaf,
    leaf_position,
    leaf_proof,
    leaf_result_id,
    output_hash,
    output_matches,
    posted_entries,
)
from contracts.blobs import MAX_BLOBS_PER_TX, pack_blobs
from contracts.system import Event, Outcome, ResultStatus, decode_call
from mipsvm.memory import keccak256
from mipsvm.regions import RegionError, region_path

ENTRY_EVENTS = frozenset({"RequestBatchPosted", "EntriesPosted", "EntryRejected", "EntriesFinalized"})
ENTRY_RACES = ("EntryTaken", "EntryReopening", "LeafDisputed", "BatchSettled", "ChallengeWindowClosed",
               "ResultNotPending")
REJECTABLE = ("malformed", "contradicts")   # verdicts answered by rejectEntry (no game)
ENTRY_OUTPUTS = ("auto", "blobs", "calldata")   # Operator.entry_outputs


def _cache(daemon: Any, name: str) -> dict[int, Any]:
    return daemon.__dict__.setdefault(name, {})


def _tx_args(daemon: Any, tx_hash: bytes) -> tuple[str, dict[str, Any]]:
    """(function name, arguments) of an OptimistBatches transaction; ValueError when its input is no decodable call of
    OptimistBatches (a call through another contract)."""
    system = daemon.system
    tx = daemon.client.rpc(lambda: system.w3.eth.get_transaction(tx_hash), "get_transaction")
    return decode_call(system.batches, tx["input"])


def posted_leaves(daemon: Any, ev: Event) -> tuple[list[EntryLeaf], list[bytes]] | None:
    """The leaves and calldata outputs of EntriesPosted `ev`, from its transaction's input, checked against the
    event's root; None (logged: `entry_leaves_unreadable`) when they are not there (postEntries takes only direct
    calls, so only a deployment of other contracts gets here)."""
    rb = ev["requestBatchId"]
    try:
        return posted_entries(_tx_args(daemon, ev.tx_hash), rb, ev["root"])
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        daemon._log(logging.ERROR, "entry_leaves_unreadable", batch=ev["batchId"], request_batch=rb,
                    error=str(exc)[:200])
        return None


def _event_in_block(daemon: Any, name: str, key: str, value: int, block: int) -> Event:
    system = daemon.system
    events = daemon.client.rpc(lambda: system.events_since(block, block), "get_logs")
    for ev in events:
        if ev.name == name and ev[key] == value:
            return ev
    raise ValueError(f"no {name} with {key} {value} in block {block}")


def request_inputs(daemon: Any, ev: Event) -> list[bytes] | None:
    """A request batch's inputs' bytes from its transaction (blobs or calldata), as sent (each still to be checked
    against its input root); None when they cannot be read."""
    from contracts.blobs import BlobError, checked_items, fetch_blobs

    roots = ev["inputRoots"]
    try:
        if ev["blobHashes"]:
            blobs = daemon.client.rpc(lambda: fetch_blobs(daemon.system.w3, ev.tx_hash, daemon.beacon_url), "blobs")
            inputs = checked_items(blobs, ev["blobHashes"])
        else:
            fn, args = _tx_args(daemon, ev.tx_hash)
            inputs = [bytes(x) for x in args["inputs"]] if fn == "requestBatchData" else []
    except (BlobError, ValueError) as exc:
        daemon.emit("entry_inputs_unreadable", request_batch=ev["requestBatchId"], error=str(exc)[:200])
        return None
    if len(inputs) < len(roots):
        return None
    return inputs[:len(roots)]


def entry_output_length(daemon: Any, rb: int) -> int | None:
    """The outputLength of request batch `rb`'s model if it is a graph model (its leaves commit outputs by their
    tensor roots, a Success's output exactly that long: contracts.batches.output_matches), else None; cached."""
    cache = _cache(daemon, "_entry_output_length")
    if rb not in cache:
        info = daemon.client.rpc(lambda: daemon.system.request_batch_info(rb), "requestBatches")
        cache[rb] = info.graph_output_length
    return cache[rb]


def entry_outputs(daemon: Any, ev: Event, leaves: list[EntryLeaf], calldata: list[bytes]) -> list[bytes | None]:
    """The output bytes of an entry batch's leaves (EntriesPosted `ev`): from the calldata (checked on-chain), else
    from the transaction's blobs, each checked against its leaf's outputHash (contracts.batches.output_matches); None
    for a leaf whose bytes are missing or do not match."""
    from contracts.blobs import BlobError, checked_items, fetch_blobs

    length = entry_output_length(daemon, ev["requestBatchId"])
    if calldata:
        return [out if output_matches(out, leaf, length) else None for out, leaf in zip(calldata, leaves, strict=True)]
    if not ev["blobHashes"]:
        return [None] * len(leaves)
    try:
        blobs = daemon.client.rpc(lambda: fetch_blobs(daemon.system.w3, ev.tx_hash, daemon.beacon_url), "blobs")
        items = checked_items(blobs, ev["blobHashes"])
    except (BlobError, ValueError) as exc:
        daemon.emit("entry_outputs_unreadable", batch=ev["batchId"], error=str(exc)[:200])
        return [None] * len(leaves)
    return [items[i] if i < len(items) and output_matches(items[i], leaf, length) else None
            for i, leaf in enumerate(leaves)]


def request_roots(daemon: Any, rb: int, block: int) -> list[bytes]:
    """The input roots of request batch `rb` (posted in `block`), cached."""
    cache = _cache(daemon, "_entry_roots")
    if rb not in cache:
        ev = _event_in_block(daemon, "RequestBatchPosted", "requestBatchId", rb, block)
        cache[rb] = [bytes(h) for h in ev["inputRoots"]]
    return cache[rb]


def model_input_length(model: Any) -> int:
    """A served model's input length (a program model's image's, a graph model's)."""
    return int(model.input_length if is_graph(model) else model.image.input_length)


def input_length(daemon: Any, model_id: int) -> int:
    """The input length of model `model_id` (a served model's, else the registry's), cached."""
    cache = _cache(daemon, "_input_lengths")
    if model_id not in cache:
        model = daemon.served.get(model_id)
        cache[model_id] = model_input_length(model) if model is not None else \
            daemon.client.rpc(lambda: daemon.system.batch_input_length(model_id), "models")
    return int(cache[model_id])


def claim_hash(trace: Any) -> bytes:
    """A leaf's finalStateHash for a run: what postResult derives from its claim (a program model: the packed final
    state's hash; a graph model: C_m or the failure hash, docs/two-phase.md)."""
    return bytes(trace.final_hash) if isinstance(trace, GraphTrace) else keccak256(trace.final_packed)


def claim_output_hash(trace: Any) -> bytes:
    """A leaf's outputHash for a run (contracts.batches.output_hash: a graph model's output by its tensor root)."""
    return output_hash(trace.output, isinstance(trace, GraphTrace))


def graph_evidence(trace: GraphTrace, final_hash: bytes) -> tuple[bytes, bytes, list[bytes]]:
    """rejectEntry's (finalState, outputRegion, proof) for a graph leaf naming `final_hash`, a hash of this trace: the
    failure claim, C_m with the output's tensor root (32 bytes, whatever the output's size) and its slot proof, or
    an intermediate C_j's two children (64 bytes: only a Success at m has that hash, OptimistBatches.Rejection)."""
    p1 = trace.phase1
    if trace.failed is not None and final_hash == trace.final_hash:
        return trace.final_packed, b"", []
    if trace.failed is None and final_hash == p1.commitments[p1.m]:
        return p1.commitments[p1.m], claim_output_hash(trace), trace.output_proof()
    left, right = p1.tree(p1.commitments.index(final_hash)).children()
    return left + right, b"", []


def _entry_bytes(data: bytes, root: bytes, length: int) -> bytes | None:
    """What to keep of an entry's bytes: the model input they stand for, or the bytes themselves when they are a
    malformed input of this root (a non-zero byte past the input length); None when they do not match the root."""
    try:
        if input_root(data, length) != root:
            return None
    except RegionError:
        return None
    fitted = entry_input(data, length)
    return data if fitted is None else fitted


def entry_leaves(daemon: Any, batch_id: int, block: int) -> list[Leaf]:
    """Every leaf of entry batch `batch_id` (posted in `block`), from its calldata, cached."""
    cache = _cache(daemon, "_entry_leaves")
    if batch_id not in cache:
        ev = _event_in_block(daemon, "EntriesPosted", "batchId", batch_id, block)
        posted = posted_leaves(daemon, ev)
        if posted is None:   # its results were never stored (on_entry_event): no caller gets here
            raise ValueError(f"the leaves of entry batch {batch_id} are not readable")
        cache[batch_id] = [x.leaf(ev["requestBatchId"]) for x in posted[0]]
    return cache[batch_id]


def is_entry_leaf(daemon: Any, result_id: int) -> bool:
    """True for a leaf of an entry batch (postEntries); a §3a batch may answer a reopened entry too."""
    if not is_leaf(result_id):
        return False
    batch_id = leaf_position(result_id)[0]
    cache = _cache(daemon, "_entry_batches")
    if batch_id not in cache:
        cache[batch_id] = batch_id in _cache(daemon, "_entry_leaves") or \
            daemon.client.rpc(lambda: daemon.system.batch(batch_id).request_batch != 0, "batches")
    return bool(cache[batch_id])


def on_entry_event(daemon: Any, ev: Event) -> None:
    """Take in an OptimistBatches request-batch event (ENTRY_EVENTS) into the store."""
    s, a = daemon.store, ev.args
    if ev.name == "RequestBatchPosted":
        rb = a["requestBatchId"]
        roots = [bytes(h) for h in a["inputRoots"]]
        _cache(daemon, "_entry_roots")[rb] = roots
        inputs = request_inputs(daemon, ev)
        length = input_length(daemon, a["modelId"]) if inputs is not None else 0
        for i, root in enumerate(roots):
            data = _entry_bytes(inputs[i], root, length) if inputs is not None else None
            ref = entry_ref(rb, i)
            s.add_request(ref, a["modelId"], a["requester"], a["fee"], data or b"", b"", ev.block)
            s.set_request_status(ref, "unavailable" if data is None else "entry")
    elif ev.name == "EntriesPosted":
        batch_id = a["batchId"]
        posted = posted_leaves(daemon, ev)
        if posted is None:
            return
        rb = a["requestBatchId"]
        leaves, calldata = posted
        _cache(daemon, "_entry_leaves")[batch_id] = [x.leaf(rb) for x in leaves]
        outputs = entry_outputs(daemon, ev, leaves, calldata)
        missing = [leaf.index for leaf, out in zip(leaves, outputs, strict=True) if out is None]
        if missing:
            daemon.emit("entry_outputs_unavailable", batch=batch_id, request_batch=rb, count=len(missing),
                        entries=missing[:20])
        for i, (leaf, out) in enumerate(zip(leaves, outputs, strict=True)):
            ref = entry_ref(rb, leaf.index)
            s.add_result(leaf_result_id(batch_id, i), ref, a["operator"], leaf.final_state_hash, leaf.steps,
                         a["deadline"], out or b"", ev.block)
            row = s.request(ref)
            if row is None or row["status"] != "unavailable":   # an unread input stays so (judged 'unavailable')
                s.set_request_status(ref, "posted")
    elif ev.name == "EntryRejected":
        rid = leaf_result_id(a["batchId"], a["index"])
        row = s.result(rid)
        if row is not None and row["status"] == "rejected":
            # a leaf a game brought into Optimist, rejected there (its ResultRejected came first): an Optimist
            # request from now on, or void for a malformed input (Optimist.rejectLeaf cancelled it)
            if a["malformed"]:
                s.set_request_status(a["entryRef"], "void")
            return
        s.set_result_status(rid, "rejected")
        mine = row is not None and row["operator"] == daemon.me
        s.set_request_status(a["entryRef"], "void" if a["malformed"] else ("barred" if mine else "entry"),
                             note=None if a["malformed"] else "reopened")
    elif ev.name == "EntriesFinalized":
        for row in s.results("pending"):
            rid = row["result_id"]
            if is_leaf(rid) and leaf_position(rid)[0] == a["batchId"] and \
                    daemon.client.result(rid).status == ResultStatus.NONE:   # not disputed
                s.set_result_status(rid, "finalized")
                s.set_request_status(row["request_id"], "finalized")


# ---- operator -------------------------------------------------------------------------------------
def outputs_in_blobs(op: Any) -> bool:
    """Whether this operator posts entry outputs in blobs (its `entry_outputs`; 'auto' and 'blobs' ask the node
    once: 'blobs' on a node that takes none is logged as `entry_outputs_unsupported` and falls back to calldata)."""
    mode = getattr(op, "entry_outputs", "auto")
    if mode == "calldata":
        return False
    if "_blob_outputs" not in op.__dict__:
        op._blob_outputs = op.client.supports_blobs()
        if mode == "blobs" and not op._blob_outputs:
            op._log(logging.WARNING, "entry_outputs_unsupported", reason="the node takes no blob transactions",
                    fallback="calldata")
        op.emit("entry_outputs", mode="blobs" if op._blob_outputs else "calldata")
    return bool(op._blob_outputs)


def plain_account(op: Any) -> bool:
    """postEntries takes only a call sent straight to it by an account without code (NotDirectCall): False, with
    one `entries_refused` event, when this daemon's account has code (a contract, or an EIP-7702 delegation). Read
    again at each new block (a delegation is set or cleared by a transaction)."""
    head = op.client.head()
    cached = op.__dict__.get("_plain_account")
    if cached is None or cached[0] != head:
        code = op.client.rpc(lambda: op.system.w3.eth.get_code(op.me), "get_code")
        cached = op.__dict__["_plain_account"] = (head, len(code) == 0)
        if not cached[1] and not op.__dict__.get("_entries_refused"):
            op.__dict__["_entries_refused"] = True
            op.emit("entries_refused", account=op.me,
                    reason="this account has code (a contract or an EIP-7702 delegation); postEntries takes only "
                           "a transaction sent straight to it by an account without code: answer request batches "
                           "with a plain key")
        elif cached[1]:
            op.__dict__["_entries_refused"] = False
    return cached[1]


def answer_entries(op: Any) -> int:
    """One postEntries per request batch with the entries whose runs are ready (at most MAX_BATCH each); none while
    the daemon's account has code (plain_account)."""
    ready: dict[int, list[tuple[int, Any]]] = {}
    from challenger.models import ModelError

    rows = op.store.requests("entry")
    if not rows or not plain_account(op):
        return 0
    for row in rows:
        ref = row["request_id"]
        model = op.served.get(row["model_id"])
        if model is None or int(row["fee"]) < op.min_fee:
            continue
        if len(bytes(row["input"])) != model_input_length(model):
            op.store.set_request_status(ref, "malformed", note="the input does not fit the model")
            op.emit("entry_malformed", request=ref)
            continue
        if row["note"] == "reopened" and op.client.now() < op.client.view("entryReopenAt", ref):
            continue   # reopened by a rejection: not yet
        if op.dishonest and row["posts"] >= 1:
            continue
        try:
            trace = op.ready_trace(ref, urgent=False)
        except ModelError as exc:
            op.store.set_request_status(ref, "failed", note=str(exc))
            op.emit("request_failed", request=ref, error=str(exc))
            continue
        if trace is None:
            continue
        # a graph trace is native already, its nodes checked against the model (as for postResult)
        if not op.dishonest and trace.outcome == Outcome.SUCCESS and not isinstance(trace, GraphTrace):
            if model.infer(bytes(row["input"])) != trace.output:
                op.emit("native_vm_mismatch", request=ref)
                op.store.set_request_status(ref, "failed", note="native output != VM output")
                continue
        ready.setdefault(entry_position(ref)[0], []).append((entry_position(ref)[1], trace))
    sent = 0
    bond = op.system.params.result_bond
    for rb, items in sorted(ready.items()):
        for start in range(0, len(items), MAX_BATCH):
            chunk = sorted(items[start:start + MAX_BATCH], key=lambda x: x[0])
            leaves = [EntryLeaf(i, claim_hash(t), claim_output_hash(t), t.steps, int(t.outcome),
                                t.exit_code).as_tuple() for i, t in chunk]
            refs = [entry_ref(rb, i) for i, _ in chunk]
            posts = [op.store.request(r)["posts"] for r in refs]
            key = "entries:" + keccak256(repr((rb, [i for i, _ in chunk], posts)).encode()).hex()[:16]
            outputs = [bytes(t.output) for _, t in chunk]
            blobs = pack_blobs(outputs) if outputs_in_blobs(op) else None
            if blobs is not None and len(blobs) > MAX_BLOBS_PER_TX:
                blobs = None   # more output bytes than a transaction's blobs carry: the calldata
            if op.send(key, "postEntries", rb, leaves, [] if blobs else outputs, value=bond * len(chunk),
                       expected=(*op.races, *ENTRY_RACES), blobs=blobs):
                for ref in refs:
                    op.store.count_post(ref)
                    op.store.set_request_status(ref, "posted")
                op.emit("entries_posted", request_batch=rb, results=len(chunk), outputs="blobs" if blobs else "calldata")
                sent += 1
    return sent


def finalize_entry_batches(op: Any, rows: list[Any], now: int) -> int:
    """finalizeEntries for each entry batch whose window is over (`rows`: its pending undisputed leaves)."""
    sent = 0
    for batch_id, _ in due_batches(rows, now):
        if op.send(f"finalize-entries:{batch_id}", "finalizeEntries", batch_id, expected=(*op.races, *ENTRY_RACES)):
            op.emit("entries_finalized", batch=batch_id)
            sent += 1
    return sent


# ---- challenger -----------------------------------------------------------------------------------
def entry_verdict(ch: Any, row: Any) -> str | None:
    """A leaf answering a request-batch entry: 'malformed' (its input does not fit the model), 'contradicts'
    (its final state hash is the true state's but its other fields are not that state's claim), 'disagree' (a
    wrong final state), 'agree'; 'unavailable' when the input cannot be read; None while the run is computed."""
    req = ch.store.request(row["request_id"])
    if req is None or req["status"] == "unavailable":
        return "unavailable"
    model = ch.served.get(req["model_id"])
    if model is not None and len(bytes(req["input"])) != model_input_length(model):
        return "malformed"
    trace = ch.ready_trace(row["request_id"], urgent=False)   # held here: a background run's result is handed
    if trace is None:                                         # out once and may leave the cache at any time
        return None
    base = ch.verdict(row, trace)
    if base != "agree":
        return base
    batch_id, index = leaf_position(row["result_id"])
    leaf = entry_leaves(ch, batch_id, int(row["block"]))[index]
    claim = Leaf(leaf.request_id, claim_hash(trace), claim_output_hash(trace), trace.steps,
                 int(trace.outcome), trace.exit_code)
    return "agree" if claim == leaf else "contradicts"


def dispute_entry(ch: Any, row: Any) -> int:
    """rejectEntry (a malformed input, a self-contradicting leaf) or disputeLeaf with the entry's input."""
    rid = row["result_id"]
    batch_id, index = leaf_position(rid)
    leaves = entry_leaves(ch, batch_id, int(row["block"]))
    proof = leaf_proof([x.hash() for x in leaves], index)
    ref = row["request_id"]
    rb, entry = entry_position(ref)
    req = ch.store.request(ref)
    roots = request_roots(ch, rb, int(req["block"]))
    inp_proof = leaf_proof(roots, entry)
    races = (*ch.races, *ENTRY_RACES)
    if row["verdict"] in REJECTABLE:
        state, region, oproof, input_region = b"", b"", [], b""
        if row["verdict"] == "malformed":
            length = input_length(ch, req["model_id"])
            input_region = bytes(req["input"]).ljust(input_region_size(length), b"\0")
        if row["verdict"] == "contradicts":
            trace = ch.ready_trace(ref, urgent=True)
            if trace is None:
                return 0
            if isinstance(trace, GraphTrace):
                state, region, oproof = graph_evidence(trace, bytes(row["final_hash"]))
                return _reject(ch, row, leaves[index], proof, (roots[entry], inp_proof, b"", state, region, oproof))
            st = trace.state_at(int(row["steps"]))
            state = st.encode()
            img = ch.served[req["model_id"]].image
            if st.exited and st.exit_code == 0:
                region = st.memory.read(img.output_base, img.output_size)
                if not any(region[img.output_length:]):   # the output alone, zero-padded as postResult proves it
                    region = region[:img.output_length]
                oproof = region_path(st.memory, img.output_base, img.output_size)
        return _reject(ch, row, leaves[index], proof, (roots[entry], inp_proof, input_region, state, region, oproof))
    if ch.send(f"dispute-leaf:{rid}", "disputeLeaf", batch_id, index, leaves[index].as_tuple(), proof, roots[entry],
               inp_proof, value=ch.system.params.challenge_bond, expected=races):
        ch.emit("game_opened", result=rid, request=ref, steps=row["steps"], batch=batch_id, leaf=index)
        return 1
    return 0


def _reject(ch: Any, row: Any, leaf: Leaf, proof: list[bytes], rejection: tuple[Any, ...]) -> int:
    """rejectEntry of leaf `row` with its OptimistBatches.Rejection `rejection`."""
    rid = row["result_id"]
    batch_id, index = leaf_position(rid)
    if ch.send(f"reject-entry:{rid}", "rejectEntry", batch_id, index, leaf.as_tuple(), proof, rejection,
               expected=(*ch.races, *ENTRY_RACES)):
        ch.emit("entry_rejected", result=rid, request=row["request_id"], verdict=row["verdict"])
        return 1
    return 0
