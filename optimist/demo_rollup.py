"""`optimist demo --batch N`: rollup mode on the embedded eth-tester chain (docs/game-rules.md §3b).

One digit image is asked alone, for comparison. Then a requester asks for N digit images in one transaction
(a request batch; eth-tester takes no blobs, so the inputs travel in calldata); a dishonest operator answers all
N in one postEntries with one lie among them; the challenger checks every entry and disputes the lie alone
(disputeLeaf: the leaf's inclusion proof, the entry's request created from its committed input root), wins by
the one-step proof; at the window the other N - 1 finalize in one call; an honest operator answers the reopened
entry. Ends with the gas per inference alone and batched, and where the money went.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from optimist.demo import (
    StoryStep,
    Summary,
    argmax,
    counting,
    demo_model,
    digit_inputs,
    gas_of,
    money_table,
    play_dispute,
    serve_explorer,
    settle_and_withdraw,
)

if TYPE_CHECKING:
    from challenger.models import LyingTrace, Trace

MIN_ENTRIES, MAX_ENTRIES = 2, 100
FEE = 10**16


def run_rollup_demo(console: Console, *, entries: int = 20, window: int = 600, clock: int = 300,
                    explorer_port: int | None = None, pace: float = 0.0) -> Summary:
    """The rollup story with `entries` digit images in one request batch (see the module's docstring)."""
    from challenger.models import LyingTrace
    from contracts.batches import entry_ref
    from contracts.chain import eth_tester_web3
    from contracts.system import RequestStatus
    from optimist.client import Client
    from optimist.entries import answer_output, entry_states
    from optimist.world import World

    if not MIN_ENTRIES <= entries <= MAX_ENTRIES:
        raise ValueError(f"a demo request batch has {MIN_ENTRIES}..{MAX_ENTRIES} entries, not {entries}")
    summary = Summary()
    console.rule(f"[bold]optimist demo --batch {entries}[/]: rollup mode on an embedded chain (eth-tester)")
    with summary.phase("convert model") as p:
        model = demo_model(console)
        p.note = f"input {model.image.input_length} B, output {model.image.output_length} B"
    with summary.phase("deploy + register") as p:
        w3 = eth_tester_web3()
        world = World.deploy(w3, model, window=window, clock=clock)
        p.note = f"model id {world.model_id}"
    s = world.system
    if explorer_port is not None:
        serve_explorer(world, explorer_port, summary, console)

    xs, labels = digit_inputs(entries + 1)
    alone_x, xs, alone_label, labels = xs[-1], xs[:-1], labels[-1], labels[:-1]
    lie_at = entries // 2
    lying_input = xs[lie_at]

    def lie(honest: Trace) -> LyingTrace:   # a real game's lie on one entry; the truth on the others
        return LyingTrace(honest) if honest.input == lying_input else LyingTrace(honest, edit=lambda st: None)

    honest, liar, challenger = world.operator(name="honest"), world.operator(dishonest=True, name="liar"), \
        world.challenger(name="challenger")
    liar.lie = lie
    roles = {honest.me: "honest operator", liar.me: "dishonest operator", challenger.me: "challenger"}
    alone: dict[str, int] = {}

    with summary.phase("one request alone (to compare)") as p:
        rid = world.request(alone_x, fee=FEE)
        alone["request"] = int(s.last_receipt["gasUsed"]) if s.last_receipt else 0
        world.run_until(lambda: s.get_request(rid).status == RequestStatus.POSTED, [honest])
        p.txs, alone["result"] = gas_of(honest.store, ("postResult",))
        p.txs += 1
        p.gas = alone["request"] + alone["result"]
        p.note = f"request {rid}: digit {argmax(honest.trace(rid).output)} (label {alone_label}), postResult"

    with summary.phase(f"request batch of {entries}") as p:
        rb = s.request_batch_data(world.model_id, xs, entries * FEE)
        refs = [entry_ref(rb, i) for i in range(entries)]
        p.txs, p.gas = 1, int(s.last_receipt["gasUsed"]) if s.last_receipt else 0
        request_gas = p.gas
        p.note = f"{entries} digit images in one transaction (inputs in calldata), {p.gas // entries:,} gas each"
    console.print(f"request batch {rb}: {entries} entries, {entries * FEE / 1e18:g} ETH of fees "
                  f"(follow one with `optimist status {rb}:0`)")

    with summary.phase("all answered in one postEntries") as p:
        world.run_until(lambda: all(s.entry_taken(rb, i) for i in range(entries)), [liar])
        p.txs, p.gas = gas_of(liar.store, ("postEntries",))
        post_gas = p.gas
        p.note = f"one lie among them (entry {lie_at}), {p.gas // entries:,} gas each"
    claimed = [argmax(liar.trace(ref).output) for ref in refs]
    answers = Table(title=f"the dishonest operator's answers to request batch {rb}")
    for col in ("entry", "label", "claimed digit"):
        answers.add_column(col, justify="right")
    for i, (label, digit) in enumerate(zip(labels, claimed, strict=True)):
        answers.add_row(f"{rb}:{i}", str(label), f"[bold red]{digit}[/] (lie)" if i == lie_at else str(digit))
    console.print(answers)

    with summary.phase("challenger checks every entry") as p:
        world.run_until(lambda: bool(challenger.store.games()), [liar, challenger])
        verdicts = [row["verdict"] for row in challenger.store.results() if row["request_id"] in refs]
        p.note = f"{len(verdicts)} leaves judged: {verdicts.count('agree')} agree, {verdicts.count('disagree')} " \
                 "disputed (disputeLeaf)"
    game, n_rounds, _, prove_gas = play_dispute(world, summary, console, refs[lie_at], liar, challenger, roles,
                                                pace=pace)
    winner = roles.get(game["winner"], game["winner"])
    console.print(f"game {game['game_id']} on entry {rb}:{lie_at}: [bold]{game['status']}[/] by {game['reason']} "
                  f"— winner {winner}; one-step proof gas {prove_gas:,}")
    summary.phases.append(StoryStep("  one-step proof (in dispute)", gas=prove_gas, txs=1, note="MIPS.sol step"))

    batch_id = next(e["batchId"] for e in s.events_since(world.deploy_block) if e.name == "EntriesPosted")
    with summary.phase(f"window passes: {entries - 1} finalize in one call") as p:
        with counting(p, (honest, liar, challenger), ("finalizeEntries",)):
            world.advance_time(window + 2)
            world.run_until(lambda: s.batch(batch_id).settled, [liar, challenger])
        finalize_gas = p.gas
        p.note = "finalizeEntries: every undisputed entry, O(1)"

    with summary.phase("correct re-answer of the lie's entry") as p:
        with counting(p, (honest,), ("postResult",)):
            world.run_until(lambda: s.get_request(refs[lie_at]).status == RequestStatus.POSTED,
                            [honest, liar, challenger], advance_when_idle=2)
        p.note = f"entry {rb}:{lie_at}, now an ordinary request: digit {argmax(honest.trace(refs[lie_at]).output)}"

    settle_and_withdraw(world, summary, (honest, liar, challenger), [rid, refs[lie_at]], window,
                        "the re-answer and the request alone finalized, every balance withdrawn")
    alone["finalize"] = next((int(t.gas_used or 0) for d in (honest, liar, challenger) for t in d.store.txs("mined")
                              if t.function == "finalize"), 0)

    # what the chain says now: the undisputed entries' outputs from the postEntries that answered them (checked
    # against their leaves), the disputed one's from its re-answer (a client reads both kinds the same way)
    client = Client.from_system(s, from_block=world.deploy_block)
    states = entry_states(s, rb, s.events_since(world.deploy_block))
    final = [argmax(answer_output(s, st.answer) if st.request_status == RequestStatus.NONE and st.answer
                    else client.get(st.ref).result().output) for st in states]
    console.print(money_table(world, (honest, liar, challenger), roles))
    batched = request_gas + post_gas + finalize_gas
    per_alone = sum(alone.values())
    console.print(f"gas per inference: {per_alone:,} alone (request + postResult + finalize) against "
                  f"{batched // entries:,} in a batch of {entries} (request batch + postEntries + finalizeEntries, "
                  f"over {entries}); with blobs on a chain that takes them, ~9k at 100 (BENCHMARKS.md)")
    console.print(f"final answers: {final} (labels {labels})")
    # what a consumer contract pulls on-chain: entry 0's leaf and proof, proven final by leafOutcome
    lp = client.entry(refs[0]).leaf_proof()
    proven = s.batches.functions.leafOutcome(*lp.args()).call()
    console.print(f"on-chain, OptimistBatches.leafOutcome proves entry {rb}:0 final: request {proven[0]}, output hash "
                  f"0x{bytes(proven[4]).hex()[:16]}… = keccak256 of digit {argmax(lp.output)}'s output "
                  f"(Entry.leaf_proof(); DigitBounty.judgeLeaf pulls answers this way)")
    summary.outcome |= {
        "game": dict(game), "rounds": n_rounds, "prove_gas": prove_gas, "labels": labels, "final": final,
        "claimed": claimed, "lie_at": lie_at, "truth": [argmax(model.infer(x)) for x in xs],
        "proven": (proven[0], bytes(proven[4]), lp.output), "gas_alone": per_alone,
        "gas_batched": batched // entries, "contract_balance": world.contract_balance(),
        "request_status": [s.get_request(r).status.name for r in (rid, refs[lie_at])]}
    console.print(summary.table())
    return summary
