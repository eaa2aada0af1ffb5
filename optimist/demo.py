"""`optimist demo`: the whole story on the embedded eth-tester chain, in one process.

Deploy; convert and register the digits MLP; three requests. Two are answered honestly and finalize;
the third is answered by a dishonest operator, a challenger disputes it, the bisection game is shown
round by round, the one-step proof runs in MIPS.sol on chain, part of the liar's bond is burnt and the
rest rewards the challenger, and an honest operator answers the request correctly. Ends with a summary table (times, rounds, gas).

The GPT scenario (`optimist demo --model gpt`) is optimist/demo_gpt.py; its inputs (prompt, token
count) are checked here, without the heavy imports, so a usage error is immediate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from optimist.world import World

REPO = Path(__file__).resolve().parents[1]
MLP_ONNX = REPO / "examples" / "models" / "mlp_digits.onnx"
DEMO_DIR = REPO / "build" / "demo"


@dataclass
class StoryStep:
    name: str
    seconds: float = 0.0
    gas: int = 0
    txs: int = 0
    note: str = ""


@dataclass
class Summary:
    phases: list[StoryStep] = field(default_factory=list)
    outcome: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str, note: str = "") -> Iterator[StoryStep]:
        p = StoryStep(name, note=note)
        t0 = time.perf_counter()
        try:
            yield p
        finally:
            p.seconds = time.perf_counter() - t0
            self.phases.append(p)

    def table(self) -> Table:
        t = Table(title="summary")
        for col, justify in (("phase", "left"), ("wall time", "right"), ("txs", "right"), ("gas", "right"),
                             ("", "left")):
            t.add_column(col, justify=justify)
        for p in self.phases:
            t.add_row(p.name, f"{p.seconds:.2f} s", str(p.txs or ""), f"{p.gas:,}" if p.gas else "", p.note)
        total = sum(p.seconds for p in self.phases)
        t.add_row("[bold]total[/]", f"[bold]{total:.2f} s[/]", str(sum(p.txs for p in self.phases)),
                  f"{sum(p.gas for p in self.phases):,}", "")
        return t


def demo_model(console: Console) -> Any:
    """The digits MLP as .mdnn (converted from examples/models/mlp_digits.onnx into build/demo/v<version>)."""
    from challenger.models import MinidnnModel
    from converter.api import convert
    from minidnn.format import VERSION

    directory = DEMO_DIR / f"v{VERSION}"   # build/ is shared: a format change never reads an older file
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "mlp_digits.mdnn"
    conv = convert(MLP_ONNX)
    if not path.exists() or path.read_bytes() != conv.mdnn:
        conv.save(path)
    console.print(f"converted {MLP_ONNX.name} -> {path.relative_to(REPO)} "
                  f"({len(conv.mdnn):,} bytes, {conv.parameters:,} parameters, {conv.macs:,} MACs)")
    return MinidnnModel(path)


def digit_inputs(count: int) -> tuple[list[bytes], list[int]]:
    from converter.datasets import load_digits_28

    split = load_digits_28()
    xs = [np.ascontiguousarray(split.test_x[i], dtype="<f4").tobytes() for i in range(count)]
    return xs, [int(split.test_y[i]) for i in range(count)]


def argmax(output: bytes) -> int:
    return int(np.frombuffer(output, dtype="<f4").argmax())


def gas_of(store: Any, functions: tuple[str, ...] | None = None) -> tuple[int, int]:
    """(transactions, gas) a daemon's store recorded, optionally only for some functions."""
    summary = store.gas_summary()
    rows = [v for k, v in summary.items() if functions is None or k in functions]
    return sum(r["count"] for r in rows), sum(r["gas"] for r in rows)


@contextmanager
def counting(step: StoryStep, players: tuple[Any, ...], functions: tuple[str, ...] | None = None) -> Iterator[None]:
    """Add to `step` the transactions and gas the `players` daemons send inside the block (only `functions` if
    given), as their stores record them."""
    before = [gas_of(d.store, functions) for d in players]
    yield
    after = [gas_of(d.store, functions) for d in players]
    step.txs += sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
    step.gas += sum(a[1] - b[1] for a, b in zip(after, before, strict=True))


def play_dispute(world: World, summary: Summary, console: Console, rid: int, liar: Any, challenger: Any,
                 roles: dict[str, str], *, pace: float = 0.0,
                 describe: Callable[[], str] | None = None) -> tuple[dict[str, Any], int, int | None, int]:
    """Play the game on request `rid` (the challenger disputes the liar's result) to its end, printing
    the rounds; returns (the challenger's game row, its rounds, the proven step or None, the prove gas).
    `pace`: seconds each move waits (for the explorer); `describe`: more for the phase's note."""
    rounds = Table(title=f"bisection game on request {rid}")
    for col in ("round", "interval [lo, hi]", "midpoint", "move", "by"):
        rounds.add_column(col, justify="right" if col == "round" else "left")
    state: dict[str, int] = {"round": 0}

    def on_move(event: str, fields: dict[str, Any]) -> None:
        if pace:
            time.sleep(pace)   # lets the explorer's page show each move
        if event == "midpoint":
            state["round"] += 1
            rounds.add_row(str(state["round"]), f"[{fields['lo']:,}, {fields['hi']:,}]", f"{fields['mid']:,}",
                           "hash at midpoint", roles[liar.me])
        elif event == "responded":
            rounds.add_row("", "", "", "agree" if fields["agree"] else "[red]disagree[/]", roles[challenger.me])
        elif event == "proved":
            state["proved"] = fields["step"]
            rounds.add_row("proof", f"[{fields['step']:,}, {fields['step'] + 1:,}]", "",
                           "one-step proof in MIPS.sol", roles[challenger.me])
        elif event == "game_opened":
            rounds.add_row("0", f"[0, {fields['steps']:,}]", "", "open game (bond)", roles[challenger.me])

    liar.listeners.append(on_move)
    challenger.listeners.append(on_move)
    with summary.phase("dispute (challenge to resolution)") as p:
        world.run_until(lambda: bool(challenger.store.games())
                        and challenger.store.games()[0]["status"] != "active", [challenger, liar])
        (game,) = challenger.store.games()
        ch_txs, ch_gas = gas_of(challenger.store, ("openGame", "disputeLeaf", "respond", "prove"))
        op_txs, op_gas = gas_of(liar.store, ("postMidpoint",))
        p.txs, p.gas = ch_txs + op_txs, ch_gas + op_gas
        more = f"{describe()}; " if describe else ""
        p.note = f"{state['round']} rounds; {more}challenger {ch_gas:,} gas, defender {op_gas:,} gas"
    console.print(rounds)
    prove_gas = challenger.store.gas_summary().get("prove", {}).get("gas", 0)
    return game, state["round"], state.get("proved"), prove_gas


def settle_and_withdraw(world: World, summary: Summary, players: tuple[Any, ...], rids: list[int], window: int,
                        note: str) -> None:
    """The closing phase: the window passes, the daemons finalize `rids` and withdraw every balance,
    and anyone sends the counted burns (one transfer); the phase row counts their transactions and gas."""
    from contracts.system import RequestStatus

    with summary.phase("window passes, finalize, withdraw") as p:
        with counting(p, players):
            world.advance_time(window + 2)
            world.run_until(lambda: all(world.system.get_request(r).status == RequestStatus.FINALIZED for r in rids)
                            and not any(world.system.balance(d.me) for d in players), list(players))
        p.note = note
        if world.system.burned() > world.system.burn_sent():
            world.system.send_burn()
            p.txs += 1
            p.gas += int(world.system.last_receipt["gasUsed"]) if world.system.last_receipt else 0
            p.note += ", the burnt shares sent to the burn address"


def serve_explorer(world: World, port: int, summary: Summary, console: Console) -> None:
    """Serve the explorer of the demo's chain on 127.0.0.1:`port` (its URL and server in `summary.outcome`)."""
    from optimist.explorer import ChainView, Explorer
    from optimist.explorer.data import serialize_provider

    server = Explorer(ChainView(world.system, lock=serialize_provider(world.w3)), port, poll_ms=500).start()
    summary.outcome.update(explorer=server.url, server=server)
    console.print(f"explorer: [bold]{server.url}[/] (open it now: the dispute will be {server.url}/game/1)")


def money_table(world: World, players: tuple[Any, ...], roles: dict[str, str]) -> Table:
    """Where the money went: what each player withdrew and the gas it paid."""
    bal = Table(title="where the money went (wei credited and withdrawn by the contract)")
    bal.add_column("actor")
    bal.add_column("withdrawn", justify="right")
    bal.add_column("gas paid (all txs)", justify="right")
    withdrawals = [ev for ev in world.system.events_since(world.deploy_block) if ev.name == "Withdrawn"]
    for d in players:
        withdrawn = sum(ev["amount"] for ev in withdrawals if ev["account"] == d.me)
        bal.add_row(roles[d.me], f"{withdrawn / 1e18:.4f} ETH", f"{gas_of(d.store)[1]:,}")
    return bal


def run_demo(console: Console, *, window: int = 600, clock: int = 300, explorer_port: int | None = None,
             pace: float = 0.0) -> Summary:
    """The story; with `explorer_port` an explorer (optimist/explorer) serves the embedded chain on
    127.0.0.1:`explorer_port` from deployment on (its URL is in `summary.outcome["explorer"]`, the server
    in `summary.outcome["server"]`), and every game move waits `pace` seconds so the page shows it live."""
    from contracts.chain import eth_tester_web3
    from contracts.system import RequestStatus
    from optimist.world import World

    summary = Summary()
    console.rule("[bold]optimist demo[/]: fraud-provable ML inference on an embedded chain (eth-tester)")
    with summary.phase("convert model") as p:
        model = demo_model(console)
        image = model.image
        p.note = f"input {image.input_length} B, output {image.output_length} B"
    with summary.phase("deploy + register") as p:
        w3 = eth_tester_web3()
        world = World.deploy(w3, model, window=window, clock=clock)
        p.note = f"model id {world.model_id}, image root 0x{image.image_root.hex()[:16]}…"
    console.print(f"deployed Optimist at {world.system.address}, MIPS at {world.system.params.mips}; "
                  f"challenge window {window} s, clocks {clock} s")
    if explorer_port is not None:
        serve_explorer(world, explorer_port, summary, console)

    honest, liar, challenger = world.operator(name="honest"), world.operator(dishonest=True, name="liar"), \
        world.challenger(name="challenger")
    roles = {honest.me: "honest operator", liar.me: "dishonest operator", challenger.me: "challenger"}
    xs, labels = digit_inputs(3)

    with summary.phase("requests 1-2") as p:
        rids = [world.request(x, fee=10**16) for x in xs[:2]]
        p.txs, p.note = len(rids), "digit images (784 float32 each)"
    console.print(f"requests {rids} created (digits labelled {labels[:2]})")

    with summary.phase("honest answers (native + VM)") as p:
        world.run_until(lambda: all(world.system.get_request(r).status == RequestStatus.POSTED
                                    for r in rids[:2]), [honest, challenger])
        p.txs, p.gas = gas_of(honest.store, ("postResult",))
        tr = honest.honest_trace(rids[0])
        p.note = f"{tr.steps:,} VM steps per inference"
    for rid in rids[:2]:
        out = honest.trace(rid).output
        console.print(f"request {rid}: honest operator posts digit [bold]{argmax(out)}[/] "
                      f"({tr.steps:,} steps)")

    with summary.phase("request 3, dishonest answer") as p:
        rid3 = world.request(xs[2], fee=10**16)
        rids.append(rid3)
        world.run_until(lambda: world.system.get_request(rid3).status == RequestStatus.POSTED, [liar])
        lie = liar.trace(rid3).output
        p.txs, p.gas = gas_of(liar.store, ("postResult",))
        p.note = f"claims digit {argmax(lie)} (label {labels[2]})"
    console.print(f"request {rid3}: dishonest operator posts digit [bold red]{argmax(lie)}[/] "
                  f"(its lie: {liar.trace(rid3).how})")

    game, n_rounds, _, prove_gas = play_dispute(world, summary, console, rid3, liar, challenger, roles, pace=pace)
    winner = roles.get(game["winner"], game["winner"])
    console.print(f"game {game['game_id']}: [bold]{game['status']}[/] by {game['reason']} — winner {winner}; "
                  f"one-step proof gas {prove_gas:,}")
    summary.phases.append(StoryStep("  one-step proof (in dispute)", gas=prove_gas, txs=1, note="MIPS.sol step"))

    with summary.phase("correct re-answer") as p:
        with counting(p, (honest,), ("postResult",)):
            world.run_until(lambda: world.system.get_request(rid3).status == RequestStatus.POSTED,
                            [honest, liar, challenger])
        out = honest.trace(rid3).output
        p.note = f"digit {argmax(out)}"
    console.print(f"request {rid3}: honest operator posts digit [bold green]{argmax(out)}[/] (label {labels[2]})")

    settle_and_withdraw(world, summary, (honest, liar, challenger), rids, window,
                        "every request finalized, every balance withdrawn")

    console.print(money_table(world, (honest, liar, challenger), roles))
    console.print(f"burnt from the liar's bond: {world.system.burned() / 1e18:.4f} ETH; "
                  f"contract balance left: {world.contract_balance()} wei")
    summary.outcome |= {
        "game": dict(game), "rounds": n_rounds, "prove_gas": prove_gas, "labels": labels,
        "answers": [argmax(honest.trace(r).output) for r in rids], "lie": argmax(lie),
        "request_status": [world.system.get_request(r).status.name for r in rids],
        "contract_balance": world.contract_balance()}
    console.print(summary.table())
    return summary


# ---- the GPT scenario's inputs (`optimist demo --model gpt`, optimist/demo_gpt.py) ----------------

GPT_ONNX = REPO / "examples" / "models" / "gpt_shakespeare_small.onnx"
GPT_VOCAB = REPO / "examples" / "models" / "gpt_shakespeare_small.vocab.json"
GPT_DEFAULT_PROMPT = "KING HENRY:\nMy lo"
GPT_DEFAULT_TOKENS = 3      # the whole demo in ~75 s at load ~8 on 2 cores (BENCHMARKS.md, GPT notes)


class DemoInputError(ValueError):
    """A prompt or token count the demo's model cannot take (one line)."""


def vocabulary() -> list[str]:
    """The committed GPT's character vocabulary (token id = index)."""
    return list(json.loads(GPT_VOCAB.read_text(encoding="utf-8"))["tokens"])


def encode_prompt(prompt: str, tokens: int, vocab: list[str], context: int | None = None) -> list[int]:
    """The prompt's ids (DemoInputError for an empty prompt, unknown characters, a token count below
    1, and given the model's `context`, a longer prompt or more tokens than it holds)."""
    if tokens < 1 or (context is not None and tokens > context):
        bound = f"1..{context}" if context is not None else "1 or more"
        raise DemoInputError(f"--tokens {tokens}: a request asks for {bound} new tokens")
    if not prompt:
        raise DemoInputError("the prompt is empty: give at least one character")
    index = {t: i for i, t in enumerate(vocab)}
    unknown = sorted({c for c in prompt if c not in index})
    if unknown:
        raise DemoInputError(f"characters not in the model's vocabulary: {', '.join(map(repr, unknown))}")
    if context is not None and len(prompt) > context:
        raise DemoInputError(f"the prompt has {len(prompt)} characters; the model's context holds {context}")
    return [index[c] for c in prompt]


def decode_ids(ids: list[int], vocab: list[str]) -> str:
    """The text of token ids (an id outside the vocabulary shown as [id])."""
    return "".join(vocab[i] if 0 <= i < len(vocab) else f"[{i}]" for i in ids)
