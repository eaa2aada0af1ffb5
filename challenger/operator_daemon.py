"""The operator daemon: answer requests for the models it serves, defend its results, collect fees.

Per tick: post a result (final VM state, bond, and for a clean exit the output and its proof) for
every open request of a served model, whatever the run did (a failure exit code and "did not halt
within the model's maxSteps" are outcomes too); in every game against one of its results post the state hash at the midpoint when
it is its turn, prove the last step itself when its run says it wins, claim timeouts; finalize its
results after the challenge window (passing the output when the request names a callback); withdraw.

`dishonest=True`: the operator posts a consistent lie (challenger.models.LyingTrace) once per
request and defends it with the lying run's hashes; an honest challenger must beat it.

`workers > 1` (`--workers`): new requests are computed in worker processes (challenger.pool), as many at
once as there are workers (twice, so none idles between ticks; with a batch interval, every request the
next batch will claim); the loop only collects what they finished. A worker's exception fails its request
(`request_failed`, like a model error in-process); a killed worker (`worker_died`, an error line) breaks
every run in flight, which are computed again, each suspect alone: one that kills its worker alone too is
failed. A game's run is computed in-process (the game lane), as after a restart; dishonest operators
compute in-process. Several operators (own keys, own stores) serve one deployment: the chain decides who
posts first, and a post or batch refused because another operator took a request (RequestNotOpen) is a
lost race (`race_lost`): the request leaves this operator's pending runs.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import CancelledError, Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from challenger.batching import Batcher, finalize_batches
from challenger.daemon import Daemon
from challenger.entries import ENTRY_OUTPUTS, answer_entries, finalize_entry_batches, is_entry_leaf
from challenger.graph_games import GraphTrace, defend_graph_game
from challenger.models import AnyTrace, ModelError
from challenger.pool import GraphRun, InferencePool, RunClaim, graph_trace
from contracts.batches import is_leaf
from contracts.system import Outcome, Phase, RequestStatus, ResultStatus
from mipsvm.memory import keccak256

THROUGHPUT_LOG_S = 30.0   # a `throughput` line at most this often, when requests were computed

RACES = ("RequestNotOpen", "OperatorBarred", "GameNotActive", "ResultNotPending", "WrongPhase", "WrongStep", "ClockExpired",
         "ClockNotExpired", "ChallengeWindowOpen", "GamesOpen", "NothingToWithdraw")


@dataclass
class PoolRun:
    """A request computing in the pool: `alone` if it runs with nothing else in flight (a suspect of a
    killed worker); `generation`: the pool's executor it was given to."""

    future: Future[RunClaim | GraphRun]
    alone: bool
    generation: int


class Operator(Daemon):
    """`min_fee`: requests paying less (wei) are left to others; `max_queue`: VM runs of new requests
    waiting at once (games never wait behind them: they have their own lane; with a pool, at least twice
    `workers`); `batch_interval`: post the results ready every that many seconds in one postBatch per model
    (at most `max_batch` each; None: one postResult per request; challenger.batching); `workers`: processes
    computing new requests (1: in the daemon's process, as without a pool; the pool needs
    `background=True`); `entry_outputs`: where postEntries puts the outputs, 'blobs', 'calldata' or 'auto' (blobs
    when the node takes blob transactions, asked once; challenger.entries)."""

    races = RACES   # reverts that mean another transaction got there first

    role = "operator"

    def __init__(self, *args: Any, min_fee: int = 0, max_queue: int = 4, batch_interval: float | None = None,
                 max_batch: int = 100, workers: int = 1, entry_outputs: str = "auto", **kwargs: Any) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1 (1: computed in the daemon's process)")
        if entry_outputs not in ENTRY_OUTPUTS:
            raise ValueError(f"entry_outputs is one of {', '.join(ENTRY_OUTPUTS)}, not {entry_outputs!r}")
        super().__init__(*args, **kwargs)
        self.min_fee = min_fee
        self.entry_outputs = entry_outputs
        self.max_queue = max_queue
        self._skipped: set[int] = set()
        self.batcher = None if batch_interval is None else Batcher(batch_interval, max_batch)
        self.pool: InferencePool | None = None
        if workers > 1 and self._workers is not None:
            if self.dishonest:   # a lie is built from the honest run's snapshots, kept in-process
                self._log(logging.WARNING, "workers_ignored", workers=workers, reason="dishonest")
            else:
                self.pool = InferencePool(self.models, workers)
        self.workers = self.pool.workers if self.pool is not None else 1
        self.metrics.workers.labels(self.role).set(self.workers)
        self._pooled: dict[int, PoolRun] = {}       # request id -> its run in the pool
        self._claims: dict[int, RunClaim] = {}      # request id -> what a worker computed, until posted
        self._suspects: set[int] = set()            # requests in flight when a worker died: next run alone
        self._inprocess: set[int] = set()           # graph requests whose node failed natively
        self._throughput_at = time.monotonic()
        self._throughput_count = 0

    def game_role(self, challenger: str, result_id: int) -> str | None:
        row = self.store.result(result_id)
        if row is not None and row["operator"] == self.me:
            return "defender"
        return None

    def act(self) -> int:
        sent = 0
        sent += self.answer_requests()
        sent += answer_entries(self)   # request batches (challenger.entries)
        sent += self.defend_games()
        sent += self.finalize_results()
        sent += self.withdraw_all()
        return sent

    def views_to_read(self) -> list[tuple[str, tuple[Any, ...]]]:
        views = super().views_to_read() + self.game_views("defender")
        for row in self.store.requests("open"):
            if row["model_id"] in self.served and int(row["fee"]) >= self.min_fee:
                views.append(("requests", (row["request_id"],)))
        for row in self.store.results("pending"):
            if row["operator"] == self.me:
                views.append(("results", (row["result_id"],)))
                if self.client.seen_time >= int(row["deadline"]):   # finalizing soon: its request names the call
                    views.append(("requests", (row["request_id"],)))
        return views

    def bonds_at_stake(self, active_games: list[Any]) -> int:
        mine = [r for r in self.store.results("pending") if r["operator"] == self.me]
        return len(mine) * self.system.params.result_bond

    # ---- requests ------------------------------------------------------------------------------
    def answer_requests(self) -> int:
        """Post a result for open requests of served models, best fee first."""
        sent = 0
        if self.batcher is not None:
            self.batcher.begin()
        rows = self.store.requests("open")
        self._drop_taken({row["request_id"] for row in rows})
        for row in sorted(rows, key=lambda r: (-int(r["fee"]), r["request_id"])):
            rid = row["request_id"]
            if row["model_id"] not in self.served:
                continue
            if int(row["fee"]) < self.min_fee:
                if rid not in self._skipped:
                    self._skipped.add(rid)
                    self.emit("fee_too_low", request=rid, fee=int(row["fee"]), min_fee=self.min_fee)
                continue
            chain = self.client.get_request(rid)
            if chain.status != RequestStatus.OPEN:
                status = {RequestStatus.FINALIZED: "finalized", RequestStatus.CANCELLED: "cancelled"}.get(
                    chain.status, "posted")
                self.store.set_request_status(rid, status)
                self.drop_run(rid)
                continue
            if self.dishonest and row["posts"] >= 1:
                continue   # a liar lies once; the reopened request is left to honest operators
            pooled = self._pooled_model(row)
            if not pooled and rid not in self._traces and self.queued_runs("request") >= self.max_queue:
                continue   # the queue is full: this request waits for a later tick
            try:
                trace = self.ready_claim(row) if pooled else self.ready_trace(rid, urgent=False)
            except ModelError as exc:
                self.store.set_request_status(rid, "failed", note=str(exc))
                self.emit("request_failed", request=rid, error=str(exc))
                continue
            if trace is None:
                continue   # running in the background
            if self.batcher is not None and self.batcher.holds(row["model_id"], rid):
                continue   # checked and waiting for the next batch
            # a graph model's trace is native already, node by node: what its games are played on
            # (its node-by-node output was checked against the whole model by minidnn.phase1.commit)
            if not self.dishonest and trace.outcome == Outcome.SUCCESS and not isinstance(trace, GraphTrace):
                native = trace.native if isinstance(trace, RunClaim) else \
                    self.served[row["model_id"]].infer(bytes(row["input"]))
                if native != trace.output:
                    self.emit("native_vm_mismatch", request=rid)   # never post what we cannot defend
                    self.store.set_request_status(rid, "failed", note="native output != VM output")
                    continue
            if self.batcher is not None:   # one request refused would revert the whole batch: check first
                if self.client.now() < chain.reopen_at:
                    continue
                if row["posts"] and self.client.view("barred", rid, self.me):
                    self.store.set_request_status(rid, "barred", note="a result of ours was rejected here")
                    continue
                self.batcher.add(row["model_id"], rid, trace, row["posts"])
                continue
            if self.send(f"post:{rid}:{row['posts']}", "postResult", rid, trace.output, trace.final_packed,
                         trace.output_proof(), value=self.system.params.result_bond, expected=RACES):
                self.store.count_post(rid)
                self.emit("posted", request=rid, steps=trace.steps, outcome=trace.outcome.name,
                          exit_code=trace.exit_code, output=keccak256(trace.output), dishonest=self.dishonest)
                self.store.set_request_status(rid, "posted")
                self._claims.pop(rid, None)
                sent += 1
            elif self.last_revert == "OperatorBarred":
                self.store.set_request_status(rid, "barred", note="a result of ours was rejected here")
            elif self.last_revert == "RequestNotOpen":   # another operator posted first: not ours to answer
                self.store.set_request_status(rid, "posted")
                self.drop_run(rid)
            # otherwise (reopening, a race, a node error) the chain state is read again next tick
        if self.batcher is not None:
            sent += self.batcher.post(self)
        return sent

    # ---- the pool ------------------------------------------------------------------------------
    def _pooled_model(self, row: Any) -> bool:
        """True if the request is computed in the pool (else in-process, as without one)."""
        return (self.pool is not None and row["request_id"] not in self._inprocess
                and self.pool.handles(self.served[row["model_id"]]))

    def ready_claim(self, row: Any) -> AnyTrace | RunClaim | None:
        """What to post for a request computed in the pool, once a worker has computed it; else submit it (if
        the pool has room) and return None. Its worker's exception is raised here as a ModelError, once."""
        rid = row["request_id"]
        if rid in self._traces:                 # a graph trace, or a run a game needed meanwhile
            return self.trace(rid)
        claim = self._claims.get(rid)
        if claim is not None:
            return claim
        run = self._pooled.get(rid)
        if run is None:
            self._submit(row)
            return None
        if not run.future.done():
            return None
        del self._pooled[rid]
        try:
            result = run.future.result()
        except CancelledError:
            return None
        except BrokenProcessPool:
            self._worker_died(rid, run)
            return None
        except ModelError:
            raise
        except Exception as exc:   # a bug or a resource error in the worker: this request's error
            raise ModelError(f"worker error: {type(exc).__name__}: {exc}") from None
        self._suspects.discard(rid)
        model = self.served[row["model_id"]]
        if isinstance(result, GraphRun):
            if result.failed is not None:   # the failed node's VM run decides the claim: in-process
                self._inprocess.add(rid)
                self.emit("node_failed_natively", request=rid, node=result.failed, worker=result.pid)
                return self.ready_trace(rid, urgent=False)
            self._honest[rid] = graph_trace(model, bytes(row["input"]), result, interval=self.trace_interval,
                                            engine=self.engine)
            self.emit("native_run", request=rid, nodes=len(result.commitments) - 1,
                      seconds=round(result.seconds, 3), worker=result.pid)
            return self.trace(rid)
        self.emit("vm_run", request=rid, steps=result.steps, outcome=result.outcome.name,
                  exit_code=result.exit_code, seconds=round(result.seconds, 3), worker=result.pid)
        self._claims[rid] = result
        return result

    def _submit(self, row: Any) -> None:
        """Give a request to the pool if it has room: at most max(max_queue, 2 x workers) in flight; a
        suspect (in flight when a worker died) only into an empty pool, and nothing else while one waits."""
        assert self.pool is not None
        rid = row["request_id"]
        if any(run.alone for run in self._pooled.values()):
            return
        if rid in self._suspects:
            if self._pooled:
                return
        elif any(s not in self._pooled for s in self._suspects) or \
                len(self._pooled) >= max(self.max_queue, 2 * self.workers):
            return
        model_id = row["model_id"]
        model = self.served[model_id]
        if model_id in self.max_steps:
            max_steps = self.max_steps[model_id]
        else:   # a graph model's node bounds are in its descriptors: phase 1 is native
            max_steps = 0 if getattr(model, "graph", False) else model.image.max_steps
        future = self.pool.submit(model, bytes(row["input"]), max_steps=max_steps, interval=self.trace_interval,
                                  engine=self.engine)
        future.add_done_callback(self._counted)
        self._pooled[rid] = PoolRun(future, rid in self._suspects, self.pool.restarts)

    def _counted(self, future: Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.metrics.inferred()

    def _worker_died(self, rid: int, run: PoolRun) -> None:
        """A worker process died with the request in flight: the executor is broken (replaced once); the
        request runs again alone, and fails if it was alone already."""
        assert self.pool is not None
        if run.generation == self.pool.restarts:
            self.pool.restart()
        if run.alone:
            self._suspects.discard(rid)
            note = "the worker process computing it died (it ran alone: this request kills its worker)"
            self.store.set_request_status(rid, "failed", note=note)
            self.emit("request_failed", request=rid, error=note)
            return
        self._suspects.add(rid)
        self._log(logging.ERROR, "worker_died", request=rid, workers=self.workers,
                  error="a worker process died with this request in flight; it runs again, alone")

    def _drop_taken(self, open_ids: set[int]) -> None:
        """Forget the pending runs and claims of requests no longer open here (taken by another operator,
        cancelled, failed, posted): nothing waits on them any more."""
        for rid in [r for r in self._pooled if r not in open_ids]:
            self._pooled.pop(rid).future.cancel()
        for rid in [r for r in self._claims if r not in open_ids]:
            del self._claims[rid]
        for rid in [r for r, (lane, _) in self._runs.items() if lane == "request" and r not in open_ids]:
            super().drop_run(rid)
        self._suspects &= open_ids

    def drop_run(self, request_id: int) -> None:
        super().drop_run(request_id)
        run = self._pooled.pop(request_id, None)
        if run is not None:
            run.future.cancel()
        self._claims.pop(request_id, None)

    def forget(self, request_id: int) -> None:
        super().forget(request_id)
        self._inprocess.discard(request_id)

    def pending_futures(self) -> list[Future[Any]]:
        return super().pending_futures() + [run.future for run in self._pooled.values()]

    def busy(self) -> bool:
        """Also while pool runs are in flight or a request whose worker died waits to run again alone."""
        return super().busy() or bool(self._pooled) or bool(self._suspects)

    def close(self) -> None:
        """Stop the background threads and the worker processes."""
        super().close()
        if self.pool is not None:
            self.pool.close()

    def update_metrics(self) -> None:
        """The gauges, and every THROUGHPUT_LOG_S a `throughput` line if requests were computed since."""
        super().update_metrics()
        now = time.monotonic()
        if now - self._throughput_at < THROUGHPUT_LOG_S:
            return
        total = self.metrics.inferred_total
        if total > self._throughput_count:
            self.emit("throughput", inferences=total - self._throughput_count,
                      seconds=round(now - self._throughput_at, 1),
                      per_s=round((total - self._throughput_count) / (now - self._throughput_at), 2),
                      last_minute_per_s=round(self.metrics.inferences_per_second(), 2), workers=self.workers)
        self._throughput_at, self._throughput_count = now, total

    # ---- games ---------------------------------------------------------------------------------
    def defend_games(self) -> int:
        sent = 0
        for gid, g, res in self.active_games("defender"):
            if res.status != ResultStatus.PENDING:
                continue   # rejected by another game; a challenger cancels this one
            trace = self.ready_trace(res.request_id, urgent=True)
            if trace is None:
                continue   # recomputing the run (e.g. after a restart): next tick
            if isinstance(trace, GraphTrace):   # a two-phase game (challenger.graph_games)
                sent += defend_graph_game(self, gid, g, res, trace)
                continue
            now = self.client.now()
            deadline = g.clock_deadline
            if g.phase == Phase.MIDPOINT:
                mid = g.mid
                if self.send(f"midpoint:{gid}:{g.lo}:{g.hi}", "postMidpoint", gid, mid, trace.hash_at(mid),
                             expected=RACES):
                    self.emit("midpoint", game=gid, lo=g.lo, hi=g.hi, mid=mid)
                    sent += 1
            elif now > deadline:
                if self.send(f"timeout:{gid}", "timeout", gid, expected=RACES):
                    self.emit("timeout_claimed", game=gid)
                    sent += 1
            elif g.phase == Phase.PROOF:
                sent += self._prove_if_winning(gid, g.lo, g.lo_hash, g.hi_hash, trace)
        return sent

    def _prove_if_winning(self, gid: int, lo: int, lo_hash: bytes, hi_hash: bytes, trace) -> int:
        """One step left: an operator whose run reaches hi_hash from lo_hash ends the game at once."""
        witness = trace.witness_at(lo)
        if keccak256(witness.state) != lo_hash or witness.post_hash != hi_hash:
            return 0
        if self.send(f"prove:{gid}", "prove", gid, witness.state, witness.proof, expected=RACES):
            self.emit("proved", game=gid, step=lo)
            return 1
        return 0

    # ---- results -------------------------------------------------------------------------------
    def finalize_results(self) -> int:
        sent = 0
        now = None
        leaves = []   # undisputed batch leaves: finalized per batch (challenger.batching)
        for row in self.store.results("pending"):
            if row["operator"] != self.me:
                continue
            rid = row["result_id"]
            res = self.client.result(rid)
            if is_leaf(rid) and res.status == ResultStatus.NONE:
                leaves.append(row)
                continue
            if res.status != ResultStatus.PENDING:
                self.store.set_result_status(rid, res.status.name.lower())
                continue
            now = now if now is not None else self.client.now()
            if now > res.deadline and res.open_games == 0:
                if self.send(f"finalize:{rid}", *self._finalize_call(row, res.request_id), expected=RACES):
                    self.store.set_result_status(rid, "finalized")
                    self.emit("finalized", result=rid, request=res.request_id)
                    self.forget(res.request_id)
                    sent += 1
        if leaves:
            now = now if now is not None else self.client.now()
            entries = [r for r in leaves if is_entry_leaf(self, r["result_id"])]   # finalizeEntries
            sent += finalize_entry_batches(self, entries, now)
            if len(entries) < len(leaves):
                sent += finalize_batches(self, [r for r in leaves if not is_entry_leaf(self, r["result_id"])], now)
        return sent

    def _finalize_call(self, row: Any, request_id: int) -> tuple[Any, ...]:
        """finalize(resultId), or finalizeWithOutput(resultId, output) when the request names a callback
        (its consumer gets the output bytes; the contract checks them against the stored hash)."""
        req = self.client.get_request(request_id)
        if req.has_callback:
            return ("finalizeWithOutput", row["result_id"], bytes(row["output"]))
        return ("finalize", row["result_id"])
