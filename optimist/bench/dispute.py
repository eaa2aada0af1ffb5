"""A full dispute, measured: a lying operator and an honest challenger (the real daemons) on one chain.

The story timed is the one opML's "full challenge" demo tells: a request is answered with a wrong
result, the challenger recomputes it, opens a game, bisects down to one instruction and wins with
a one-step proof executed by MIPS.sol. Both daemons tick in this process, in turn, against a real
chain (eth-tester in process, or anvil over JSON-RPC), set up by `optimist.world.World`.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import requests
from web3 import Web3

from challenger.models import ServedModel
from challenger.store import Store
from contracts.system import GameStatus
from optimist.world import StuckError, World

MAX_TICKS = 10_000        # a dispute of <= 2**48 steps needs < 200 ticks; this only stops a runaway


class DisputeError(RuntimeError):
    """The dispute did not end the way an honest challenger must end it (with a win)."""


@dataclass(frozen=True)
class DisputeFigures:
    """What one measured dispute cost."""

    chain: str
    steps: int                 # VM steps of the disputed run (the result's claim)
    rounds: int                # bisection rounds (the challenger's agree/disagree responses)
    total_s: float             # request sent -> game resolved (both VM runs, every round, the proof)
    game_s: float              # game opened -> game resolved
    challenger_vm_s: float     # of which the challenger's own VM runs
    operator_gas: int          # gas of every transaction the (lying) operator sent
    challenger_gas: int        # gas of every transaction the challenger sent
    prove_gas: int             # gas of the one-step proof transaction
    transactions: int
    rpc_requests: int          # HTTP requests both daemons sent, request -> resolved (0 on eth-tester)
    rpc_calls: int             # JSON-RPC calls in them (a batch request carries several)
    rpc_by_method: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestCounter:
    """Counts every HTTP request this process sends (any Web3 instance, any JSON-RPC client: the
    count is taken where `requests` hands them to the network) while it is open and not `paused`,
    and the JSON-RPC calls in them by method (a batch is one HTTP request of several calls)."""

    def __init__(self) -> None:
        self.http_requests = 0
        self.by_method: Counter[str] = Counter()
        self._paused = False
        self._original: Any = None

    def __enter__(self) -> RequestCounter:
        self._original = original = requests.adapters.HTTPAdapter.send
        counter = self

        def counted(adapter: requests.adapters.HTTPAdapter, request: requests.PreparedRequest,
                    *args: Any, **kwargs: Any) -> requests.Response:
            if not counter._paused:
                counter.http_requests += 1
                try:
                    body = json.loads(request.body or b"null")
                except ValueError:
                    body = None
                for call in body if isinstance(body, list) else [body]:
                    counter.by_method[call.get("method", "?") if isinstance(call, dict) else "?"] += 1
            return original(adapter, request, *args, **kwargs)

        requests.adapters.HTTPAdapter.send = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        requests.adapters.HTTPAdapter.send = self._original  # type: ignore[method-assign]

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Requests sent inside are not counted (the measuring harness's own reads)."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    @property
    def calls(self) -> int:
        """JSON-RPC calls (batched ones each counted)."""
        return sum(self.by_method.values())


@contextmanager
def chain(name: str) -> Iterator[Web3]:
    """A fresh chain: "eth-tester" (in process) or "anvil" (started here, stopped on exit)."""
    if name == "eth-tester":
        from contracts.chain import eth_tester_web3

        yield eth_tester_web3()
    elif name == "anvil":
        from contracts.chain import Anvil

        with Anvil() as node:
            yield node.web3()
    else:
        raise ValueError(f"unknown chain {name!r}; expected 'eth-tester' or 'anvil'")


def _gas(store: Store, function: str | None = None) -> int:
    query = "SELECT gas_used FROM txs WHERE status = 'mined'"
    rows = store.db.execute(query + " AND function = ?", (function,)) if function else store.db.execute(query)
    return sum(int(row["gas_used"] or 0) for row in rows)


def measure_dispute(model: ServedModel, input_bytes: bytes, chain_name: str = "eth-tester") -> DisputeFigures:
    """Run one dispute of `model` on `input_bytes` to its end and time it. Over JSON-RPC, every HTTP
    request the daemons send from the request's transaction to the end is counted (the request's own
    transaction and the harness's check of the game's status are not)."""
    with chain(chain_name) as w3, RequestCounter() as counter:
        with counter.paused():
            world = World.deploy(w3, model, window=3600, clock=1800)
            liar, challenger = world.operator(dishonest=True, name="liar"), world.challenger(name="challenger")
        vm_seconds = [0.0]

        def listen(event: str, fields: dict[str, Any]) -> None:
            if event == "vm_run":
                vm_seconds[0] += fields["seconds"]

        challenger.listeners.append(listen)
        t0 = time.perf_counter()
        with counter.paused():
            world.request(input_bytes)
        opened: list[float] = []

        def resolved() -> bool:
            """The game ended: the challenger's proof (or a timeout) mined, or its store saw the end
            (no request: the outcome is checked on chain below)."""
            games = challenger.store.games()
            if not games:
                return False
            if not opened:
                opened.append(time.perf_counter())
            gid = games[0]["game_id"]
            ending = [challenger.store.tx(f"{kind}:{gid}") for kind in ("prove", "timeout")]
            return games[0]["status"] != "active" or any(t is not None and t.status == "mined" for t in ending)

        try:
            world.run_until(resolved, [liar, challenger], max_ticks=MAX_TICKS)
        except StuckError as exc:
            raise DisputeError(f"the dispute did not resolve: {exc}") from None
        end = time.perf_counter()
        http_requests, calls, by_method = counter.http_requests, counter.calls, counter.by_method.most_common()
        game_id = challenger.store.games()[0]["game_id"]
        status = world.system.game(game_id).status
        if status != GameStatus.CHALLENGER_WON:
            raise DisputeError(f"the honest challenger did not win (game ended {status.name})")
        over_http = chain_name != "eth-tester"
        return DisputeFigures(
            chain=chain_name, steps=int(challenger.store.game(game_id)["steps"]),
            rounds=sum(1 for m in challenger.store.moves(game_id) if m["kind"] in ("agree", "disagree")),
            total_s=end - t0, game_s=end - opened[0], challenger_vm_s=vm_seconds[0],
            operator_gas=_gas(liar.store), challenger_gas=_gas(challenger.store),
            prove_gas=_gas(challenger.store, "prove"),
            transactions=len(liar.store.txs("mined")) + len(challenger.store.txs("mined")),
            rpc_requests=http_requests if over_http else 0, rpc_calls=calls if over_http else 0,
            rpc_by_method=dict(by_method) if over_http else {})


def measure_disputes(model: ServedModel, input_bytes: bytes, chain_name: str = "eth-tester",
                     runs: int = 3) -> tuple[list[DisputeFigures], dict[str, float]]:
    """`runs` disputes, each on a fresh chain; their figures and the seconds' min and median."""
    figures = [measure_dispute(model, input_bytes, chain_name) for _ in range(max(1, runs))]
    totals, games = [f.total_s for f in figures], [f.game_s for f in figures]
    return figures, {"min_s": min(totals), "median_s": statistics.median(totals),
                     "game_min_s": min(games), "game_median_s": statistics.median(games)}
