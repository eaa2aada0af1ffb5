"""The operator daemon: answer requests for the models it serves, defend its results, collect fees.

Per tick: post a result (final VM state, bond, and for a clean exit the output and its proof) for
every open request of a served model, whatever the run did (a failure exit code and "did not halt
within the model's maxSteps" are outcomes too); in every game against one of its results post the state hash at the midpoint when
it is its turn, prove the last step itself when its run says it wins, claim timeouts; finalize its
results after the challenge window (passing the output when the request names a callback); withdraw.

`dishonest=True`: the operator posts a consistent lie (challenger.models.LyingTrace) once per
request and defends it with the lying run's hashes; an honest challenger must beat it.
"""

from __future__ import annotations

from typing import Any

from challenger.batching import Batcher, finalize_batches
from challenger.daemon import Daemon
from challenger.entries import answer_entries, finalize_entry_batches, is_entry_leaf
from challenger.graph_games import GraphTrace, defend_graph_game
from challenger.models import ModelError
from contracts.batches import is_leaf
from contracts.system import Outcome, Phase, RequestStatus, ResultStatus
from mipsvm.memory import keccak256

RACES = ("RequestNotOpen", "OperatorBarred", "GameNotActive", "ResultNotPending", "WrongPhase", "WrongStep", "ClockExpired",
         "ClockNotExpired", "ChallengeWindowOpen", "GamesOpen", "NothingToWithdraw")


class Operator(Daemon):
    """`min_fee`: requests paying less (wei) are left to others; `max_queue`: VM runs of new requests
    waiting at once (games never wait behind them: they have their own lane); `batch_interval`: post the
    results ready every that many seconds in one postBatch per model (at most `max_batch` each; None: one
    postResult per request; challenger.batching)."""

    races = RACES   # reverts that mean another transaction got there first

    role = "operator"

    def __init__(self, *args: Any, min_fee: int = 0, max_queue: int = 4, batch_interval: float | None = None,
                 max_batch: int = 100, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.min_fee = min_fee
        self.max_queue = max_queue
        self._skipped: set[int] = set()
        self.batcher = None if batch_interval is None else Batcher(batch_interval, max_batch)

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
        for row in sorted(self.store.requests("open"), key=lambda r: (-int(r["fee"]), r["request_id"])):
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
            if rid not in self._traces and self.queued_runs("request") >= self.max_queue:
                continue   # the queue is full: this request waits for a later tick
            try:
                trace = self.ready_trace(rid, urgent=False)
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
                native = self.served[row["model_id"]].infer(bytes(row["input"]))
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
                sent += 1
            elif self.last_revert == "OperatorBarred":
                self.store.set_request_status(rid, "barred", note="a result of ours was rejected here")
            # otherwise (reopening, a race, a node error) the chain state is read again next tick
        if self.batcher is not None:
            sent += self.batcher.post(self)
        return sent

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
