"""A full dispute, measured: a lying operator and an honest challenger (the real daemons) on one chain.

The story timed is the one opML's "full challenge" demo tells: a request is answered with a wrong
result, the challenger recomputes it, opens a game, bisects down to one instruction and wins with
a one-step proof executed by MIPS.sol. Both daemons tick in this process, in turn, against a real
chain (eth-tester in process, or anvil over JSON-RPC), set up by `optimist.world.World`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

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
    rpc_requests: int          # JSON-RPC requests both daemons sent, request -> resolved (0 on eth-tester)
    rpc_by_method: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestCounter:
    """Counts the HTTP JSON-RPC requests a Web3 instance sends from now on (what reaches the node:
    answers web3 serves from its cache are not requests), and the JSON-RPC methods in them."""

    def __init__(self, w3: Web3) -> None:
        self.http_requests = 0
        self.by_method: Counter[str] = Counter()
        manager = w3.provider._request_session_manager  # type: ignore[attr-defined]
        post = manager.make_post_request

        def counted(endpoint_uri: str, data: bytes, **kwargs: Any) -> Any:
            self.http_requests += 1
            body = json.loads(data)
            for call in body if isinstance(body, list) else [body]:
                self.by_method[call.get("method", "?")] += 1
            return post(endpoint_uri, data, **kwargs)

        manager.make_post_request = counted


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
    """Run one dispute of `model` on `input_bytes` to its end and time it."""
    with chain(chain_name) as w3:
        world = World.deploy(w3, model, window=3600, clock=1800)
        liar, challenger = world.operator(dishonest=True, name="liar"), world.challenger(name="challenger")
        vm_seconds = [0.0]

        def listen(event: str, fields: dict[str, Any]) -> None:
            if event == "vm_run":
                vm_seconds[0] += fields["seconds"]

        challenger.listeners.append(listen)
        counter = RequestCounter(w3) if chain_name != "eth-tester" else None
        t0 = time.perf_counter()
        world.request(input_bytes)
        opened: list[float] = []

        def resolved() -> bool:
            games = challenger.store.games()
            if not games:
                return False
            if not opened:
                opened.append(time.perf_counter())
            return world.system.game(games[0]["game_id"]).status != GameStatus.ACTIVE

        try:
            world.run_until(resolved, [liar, challenger], max_ticks=MAX_TICKS)
        except StuckError as exc:
            raise DisputeError(f"the dispute did not resolve: {exc}") from None
        end = time.perf_counter()
        game_id = challenger.store.games()[0]["game_id"]
        status = world.system.game(game_id).status
        if status != GameStatus.CHALLENGER_WON:
            raise DisputeError(f"the honest challenger did not win (game ended {status.name})")
        return DisputeFigures(
            chain=chain_name, steps=int(challenger.store.game(game_id)["steps"]),
            rounds=sum(1 for m in challenger.store.moves(game_id) if m["kind"] in ("agree", "disagree")),
            total_s=end - t0, game_s=end - opened[0], challenger_vm_s=vm_seconds[0],
            operator_gas=_gas(liar.store), challenger_gas=_gas(challenger.store),
            prove_gas=_gas(challenger.store, "prove"),
            transactions=len(liar.store.txs("mined")) + len(challenger.store.txs("mined")),
            rpc_requests=counter.http_requests if counter else 0,
            rpc_by_method=dict(counter.by_method.most_common()) if counter else {})
