"""Helpers of the adversarial contract tests: per-account ETH ledgers (gas paid kept apart), fresh funded
accounts, and the bond arithmetic of docs/game-rules.md §5."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts_world import World
from eth_account import Account

from contracts.system import BURN_ADDRESS


def new_account(world: World, funding: int = 10 * 10**18) -> str:
    """A fresh unlocked eth-tester account funded with `funding` wei from accounts[0]."""
    tester = world.w3.provider.ethereum_tester   # type: ignore[attr-defined]
    address = tester.add_account(Account.create().key.hex())
    world.w3.eth.send_transaction({"from": world.accounts[0], "to": address, "value": funding})
    return world.w3.to_checksum_address(address)


@dataclass
class Ledger:
    """ETH of named accounts from now on: `net()` is each one's change with the gas it paid added back,
    `gas()` the gas units its transactions used; the burn address and the contract are tracked too."""

    world: World
    accounts: dict[str, str]
    start_block: int = field(init=False)
    start: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        w3 = self.world.w3
        self.accounts = {**self.accounts, "burn": BURN_ADDRESS, "contract": self.world.system.address}
        self.start_block = w3.eth.block_number
        self.start = {n: w3.eth.get_balance(a) for n, a in self.accounts.items()}

    def _txs(self) -> list[tuple[str, int, int]]:
        """(sender, gas used, fee paid) of every transaction since the ledger started."""
        w3, out = self.world.w3, []
        for n in range(self.start_block + 1, w3.eth.block_number + 1):
            for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
                r = w3.eth.get_transaction_receipt(tx["hash"])
                out.append((tx["from"], r["gasUsed"], r["gasUsed"] * r["effectiveGasPrice"]))
        return out

    def withdraw_all(self) -> None:
        """Every tracked externally owned account takes what the contract credits it; the burnt shares not
        sent yet go to the burn address (`sendBurn`, by the first account)."""
        s = self.world.system
        for name, address in self.accounts.items():
            if name not in ("burn", "contract") and not self.world.w3.eth.get_code(address) and s.balance(address):
                s.withdraw(sender=address)
        if s.burned() > s.burn_sent():
            s.send_burn(sender=self.world.accounts[0])

    def net(self) -> dict[str, int]:
        """Wei gained (negative: lost) per account, not counting the gas it paid."""
        w3 = self.world.w3
        fees: dict[str, int] = {}
        for sender, _, fee in self._txs():
            fees[sender] = fees.get(sender, 0) + fee
        return {n: w3.eth.get_balance(a) - self.start[n] + fees.get(a, 0) for n, a in self.accounts.items()}

    def gas(self) -> dict[str, int]:
        """Gas units used by each account's transactions."""
        used: dict[str, int] = {}
        for sender, gas, _ in self._txs():
            used[sender] = used.get(sender, 0) + gas
        return {n: used.get(a, 0) for n, a in self.accounts.items() if n not in ("burn", "contract")}


def burn_share(world: World, bond: int) -> int:
    return world.system.params.burn_share(bond)


def share(world: World, sharers: int) -> int:
    """Each active game's share of a rejected result's unburnt bond."""
    p = world.system.params
    return (p.result_bond - p.burn_share(p.result_bond)) // sharers
