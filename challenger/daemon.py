"""What the operator and challenger daemons share: event ingestion, served models, traces, the loop.

A daemon is driven by `tick()`: ingest new Optimist events into SQLite, then look at chain state and
take every decision that is due (each decision is one idempotent `ChainClient.send` keyed by what it
decides). Decisions are derived from chain state, not from the events alone, so a restarted daemon
(or one whose node lost blocks) converges on the right moves. `run_forever` calls `tick` in a loop.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from web3.exceptions import Web3RPCError

from challenger.client import EVENT_CHUNK, ChainClient, RpcUnavailable, TxDropped, ether, kv
from challenger.entries import ENTRY_EVENTS, on_entry_event
from challenger.graph_games import GraphTrace, is_graph, lie_graph
from challenger.metrics import DaemonMetrics
from challenger.models import AnyTrace, LyingTrace, ModelError, ServedModel, Trace
from challenger.store import Store
from contracts.system import ContractRevert, Event, GameInfo, GameStatus, ResultInfo

MAX_TRACES = 16      # runs kept in memory; older ones (no longer needed by a move) are recomputed on demand
NOT_YET = ("ChallengeWindowOpen", "ClockNotExpired", "RequestReopening")
# events after which the contract may owe this daemon money (its balance is read only then)
CREDITING = ("GameResolved", "GameCancelled", "ResultRejected", "ResultFinalized")
# transactions that may credit their sender (they end a game or finalize a result)
CREDITING_CALLS = frozenset({"prove", "timeout", "cancelGame", "finalize", "finalizeWithOutput", "finalizeBatch"})


class Daemon:
    """Base class: `role` is "operator" or "challenger"."""

    role = "daemon"
    races: tuple[str, ...] = ()   # revert names that mean another transaction got there first
    graph_lie = "phase1"   # what a dishonest daemon lies about in graph games (challenger.graph_games)

    def __init__(self, client: ChainClient, models: Iterable[ServedModel], *, dishonest: bool = False,
                 start_block: int = 0, trace_interval: int | None = None, engine: str | None = None,
                 logger: logging.Logger | None = None, background: bool = False,
                 max_traces: int = MAX_TRACES, metrics: DaemonMetrics | None = None,
                 beacon_url: str | None = None) -> None:
        self.client = client
        self.system = client.system
        self.store: Store = client.store
        self.models = list(models)
        self.dishonest = dishonest
        self.start_block = start_block
        self.trace_interval = trace_interval
        self.engine = engine
        self.beacon_url = beacon_url   # blobs from this beacon API (contracts.blobs.BeaconBlobs), else from anvil
        self.log = logger or logging.getLogger(f"optimist.{self.role}")
        self.served: dict[int, ServedModel] = {}
        self.max_steps: dict[int, int] = {}   # model id -> its registered step bound
        self._roots = {m.image.image_root: m for m in self.models if not is_graph(m)}
        self._graphs = [m for m in self.models if is_graph(m)]
        self._traces: OrderedDict[int, AnyTrace] = OrderedDict()
        self._honest: OrderedDict[int, Trace] = OrderedDict()
        self.max_traces = max_traces
        # VM runs happen off the loop: one worker for runs a game needs (never queued behind new
        # requests), one for everything else; `background=False` runs them inline (simple tests).
        self._workers: dict[str, ThreadPoolExecutor] | None = {
            lane: ThreadPoolExecutor(1, thread_name_prefix=f"{self.role}-{lane}-runs")
            for lane in ("game", "request")} if background else None
        self._runs: dict[int, tuple[str, Future[AnyTrace]]] = {}
        self._node_runs: dict[tuple[int, int], Future[Any]] = {}   # graph games' node VM runs (game lane)
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self._resumed = False
        self.last_revert: str | None = None   # the custom error of the last send that reverted
        self.last_revert_fields: dict[str, Any] = {}   # and its arguments (e.g. RequestNotOpen's requestId)
        self._maybe_credited = True   # read the balance at start-up, then after crediting events
        self._credit_sent = False     # a transaction of this tick may have credited us (CREDITING_CALLS)
        self.metrics = metrics or DaemonMetrics(self.role)
        self.metrics.workers.labels(self.role).set(1)
        self._balance_read_at = 0.0

    @property
    def me(self) -> str:
        return self.client.address

    # ---- logging -------------------------------------------------------------------------------
    def emit(self, event: str, **fields: Any) -> None:
        """A structured log line (`event` and `fields` also as record attributes, for JSON logs),
        also passed to listeners (the demo's narration)."""
        self.log.info(kv(event, role=self.role, **fields), extra={"event": event, "fields": fields,
                                                                   "role": self.role})
        for listener in self.listeners:
            listener(event, fields)

    def _log(self, level: int, event: str, **fields: Any) -> None:
        """A structured line at `level` for the log only (not passed to listeners)."""
        if self.log.isEnabledFor(level):
            self.log.log(level, kv(event, role=self.role, **fields), extra={"event": event, "fields": fields,
                                                                           "role": self.role})

    # ---- the loop ------------------------------------------------------------------------------
    def tick(self) -> int:
        """Ingest events and take every decision that is due; returns the number of transactions sent."""
        self.client.begin_tick()
        self._credit_sent = False
        if not self._resumed:
            # the contract's parameters (bonds, clock) are read once, here, with retries: later uses
            # (bonds_at_stake, postResult's value, ...) would otherwise read them bare
            self.client.rpc(lambda: self.system.params, "params")
            self.client.rpc(lambda: self.system.batches, "batches")   # its events are read with Optimist's
            self.discover_models()
            served = set(map(id, self.served.values()))
            for model in self.models:
                if id(model) not in served:
                    self._log(logging.WARNING, "not_registered", model=model.name,
                              **({"nodes_root": model.nodes_root} if is_graph(model)
                                 else {"image_root": model.image.image_root}),
                              hint="served once registered (optimist register FILE)")
            for outcome in self.client.resume_pending():
                self.emit("tx_resumed", outcome=str(getattr(outcome, "key", outcome)))
            self._resumed = True
        self.ingest()
        sent = self.act()
        self.update_metrics()
        return sent

    def update_metrics(self) -> None:
        """Refresh the gauges from the store (and the balance, at most every 30 s)."""
        m, role = self.metrics, self.role
        m.ticked()
        m.last_block.labels(role).set(self.store.cursor() or 0)
        m.queued_runs.labels(role).set(len(self._runs))
        m.inference_rate.labels(role).set(m.inferences_per_second())
        active = [g for g in self.store.games("active") if g["role"] == ("defender" if role == "operator"
                                                                          else "challenger")]
        m.games_active.labels(role).set(len(active))
        m.bonds_at_stake.labels(role).set(self.bonds_at_stake(active))
        if time.monotonic() - self._balance_read_at > 30:
            self._balance_read_at = time.monotonic()
            m.balance.labels(role).set(self.client.balance())

    def bonds_at_stake(self, active_games: list[Any]) -> int:
        """Wei of this daemon's bonds locked in the contract now."""
        raise NotImplementedError

    def act(self) -> int:
        raise NotImplementedError

    def run_forever(self, poll_interval: float = 1.0, stop: Callable[[], bool] | None = None) -> None:
        """Tick until SIGTERM/SIGINT (or `stop()`); RPC outages are waited out with backoff. A signal
        ends every wait at once, RPC retries included (`ChainClient.stop`): the loop stops after
        the step in progress, leaving the store as a crash would (restart-safe)."""
        flag = self.client.stop

        def _stop(signum: int, frame: object) -> None:
            flag.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _stop)
        self.emit("started", account=self.me, models=len(self.models), dishonest=self.dishonest)
        backoff = poll_interval
        while not flag.is_set and not (stop and stop()):
            try:
                sent = self.tick()
                backoff = poll_interval
            except RpcUnavailable as exc:
                if flag.is_set:
                    break
                self.metrics.rpc_errors.labels(self.role).inc()
                self.emit("rpc_unavailable", error=str(exc), retry_in=round(backoff, 1))
                flag.sleep(backoff)
                backoff = min(30.0, backoff * 2)
                continue
            if not sent:
                if self.busy():
                    self.wait_for_runs(poll_interval)
                else:
                    flag.sleep(poll_interval)
        self.close()
        self.emit("stopped", signal=flag.is_set)

    # ---- events --------------------------------------------------------------------------------
    def ingest(self) -> None:
        """Read Optimist events from the stored cursor to the head into the store, in one batch with
        the contract views this tick's decisions read (`views_to_read`), all at the head block."""
        cursor = self.store.cursor()
        if cursor is not None:
            events = self.client.read_next_block(self.views_to_read(), cursor)
            if events is not None:               # the head is the block after the cursor's
                self._ingested(events, cursor)
                return
        head = self.client.head()
        if cursor is None or cursor > head:      # first run, or the node lost blocks: rescan
            cursor = self.start_block - 1
        while head - cursor > EVENT_CHUNK:       # catching up: chunk by chunk
            to = cursor + EVENT_CHUNK
            events = self.client.rpc(lambda c=cursor, t=to: self.system.events_since(c + 1, t), "get_logs")
            for ev in events:
                self.on_event(ev)
            cursor = to
            self.store.set_cursor(cursor)
        self._ingested(self.client.prefetch(self.views_to_read(), logs_from=cursor + 1 if cursor < head else None),
                       cursor)

    def _ingested(self, events: list[Event], cursor: int) -> None:
        """Take in the events of blocks cursor+1..head (read with this tick's views)."""
        for ev in events:
            self.on_event(ev)
        if cursor < self.client.head():
            self.store.set_cursor(self.client.head())
        if events:    # what the events brought (a new game, a new result) is read in one more batch
            self.client.prefetch(self.views_to_read())

    def views_to_read(self) -> list[tuple[str, tuple[Any, ...]]]:
        """The contract views (name, args) this tick's decisions will read, from the store; a view
        missing here is still read when used, alone."""
        return [("balances", (self.me,))] if self._maybe_credited else []

    def game_views(self, role: str) -> list[tuple[str, tuple[Any, ...]]]:
        """The views `active_games(role)` reads: each active game and its result."""
        out: list[tuple[str, tuple[Any, ...]]] = []
        for row in self.store.games("active"):
            if row["role"] == role:
                out += [("games", (row["game_id"],)), ("results", (row["result_id"],))]
        return out

    def on_event(self, ev: Event) -> None:
        s, a = self.store, ev.args
        if ev.name in CREDITING:
            self._maybe_credited = True
        if ev.name == "ModelRegistered":
            model = self._roots.get(a["imageRoot"])
            if model is not None and self._matches(model, a):
                if a["modelId"] not in self.served:
                    self.emit("serving", model_id=a["modelId"], name=model.name)
                self.served[a["modelId"]] = model
                self.max_steps[a["modelId"]] = a["maxSteps"]
        elif ev.name == "GraphModelRegistered":
            self._serve_graph(a["modelId"], a["nodesRoot"], a["nodeCount"], a["inputLength"], a["outputLength"],
                              a["period"])
        elif ev.name == "NodeEntered":
            if s.game(a["gameId"]) is not None:
                s.set_game_node(a["gameId"], a["node"], a["initialStateHash"], a["finalStateHash"], a["steps"],
                                ev.block)
        elif ev.name == "RequestCreated":
            s.add_request(a["requestId"], a["modelId"], a["requester"], a["fee"], a["input"],
                          a["initialStateHash"], ev.block)
        elif ev.name == "ResultPosted":
            s.add_result(a["resultId"], a["requestId"], a["operator"], a["finalStateHash"], a["steps"],
                         a["deadline"], a["output"], ev.block)
            s.set_request_status(a["requestId"], "posted")
        elif ev.name == "ResultRejected":
            s.set_result_status(a["resultId"], "rejected")
            s.set_request_status(a["requestId"], "open")
        elif ev.name == "RequestCancelled":
            s.set_request_status(a["requestId"], "cancelled")
        elif ev.name == "ResultFinalized":
            s.set_result_status(a["resultId"], "finalized")
            s.set_request_status(a["requestId"], "finalized")
        elif ev.name == "GameOpened":
            role = self.game_role(a["challenger"], a["resultId"])
            if role is not None:
                s.add_game(a["gameId"], a["resultId"], a["challenger"], role, a["steps"], ev.block)
        elif ev.name == "MoveMade":
            if s.game(a["gameId"]) is not None:
                kind = ("midpoint", "agree", "disagree")[a["kind"]]
                existing = [m for m in s.moves(a["gameId"]) if m["tx_hash"] == ev.tx_hash]
                if not existing:
                    s.add_move(a["gameId"], a["mover"], kind, a["lo"], a["hi"], a["mid"], a["midHash"],
                               ev.block, ev.tx_hash)
        elif ev.name == "GameResolved":
            game = s.game(a["gameId"])
            if game is not None:
                status = "challenger_won" if a["challengerWon"] else "defender_won"
                reason = ("proof", "timeout")[a["reason"]]
                s.end_game(a["gameId"], status, a["winner"], reason)
                self.game_outcome(game, reason, a["winner"], paid=a["paid"], burnt=a["burnt"])
        elif ev.name == "GameCancelled":
            game = s.game(a["gameId"])
            if game is not None:
                s.end_game(a["gameId"], "cancelled", None, "result rejected by another game")
                self.game_outcome(game, "cancelled", game["challenger"], paid=a["refund"])
        elif ev.name in ENTRY_EVENTS:   # request batches (challenger.entries)
            on_entry_event(self, ev)
        elif ev.name == "Withdrawn" and a["account"] == self.me:
            self.emit("withdrawn", amount_ether=ether(a["amount"]), amount_wei=a["amount"], block=ev.block)

    def game_outcome(self, game: Any, reason: str, winner: str, *, paid: int, burnt: int | None = None) -> None:
        """The `game_won` / `game_lost` line of one of this daemon's games, with the amounts of the
        contract's event (GameResolved: `paid` to the winner and `burnt` of the loser's bond;
        GameCancelled: the challenger's `refund`) as this daemon sees them, in ether (exact decimal
        strings) and the main one in wei too. Won: `paid` = `bond` (own bond returned) + `share`
        (of the loser's bond). Lost: `lost` (own bond forfeited), `to_winner` (the winner's share of
        it) and `burnt`. A cancelled game is won by its challenger (the result was rejected by another
        game) and costs the operator nothing more: its result bond is counted in the rejecting game."""
        p = self.system.params
        mine = game["role"]    # 'challenger' or 'defender': this daemon's side
        won = (winner == self.me) if reason != "cancelled" else mine == "challenger"
        fields: dict[str, Any] = {"game": game["game_id"], "result": game["result_id"], "role_in_game": mine,
                                  "reason": reason, "winner": winner}
        if won:
            bond = p.challenge_bond if mine == "challenger" else 0   # a result bond returns with finalize
            fields.update(paid_ether=ether(paid), paid_wei=paid, bond_ether=ether(bond),
                          share_ether=ether(paid - bond))
        else:
            if reason == "cancelled":
                lost = 0
            elif mine == "challenger":
                lost = paid + burnt if burnt is not None else p.challenge_bond
            else:
                lost = p.result_bond
            to_winner = paid - p.challenge_bond if mine == "defender" else paid
            fields.update(lost_ether=ether(lost), lost_wei=lost, to_winner_ether=ether(to_winner))
        if burnt is not None:
            fields["burnt_ether"] = ether(burnt)
        self.metrics.games_ended.labels(self.role, "won" if won else "lost", reason).inc()
        self.emit("game_won" if won else "game_lost", **fields)

    def discover_models(self) -> None:
        """Find the registered models this daemon can run (also those registered before start_block)."""
        count = self.client.view("modelCount")
        missing = [m for m in range(1, count + 1) if m not in self.served]
        self.client.prefetch(("models", (m,)) for m in missing)
        for model_id in missing:
            try:
                info = self.system.model_info(model_id, self.client.view("models", model_id))
            except ContractRevert:   # a graph model (two-phase games)
                try:
                    g = self.client.rpc(lambda m=model_id: self.system.graph_model(m), "graphs")
                except ContractRevert:
                    continue
                self._serve_graph(model_id, g.nodes_root, g.node_count, g.input_length, g.output_length, g.period)
                continue
            model = self._roots.get(info.image_root)
            if model is not None and self._matches(model, {
                    "entry": info.entry, "inputBase": info.input_base, "inputLength": info.input_length,
                    "outputBase": info.output_base, "outputLength": info.output_length}):
                self.served[model_id] = model
                self.max_steps[model_id] = info.max_steps
                self.emit("serving", model_id=model_id, name=model.name)

    def _serve_graph(self, model_id: int, nodes_root: bytes, node_count: int, input_length: int,
                     output_length: int, period: int = 0) -> None:
        """Serve a registered graph model if one of ours has these descriptors."""
        for model in self._graphs:
            if model_id not in self.served and model.matches(nodes_root, node_count, input_length, output_length,
                                                             period):
                self.served[model_id] = model
                self.emit("serving", model_id=model_id, name=model.name, two_phase=True)
                return

    @staticmethod
    def _matches(model: ServedModel, a: dict[str, Any]) -> bool:
        img = model.image
        return (a["entry"], a["inputBase"], a["inputLength"], a["outputBase"], a["outputLength"]) == \
            (img.entry, img.input_base, img.input_length, img.output_base, img.output_length)

    def game_role(self, challenger: str, result_id: int) -> str | None:
        """'challenger' / 'defender' if this daemon plays the game, else None."""
        raise NotImplementedError

    # ---- traces --------------------------------------------------------------------------------
    def honest_trace(self, request_id: int, row: Any = None) -> Trace:
        """The true run of a request (`row`: its store row, read here if not given; a background
        run gets it from the loop's thread, which owns the SQLite connection)."""
        trace = self._honest.get(request_id)
        if trace is None:
            row = row if row is not None else self.store.request(request_id)
            if row is None:
                raise ModelError(f"request {request_id} was never seen")
            model = self.served.get(row["model_id"])
            if model is None:
                raise ModelError(f"model {row['model_id']} of request {request_id} is not served here")
            if is_graph(model):   # phase 1 natively; node VM runs only when a game needs them
                return self._graph_trace(request_id, model, bytes(row["input"]))
            t0 = time.perf_counter()
            kwargs: dict[str, Any] = {"engine": self.engine,
                                      "max_steps": self.max_steps.get(row["model_id"], model.image.max_steps)}
            if self.trace_interval is not None:
                kwargs["interval"] = self.trace_interval
            trace = Trace(model, bytes(row["input"]), **kwargs)
            self.metrics.inferred()
            self.emit("vm_run", request=request_id, steps=trace.steps, outcome=trace.outcome.name,
                      exit_code=trace.exit_code,
                      seconds=round(time.perf_counter() - t0, 3))
            self._honest[request_id] = trace
        self._honest.move_to_end(request_id)
        return trace

    def _graph_trace(self, request_id: int, model: Any, input_bytes: bytes) -> GraphTrace:
        """The native phase-1 trace of a graph request (cached like a VM run)."""
        t0 = time.perf_counter()
        kwargs: dict[str, Any] = {"engine": self.engine}
        if self.trace_interval is not None:
            kwargs["interval"] = self.trace_interval
        try:
            trace = GraphTrace(model, input_bytes, **kwargs)
        except ValueError as exc:   # a wrong input length
            raise ModelError(str(exc)) from None
        self.metrics.inferred()
        self.emit("native_run", request=request_id, nodes=trace.steps, seconds=round(time.perf_counter() - t0, 3))
        self._honest[request_id] = trace
        return trace

    def trace(self, request_id: int, row: Any = None) -> AnyTrace:
        """This daemon's belief about the request's run (a lie when dishonest), computed here."""
        trace = self._traces.get(request_id)
        if trace is None:
            honest = self.honest_trace(request_id, row)
            trace = self.lie(honest) if self.dishonest else honest
            if self.dishonest:
                self.emit("lying_trace", request=request_id, diverge=trace.diverge, steps=trace.steps)
            self._traces[request_id] = trace
        self._traces.move_to_end(request_id)
        self._evict()
        return trace

    def lie(self, honest: Trace) -> AnyTrace:
        """The false run a dishonest daemon believes (tests replace it with a specific lie)."""
        if isinstance(honest, GraphTrace):
            return lie_graph(honest, self.graph_lie)
        return LyingTrace(honest)

    def ready_trace(self, request_id: int, *, urgent: bool) -> AnyTrace | None:
        """The request's trace if it is computed; else start computing it in the background (the
        game lane if `urgent`) and return None. A failed run raises its error here, once."""
        if self._workers is None or request_id in self._traces:
            return self.trace(request_id)
        lane = "game" if urgent else "request"
        running = self._runs.get(request_id)
        if running is not None and running[0] != lane and urgent and running[1].cancel():
            running = None      # queued behind request runs: move it to the game lane
        if running is None:
            row = self.store.request(request_id)
            self._runs[request_id] = (lane, self._workers[lane].submit(self.trace, request_id, row))
            return None
        if not running[1].done():
            return None
        del self._runs[request_id]
        return running[1].result()

    def queued_runs(self, lane: str = "request") -> int:
        return sum(1 for ln, fut in self._runs.values() if ln == lane and not fut.done())

    def busy(self) -> bool:
        """True while a background run is in progress or finished but not yet acted on."""
        return bool(self._runs) or bool(self._node_runs)

    def pending_futures(self) -> list[Future[Any]]:
        """The background runs `wait_for_runs` waits for."""
        return [fut for _, fut in self._runs.values()] + list(self._node_runs.values())

    def wait_for_runs(self, timeout: float | None = None) -> None:
        """Block until some background run finishes (or `timeout`)."""
        futures = self.pending_futures()
        if futures:
            wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)

    def close(self) -> None:
        """Stop the background workers (running runs finish; queued ones are dropped)."""
        if self._workers is not None:
            for pool in self._workers.values():
                pool.shutdown(wait=False, cancel_futures=True)

    def _evict(self) -> None:
        """Keep at most `max_traces` runs in memory (least recently used go; recomputed if needed)."""
        for cache in (self._traces, self._honest):
            while len(cache) > self.max_traces:
                cache.popitem(last=False)

    def drop_run(self, request_id: int) -> None:
        """Stop waiting for a background run nobody needs any more (its result stays cached)."""
        running = self._runs.pop(request_id, None)
        if running is not None:
            running[1].cancel()

    def forget(self, request_id: int) -> None:
        """Drop a request's cached runs (its games are over)."""
        self.drop_run(request_id)
        self._traces.pop(request_id, None)
        self._honest.pop(request_id, None)

    # ---- sending -------------------------------------------------------------------------------
    def send(self, key: str, function: str, *args: Any, value: int = 0, expected: tuple[str, ...] = (),
             blobs: list[bytes] | None = None) -> bool:
        """Send one decision (`blobs`: in a blob transaction); reverts named in `expected` (races) are logged,
        not raised. False (with `last_revert` set when the contract named an error) if it did not happen."""
        self.last_revert, self.last_revert_fields = None, {}
        try:
            outcome = self.client.send(key, function, *args, value=value, **({"blobs": blobs} if blobs else {}))
        except ContractRevert as exc:
            self.last_revert, self.last_revert_fields = exc.name, dict(exc.fields)
            if exc.name in NOT_YET:       # polled every tick until due: not worth a log line each time
                self._log(logging.DEBUG, "not_yet", key=key, error=exc.name)
                return False
            if exc.name in expected:
                self.emit("race_lost", key=key, error=exc.name)
                return False
            self.emit("tx_reverted", key=key, error=str(exc))   # decided again next tick
            return False
        except TxDropped as exc:
            self.emit("tx_dropped", key=key, error=str(exc))
            return False
        except Web3RPCError as exc:   # e.g. insufficient funds: keep running, say why
            self.emit("tx_error", key=key, error=str(exc)[:300])
            return False
        self.emit("tx", key=key, function=function, gas=outcome.gas_used, block=outcome.block)
        if function in CREDITING_CALLS:
            self._maybe_credited = self._credit_sent = True
        self.metrics.transactions.labels(self.role, function).inc()
        return True

    def active_games(self, role: str) -> Iterator[tuple[int, GameInfo, ResultInfo]]:
        """(game id, game, its result) for this daemon's active games in `role`; games the chain
        has ended are closed in the store on the way."""
        for row in self.store.games("active"):
            if row["role"] != role:
                continue
            gid = row["game_id"]
            g = self.client.game(gid)
            if g.status != GameStatus.ACTIVE:
                self.store.end_game(gid, g.status.name.lower(), None, None)
                continue
            res = self.client.result(g.result_id)
            yield gid, g, res

    def withdraw_all(self) -> int:
        """Withdraw whatever the contract credits us (looked up only after an event that may credit).
        Not in a tick that sent a transaction which may credit us (a cancel, a timeout, a finalize):
        the balance read at the head would not show that credit (it would be withdrawn, unlogged, or
        taken for "nothing owed"); the next tick reads it with the transaction's event."""
        if not self._maybe_credited or self._credit_sent:
            return 0
        balance = self.client.view("balances", self.me)
        if balance <= 0:
            self._maybe_credited = False
            return 0
        head = self.client.head()
        if self.send(f"withdraw:{head}", "withdraw", expected=("NothingToWithdraw",)):
            self._maybe_credited = False   # `withdrawn` is logged from the Withdrawn event (its amount)
            return 1
        return 0
