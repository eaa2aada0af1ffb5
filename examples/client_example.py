"""Runnable example of optimist.client (docs/client.md): everything in one process on the embedded chain.

    PYTHONPATH=. python examples/client_example.py

It deploys the contracts and registers the toy program (World), starts an operator daemon in-process,
then does what a dapp back-end does: request with a Client, wait for the result, read it, list events.
On a real node, replace the World part with Client("http://127.0.0.1:8545", key=..., deployment=...).
"""

from __future__ import annotations

from challenger.models import toy_model
from optimist.client import Client
from optimist.world import World


def main() -> list[str]:
    world = World.on_eth_tester(toy_model(engine="stepper"), window=600, clock=300, engine="stepper")
    operator = world.operator()                       # serves the toy model (honest)
    me = world.fund()                                 # a funded key for the dapp back-end
    client = Client(world.w3, me, address=world.system.address, from_block=world.deploy_block)

    req = client.request(world.model_id, bytes(range(64)), fee=10**15)
    print("request", req.id, req.status.name)
    world.run_until(lambda: req.status.name == "POSTED", [operator])   # the operator posts its result
    world.advance_time(601)                                            # the challenge window passes
    world.run_until(lambda: req.status.name == "FINALIZED", [operator])  # ... and it finalizes
    res = req.wait(timeout=10).result()
    print("outcome", res.outcome.name, "steps", res.steps, "output", res.output.hex())
    names = [ev.name for ev in req.events()]
    print("events", ", ".join(names))
    return names


if __name__ == "__main__":
    main()
