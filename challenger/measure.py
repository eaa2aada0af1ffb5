"""Measurements of a full dispute, for `optimist bench` and the reports.

    from challenger.measure import measure_dispute
    m = measure_dispute("anvil")          # or "eth-tester"; model: the digits MLP by default
    m.as_dict()  ->  {"chain": "anvil", "dispute_seconds": ..., "rounds": 24, "steps": ...,
                     "challenger_gas": ..., "defender_gas": ..., "prove_gas": ..., ...}

A dispute is timed from the challenger's first look at the posted lie (recompute, open the game)
to the game's resolution by the one-step proof; both daemons run in this process, ticked in turn
(the challenger's VM run happens inside that time; the liar's run happened before, when it posted).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from challenger.models import ServedModel


@dataclass(frozen=True)
class DisputeMeasurement:
    chain: str
    model: str
    steps: int
    rounds: int
    dispute_seconds: float
    challenger_vm_seconds: float
    challenger_gas: int
    defender_gas: int
    prove_gas: int
    open_gas: int
    post_gas: int
    winner: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_model() -> ServedModel:
    """The digits MLP 784-128-10 (converted into build/demo like the demo does)."""
    from rich.console import Console

    from challenger.demo import demo_model

    return demo_model(Console(quiet=True))


def default_input() -> bytes:
    from challenger.demo import digit_inputs

    xs, _ = digit_inputs(1)
    return xs[0]


def measure_on(w3: Any, chain: str, model: ServedModel | None = None, input_bytes: bytes | None = None,
               db_dir: Path | None = None) -> DisputeMeasurement:
    """One lie, one challenger, played to the end on `w3`."""
    from challenger.demo import gas_of
    from challenger.world import World
    from contracts.system import RequestStatus

    model = model or default_model()
    input_bytes = input_bytes if input_bytes is not None else default_input()
    world = World.deploy(w3, model, window=3600, clock=1800, db_dir=db_dir)
    liar, challenger = world.operator(dishonest=True, name="liar"), world.challenger(name="challenger")
    rid = world.request(input_bytes)
    world.run_until(lambda: world.system.get_request(rid).status == RequestStatus.POSTED, [liar])
    liar.tick()
    rounds = {"n": 0, "vm": 0.0}

    def listen(event: str, fields: dict[str, Any]) -> None:
        if event == "midpoint":
            rounds["n"] += 1
        elif event == "vm_run":
            rounds["vm"] += fields["seconds"]

    liar.listeners.append(listen)
    challenger.listeners.append(listen)
    t0 = time.perf_counter()
    world.run_until(lambda: bool(challenger.store.games())
                    and challenger.store.games()[0]["status"] != "active", [challenger, liar], max_ticks=1000)
    seconds = time.perf_counter() - t0
    (game,) = challenger.store.games()
    summary = challenger.store.gas_summary()
    return DisputeMeasurement(
        chain=chain, model=model.name, steps=game["steps"], rounds=rounds["n"], dispute_seconds=seconds,
        challenger_vm_seconds=rounds["vm"],
        challenger_gas=gas_of(challenger.store, ("openGame", "respond", "prove"))[1],
        defender_gas=gas_of(liar.store, ("postMidpoint",))[1],
        prove_gas=summary.get("prove", {}).get("gas", 0), open_gas=summary.get("openGame", {}).get("gas", 0),
        post_gas=liar.store.gas_summary().get("postResult", {}).get("gas", 0), winner=game["status"])


def measure_dispute(chain: str = "anvil", model: ServedModel | None = None,
                    input_bytes: bytes | None = None) -> DisputeMeasurement:
    """Full dispute on a fresh chain: "anvil" (started and stopped here) or "eth-tester"."""
    if chain == "eth-tester":
        from contracts.chain import eth_tester_web3

        return measure_on(eth_tester_web3(), chain, model, input_bytes)
    if chain == "anvil":
        from contracts.chain import Anvil

        with Anvil() as node:
            return measure_on(node.web3(), chain, model, input_bytes)
    raise ValueError(f"unknown chain {chain!r} (anvil or eth-tester)")


if __name__ == "__main__":  # pragma: no cover - manual use: python -m challenger.measure [chain]
    import json
    import sys

    print(json.dumps(measure_dispute(sys.argv[1] if len(sys.argv) > 1 else "anvil").as_dict(), indent=2))
