"""Batched results in the daemons (contracts/src/OptimistBatches.sol, docs/game-rules.md §3a).

The operator, with a batch interval, collects the results it would post one by one and posts them per model
with `postBatch` once the interval has passed; after the window it finalizes each of its batches with
`finalizeBatch` (undisputed leaves) and, like any result, every disputed leaf whose games are over with
`finalize`. The challenger judges a leaf like any result (its ResultPosted carries the same fields); to dispute
one that is not on-chain yet it sends `disputeLeaf` with the leaf and its inclusion proof, rebuilt from the
batch's ResultPosted events (all in the posting block). Games on a leaf are today's games.
"""

from __future__ import annotations

import time
from typing import Any

from challenger.models import AnyTrace
from contracts.batches import MAX_BATCH, Claim, Leaf, leaf_position, leaf_proof
from mipsvm.memory import keccak256

LEAF_RACES = ("LeafDisputed", "BatchSettled")


def batch_leaves(daemon: Any, batch_id: int, block: int) -> list[Leaf]:
    """Every leaf of `batch_id`, in order, from the events of its posting block (System.batch_posted, read through
    the daemon's retrying RPC; cached)."""
    cache: dict[int, list[Leaf]] = daemon.__dict__.setdefault("_batch_leaves", {})
    if batch_id not in cache:
        system = daemon.system
        cache[batch_id] = system.batch_posted(
            batch_id, block, lambda b: daemon.client.rpc(lambda: system.events_since(b, b), "get_logs"),
            lambda m: daemon.client.rpc(lambda: system.is_graph_model(m), "graphs"))[0]
    return cache[batch_id]


class Batcher:
    """The operator's pending claims, posted per model every `interval` seconds (0: every tick)."""

    def __init__(self, interval: float, max_batch: int = 100) -> None:
        if interval < 0:
            raise ValueError("the batch interval must be >= 0 seconds")
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"a batch holds 1..{MAX_BATCH} results")
        self.interval = interval
        self.max_batch = max_batch
        self.ready: dict[int, dict[int, tuple[AnyTrace, int]]] = {}   # model id -> request id -> (trace, posts)
        self.seen: set[int] = set()   # requests found open and claimable this tick
        self.last_post = time.monotonic()

    def begin(self) -> None:
        """A new tick: only requests found claimable again (add / holds) go into the next batch."""
        self.seen = set()

    def add(self, model_id: int, request_id: int, trace: AnyTrace, posts: int) -> None:
        self.ready.setdefault(model_id, {})[request_id] = (trace, posts)
        self.seen.add(request_id)

    def holds(self, model_id: int, request_id: int) -> bool:
        """True if the request's claim waits for the next batch (it stays in it this tick)."""
        if request_id in self.ready.get(model_id, {}):
            self.seen.add(request_id)
            return True
        return False

    def post(self, op: Any) -> int:
        """Post the collected claims (if the interval has passed): one postBatch per model and max_batch."""
        self.ready = {model: kept for model, claims in self.ready.items()      # taken, cancelled, ...: dropped
                      if (kept := {rid: c for rid, c in claims.items() if rid in self.seen})}
        if not self.ready or time.monotonic() - self.last_post < self.interval:
            return 0
        self.last_post = time.monotonic()
        sent = 0
        ready, self.ready = self.ready, {}
        bond = op.system.params.result_bond
        for model_id, claims in ready.items():
            items = sorted(claims.items())
            for start in range(0, len(items), self.max_batch):
                chunk = items[start:start + self.max_batch]
                args = [Claim(rid, trace.output, trace.final_packed, trace.output_proof()).as_tuple()
                        for rid, (trace, _) in chunk]
                key = "batch:" + keccak256(repr([(rid, posts) for rid, (_, posts) in chunk]).encode()).hex()[:16]
                if op.send(key, "postBatch", model_id, args, value=bond * len(chunk), expected=op.races):
                    for rid, _ in chunk:
                        op.store.count_post(rid)
                        op.store.set_request_status(rid, "posted")
                    op.emit("batch_posted", model=model_id, results=len(chunk),
                            requests=[rid for rid, _ in chunk])
                    sent += 1
                elif op.last_revert == "RequestNotOpen":   # another operator took one: drop it, retry the rest
                    taken = op.last_revert_fields.get("requestId")
                    if taken is not None:
                        op.store.set_request_status(taken, "posted")
                    self.last_post -= self.interval   # at once (next tick), not after another interval
                # a reverted batch (a request taken meanwhile, a bar...) is rebuilt from chain state next tick
        return sent


def due_batches(rows: list[Any], now: int) -> list[tuple[int, Any]]:
    """(batch id, one of its rows) of each batch among `rows` (pending store rows of leaves) whose window is over."""
    batches: dict[int, Any] = {}
    for row in rows:
        batches.setdefault(leaf_position(row["result_id"])[0], row)
    return [(batch_id, row) for batch_id, row in sorted(batches.items()) if now > int(row["deadline"])]


def finalize_batches(op: Any, rows: list[Any], now: int) -> int:
    """finalizeBatch for each batch whose undisputed leaves (`rows`: pending store rows of them) are due."""
    sent = 0
    for batch_id, row in due_batches(rows, now):
        leaves = batch_leaves(op, batch_id, int(row["block"]))
        if op.send(f"finalize-batch:{batch_id}", "finalizeBatch", batch_id, [leaf.as_tuple() for leaf in leaves],
                   expected=(*op.races, *LEAF_RACES)):
            op.emit("batch_finalized", batch=batch_id, leaves=len(leaves))
            sent += 1
    return sent


def dispute_leaf(ch: Any, row: Any) -> int:
    """Bring a leaf the challenger disagrees with on-chain and open a game on it (disputeLeaf)."""
    batch_id, index = leaf_position(row["result_id"])
    leaves = batch_leaves(ch, batch_id, int(row["block"]))
    proof = leaf_proof([leaf.hash() for leaf in leaves], index)
    if ch.send(f"dispute-leaf:{row['result_id']}", "disputeLeaf", batch_id, index, leaves[index].as_tuple(), proof,
               bytes(32), [],
               value=ch.system.params.challenge_bond, expected=(*ch.races, *LEAF_RACES)):
        ch.emit("game_opened", result=row["result_id"], request=row["request_id"], steps=row["steps"],
                batch=batch_id, leaf=index)
        return 1
    return 0
