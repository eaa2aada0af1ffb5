"""A full two-phase dispute, measured (docs/two-phase.md): a lying operator and an honest challenger
(the real daemons, challenger.graph_games) on one chain, for a .mdnn served as a graph model.

The lie is in phase 1 (a middle node's output negated, so every C_j after it and the output are
wrong); the game bisects over the nodes, the operator enters the first wrong node, and phase 2 is
the step game on that node's VM run alone. `python -m optimist.bench.two_phase MODEL.mdnn` prints
the figures as JSON (`--chain anvil|eth-tester`).
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass
from typing import Any

from challenger.graph_games import GraphModel, GraphTrace
from contracts.system import GameStatus, Outcome
from optimist.bench.dispute import DisputeError, _gas, chain
from optimist.world import StuckError, World

MAX_TICKS = 10_000


@dataclass(frozen=True)
class TwoPhaseFigures:
    """What one measured two-phase dispute cost."""

    chain: str
    nodes: int                 # m: the graph's nodes
    node: int                  # the node phase 2 was played on
    node_op: str
    node_steps: int            # VM steps of that node's run (phase 2's hi)
    model_steps: int           # VM steps of every node's run together (the whole model, node by node)
    phase1_rounds: int         # the challenger's responses over node indices
    phase2_rounds: int         # its responses over the node's VM steps
    commit_s: float            # split + every node measured in the VM (once per model, before serving)
    total_s: float             # request sent -> game resolved
    game_s: float              # game opened -> game resolved
    operator_gas: int          # every transaction of the (lying) operator
    challenger_gas: int        # every transaction of the challenger
    enter_gas: int             # the operator's enterNode
    prove_gas: int             # the one-step proof
    transactions: int
    peak_rss_mb: float         # peak RSS of this process (both daemons and the chain, if in process)
    post_gas: int = 0          # the operator's postResult (its output bytes are calldata and log data)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_two_phase_dispute(model: GraphModel, input_bytes: bytes, chain_name: str = "eth-tester",
                              lie: str = "phase1", background: bool = False,
                              node: int | None = None) -> TwoPhaseFigures:
    """Run one two-phase dispute of `model` on `input_bytes` to its end (the honest challenger must win).
    `background`: the daemons run their VM work on their game lanes, as the CLI daemons do (so the two
    node runs may overlap). `node`: the node the lie starts at (default: challenger.graph_games's)."""
    t0 = time.perf_counter()
    commitment = model.commitment
    commit_s = time.perf_counter() - t0
    with chain(chain_name) as w3:
        world = World.deploy(w3, model, window=3600, clock=1800)
        liar = world.operator(dishonest=True, name="liar", background=background)
        challenger = world.challenger(name="challenger", background=background)
        liar.graph_lie = lie
        if node is not None:
            from challenger.graph_games import lie_graph

            liar.lie = lambda trace: lie_graph(trace, lie, node)   # type: ignore[method-assign]
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
        finally:
            liar.close()
            challenger.close()
        end = time.perf_counter()
        gid = challenger.store.games()[0]["game_id"]
        status = world.system.game(gid).status
        if status != GameStatus.CHALLENGER_WON:
            raise DisputeError(f"the honest challenger did not win (game ended {status.name})")
        entered = challenger.store.game_node(gid)
        responses = [m for m in challenger.store.moves(gid) if m["kind"] in ("agree", "disagree")]
        if entered is None:   # lost at the transition (no phase 2)
            p1, p2, node, node_steps = len(responses), 0, world.system.game(gid).hi, 0
        else:
            p1 = sum(1 for m in responses if m["block"] < entered["block"])
            p2, node, node_steps = len(responses) - p1, entered["node"], entered["steps"]
        return TwoPhaseFigures(
            chain=chain_name, nodes=model.node_count, node=node, node_op=model.split.node(node).op,
            node_steps=node_steps, model_steps=sum(commitment.steps), phase1_rounds=p1, phase2_rounds=p2,
            commit_s=commit_s, total_s=end - t0, game_s=end - opened[0], operator_gas=_gas(liar.store),
            challenger_gas=_gas(challenger.store), enter_gas=_gas(liar.store, "enterNode"),
            prove_gas=_gas(challenger.store, "prove"),
            transactions=len(liar.store.txs("mined")) + len(challenger.store.txs("mined")),
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            post_gas=_gas(liar.store, "postResult"))


def measure_time_to_post(model: GraphModel, input_bytes: bytes, reps: int = 5) -> tuple[float, float]:
    """(the honest operator's time to post, native inference time), each the min of `reps` runs. The time
    to post is what the operator daemon computes before its postResult (challenger.operator_daemon): the
    native phase-1 trace (`GraphTrace`: every node natively, tensor roots, C_0..C_m) and the output's slot
    proof. (The trace's output is compared with the whole model's here, outside the timing.)"""
    native = model.split.native()
    x = model.array(input_bytes)
    native.run(x)                       # warm-up (and the model loaded once, as a serving daemon has it)
    post, infer = [], []
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        trace = GraphTrace(model, input_bytes)
        if trace.outcome == Outcome.SUCCESS:
            trace.output_proof()
        post.append(time.perf_counter() - t0)
        if trace.outcome == Outcome.SUCCESS and model.infer(input_bytes) != trace.output:
            raise DisputeError("the node-by-node output differs from the whole model's native output")
        t0 = time.perf_counter()
        native.run(x)
        infer.append(time.perf_counter() - t0)
    return min(post), min(infer)


def main(argv: list[str] | None = None) -> int:
    """`python -m optimist.bench.two_phase MODEL.mdnn [--chain anvil] [--lie phase1]`: figures as JSON."""
    import argparse
    import json
    import os
    import sys

    from challenger.models import ModelError
    from minidnn.phase1 import reference_input

    parser = argparse.ArgumentParser(prog="python -m optimist.bench.two_phase", description=main.__doc__)
    parser.add_argument("model", help="a .mdnn file")
    parser.add_argument("--chain", choices=("eth-tester", "anvil"), default="anvil")
    parser.add_argument("--lie", choices=("phase1", "phase2", "transition"), default="phase1")
    parser.add_argument("--background", action="store_true", help="VM work on the daemons' game lanes")
    parser.add_argument("--node", type=int, default=None,
                        help="the node the lie starts at (default: the middle node)")
    parser.add_argument("--largest", action="store_true", help="lie at the node with the most VM steps")
    args = parser.parse_args(argv)
    try:
        model = GraphModel(args.model, cache=False)    # commit_s: the descriptors measured afresh
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    x = reference_input(model.split, seed=1)
    t0 = time.perf_counter()
    steps = model.commitment.steps                     # every node measured in the VM (registering)
    commit_s = time.perf_counter() - t0
    node = args.node
    if args.largest:
        node = max(range(len(steps)), key=steps.__getitem__) + 1
    if node is not None and not 1 <= node <= model.node_count:
        parser.error(f"--node {node}: the model has nodes 1..{model.node_count}")
    figures = measure_two_phase_dispute(model, x.tobytes(), args.chain, args.lie, args.background, node)
    post_s, native_s = measure_time_to_post(model, x.tobytes())
    print(json.dumps({**figures.as_dict(), "commit_s": commit_s, "post_s": post_s, "native_s": native_s,
                      "post_over_native": post_s / native_s,
                      "load_average": os.getloadavg()}, indent=2))    # a shared machine: note the load
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
