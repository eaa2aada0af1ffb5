"""The explorer's data layer: read-only views of a deployed Optimist contract as plain JSON-able dicts.

Everything goes through `contracts.system.System` (the wrappers the CLI and the daemons use). Events are
scanned incrementally (each call reads only blocks not seen before); receipts (gas) and block timestamps
are cached. No key, no transaction: only calls, `eth_getLogs`, blocks, receipts and transactions.
"""

from __future__ import annotations

import math
import struct
import threading
import time
import zlib
from base64 import b64encode
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from contracts.system import (
    ContractRevert,
    Event,
    GameStatus,
    Outcome,
    Phase,
    RequestStatus,
    ResultStatus,
    System,
)
from mipsvm import isa
from mipsvm.memory import keccak256
from mipsvm.state import STATE_SIZE, decode_state
from mipsvm.stepper import WitnessError, split_witness_proof

MOVE_KINDS = ("midpoint", "agree", "disagree")
REASONS = ("proof", "timeout")
REG_NAMES = ("zero", "at", "v0", "v1", "a0", "a1", "a2", "a3", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7",
             "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "t8", "t9", "k0", "k1", "gp", "sp", "fp", "ra")
IMAGE_SIDES = {784: 28, 64: 8}   # float32 element counts shown as square grey images
MAX_CLASSES = 1000               # outputs up to this many float32 values are read as class scores


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

    def apply(self, ev: Event, time_of: Any) -> None:
        """Update the event-derived state with `ev` (`time_of(block)` gives a block's timestamp)."""
        a, name = ev.args, ev.name
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

    def __init__(self, system: System, *, from_block: int | None = None, lock: threading.Lock | None = None) -> None:
        self.system = system
        self.w3 = system.w3
        self.lock = lock or threading.RLock()
        self._index = _Index(next_block=system.deploy_block if from_block is None else from_block)
        self._times: dict[int, int] = {}
        self._gas: dict[bytes, int] = {}
        self._proofs: dict[bytes, dict[str, Any]] = {}
        self._models: dict[int, dict[str, Any]] = {}

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
            ix.events.append(ev)
            ix.apply(ev, self._time)
            a = ev.args
            if ev.name == "RequestCreated":
                ix.request_created[a["requestId"]] = ev
                ix.accounts[a["requester"]].add("requester")
            elif ev.name == "ResultPosted":
                ix.results_of[a["requestId"]].append(ev)
                ix.result_posted[a["resultId"]] = ev
                ix.accounts[a["operator"]].add("operator")
            elif ev.name == "GameOpened":
                ix.games_of[a["resultId"]].append(a["gameId"])
                ix.accounts[a["challenger"]].add("challenger")
            if "gameId" in a and ev.name != "ResultRejected":
                ix.game_events[a["gameId"]].append(ev)
            if "requestId" in a:
                ix.request_events[a["requestId"]].append(ev)
        ix.next_block = latest + 1
        return latest

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
        requests = [{**r, "age": now - r["created_at"]} for _, r in sorted(ix.requests.items())]
        results = [{**r, "window_left": r["deadline"] - now} for _, r in sorted(ix.results.items())]
        games = []
        for gid, row in sorted(ix.games.items()):
            row = dict(row)
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
                           "games": len(games)},
                "burned": s.burned(), "contract_balance": self.w3.eth.get_balance(s.address),
                "models": models, "requests": requests, "results": results, "games": games, "balances": balances}

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
            **head, "id": game_id, "result": g.result_id, "request": res.request_id, "status": g.status.name.lower(),
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
            try:
                fn, args = self.system.contract.decode_function_input(t["input"])
            except ValueError:
                return None
            if fn.fn_name != "prove":
                return None
            self._proofs[tx] = decode_step(bytes(args["preState"] if "preState" in args else args["state"]),
                                           bytes(args["proof"]))
        return self._proofs[tx]

    def _request(self, request_id: int) -> dict[str, Any]:
        head = self._head()
        s = self.system
        if request_id not in self._index.requests:
            raise NotFound(f"no request {request_id}")
        r = s.get_request(request_id)
        created = self._index.request_created.get(request_id)
        out: dict[str, Any] = {
            **head, "id": request_id, "model": r.model_id, "status": r.status.name.lower(), "fee": r.fee,
            "requester": r.requester, "deadline": r.deadline, "reopen_at": r.reopen_at,
            "callback": r.callback if r.has_callback else None, "input_hash": None,
            "initial_state_hash": hx(r.initial_state_hash)}
        if created is not None:
            out["created_at"] = self._time(created.block)
            out["input_hash"] = hx(keccak256(bytes(created["input"])))
            out["input"] = summarize_input(created["input"])
        history = []
        for ev in self._index.results_of.get(request_id, []):
            res = s.result(ev["resultId"])
            entry: dict[str, Any] = {
                "id": res.result_id, "operator": res.operator, "status": res.status.name.lower(),
                "outcome": res.outcome.name.lower(), "exit_code": res.exit_code, "steps": res.steps,
                "posted_at": res.posted_at, "deadline": res.deadline, "window_left": res.deadline - head["chain_time"],
                "tx": hx(ev.tx_hash), "final_state_hash": hx(res.final_state_hash),
                "games": [{"id": gid, "status": s.game(gid).status.name.lower()}
                          for gid in self._index.games_of.get(res.result_id, [])]}
            if res.outcome == Outcome.SUCCESS:
                entry["output"] = decode_output(ev["output"])
            if res.status == ResultStatus.REJECTED:
                entry["verdict"] = "rejected: lost a game"
            elif res.status == ResultStatus.FINALIZED:
                entry["verdict"] = "finalized answer"
            history.append(entry)
        out["results"] = history
        if r.status == RequestStatus.FINALIZED:
            out["answer"] = next((h for h in history if h["status"] == "finalized"), None)
        return out


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
