"""A complete local setup in one process: chain, deployed system, a registered model, funded actors.

Used by `optimist demo`, the bench's dispute measurement (optimist/bench/dispute.py) and the daemon tests:

    world = World.on_eth_tester(model, window=600, clock=300)
    op = world.operator(dishonest=True)
    ch = world.challenger()
    rid = world.request(input_bytes)
    world.run_until(lambda: ..., [op, ch])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from challenger.challenger_daemon import Challenger
from challenger.client import ChainClient
from challenger.daemon import Daemon
from challenger.models import ServedModel
from challenger.operator_daemon import Operator
from challenger.store import Store
from contracts.system import System, advance_time, deploy_system

FUNDING = 100 * 10**18


class StuckError(RuntimeError):
    """The daemons stopped making progress before the expected condition held."""


@dataclass
class World:
    w3: Web3
    system: System
    model: ServedModel
    model_id: int
    deploy_block: int
    db_dir: Path | None = None
    trace_interval: int | None = None
    engine: str | None = None
    accounts: list[LocalAccount] = field(default_factory=list)

    @classmethod
    def deploy(cls, w3: Web3, model: ServedModel, *, window: int = 600, clock: int = 300,
               result_bond: int = 10**17, challenge_bond: int = 10**17, db_dir: Path | None = None,
               trace_interval: int | None = None, engine: str | None = None,
               max_steps: int | None = None) -> World:
        """Deploy the contracts and register `model` (with `max_steps` as its step bound if given)."""
        system = deploy_system(w3, challenge_window=window, clock=clock, result_bond=result_bond,
                               challenge_bond=challenge_bond)
        block = w3.eth.block_number
        if getattr(model, "graph", False):   # a graph model: two-phase games (challenger.graph_games)
            model_id = system.register_graph_model(model.spec())   # type: ignore[attr-defined]
        else:
            image = model.image if max_steps is None else dataclasses.replace(model.image, max_steps=max_steps)
            model_id = system.register_model(image)
        return cls(w3, system, model, model_id, block, db_dir, trace_interval, engine)

    @classmethod
    def on_eth_tester(cls, model: ServedModel, **kwargs: object) -> World:
        from contracts.chain import eth_tester_web3

        return cls.deploy(eth_tester_web3(), model, **kwargs)  # type: ignore[arg-type]

    # ---- actors --------------------------------------------------------------------------------
    def fund(self, account: LocalAccount | None = None, amount: int = FUNDING) -> LocalAccount:
        """A new (or given) account with `amount` wei from the chain's first unlocked account."""
        account = account or Account.create()
        funder = self.w3.eth.accounts[0]
        tx = self.w3.eth.send_transaction({"from": funder, "to": account.address, "value": amount})
        self.w3.eth.wait_for_transaction_receipt(tx)
        self.accounts.append(account)
        return account

    def store(self, name: str) -> Store:
        if self.db_dir is None:
            return Store()
        return Store(self.db_dir / f"{name}.db")

    def client(self, account: LocalAccount, name: str) -> ChainClient:
        return ChainClient(self.system, account, self.store(name))

    def operator(self, *, dishonest: bool = False, account: LocalAccount | None = None,
                 name: str | None = None, **options: Any) -> Operator:
        """A funded operator daemon (`options`: Operator's, e.g. background=True, min_fee=...)."""
        account = account or self.fund()
        return Operator(self.client(account, name or f"operator-{account.address[:8]}"), [self.model],
                        dishonest=dishonest, start_block=self.deploy_block, trace_interval=self.trace_interval,
                        engine=self.engine, **options)

    def challenger(self, *, dishonest: bool = False, account: LocalAccount | None = None,
                   name: str | None = None, **options: Any) -> Challenger:
        account = account or self.fund()
        return Challenger(self.client(account, name or f"challenger-{account.address[:8]}"), [self.model],
                          dishonest=dishonest, start_block=self.deploy_block,
                          trace_interval=self.trace_interval, engine=self.engine, **options)

    # ---- driving -------------------------------------------------------------------------------
    def request(self, input_bytes: bytes, fee: int = 10**16) -> int:
        return self.system.request(self.model_id, input_bytes, fee=fee)

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def advance_time(self, seconds: int) -> int:
        """Move the chain's clock forward (a new block `seconds` later); returns its timestamp."""
        return advance_time(self.w3, seconds)

    def run_until(self, done: Callable[[], bool], daemons: Sequence[Daemon], *, max_ticks: int = 400,
                  advance_when_idle: int = 0) -> int:
        """Tick the daemons round-robin until `done()`; when nobody acts, optionally move time."""
        for tick in range(max_ticks):
            if done():
                return tick
            acted = sum(d.tick() for d in daemons)
            if not acted and not done():
                busy = [d for d in daemons if d.busy()]
                if busy:               # a VM run in the background: its result is the next move
                    busy[0].wait_for_runs()
                    continue
                if not advance_when_idle:
                    raise StuckError(f"no daemon acted and the condition does not hold (tick {tick})")
                self.advance_time(advance_when_idle)
        raise StuckError(f"condition not reached after {max_ticks} ticks")

    def settle(self, daemons: Sequence[Daemon], *, max_ticks: int = 10) -> None:
        """Let the challenge window pass and tick the daemons until none acts (they finalize and
        withdraw what they can); then send the counted burns (anyone may: docs/game-rules.md §4)."""
        self.advance_time(self.system.params.challenge_window + 2)
        for _ in range(max_ticks):
            if not sum(d.tick() for d in daemons):
                break
        if self.system.burned() > self.system.burn_sent():
            self.system.send_burn()

    def contract_balance(self) -> int:
        return self.w3.eth.get_balance(self.system.address)
