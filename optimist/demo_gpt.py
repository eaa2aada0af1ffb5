"""`optimist demo --model gpt`: a language model's continuation disputed on the embedded chain.

Deploy; convert the committed character-level GPT (examples/models/gpt_shakespeare_small.onnx, 4
layers, context 32) into a generation model and register it; request a k-token greedy continuation
of a prompt. A dishonest operator answers first with the true continuation but one token changed
(`TokenLie`: its run writes another id into the output region at the step that stores that token);
the challenger runs the request itself, disputes, the bisection game narrows the k x ~0.5 billion
steps to that one store instruction, MIPS.sol executes it on chain and the lie is rejected. An honest
operator then answers, the challenge window passes and the honest continuation finalizes.

Each party runs the whole generation in the VM once (the liar to build its lie, the challenger to
check it, the honest operator to answer): the demo's time is about three k-token VM runs.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from challenger.models import MinidnnModel, Trace, _FinalState
from mipsvm.memory import keccak256
from mipsvm.state import State
from mipsvm.stepper import Witness, data_access, decode, step_with_witness
from optimist.demo import (
    DEMO_DIR,
    GPT_DEFAULT_PROMPT,
    GPT_DEFAULT_TOKENS,
    GPT_ONNX,
    REPO,
    StoryStep,
    Summary,
    decode_ids,
    encode_prompt,
    gas_of,
    play_dispute,
    settle_and_withdraw,
    vocabulary,
)


def gpt_demo_model(console: Console) -> MinidnnModel:
    """The small GPT as a generation model (.mdnn with FLAG_GENERATE), converted into
    build/demo/v<version>/ (rewritten only when the conversion differs from the file there)."""
    from converter.api import convert
    from minidnn.format import VERSION
    from minidnn.generation import generation_model

    directory = DEMO_DIR / f"v{VERSION}"   # build/ is shared: a format change never reads an older file
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "gpt_shakespeare_small.gen.mdnn"
    conv = convert(GPT_ONNX)
    blob = generation_model(conv.mdnn)
    if not path.exists() or path.read_bytes() != blob:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")   # build/ is shared: never a half-written file
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    console.print(f"converted {GPT_ONNX.name} -> {path.relative_to(REPO)} (generation model, {len(blob):,} "
                  f"bytes, {conv.parameters:,} parameters, {conv.macs:,} MACs per forward pass)")
    return MinidnnModel(path)


class TokenLie(_FinalState):
    """A continuation with one token changed, as a run that wrote the wrong id.

    The honest run stores token j at OUTPUT_BASE + 4j once, when it is generated. The lie is that
    run with another id in that word from the store on: equal to the honest run before step
    `diverge` (the first state holding token j), the honest states with the word replaced after.
    `token` = j (default: the non-zero id nearest the middle of the continuation, so the store can
    be found as the first state where the word, zero before, is non-zero). With no non-zero id the
    lie is the final state only (diverge = steps). The lie's id is the honest id + 1 (mod vocab).
    """

    def __init__(self, honest: Trace, k: int, vocab_size: int, token: int | None = None) -> None:
        self.honest = honest
        self.model = honest.model
        self.steps = honest.steps
        ids = [int(i) for i in np.frombuffer(honest.output, dtype="<i4")[:k]]
        if len(ids) < k:
            raise ValueError(f"the true run ({honest.outcome.name}) has no {k}-token continuation to change")
        if token is None:
            nonzero = [j for j in range(k) if ids[j] != 0]
            token = min(nonzero, key=lambda j: (abs(j - (k - 1) / 2), -j)) if nonzero else k - 1
        self.token = token
        self.true_id = ids[token]
        self.lie_id = (ids[token] + 1) % vocab_size
        self.address = self.model.image.output_base + 4 * token
        self.diverge = self._store_step() if self.true_id != 0 else self.steps
        self.final = self._patched(honest.final.copy())
        self.how = f"token {token + 1} of {k} changed, id {self.true_id} -> {self.lie_id}"

    def _word(self, state: State) -> int:
        return int.from_bytes(state.memory.read(self.address, 4), "little")

    def _store_step(self) -> int:
        """The first step whose state holds the token (binary search: 0 before its store, then not)."""
        lo, hi = 0, self.steps     # word(lo) == 0, word(hi) == true id != 0
        if self._word(self.honest.state_at(lo)) != 0:
            return self.steps
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._word(self.honest.state_at(mid)) == 0:
                lo = mid
            else:
                hi = mid
        return hi

    def _patched(self, state: State) -> State:
        state.memory.write(self.address, self.lie_id.to_bytes(4, "little"))
        return state

    @property
    def final_hash(self) -> bytes:
        return keccak256(self.final_packed)

    def hash_at(self, step: int) -> bytes:
        if step < self.diverge:
            return self.honest.hash_at(step)
        if step >= self.steps:
            return self.final_hash
        return self.state_at(step).hash()

    def state_at(self, step: int) -> State:
        if step < self.diverge:
            return self.honest.state_at(step)
        if step >= self.steps:
            return self.final.copy()
        return self._patched(self.honest.state_at(step))

    def witness_at(self, step: int) -> Witness:
        return step_with_witness(self.state_at(step))


def instruction_at(trace: Trace, step: int) -> str:
    """The instruction the run executes from state `step` ('sw at pc 0x400b24, word 0x30000004')."""
    st = trace.state_at(step)
    name = decode(st.memory.read_u32(st.pc)).name
    addr = data_access(st)
    return f"{name} at pc {st.pc:#x}" + (f", word {addr:#010x}" if addr is not None else "")


def run_gpt_demo(console: Console, *, prompt: str = GPT_DEFAULT_PROMPT, tokens: int = GPT_DEFAULT_TOKENS,
                 window: int = 600, clock: int = 300) -> Summary:
    """The story, narrated to `console`; DemoInputError (before any chain work) for a bad prompt."""
    from contracts.chain import eth_tester_web3
    from contracts.system import RequestStatus
    from minidnn.generation import encode_request
    from minidnn.native import Model
    from optimist.world import World

    vocab = vocabulary()
    encode_prompt(prompt, tokens, vocab)       # what can be checked before converting the model
    summary = Summary()
    console.rule(f"[bold]optimist demo --model gpt[/]: a {tokens}-token continuation disputed on an embedded "
                 "chain (eth-tester)")
    with summary.phase("convert model") as p:
        model = gpt_demo_model(console)
        gen = Model.load(model.path)
        ids = encode_prompt(prompt, tokens, vocab, gen.context)
        request = encode_request(ids, tokens, gen.context, gen.vocab).tobytes()
        image = model.image
        p.note = f"context {gen.context}, vocabulary {gen.vocab}; request {image.input_length} B"
    with summary.phase("deploy + register") as p:
        world = World.deploy(eth_tester_web3(), model, window=window, clock=clock)
        p.note = f"model id {world.model_id}, image root 0x{image.image_root.hex()[:16]}…"
    console.print(f"deployed Optimist at {world.system.address}, MIPS at {world.system.params.mips}; "
                  f"challenge window {window} s, clocks {clock} s")

    honest, liar, challenger = world.operator(name="honest"), world.operator(dishonest=True, name="liar"), \
        world.challenger(name="challenger")
    liar.lie = lambda trace: TokenLie(trace, tokens, gen.vocab)   # type: ignore[method-assign]
    roles = {honest.me: "honest operator", liar.me: "dishonest operator", challenger.me: "challenger"}
    runs: dict[str, float] = {}

    def on_run(event: str, fields: dict[str, Any], who: str) -> None:
        if event == "vm_run":
            runs[who] = runs.get(who, 0.0) + fields["seconds"]

    for daemon in (honest, liar, challenger):
        daemon.listeners.append(lambda e, f, who=roles[daemon.me]: on_run(e, f, who))

    with summary.phase("request") as p:
        rid = world.request(request, fee=10**16)
        p.txs, p.note = 1, f"prompt {prompt!r}, {tokens} new tokens, greedy"
    console.print(f"request {rid}: continue [bold]{escape(repr(prompt))}[/] by {tokens} characters (greedy)")

    with summary.phase("dishonest answer (VM run + lie)") as p:
        world.run_until(lambda: world.system.get_request(rid).status == RequestStatus.POSTED, [liar])
        lie: TokenLie = liar.trace(rid)  # type: ignore[assignment]
        lie_ids = [int(i) for i in np.frombuffer(lie.output, dtype="<i4")[:tokens]]
        p.txs, p.gas = gas_of(liar.store, ("postResult",))
        p.note = f"{lie.steps:,} VM steps ({lie.steps // tokens:,} per token); {lie.how}"
    lie_text = decode_ids(lie_ids, vocab)
    shown = "".join(f"[bold red]{escape(c)}[/]" if j == lie.token else escape(c) for j, c in enumerate(lie_text))
    console.print(f"request {rid}: dishonest operator posts {escape(repr(prompt))} + \"{shown}\" "
                  f"(token {lie.token + 1}: {vocab[lie.true_id]!r} -> {vocab[lie.lie_id]!r}, written at step "
                  f"{lie.diverge:,} of {lie.steps:,})".replace("\n", "\\n"))

    game, n_rounds, step, prove_gas = play_dispute(
        world, summary, console, rid, liar, challenger, roles,
        describe=lambda: f"challenger's VM run {runs.get('challenger', 0):.1f} s")
    winner = roles.get(game["winner"], game["winner"])
    # the instruction from the true run (the liar's, still held here; the daemons dropped theirs with the game)
    proven = f"step {step:,}: {instruction_at(lie.honest, step)}" if step is not None else "no proof"
    console.print(f"game {game['game_id']}: [bold]{game['status']}[/] by {game['reason']} — winner {winner}; "
                  f"one-step proof of {proven}, {prove_gas:,} gas")
    summary.phases.append(StoryStep("  one-step proof (in dispute)", gas=prove_gas, txs=1, note=proven))

    with summary.phase("honest answer (VM run)") as p:
        before = gas_of(honest.store, ("postResult",))
        world.run_until(lambda: world.system.get_request(rid).status == RequestStatus.POSTED,
                        [honest, liar, challenger])
        after = gas_of(honest.store, ("postResult",))
        p.txs, p.gas = after[0] - before[0], after[1] - before[1]
        honest_ids = [int(i) for i in np.frombuffer(honest.trace(rid).output, dtype="<i4")[:tokens]]
        p.note = f"VM run {runs.get('honest operator', 0):.1f} s; native output == VM output checked"
    honest_text = decode_ids(honest_ids, vocab)
    console.print(f"request {rid}: honest operator posts {escape(repr(prompt))} + "
                  f"\"[bold green]{escape(honest_text)}[/]\"".replace("\n", "\\n"))

    settle_and_withdraw(world, summary, (honest, liar, challenger), [rid], window,
                        "the honest continuation finalized, every balance withdrawn")
    console.print(Panel(f"[bold]{escape(prompt)}[green]{escape(honest_text)}[/][/]", expand=False,
                        title=f"finalized: request {rid}'s {tokens}-token continuation"))

    bal = Table(title="where the money went (wei credited and withdrawn by the contract)")
    bal.add_column("actor")
    bal.add_column("withdrawn", justify="right")
    bal.add_column("gas paid (all txs)", justify="right")
    bal.add_column("VM run", justify="right")
    for d in (honest, liar, challenger):
        withdrawn = sum(ev["amount"] for ev in world.system.events_since(world.deploy_block)
                        if ev.name == "Withdrawn" and ev["account"] == d.me)
        bal.add_row(roles[d.me], f"{withdrawn / 1e18:.4f} ETH", f"{gas_of(d.store)[1]:,}",
                    f"{runs.get(roles[d.me], 0):.1f} s")
    console.print(bal)
    console.print(f"burnt from the liar's bond: {world.system.burned() / 1e18:.4f} ETH; "
                  f"contract balance left: {world.contract_balance()} wei")
    summary.outcome = {
        "game": dict(game), "rounds": n_rounds, "prove_gas": prove_gas, "prompt": prompt,
        "tokens": tokens, "honest_ids": honest_ids, "honest_text": honest_text, "lie_ids": lie_ids,
        "lie_text": lie_text, "lie_token": lie.token, "diverge": lie.diverge, "steps": lie.steps,
        "proven": proven, "vm_seconds": dict(runs), "model": str(model.path),
        "request_status": world.system.get_request(rid).status.name,
        "contract_balance": world.contract_balance()}
    console.print(summary.table())
    return summary
