"""The explorer's data layer: read-only views of a deployed Optimist contract as plain JSON-able dicts.

Everything goes through `contracts.system.System` (the wrappers the CLI and the daemons use). Events are
scanned incrementally (each call reads only blocks not seen before); receipts (gas) and block timestamps
are cached. No key, no transaction: only calls, `eth_getLogs`, blocks, receipts and transactions.
"""

from __future__ import annotations

import logging
import math
import struct
import threading
import time
import zlib
from base64 import b64encode
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from contracts.batches import (
    EntryLeaf,
    entry_input,
    entry_position,
    entry_ref,
    input_root,
    is_entry,
    is_leaf,
    leaf_position,
    leaf_result_id,
    output_hash,
    output_matches,
    posted_entries,
)
from contracts.system import (
    ContractRevert,
    Event,
    GameStatus,
    Outcome,
    Phase,
    RequestStatus,
    ResultStatus,
    System,
    decode_call,
)
from mipsvm import isa
from mipsvm.memory import keccak256
from mipsvm.state import STATE_SIZE, decode_state
from mipsvm.stepper import WitnessError, split_witness_proof
from optimist.entries import entry_states, format_ref

log = logging.getLogger("optimist.explorer")
MOVE_KINDS = ("midpoint", "agree", "disagree")
REASONS = ("proof", "timeout")
REG_NAMES = ("zero", "at", "v0", "v1", "a0", "a1", "a2", "a3", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7",
             "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "t8", "t9", "k0", "k1", "gp", "sp", "fp", "ra")
IMAGE_SIDES = {784: 28, 64: 8}   # float32 element counts shown as square grey images
MAX_CLASSES = 1000               # outputs up to this many float32 values are read as class scores
UNREADABLE = ("the postEntries call was not sent directly to the batches contract (the "
              "explorer, like the client, reads leaves from that transaction's calldata)")
BLOB_RETRY = 60.0                # seconds before blobs a node did not serve are asked for again


class NotFound(LookupError):
    """No such model, request, result or game on this deployment."""


class ChainDown(ConnectionError):
    """The node does not answer."""


def hx(b: bytes | None) -> str:
    """0x-hex of bytes ('' for None)."""
    return "" if b is None else "0x" + bytes(b).hex()


def side_to_move(phase: Phase) -> str:
    """Who must move next in `phase` (docs/game-rules.md §4: the challenger's clock runs in Proof)."""
    return "defender" if phase in (Phase.MIDPOINT, Phase.TRANSITION) else "challenger"


def grey_png(values: list[float], side: int) -> str:
    """A `side` x `side` 8-bit greyscale PNG (data URL) of `values`, scaled min..max to 0..255."""
    finite = [v for v in values if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = (hi - lo) or 1.0
    rows = b"".join(b"\x00" + bytes(int(round(255 * ((v if math.isfinite(v) else lo) - lo) / span))
                                     for v in values[r * side:(r + 1) * side]) for r in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + b64encode(png).decode()


def float32s(data: bytes) -> list[float] | None:
    """`data` as little-endian float32 values (None unless its length is a multiple of 4)."""
    if not data or len(data) % 4:
        return None
    return list(struct.unpack(f"<{len(data) // 4}f", data))


def summarize_input(data: bytes) -> dict[str, Any]:
    """Length, float32 shape and (for 28x28 / 8x8 inputs) an inline image."""
    out: dict[str, Any] = {"bytes": len(data), "hex_prefix": hx(data[:32])}
    values = float32s(data)
    if values is not None:
        finite = [v for v in values if math.isfinite(v)]
        out["float32"] = len(values)
        if finite:
            out["min"], out["max"] = min(finite), max(finite)
        side = IMAGE_SIDES.get(len(values))
        if side:
            out["shape"] = [side, side]
            out["image"] = grey_png(values, side)
        else:
            out["shape"] = [len(values)]
    return out


def decode_output(data: bytes) -> dict[str, Any]:
    """A posted output: bytes, float32 values and, for up to MAX_CLASSES values, the top classes (softmax)."""
    out: dict[str, Any] = {"bytes": len(data), "hex": hx(data[:256])}
    values = float32s(data)
    if values is None:
        return out
    out["float32"] = [v if math.isfinite(v) else str(v) for v in values[:64]]
    if 2 <= len(values) <= MAX_CLASSES and all(math.isfinite(v) for v in values):
        top = max(values)
        exps = [math.exp(v - top) for v in values]
        total = sum(exps)
        order = sorted(range(len(values)), key=lambda i: (-values[i], i))[:3]
        out["top"] = [{"class": i, "score": values[i], "p": exps[i] / total} for i in order]
    return out


def decode_step(state: bytes, proof: bytes) -> dict[str, Any]:
    """The instruction a one-step proof executes: pc, word, mnemonic, registers read, memory address."""
    if len(state) != STATE_SIZE:
        return {"error": f"pre-state is {len(state)} bytes, not {STATE_SIZE}"}
    fields = decode_state(state)
    out: dict[str, Any] = {"step": fields["step"], "pc": f"{fields['pc']:#010x}", "exited": fields["exited"],
                           "pre_state_root": hx(fields["mem_root"])}
    if fields["exited"] or fields["pc"] & 3:
        out["note"] = "exited pre-state: the step changes nothing" if fields["exited"] else "unaligned pc (fault)"
        return out
    try:
        fetch, data = split_witness_proof(proof)
    except WitnessError as exc:
        out["error"] = str(exc)
        return out
    off = fields["pc"] & 28
    word = int.from_bytes(fetch[off:off + 4], "little")
    name = isa.mnemonic(word)
    regs = fields["regs"]
    used = sorted({isa.rs(word), isa.rt(word)} | ({isa.rd(word)} if word >> 26 == isa.OP_SPECIAL else set()))
    out.update({"word": f"{word:#010x}", "mnemonic": name or "invalid (faults 0x81)",
                "fields": {"op": word >> 26, "rs": isa.rs(word), "rt": isa.rt(word), "rd": isa.rd(word),
                           "sa": isa.sa(word), "funct": isa.funct(word), "imm": isa.simm16(word)},
                "registers": [{"reg": r, "name": REG_NAMES[r], "value": f"{regs[r]:#010x}"} for r in used],
                "lo": f"{fields['lo']:#010x}", "hi": f"{fields['hi']:#010x}"})
    if name in isa.LOADS or name in isa.STORES:
        addr = (regs[isa.rs(word)] + isa.simm16(word)) & 0xFFFF_FFFF
        out["memory"] = {"address": f"{addr:#010x}", "kind": "load" if name in isa.LOADS else "store",
                         "data_proof": bool(data)}
    return out


@dataclass
class _Index:
    """Events seen so far, indexed by the ids the pages look up."""

    next_block: int = 0
    events: list[Event] = field(default_factory=list)
    request_created: dict[int, Event] = field(default_factory=dict)
    results_of: dict[int, list[Event]] = field(default_factory=lambda: defaultdict(list))   # request -> posted
    result_posted: dict[int, Event] = field(default_factory=dict)
    game_events: dict[int, list[Event]] = field(default_factory=lambda: defaultdict(list))
    games_of: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))        # result -> games
    request_events: dict[int, list[Event]] = field(default_factory=lambda: defaultdict(list))
    accounts: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))          # address -> roles
    # the chain's state as the events tell it (docs/game-rules.md §6), so the overview needs no call per id
    requests: dict[int, dict[str, Any]] = field(default_factory=dict)
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    games: dict[int, dict[str, Any]] = field(default_factory=dict)
    graph_models: set[int] = field(default_factory=set)
    model_ids: list[int] = field(default_factory=list)
    # rollup mode (docs/game-rules.md §3a, §3b): OptimistBatches' events
    request_batches: dict[int, dict[str, Any]] = field(default_factory=dict)
    request_batch_posted: dict[int, Event] = field(default_factory=dict)
    batches: dict[int, dict[str, Any]] = field(default_factory=dict)
    batch_posted: dict[int, Event] = field(default_factory=dict)               # BatchPosted / EntriesPosted
    batch_leaves: dict[int, dict[int, Event]] = field(default_factory=lambda: defaultdict(dict))  # ResultPosted
    entry_leaves: dict[int, list[EntryLeaf | None]] = field(default_factory=dict)   # entry batch -> its leaves
    entry_outputs: dict[int, list[bytes]] = field(default_factory=dict)        # entry batch -> calldata outputs
    entries: dict[int, dict[int, str]] = field(default_factory=lambda: defaultdict(dict))  # rb -> index -> fate
    rejections: dict[int, Event] = field(default_factory=dict)                 # leaf result id -> EntryRejected
    disputed_leaves: set[int] = field(default_factory=set)                     # leaf result ids with a game

    def apply(self, ev: Event, time_of: Any) -> None:
        """Update the event-derived state with `ev` (`time_of(block)` gives a block's timestamp)."""
        a, name = ev.args, ev.name
        if name in BATCH_EVENTS:
            self._apply_batch(ev, time_of)
            return
        if name == "GameOpened" and a["resultId"] not in self.results and is_leaf(a["resultId"]):
            self._entry_leaf_disputed(ev, time_of)
        if name == "GameOpened" and is_leaf(a["resultId"]) and a["resultId"] not in self.disputed_leaves:
            self.disputed_leaves.add(a["resultId"])   # disputeLeaf: the leaf's first game
            batch = self.batches.get(leaf_position(a["resultId"])[0])
            if batch is not None:
                batch["disputed"] += 1
        if name == "ResultRejected" and is_leaf(a["resultId"]):
            b, i = leaf_position(a["resultId"])
            if b in self.entry_leaves:   # an entry's answer lost its game: the entry is an open Optimist request
                rb = self.batches[b]["request_batch"]
                self.entries[rb][entry_position(self.results[a["resultId"]]["request"])[1]] = "rejected"
                self._count(rb)
        if name in ("ModelRegistered", "GraphModelRegistered"):
            self.model_ids.append(a["modelId"])
            if name == "GraphModelRegistered":
                self.graph_models.add(a["modelId"])
        elif name == "RequestCreated":
            self.requests[a["requestId"]] = {
                "id": a["requestId"], "model": a["modelId"], "status": "open", "fee": a["fee"],
                "requester": a["requester"], "created_at": time_of(ev.block), "result": 0, "deadline": a["deadline"]}
        elif name == "RequestCancelled":
            self.requests[a["requestId"]]["status"] = "cancelled"
        elif name == "ResultPosted":
            self.requests[a["requestId"]].update(status="posted", result=a["resultId"])
            graph = self.requests[a["requestId"]]["model"] in self.graph_models
            self.results[a["resultId"]] = {
                "id": a["resultId"], "request": a["requestId"], "operator": a["operator"], "status": "pending",
                "outcome": Outcome(a["outcome"]).name.lower(), "steps": a["steps"], "deadline": a["deadline"],
                "open_games": 0, "graph": graph}
        elif name == "ResultRejected":
            self.results[a["resultId"]]["status"] = "rejected"
            self.requests[a["requestId"]].update(status="open", result=0)
        elif name == "ResultFinalized":
            self.results[a["resultId"]]["status"] = "finalized"
            self.requests[a["requestId"]]["status"] = "finalized"
        elif name == "GameOpened":
            result = self.results[a["resultId"]]
            result["open_games"] += 1
            steps = a["steps"]
            phase = Phase.MIDPOINT if steps > 1 else Phase.TRANSITION if result["graph"] else Phase.PROOF
            self.games[a["gameId"]] = {"id": a["gameId"], "result": a["resultId"], "challenger": a["challenger"],
                                       "status": "active", "phase": phase.name.lower(), "lo": 0, "hi": steps,
                                       "over_nodes": result["graph"], "rounds": 0}
        elif name == "MoveMade":
            g = self.games[a["gameId"]]
            g.update(lo=a["lo"], hi=a["hi"], phase=Phase(a["next"]).name.lower())
            g["rounds"] += a["kind"] == 0
        elif name == "NodeEntered":
            self.games[a["gameId"]].update(lo=0, hi=a["steps"], phase=Phase(a["next"]).name.lower(),
                                           over_nodes=False)
        elif name in ("GameResolved", "GameCancelled"):
            g = self.games[a["gameId"]]
            g["status"] = ("cancelled" if name == "GameCancelled" else
                           "challenger_won" if a["challengerWon"] else "defender_won")
            self.results[g["result"]]["open_games"] -= 1

    def _apply_batch(self, ev: Event, time_of: Any) -> None:
        """OptimistBatches' own events: request batches, result and entry batches, rejections, cancellations."""
        a, name = ev.args, ev.name
        if name == "RequestBatchPosted":
            self.request_batch_posted[a["requestBatchId"]] = ev
            self.request_batches[a["requestBatchId"]] = {
                "id": a["requestBatchId"], "model": a["modelId"], "requester": a["requester"], "count": a["count"],
                "fee": a["fee"], "deadline": a["deadline"], "inputs_root": hx(a["inputsRoot"]),
                "via": "blobs" if a["blobHashes"] else "calldata", "blobs": len(a["blobHashes"]),
                "created_at": time_of(ev.block), "answered": 0, "taken": 0, "cancelled": 0, "void": 0}
        elif name in ("BatchPosted", "EntriesPosted"):
            rb = a.get("requestBatchId", 0)
            self.batch_posted[a["batchId"]] = ev
            self.batches[a["batchId"]] = {
                "id": a["batchId"], "kind": "entry" if name == "EntriesPosted" else "result",
                "model": self.request_batches[rb]["model"] if rb else a["modelId"], "operator": a["operator"],
                "count": a["count"], "root": hx(a["root"]), "deadline": a["deadline"], "request_batch": rb,
                "disputed": 0, "settled": False, "finalized": None, "fees": None, "posted_at": time_of(ev.block),
                "outputs_in": "blobs" if a.get("blobHashes") else "calldata" if rb else "events"}
            if rb:
                fates = self.entries[rb]
                for leaf in self.entry_leaves.get(a["batchId"], []):
                    if leaf is not None:
                        fates[leaf.index] = "answered"
                self._count(rb)
        elif name in ("BatchFinalized", "EntriesFinalized"):
            self.batches[a["batchId"]].update(settled=True, finalized=a["finalized"], fees=a["fees"])
        elif name == "EntryRejected":
            rid = leaf_result_id(a["batchId"], a["index"])
            self.rejections[rid] = ev
            self.batches[a["batchId"]]["disputed"] += 1
            rb, i = entry_position(a["entryRef"])
            self.entries[rb][i] = "void" if a["malformed"] else "reopened"
            self._count(rb)
        elif name == "EntriesCancelled":
            rb = a["requestBatchId"]
            fates = self.entries[rb]
            for i in range(self.request_batches[rb]["count"]):
                if fates.get(i) in (None, "reopened"):   # cancelEntries takes every entry not taken
                    fates[i] = "cancelled"
            self._count(rb)

    def _count(self, rb: int) -> None:
        """A request batch's entries answered (standing leaf) and taken (entryTaken: answered, void, cancelled, or
        brought into Optimist by a game)."""
        fates = list(self.entries[rb].values())
        self.request_batches[rb].update(answered=fates.count("answered"), void=fates.count("void"),
                                        cancelled=fates.count("cancelled"),
                                        taken=len(fates) - fates.count("reopened"))

    def _entry_leaf_disputed(self, ev: Event, time_of: Any) -> None:
        """disputeLeaf on an entry batch's leaf: Optimist creates the entry's request and the leaf's result (no
        RequestCreated / ResultPosted): their rows from the leaf (postEntries calldata) and the request batch."""
        rid = ev["resultId"]
        b, i = leaf_position(rid)
        batch = self.batches[b]
        rb = batch["request_batch"]
        leaf = self.entry_leaves[b][i]
        assert leaf is not None   # ChainView._sync reads an unreadable leaf from Optimist first
        ref = entry_ref(rb, leaf.index)
        r = self.request_batches[rb]
        self.requests[ref] = {"id": ref, "model": r["model"], "status": "posted", "fee": r["fee"],
                              "requester": r["requester"], "created_at": time_of(ev.block), "result": rid,
                              "deadline": r["deadline"]}
        self.results[rid] = {"id": rid, "request": ref, "operator": batch["operator"], "status": "pending",
                             "outcome": Outcome(leaf.outcome).name.lower(), "steps": leaf.steps,
                             "deadline": batch["deadline"], "open_games": 0, "graph": False}


BATCH_EVENTS = frozenset({"RequestBatchPosted", "BatchPosted", "EntriesPosted", "BatchFinalized", "EntriesFinalized",
                          "EntryRejected", "EntriesCancelled"})


def serialize_provider(w3: Any) -> threading.RLock:
    """Make every JSON-RPC request of `w3` take one lock and return it: an in-process eth-tester chain is
    not thread-safe, and the explorer's threads read it while the demo's daemons write to it."""
    lock = getattr(w3.provider, "_explorer_lock", None)
    if lock is None:
        lock = threading.RLock()
        make_request = w3.provider.make_request

        def locked(method: Any, params: Any) -> Any:
            with lock:
                return make_request(method, params)

        w3.provider.make_request = locked
        w3.provider._explorer_lock = lock
    return lock


class ChainView:
    """Read-only views of one deployment; thread-safe (one lock around every chain read)."""

    def __init__(self, system: System, *, from_block: int | None = None, lock: threading.Lock | None = None,
                 beacon_url: str | None = None) -> None:
        self.system = system
        self.beacon_url = beacon_url   # where blobs are read (None: the node itself, anvil)
        self.w3 = system.w3
        self.lock = lock or threading.RLock()
        self._index = _Index(next_block=system.deploy_block if from_block is None else from_block)
        self._times: dict[int, int] = {}
        self._gas: dict[bytes, int] = {}
        self._proofs: dict[bytes, dict[str, Any]] = {}
        self._models: dict[int, dict[str, Any]] = {}
        self._calls: dict[bytes, dict[str, Any]] = {}
        self._inputs: dict[int, tuple[list[bytes] | None, str]] = {}
        self._blobs: dict[bytes, tuple[list[bytes] | None, str]] = {}
        self._blob_failures: dict[bytes, tuple[float, tuple[None, str]]] = {}

    # ---- plumbing -------------------------------------------------------------------------------
    def _sync(self) -> int:
        """Read the events of blocks not scanned yet; returns the latest block number."""
        latest = self.w3.eth.block_number
        ix = self._index
        if latest < ix.next_block:
            return latest
        new = self.system.events_since(ix.next_block, latest)
        self._prefetch_times({ev.block for ev in new})
        for ev in new:
            if ev.name == "EntriesPosted":   # the leaves are only in the calldata
                self._read_entry_leaves(ev)
            elif ev.name == "GameOpened" and is_leaf(ev["resultId"]):
                b, i = leaf_position(ev["resultId"])
                if b in ix.entry_leaves and ix.entry_leaves[b][i] is None:   # in the calldata of its dispute
                    ix.entry_leaves[b][i] = self._disputed_leaf(ev)
            ix.events.append(ev)
            ix.apply(ev, self._time)
            a = ev.args
            if ev.name == "GameOpened" and is_leaf(a["resultId"]) and \
                    leaf_position(a["resultId"])[0] in ix.entry_leaves:
                self._entry_result_posted(a["resultId"])
            if ev.name == "RequestCreated":
                ix.request_created[a["requestId"]] = ev
                ix.accounts[a["requester"]].add("requester")
            elif ev.name == "ResultPosted":
                ix.results_of[a["requestId"]].append(ev)
                ix.result_posted[a["resultId"]] = ev
                ix.accounts[a["operator"]].add("operator")
                if is_leaf(a["resultId"]):   # a result batch's leaf (postBatch emits one per leaf)
                    b, i = leaf_position(a["resultId"])
                    ix.batch_leaves[b][i] = ev
            elif ev.name in ("BatchPosted", "EntriesPosted"):
                ix.accounts[a["operator"]].add("operator")
            elif ev.name == "RequestBatchPosted":
                ix.accounts[a["requester"]].add("requester")
            elif ev.name == "EntryRejected":
                ix.accounts[a["challenger"]].add("challenger")
            elif ev.name == "GameOpened":
                ix.games_of[a["resultId"]].append(a["gameId"])
                ix.accounts[a["challenger"]].add("challenger")
            if "gameId" in a and ev.name != "ResultRejected":
                ix.game_events[a["gameId"]].append(ev)
            if "requestId" in a:
                ix.request_events[a["requestId"]].append(ev)
        ix.next_block = latest + 1
        return latest

    def _read_entry_leaves(self, ev: Event) -> None:
        """An entry batch's leaves and calldata outputs from its postEntries transaction; a transaction that is not a
        direct postEntries call (a contract that called it) leaves them unknown, logged, not fatal."""
        ix = self._index
        try:
            leaves, outputs = posted_entries(self._batches_fn(ev.tx_hash), ev["requestBatchId"], ev["root"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("entry batch %s: its leaves are not readable from transaction %s (%s)", ev["batchId"],
                        hx(ev.tx_hash), exc)
            ix.entry_leaves[ev["batchId"]] = [None] * ev["count"]
            ix.entry_outputs[ev["batchId"]] = []
            return
        ix.entry_leaves[ev["batchId"]] = list(leaves)
        ix.entry_outputs[ev["batchId"]] = outputs

    def _entry_result_posted(self, rid: int) -> None:
        """An entry leaf disputed: its result, as a ResultPosted would give it, in its request's history (output
        from the postEntries calldata; None when the outputs travel in blobs)."""
        ix = self._index
        ref = ix.results[rid]["request"]
        if any(ev["resultId"] == rid for ev in ix.results_of[ref]):
            return
        b, i = leaf_position(rid)
        posted = ix.batch_posted[b]
        outputs = ix.entry_outputs.get(b) or []
        leaf = ix.entry_leaves[b][i]
        assert leaf is not None
        ix.results_of[ref].append(Event("ResultPosted", {
            "resultId": rid, "requestId": ref, "operator": posted["operator"], "finalStateHash": leaf.final_state_hash,
            "steps": leaf.steps, "deadline": posted["deadline"], "output": outputs[i] if i < len(outputs) else None,
            "outcome": leaf.outcome, "exitCode": leaf.exit_code}, posted.block, posted.tx_hash, posted.log_index))

    def _batches_call(self, tx: bytes) -> dict[str, Any]:
        """The decoded arguments of an OptimistBatches transaction (cached; a tx never changes)."""
        if tx not in self._calls:
            t = self.w3.eth.get_transaction(tx)
            fn, args = decode_call(self.system.batches, t["input"])
            self._calls[tx] = {"fn": fn, **args}
        return self._calls[tx]

    def _batches_fn(self, tx: bytes) -> tuple[str, dict[str, Any]]:
        """`_batches_call` as (function name, arguments), as contracts.batches.posted_entries takes it."""
        call = self._batches_call(tx)
        return call["fn"], call

    def _disputed_leaf(self, ev: Event) -> EntryLeaf:
        """An entry leaf whose postEntries calldata is unreadable, from its dispute's calldata (Optimist stores no
        output hash for a leaf); failing that, from Optimist's record and this first GameOpened's final state hash
        (the record keeps none), with a zero output hash (logged)."""
        leaf = self.system.disputed_leaf(ev["resultId"])
        if leaf is not None:
            return EntryLeaf(entry_position(leaf.request_id)[1], leaf.final_state_hash, leaf.output_hash, leaf.steps,
                             leaf.outcome, leaf.exit_code)
        log.warning("leaf %s: its output hash is not readable from its dispute transaction", ev["resultId"])
        res = self.system.result(ev["resultId"])
        return EntryLeaf(entry_position(res.request_id)[1], bytes(ev["finalStateHash"]), bytes(32), res.steps,
                         int(res.outcome), res.exit_code)

    def _prefetch_times(self, blocks: set[int]) -> None:
        """Timestamps of `blocks` in one JSON-RPC batch where the provider supports it (HTTP nodes)."""
        missing = sorted(blocks - self._times.keys())
        if len(missing) < 2 or getattr(self.w3.provider, "ethereum_tester", None) is not None:
            return
        try:
            with self.w3.batch_requests() as batch:
                for b in missing:
                    batch.add(self.w3.eth.get_block(b))
                found = batch.execute()
        except Exception:   # no batching here: _time reads them one by one
            return
        for b, block in zip(missing, found, strict=False):
            if isinstance(block, dict) or hasattr(block, "timestamp"):
                self._times[b] = block["timestamp"]

    def _time(self, block: int) -> int:
        if block not in self._times:
            self._times[block] = self.w3.eth.get_block(block)["timestamp"]
        return self._times[block]

    def _gas_used(self, tx: bytes) -> int:
        if tx not in self._gas:
            self._gas[tx] = self.w3.eth.get_transaction_receipt(tx)["gasUsed"]
        return self._gas[tx]

    def _read(self, fn: Any, *args: Any) -> Any:
        """Run a read under the lock; a node that does not answer becomes ChainDown."""
        with self.lock:
            try:
                return fn(*args)
            except (NotFound, ContractRevert):
                raise
            except Exception as exc:
                if not self._connected():
                    raise ChainDown(f"the node does not answer ({type(exc).__name__})") from None
                raise

    def _connected(self) -> bool:
        try:
            return bool(self.w3.is_connected())
        except Exception:
            return False

    def _head(self) -> dict[str, Any]:
        latest = self._sync()
        return {"block": latest, "chain_time": self._time(latest), "contract": self.system.address,
                "version": f"{latest}"}

    # ---- public views ---------------------------------------------------------------------------
    def overview(self) -> dict[str, Any]:
        """Models, requests, results, games and balances (docs/explorer.md)."""
        return self._read(self._overview)

    def game(self, game_id: int) -> dict[str, Any]:
        """One game: rounds, moves (who, when, gas, tx), the proof's instruction, the outcome."""
        return self._read(self._game, game_id)

    def request(self, request_id: int) -> dict[str, Any]:
        """One request: input summary, posted outputs decoded, result history, games."""
        return self._read(self._request, request_id)

    def request_batch(self, request_batch_id: int) -> dict[str, Any]:
        """One request batch: every entry's state in words (optimist.entries), its answers, games and output."""
        return self._read(self._request_batch, request_batch_id)

    def batch(self, batch_id: int) -> dict[str, Any]:
        """One result or entry batch: its leaves with their requests, disputes, rejections and outputs."""
        return self._read(self._batch, batch_id)

    def status(self) -> dict[str, Any]:
        """Block and chain time (the pages poll this to know when to refresh)."""
        return self._read(self._head)

    # ---- builders (called under the lock) -------------------------------------------------------
    def _overview(self) -> dict[str, Any]:
        head = self._head()
        now = head["chain_time"]
        s, ix = self.system, self._index
        p = s.params
        models = [self._model(i) for i in ix.model_ids]
        requests = [{**r, "ref": format_ref(r["id"]), "age": now - r["created_at"],
                     "result_leaf": list(leaf_position(r["result"])) if is_leaf(r["result"]) else None}
                    for _, r in sorted(ix.requests.items())]
        results = [{**r, "request_ref": format_ref(r["request"]), "window_left": r["deadline"] - now,
                    "leaf": list(leaf_position(r["id"])) if is_leaf(r["id"]) else None}
                   for _, r in sorted(ix.results.items())]
        request_batches = [{**r, "deadline_left": r["deadline"] - now} for _, r in sorted(ix.request_batches.items())]
        batches = [self._batch_row(b, now) for b in sorted(ix.batches)]
        games = []
        for gid, row in sorted(ix.games.items()):
            row = dict(row, leaf=list(leaf_position(row["result"])) if is_leaf(row["result"]) else None)
            if row["status"] == "active":   # clocks are not in the events: ask the contract
                g = s.game(gid)
                row.update(phase=g.phase.name.lower(), to_move=side_to_move(g.phase),
                           clock_left=g.clock_deadline - now)
            games.append(row)
        balances = []
        for account, roles in sorted(ix.accounts.items()):
            balances.append({"account": account, "roles": sorted(roles), "credited": s.balance(account),
                             "wallet": self.w3.eth.get_balance(account)})
        return {**head, "params": {"challenge_window": p.challenge_window, "clock": p.clock,
                                   "result_bond": p.result_bond, "challenge_bond": p.challenge_bond,
                                   "burn_bps": p.burn_bps, "mips": p.mips},
                "counts": {"models": len(models), "requests": len(requests), "results": len(results),
                           "games": len(games), "request_batches": len(request_batches), "batches": len(batches)},
                "burned": s.burned(), "contract_balance": self.w3.eth.get_balance(s.address),
                "batches_contract": s.batches.address, "models": models, "requests": requests, "results": results,
                "games": games, "request_batches": request_batches, "batches": batches, "balances": balances}

    def _model(self, model_id: int) -> dict[str, Any]:
        if model_id not in self._models:   # a model never changes once registered
            self._models[model_id] = self._read_model(model_id)
        return self._models[model_id]

    def _read_model(self, model_id: int) -> dict[str, Any]:
        try:
            m = self.system.model(model_id)
            return {"id": model_id, "kind": "program", "name": m.metadata_uri, "owner": m.owner,
                    "model_hash": hx(m.model_hash), "image_root": hx(m.image_root), "entry": f"{m.entry:#x}",
                    "input_length": m.input_length, "output_length": m.output_length, "max_steps": m.max_steps}
        except ContractRevert:
            g = self.system.graph_model(model_id)
            return {"id": model_id, "kind": "graph", "name": g.metadata_uri, "owner": g.owner,
                    "model_hash": hx(g.model_hash), "nodes_root": hx(g.nodes_root), "nodes": g.node_count,
                    "input_length": g.input_length, "output_length": g.output_length}

    def _move(self, ev: Event) -> dict[str, Any]:
        return {"event": ev.name, "block": ev.block, "time": self._time(ev.block), "tx": hx(ev.tx_hash),
                "gas": self._gas_used(ev.tx_hash)}

    def _game(self, game_id: int) -> dict[str, Any]:
        head = self._head()
        s = self.system
        if game_id not in self._index.games:
            raise NotFound(f"no game {game_id}")
        g = s.game(game_id)
        res = s.result(g.result_id)
        evs = self._index.game_events.get(game_id, [])
        phases: list[dict[str, Any]] = []
        moves: list[dict[str, Any]] = []
        opened = next((e for e in evs if e.name == "GameOpened"), None)
        current: dict[str, Any] | None = None
        if opened is not None:
            current = {"over_nodes": res.graph, "lo": 0, "hi": opened["steps"], "rounds": []}
            phases.append(current)
            moves.append({**self._move(opened), "who": "challenger", "by": opened["challenger"],
                          "what": f"open game on [0, {opened['steps']}] (bond)"})
        outcome: dict[str, Any] | None = None
        proof: dict[str, Any] | None = None
        for ev in evs:
            a = ev.args
            if ev.name == "MoveMade" and current is not None:
                kind = MOVE_KINDS[a["kind"]] if a["kind"] < len(MOVE_KINDS) else str(a["kind"])
                who = "defender" if kind == "midpoint" else "challenger"
                if kind == "midpoint":
                    current["rounds"].append({"lo": a["lo"], "hi": a["hi"], "mid": a["mid"],
                                              "mid_hash": hx(a["midHash"])})
                elif current["rounds"]:
                    current["rounds"][-1].update({"answer": kind, "new_lo": a["lo"], "new_hi": a["hi"]})
                what = (f"hash of {'node' if current['over_nodes'] else 'step'} {a['mid']}" if kind == "midpoint"
                        else f"{kind} at {a['mid']} -> [{a['lo']}, {a['hi']}]")
                moves.append({**self._move(ev), "who": who, "by": a["mover"], "what": what, "kind": kind,
                              "lo": a["lo"], "hi": a["hi"], "mid": a["mid"], "next": Phase(a["next"]).name.lower()})
            elif ev.name == "NodeEntered":
                moves.append({**self._move(ev), "who": "defender", "by": res.operator,
                              "what": f"enter node {a['node']}: phase 2 over [0, {a['steps']}] steps"})
                current = {"over_nodes": False, "node": a["node"], "lo": 0, "hi": a["steps"], "rounds": []}
                phases.append(current)
            elif ev.name == "GameResolved":
                reason = REASONS[a["reason"]] if a["reason"] < len(REASONS) else str(a["reason"])
                outcome = {"winner": a["winner"], "winner_side": "challenger" if a["challengerWon"] else "defender",
                           "reason": reason, "paid": a["paid"], "burnt": a["burnt"], "time": self._time(ev.block)}
                moves.append({**self._move(ev), "who": outcome["winner_side"] if reason == "proof" else "anyone",
                              "by": self._sender(ev.tx_hash), "what": f"{reason}: {outcome['winner_side']} wins"})
                if reason == "proof":
                    proof = self._proof(ev.tx_hash)
            elif ev.name == "GameCancelled":
                outcome = {"winner_side": "none", "reason": "cancelled (result rejected by another game)",
                           "paid": a["refund"], "burnt": 0, "time": self._time(ev.block)}
                moves.append({**self._move(ev), "who": "anyone", "by": self._sender(ev.tx_hash),
                              "what": f"cancel: refund {a['refund']} wei"})
        out: dict[str, Any] = {
            **head, "id": game_id, "result": g.result_id, "request": res.request_id,
            "request_ref": format_ref(res.request_id),
            "leaf": list(leaf_position(g.result_id)) if is_leaf(g.result_id) else None, "status": g.status.name.lower(),
            "phase": g.phase.name.lower(), "over_nodes": g.over_nodes, "two_phase": res.graph, "lo": g.lo,
            "hi": g.hi, "challenger": g.challenger, "defender": res.operator,
            "clocks": {"challenger": g.challenger_clock, "defender": g.defender_clock},
            "phases": phases, "moves": moves, "outcome": outcome, "proof": proof}
        if g.status == GameStatus.ACTIVE:
            out["to_move"] = side_to_move(g.phase)
            out["clock_left"] = g.clock_deadline - head["chain_time"]
            out["mid"] = g.mid
        return out

    def _sender(self, tx: bytes) -> str:
        return self.w3.eth.get_transaction(tx)["from"]

    def _proof(self, tx: bytes) -> dict[str, Any] | None:
        """The decoded instruction of the `prove` transaction `tx`."""
        if tx not in self._proofs:
            t = self.w3.eth.get_transaction(tx)
            try:   # as solc reads it: anyone may send a proof, with any padding bytes
                fn, args = decode_call(self.system.contract, t["input"])
            except ValueError:
                return None
            if fn != "prove":
                return None
            self._proofs[tx] = decode_step(bytes(args["preState"] if "preState" in args else args["state"]),
                                           bytes(args["proof"]))
        return self._proofs[tx]

    def _request(self, request_id: int) -> dict[str, Any]:
        head = self._head()
        s, ix = self.system, self._index
        if request_id not in ix.requests:
            if is_entry(request_id):
                rb, i = entry_position(request_id)
                raise NotFound(f"entry {rb}:{i} was never disputed, so it is no request of Optimist: see "
                               f"/request-batch/{rb}")
            raise NotFound(f"no request {request_id}")
        r = s.get_request(request_id)
        created = ix.request_created.get(request_id)
        out: dict[str, Any] = {
            **head, "id": request_id, "ref": format_ref(request_id), "model": r.model_id,
            "status": r.status.name.lower(), "fee": r.fee, "requester": r.requester, "deadline": r.deadline,
            "reopen_at": r.reopen_at, "callback": r.callback if r.has_callback else None, "input_hash": None,
            "initial_state_hash": hx(r.initial_state_hash), "entry": None}
        if created is not None:
            out["created_at"] = self._time(created.block)
            out["input_hash"] = hx(keccak256(bytes(created["input"])))
            out["input"] = summarize_input(created["input"])
        elif is_entry(request_id):   # a disputed entry: created in Optimist by disputeLeaf
            rb, i = entry_position(request_id)
            out["created_at"] = ix.requests[request_id]["created_at"]
            out["entry"] = {"request_batch": rb, "index": i, "ref": f"{rb}:{i}"}
            inputs, _ = self._request_batch_inputs(rb)
            if inputs is not None:
                out["input"] = summarize_input(inputs[i])
        history = []
        for ev in ix.results_of.get(request_id, []):
            rid = ev["resultId"]
            res = s.result(rid)
            if res.status == ResultStatus.NONE:   # an undisputed batch leaf: nothing stored per leaf in Optimist
                row = ix.results[rid]
                entry: dict[str, Any] = {
                    "id": rid, "operator": row["operator"], "status": row["status"], "outcome": row["outcome"],
                    "exit_code": ev["exitCode"], "steps": row["steps"],
                    "posted_at": row["deadline"] - s.params.challenge_window, "deadline": row["deadline"],
                    "final_state_hash": hx(ev["finalStateHash"])}
                success = row["outcome"] == "success"
            else:
                entry = {
                    "id": rid, "operator": res.operator, "status": res.status.name.lower(),
                    "outcome": res.outcome.name.lower(), "exit_code": res.exit_code, "steps": res.steps,
                    "posted_at": res.posted_at, "deadline": res.deadline,   # a leaf's hash: from its ResultPosted
                    "final_state_hash": hx(ev["finalStateHash"] if is_leaf(rid) else res.final_state_hash)}
                success = res.outcome == Outcome.SUCCESS
            entry.update({"window_left": entry["deadline"] - head["chain_time"], "tx": hx(ev.tx_hash),
                          "leaf": list(leaf_position(rid)) if is_leaf(rid) else None,
                          "games": [{"id": gid, "status": s.game(gid).status.name.lower()}
                                    for gid in ix.games_of.get(rid, [])]})
            if success:
                entry["output"] = decode_output(ev["output"]) if ev["output"] is not None else \
                    self._leaf_output_view(*leaf_position(rid))   # an entry leaf's output in blobs
            if entry["status"] == "rejected":
                entry["verdict"] = "rejected: lost a game"
            elif entry["status"] == "finalized":
                entry["verdict"] = "finalized answer"
            history.append(entry)
        out["results"] = history
        if r.status == RequestStatus.FINALIZED:
            out["answer"] = next((h for h in history if h["status"] == "finalized"), None)
        return out

    # ---- rollup mode: request batches and batches (docs/game-rules.md §3a, §3b) ---------------------------------
    def _request_batch_inputs(self, rb: int) -> tuple[list[bytes] | None, str]:
        """A request batch's input bytes as published (requestBatchData's calldata, or its transaction's blobs read
        and checked against the versioned hashes) and where they were read; None and why when they cannot be read
        here (the page stands without them)."""
        if rb not in self._inputs:
            ev = self._index.request_batch_posted[rb]
            try:
                call = self._batches_call(ev.tx_hash)
            except ValueError:   # a call through another contract: its bytes are not in this transaction's input
                call = {"fn": None}
            if call["fn"] == "requestBatchData":
                found: tuple[list[bytes] | None, str] = ([bytes(x) for x in call["inputs"]],
                                                         "read from the requestBatchData calldata")
            elif ev["blobHashes"]:
                found = self._blob_items(ev.tx_hash, ev["blobHashes"])
                if found[0] is None and ev.tx_hash not in self._blobs:
                    return found   # not read now: asked again after BLOB_RETRY seconds
            else:
                found = (None, "neither in this transaction's calldata nor in its blobs: published elsewhere by the "
                               "requester")
            if found[0] is not None and len(found[0]) != ev["count"]:
                found = (None, f"the published inputs are {len(found[0])} items, not {ev['count']}")
            self._inputs[rb] = found
        return self._inputs[rb]

    def _blob_items(self, tx: bytes, hashes: list[bytes]) -> tuple[list[bytes] | None, str]:
        """The items in the blobs of transaction `tx` (from the beacon API given to the explorer, else the node:
        anvil), checked against its versioned `hashes`; None and why when they cannot be read. Kept once read or
        shown wrong; a node that does not serve them is asked again after BLOB_RETRY seconds."""
        from contracts.blobs import BeaconUnavailable, BlobError, checked_items, fetch_blobs

        if tx in self._blobs:
            return self._blobs[tx]
        failed = self._blob_failures.get(tx)
        if failed is not None and time.monotonic() - failed[0] < BLOB_RETRY:
            return failed[1]
        n = len(hashes)
        try:
            blobs = fetch_blobs(self.w3, tx, self.beacon_url)
        except Exception as exc:   # a node without blobs: say so, the page stands without the bytes
            if not isinstance(exc, BeaconUnavailable) and not self._connected():
                raise ChainDown(f"the node does not answer ({type(exc).__name__})") from None
            where = "the beacon node does" if self.beacon_url else "this node does (no --beacon-url)"
            why = (None, f"in {n} blob(s); {where} not serve them now ({type(exc).__name__}: {str(exc)[:160]})")
            self._blob_failures[tx] = (time.monotonic(), why)
            return why
        try:
            self._blobs[tx] = (checked_items(blobs, [bytes(h) for h in hashes]),
                               f"read from the transaction's {n} blob(s), checked against their versioned hashes")
        except BlobError as exc:
            self._blobs[tx] = (None, f"in {n} blob(s); the blobs served are not usable ({exc})")
        return self._blobs[tx]

    def _leaf_output(self, batch_id: int, index: int) -> bytes | None:
        """The output of leaf `index` of an entry batch: from its postEntries calldata, else from its blobs when
        they can be read (None otherwise)."""
        outputs = self._index.entry_outputs.get(batch_id) or []
        if index < len(outputs):
            return outputs[index]
        posted = self._index.batch_posted[batch_id]
        if not posted.args.get("blobHashes"):
            return None
        items, _ = self._blob_items(posted.tx_hash, posted["blobHashes"])
        return items[index] if items is not None and index < len(items) else None

    def _leaf_output_view(self, batch_id: int, index: int) -> dict[str, Any]:
        """An entry batch leaf's output decoded, checked against the leaf's output hash (blob outputs are not checked
        on chain), or a note saying why it is not shown."""
        leaf = self._index.entry_leaves[batch_id][index]
        data = self._leaf_output(batch_id, index) if leaf is not None else None
        if data is None:
            blobs = self._index.batch_posted[batch_id].args.get("blobHashes")
            return {"note": "the output travels in the entry batch's blobs, which cannot be read here now" if blobs
                    else f"the output is not readable: {UNREADABLE}"}
        model = self._model(self._index.batches[batch_id]["model"])
        graph = model["kind"] == "graph"
        if not output_matches(data, leaf, model["output_length"] if graph else None):
            return {"note": "the published output does not hash to the leaf's output hash"
                    + (" (its tensor root)" if graph else "")}
        return decode_output(data)

    def _request_batch(self, rb: int) -> dict[str, Any]:
        head = self._head()
        now = head["chain_time"]
        s, ix = self.system, self._index
        if rb not in ix.request_batches:
            raise NotFound(f"no request batch {rb}")
        row = ix.request_batches[rb]
        info = s.request_batch_info(rb)
        posted = ix.request_batch_posted[rb]
        roots = [bytes(x) for x in posted["inputRoots"]]
        model = self._model(info.model_id)
        inputs, where = self._request_batch_inputs(rb)
        try:
            states = entry_states(s, rb, ix.events, self._batches_fn)
            error = None
        except ValueError as exc:   # an entry batch answering it was not sent as a direct postEntries call
            states, error = [], f"the entries' states cannot be read: {UNREADABLE} ({str(exc)[:160]})"
        entries = []
        for st in states:
            i = st.index
            e: dict[str, Any] = {"index": i, "ref": f"{rb}:{i}", "request_id": st.ref, "state": st.state.lower(),
                                 "words": st.words, "input_root": hx(roots[i]),
                                 "in_optimist": st.request_status != RequestStatus.NONE, "answers": []}
            if inputs is not None:
                data = inputs[i]
                e["input"] = {k: v for k, v in summarize_input(data).items() if k != "image"}
                e["input"]["matches_root"] = _root_of(data, model["input_length"]) == roots[i]
                e["input"]["well_formed"] = entry_input(data, model["input_length"]) is not None
            for a in st.answers:
                lid = leaf_result_id(a.batch_id, a.position)
                e["answers"].append({
                    "batch": a.batch_id, "position": a.position, "result_id": lid, "operator": a.operator,
                    "deadline": a.deadline, "window_left": a.deadline - now, "steps": a.leaf.steps,
                    "outcome": Outcome(a.leaf.outcome).name.lower(), "rejected": a.rejected, "malformed": a.malformed,
                    "reopen_at": a.reopen_at,
                    "games": [{"id": g, "status": ix.games[g]["status"]} for g in ix.games_of.get(lid, [])]})
            if st.state == "FINALIZED":
                e["output"] = self._entry_output(st)
            entries.append(e)
        by_state: dict[str, int] = {}
        for e in entries:
            by_state[e["state"]] = by_state.get(e["state"], 0) + 1
        answering = [self._batch_row(b, now) for b, r in sorted(ix.batches.items()) if r["request_batch"] == rb]
        return {**head, "id": rb, "model": info.model_id, "model_name": model["name"], "requester": info.requester,
                "count": info.count, "fee": info.fee, "deadline": info.deadline, "deadline_left": info.deadline - now,
                "inputs_root": hx(info.inputs_root), "reopened": info.reopened, "max_steps": info.max_steps,
                "input_length": model["input_length"], "via": row["via"],
                "blob_hashes": [hx(h) for h in posted["blobHashes"]], "tx": hx(posted.tx_hash),
                "created_at": row["created_at"], "answered": row["answered"], "taken": row["taken"],
                "states": by_state, "error": error, "inputs": {"read": inputs is not None, "where": where},
                "batches": answering, "entries": entries}

    def _entry_output(self, st: Any) -> dict[str, Any]:
        """A finalized entry's output decoded, with the result that finalized it (a leaf, or a later result of
        its Optimist request after a dispute)."""
        rid = leaf_result_id(st.answer.batch_id, st.answer.position) if st.answer is not None else 0
        if st.request_status == RequestStatus.FINALIZED:   # disputed, then settled in Optimist
            rid = self.system.get_request(st.ref).result_id
            data = next((ev["output"] for ev in self._index.results_of.get(st.ref, []) if ev["resultId"] == rid),
                        None)
            if data is not None:
                return {"result_id": rid, **decode_output(data)}
        if is_leaf(rid) and leaf_position(rid)[0] in self._index.entry_leaves:
            return {"result_id": rid, **self._leaf_output_view(*leaf_position(rid))}
        return {"result_id": rid, "note": "the output is not published where the explorer can read it"}

    def _batch_row(self, batch_id: int, now: int) -> dict[str, Any]:
        row = self._index.batches[batch_id]
        return {**row, "window_left": row["deadline"] - now}

    def _batch(self, batch_id: int) -> dict[str, Any]:
        head = self._head()
        now = head["chain_time"]
        s, ix = self.system, self._index
        if batch_id not in ix.batches:
            raise NotFound(f"no batch {batch_id}")
        info = s.batch(batch_id)
        row = self._batch_row(batch_id, now)
        rb = row["request_batch"]
        graph = self._model(info.model_id)["kind"] == "graph"
        kind = "tensor_root" if graph else "keccak256"   # what a Success leaf's output hash is (output_hash)
        leaves = []
        for i in range(info.count):
            lid = leaf_result_id(batch_id, i)
            if rb:
                e = ix.entry_leaves[batch_id][i]
                if e is None:
                    leaves.append({"index": i, "result_id": lid, "status": "unreadable", "games": [],
                                   "words": f"its leaf is not readable: {UNREADABLE}"})
                    continue
                ref = entry_ref(rb, e.index)
                leaf: dict[str, Any] = {
                    "final_state_hash": hx(e.final_state_hash), "output_hash": hx(e.output_hash),
                    "output_hash_kind": kind, "steps": e.steps, "outcome": Outcome(e.outcome).name.lower(),
                    "exit_code": e.exit_code}
                output = None
            else:
                ev = ix.batch_leaves[batch_id][i]
                ref = ev["requestId"]
                output = bytes(ev["output"])
                leaf = {"final_state_hash": hx(ev["finalStateHash"]), "output_hash": hx(output_hash(output, graph)),
                        "output_hash_kind": kind, "steps": ev["steps"], "outcome": Outcome(ev["outcome"]).name.lower(),
                        "exit_code": ev["exitCode"]}
            leaf.update({"index": i, "result_id": lid, "request_id": ref, "request": format_ref(ref),
                         "request_in_optimist": ref in ix.requests,
                         "games": [{"id": g, "status": ix.games[g]["status"]} for g in ix.games_of.get(lid, [])]})
            if leaf["outcome"] == "success":
                leaf["output"] = decode_output(output) if output is not None else self._leaf_output_view(batch_id, i)
            rejection = ix.rejections.get(lid)
            if rejection is not None:
                leaf.update(status="rejected", challenger=rejection["challenger"],
                            words="rejected without a game: its entry's input is malformed (entry void, fee back to "
                                  "the requester)" if rejection["malformed"] else
                                  "rejected without a game: it contradicts its own final state (entry reopened, "
                                  "operator barred from it)")
            elif lid in ix.disputed_leaves:
                status = s.result(lid).status
                leaf.update(status="disputed", result_status=status.name.lower(), words={
                    ResultStatus.PENDING: "disputed: a single result of Optimist now, its game running",
                    ResultStatus.REJECTED: "disputed: lost its game (rejected)",
                    ResultStatus.FINALIZED: "disputed: defended, finalized in Optimist"}.get(status, status.name))
            elif info.settled:
                leaf.update(status="finalized", words="finalized with the batch")
            elif now <= row["deadline"]:
                leaf.update(status="pending", words="in its challenge window")
            else:
                leaf.update(status="window_over", words="window over: final once anyone sends "
                            + ("finalizeEntries" if rb else "finalizeBatch") + f"({batch_id})")
            leaves.append(leaf)
        posted = ix.batch_posted[batch_id]
        return {**head, **row, "root": hx(info.root), "operator": info.operator, "disputed": info.disputed,
                "settled": info.settled, "tx": hx(posted.tx_hash), "blob_hashes": [
                    hx(h) for h in posted.args.get("blobHashes", [])], "count": info.count, "output_hash_kind": kind,
                "leaves": leaves}


def _root_of(data: bytes, input_length: int) -> bytes | None:
    """The input root of `data` (None when it overflows the model's input region)."""
    try:
        return input_root(data, input_length)
    except Exception:   # RegionError: more bytes than the region holds
        return None


def measure(view: ChainView, repeat: int = 3) -> dict[str, float]:
    """Seconds to build the overview (first call: cold caches; then the best of `repeat` warm calls)."""
    t0 = time.perf_counter()
    view.overview()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        view.overview()
        warm.append(time.perf_counter() - t0)
    return {"cold": cold, "warm_min": min(warm)}
