"""A full dispute, measured: a lying operator and an honest challenger (the real daemons) on one chain.

The story timed is the one opML's "full challenge" demo tells: a request is answered with a wrong
result, the challenger recomputes it, opens a game, bisects down to one instruction and wins with
a one-step proof executed by MIPS.sol. Both daemons tick in this process, alternately, against a
real chain (eth-tester in process, or anvil over JSON-RPC).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from challenger.challenger import Challenger
from challenger.client import ChainClient
from challenger.models import ServedModel
from challenger.operator import Operator
from challenger.store import Store
from contracts.system import GameStatus, deploy_system

FUNDING = 10**21          # wei given to each player on eth-tester
MAX_TICKS = 10_000        # a dispute of <= 2**48 steps needs < 200 ticks; this only stops a runaway


class DisputeError(RuntimeError):
    """The dispute did not end the way an honest challenger must end it (with a win)."""


@dataclass(frozen=True)
class DisputeFigures:
    """What one measured dispute cost."""

    chain: str
    steps: int                 # VM steps of the disputed run (the result's claim)
    rounds: int                # bisection rounds (midpoint + response pairs)
    total_s: float             # request sent -> game resolved (both VM runs, every round, the proof)
    game_s: float              # game opened -> game resolved
    operator_gas: int          # gas of every transaction the (lying) operator sent
    challenger_gas: int        # gas of every transaction the challenger sent
    prove_gas: int             # gas of the one-step proof transaction
    transactions: int


@contextmanager
def chain(name: str) -> Iterator[tuple[Web3, list[LocalAccount]]]:
    """A fresh chain ("eth-tester" or "anvil") and two funded local accounts."""
    if name == "eth-tester":
        from contracts.chain import eth_tester_web3

        w3 = eth_tester_web3()
        players = [Account.create() for _ in range(2)]
        for p in players:
            w3.eth.wait_for_transaction_receipt(
                w3.eth.send_transaction({"to": p.address, "value": FUNDING}))
        yield w3, players
    elif name == "anvil":
        from challenger.keys import dev_accounts
        from contracts.chain import Anvil

        with Anvil() as node:
            w3 = node.web3()
            accounts = dev_accounts(3)
            w3.eth.default_account = accounts[0].address
            if accounts[0].address not in w3.eth.accounts:
                raise DisputeError("anvil did not start with its development accounts")
            yield w3, accounts[1:3]
    else:
        raise ValueError(f"unknown chain {name!r}; expected 'eth-tester' or 'anvil'")


def _gas(store: Store) -> int:
    return sum(int(row["gas_used"] or 0) for row in store.db.execute(
        "SELECT gas_used FROM txs WHERE status = 'mined'"))


def _prove_gas(store: Store) -> int:
    row = store.db.execute("SELECT gas_used FROM txs WHERE function = 'prove' AND status = 'mined'").fetchone()
    return int(row["gas_used"]) if row else 0


def measure_dispute(model: ServedModel, input_bytes: bytes, chain_name: str = "eth-tester") -> DisputeFigures:
    """Run one dispute of `model` on `input_bytes` to its end and time it."""
    with chain(chain_name) as (w3, (op_acct, ch_acct)):
        system = deploy_system(w3)
        model_id = system.register_model(model.image)
        op_store, ch_store = Store(), Store()
        head = w3.eth.block_number
        operator = Operator(ChainClient(system, op_acct, op_store), [model], dishonest=True, start_block=head)
        challenger = Challenger(ChainClient(system, ch_acct, ch_store), [model], start_block=head)
        t0 = time.perf_counter()
        system.request(model_id, input_bytes)
        game_id, opened, figures = None, 0.0, None
        for _ in range(MAX_TICKS):
            operator.tick()
            challenger.tick()
            games = ch_store.games()
            if game_id is None and games:
                game_id, opened = games[0]["game_id"], time.perf_counter()
            if game_id is not None:
                info = system.game(game_id)
                if info.status != GameStatus.ACTIVE:
                    end = time.perf_counter()
                    if info.status != GameStatus.CHALLENGER_WON:
                        raise DisputeError(f"the honest challenger did not win (game ended {info.status.name})")
                    figures = DisputeFigures(
                        chain=chain_name, steps=int(ch_store.game(game_id)["steps"]),
                        rounds=_rounds(ch_store, game_id), total_s=end - t0, game_s=end - opened,
                        operator_gas=_gas(op_store), challenger_gas=_gas(ch_store),
                        prove_gas=_prove_gas(ch_store),
                        transactions=len(op_store.txs("mined")) + len(ch_store.txs("mined")))
                    break
        if figures is None:
            raise DisputeError(f"no resolution after {MAX_TICKS} ticks of both daemons")
        return figures


def _rounds(store: Store, game_id: int) -> int:
    """Bisection rounds: the challenger's responses (agree/disagree) in the game."""
    return sum(1 for m in store.moves(game_id) if m["kind"] in ("agree", "disagree"))


