"""The challenger daemon: recompute every posted result, dispute the wrong ones, win the bonds.

Per tick: for each pending result of a model it knows, run the request in the VM (in the background)
and compare its own state at the claimed step with the posted final state, whatever either run did
(clean exit, trap, error exit, no halt within the model's maxSteps); on a difference open a game
(challenge bond) while the window is open. In each of its games: answer the defender's
midpoint (agree iff its own run has the same state hash there), give the one-step proof (reference
stepper witness at the agreed step) when one step is left, claim the defender's timeout, cancel a
game whose result another game already rejected; withdraw.

Several challengers on one result are independent games (one per account); the first win rejects
the result and the others are cancelled with their bonds refunded.

`dishonest=True`: the challenger believes a consistent false run (challenger.models.LyingTrace),
disputes correct results with it and plays it to the end — and loses.
"""

from __future__ import annotations

from typing import Any

from challenger.batching import dispute_leaf
from challenger.daemon import Daemon
from challenger.entries import REJECTABLE, dispute_entry, entry_verdict, is_entry_leaf
from challenger.graph_games import GraphTrace, play_graph_game
from challenger.models import AnyTrace, ModelError
from contracts.batches import is_leaf
from contracts.system import Event, Outcome, Phase, ResultStatus
from mipsvm.memory import keccak256

RACES = ("AlreadyChallenged", "ChallengeWindowClosed", "ResultNotPending", "GameNotActive", "WrongPhase",
         "WrongStep", "ClockExpired", "ClockNotExpired", "ResultNotRejected", "NothingToWithdraw",
         "SelfChallenge")


class Challenger(Daemon):
    role = "challenger"
    races = RACES   # reverts that mean another transaction got there first

    def game_role(self, challenger: str, result_id: int) -> str | None:
        return "challenger" if challenger == self.me else None

    def on_event(self, ev: Event) -> None:
        super().on_event(ev)
        if ev.name in ("GameResolved", "GameCancelled") and self.store.game(ev["gameId"]) is not None:
            result = self.store.result(ev["resultId"])
            # a game lost leaves the result standing: drop its VM runs. A game won or cancelled means
            # the result was rejected and the request reopened: its next result is checked against the
            # same run, kept (among the max_traces most recent) rather than recomputed
            if result is not None and ev.name == "GameResolved" and not ev["challengerWon"]:
                self.forget(result["request_id"])

    def views_to_read(self) -> list[tuple[str, tuple[Any, ...]]]:
        views = super().views_to_read() + self.game_views("challenger")
        for row in self.store.results("pending"):
            if row["operator"] != self.me and row["verdict"] in (None, "disagree"):
                views += [("results", (row["result_id"],)), ("gameOf", (row["result_id"], self.me))]
        return views

    def bonds_at_stake(self, active_games: list[Any]) -> int:
        return len(active_games) * self.system.params.challenge_bond

    def act(self) -> int:
        sent = 0
        sent += self.check_results()
        sent += self.play_games()
        sent += self.withdraw_all()
        return sent

    # ---- results ------------------------------------------------------------------------------
    def verdict(self, row: Any, trace: AnyTrace | None = None) -> str | None:
        """'agree' / 'disagree' with a posted result, from this challenger's own state at the claimed
        step (whatever its own run did: exit, trap, no halt); None while its run is being computed.
        `trace`: the request's run when the caller already holds it."""
        trace = trace if trace is not None else self.ready_trace(row["request_id"], urgent=False)
        if trace is None:
            return None
        steps = int(row["steps"])
        if isinstance(trace, GraphTrace):   # a failure claim may need the node's VM run (graph_games)
            return "agree" if trace.agrees(steps, bytes(row["final_hash"]), failure=not row["output"]) \
                else "disagree"
        if steps > trace.steps and trace.outcome == Outcome.NO_HALT:
            return "disagree"   # a claim past this model's step bound (the contract refuses it anyway)
        return "agree" if trace.hash_at(steps) == bytes(row["final_hash"]) else "disagree"

    def check_results(self) -> int:
        sent = 0
        now = None
        for row in self.store.results("pending"):
            rid = row["result_id"]
            if row["operator"] == self.me:
                continue
            req = self.store.request(row["request_id"])
            if row["verdict"] is None:
                if req is None or req["model_id"] not in self.served:
                    self.store.set_verdict(rid, "unknown-model")
                    continue
                try:   # a request-batch entry's leaf is judged for more (challenger.entries)
                    verdict = entry_verdict(self, row) if is_entry_leaf(self, rid) else self.verdict(row)
                except ModelError as exc:
                    self.store.set_verdict(rid, "error")
                    self.emit("recompute_failed", result=rid, request=row["request_id"], error=str(exc))
                    continue
                if verdict is None:
                    continue   # still running: next tick
                self.store.set_verdict(rid, verdict)
                self.emit("checked", result=rid, request=row["request_id"], verdict=verdict)
                row = self.store.result(rid)
            if row["verdict"] not in ("disagree", *REJECTABLE):
                continue
            res = self.client.result(rid)
            now = now if now is not None else self.client.now()
            if is_leaf(rid) and res.status == ResultStatus.NONE:   # a batch leaf not on-chain yet
                if now >= int(row["deadline"]):
                    self.emit("window_missed", result=rid)
                    self.store.set_verdict(rid, "disagree-too-late")
                elif is_entry_leaf(self, rid):
                    sent += dispute_entry(self, row)
                else:
                    sent += dispute_leaf(self, row)
                continue
            if res.status != ResultStatus.PENDING:
                self.store.set_result_status(rid, res.status.name.lower())
                continue
            if row["verdict"] in REJECTABLE:
                # an entry leaf someone else's game brought into Optimist (an accomplice's, maybe): its trace is
                # true, so a game would lose; rejectEntry rejects it there (Optimist.rejectLeaf)
                if now >= res.deadline:
                    self.emit("window_missed", result=rid)
                    self.store.set_verdict(rid, "disagree-too-late")
                else:
                    sent += dispute_entry(self, row)
                continue
            if self.client.view("gameOf", rid, self.me):
                continue
            if now >= res.deadline:
                self.emit("window_missed", result=rid)
                self.store.set_verdict(rid, "disagree-too-late")
                continue
            if is_leaf(rid):   # a leaf on-chain already (someone else's game): ours comes with its proof too
                sent += dispute_entry(self, row) if is_entry_leaf(self, rid) else dispute_leaf(self, row)
                continue
            if self.send(f"open:{rid}", "openGame", rid, value=self.system.params.challenge_bond,
                         expected=RACES):
                self.emit("game_opened", result=rid, request=res.request_id, steps=res.steps)
                sent += 1
        return sent

    # ---- games ---------------------------------------------------------------------------------
    def play_games(self) -> int:
        sent = 0
        for gid, g, res in self.active_games("challenger"):
            if res.status == ResultStatus.REJECTED:
                if self.send(f"cancel:{gid}", "cancelGame", gid, expected=RACES):
                    self.emit("game_cancelled", game=gid, result=g.result_id)
                    sent += 1
                continue
            if res.status != ResultStatus.PENDING:
                continue
            trace = self.ready_trace(res.request_id, urgent=True)
            if trace is None:
                continue   # computing the run: next tick
            if isinstance(trace, GraphTrace):   # a two-phase game (challenger.graph_games)
                sent += play_graph_game(self, gid, g, res, trace)
                continue
            now = self.client.now()
            deadline = g.clock_deadline
            if g.phase == Phase.RESPONSE:
                mid = g.mid
                agree = trace.hash_at(mid) == g.mid_hash
                if self.send(f"respond:{gid}:{g.lo}:{g.hi}", "respond", gid, mid, agree, expected=RACES):
                    self.emit("responded", game=gid, lo=g.lo, hi=g.hi, mid=mid, agree=agree)
                    sent += 1
            elif g.phase == Phase.PROOF:
                witness = trace.witness_at(g.lo)
                if keccak256(witness.state) != g.lo_hash:
                    self.emit("proof_impossible", game=gid, step=g.lo)   # cannot happen in an honest run
                    continue
                if self.send(f"prove:{gid}", "prove", gid, witness.state, witness.proof, expected=RACES):
                    self.emit("proved", game=gid, step=g.lo)
                    sent += 1
            elif now > deadline:
                if self.send(f"timeout:{gid}", "timeout", gid, expected=RACES):
                    self.emit("timeout_claimed", game=gid)
                    sent += 1
        return sent
