"""`optimist demo --model gpt`: a one-token lie in a GPT's continuation is caught by a one-step proof
and the honest continuation (== `optimist generate`'s native greedy text) finalizes; the demo's
options give one-line usage errors."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from mipsvm.layout import OUTPUT_BASE
from mipsvm.state import State
from optimist.cli import main
from optimist.demo import GPT_VOCAB, DemoInputError, encode_prompt, vocabulary


@pytest.mark.parametrize("args, message", [
    (["--model", "gtp"], "'gtp' is not one of 'digits', 'gpt'"),
    (["--tokens", "3"], "--tokens applies to --model gpt only"),
    (["--tokens", "3", "--prompt", "ROMEO:"], "--tokens and --prompt apply to --model gpt only"),
    (["--model", "gpt", "--tokens", "0"], "--tokens 0: a request asks for 1 or more new tokens"),
    (["--model", "gpt", "--tokens", "two"], "'two' is not a valid integer"),
    (["--model", "gpt", "--prompt", ""], "the prompt is empty"),
    (["--model", "gpt", "--prompt", "ROMEO€ {"], "characters not in the model's vocabulary: '{', '€'"),
])
def test_usage_errors_are_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["demo", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_help_names_the_scenarios() -> None:
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0
    assert "[digits|gpt]" in result.output and "--tokens" in result.output and "--prompt" in result.output


def test_prompt_checks_against_the_model_context() -> None:
    vocab = vocabulary()
    assert encode_prompt("ROMEO:", 4, vocab, 32) == [vocab.index(c) for c in "ROMEO:"]
    with pytest.raises(DemoInputError, match=r"--tokens 33: a request asks for 1\.\.32 new tokens"):
        encode_prompt("ROMEO:", 33, vocab, 32)
    with pytest.raises(DemoInputError, match="the prompt has 33 characters; the model's context holds 32"):
        encode_prompt("A" * 33, 1, vocab, 32)


def test_too_long_prompt_is_a_usage_error_after_conversion() -> None:
    result = CliRunner().invoke(main, ["demo", "--model", "gpt", "--prompt", "A" * 40])
    assert result.exit_code == 2, result.output
    assert "the prompt has 40 characters; the model's context holds 32" in result.output


class FakeRun:
    """A stand-in honest run of `steps` steps that stores token j's id at step stores[j] (states built
    on demand), with the Trace attributes TokenLie reads."""

    def __init__(self, ids: list[int], stores: list[int], steps: int) -> None:
        self.ids, self.stores, self.steps = ids, stores, steps
        self.model = SimpleNamespace(image=SimpleNamespace(output_base=OUTPUT_BASE, output_length=4 * len(ids)))
        self.final = self.state_at(steps)
        self.final.exited = True
        self.output = self.final.memory.read(OUTPUT_BASE, 4 * len(ids))

    def state_at(self, step: int) -> State:
        st = State(step=step)
        for j, (tok, at) in enumerate(zip(self.ids, self.stores, strict=True)):
            if step >= at:
                st.memory.write(OUTPUT_BASE + 4 * j, tok.to_bytes(4, "little"))
        return st

    def hash_at(self, step: int) -> bytes:
        return self.state_at(min(step, self.steps)).hash()


@pytest.mark.parametrize("ids, token", [([0, 32, 46, 43], 2), ([0, 32], 1), ([5, 6, 7], 1), ([9], 0)])
def test_token_lie_diverges_where_the_token_is_stored(ids: list[int], token: int) -> None:
    from optimist.demo_gpt import TokenLie

    stores = [1000 * (j + 1) - 7 for j in range(len(ids))]
    honest = FakeRun(ids, stores, 1000 * len(ids) + 50)
    lie = TokenLie(honest, len(ids), 65)   # type: ignore[arg-type]
    assert lie.token == token and lie.diverge == stores[token]
    claimed = [int(i) for i in np.frombuffer(lie.output, "<i4")]
    assert [j for j in range(len(ids)) if claimed[j] != ids[j]] == [token]
    assert claimed[token] == (ids[token] + 1) % 65
    for step in (0, lie.diverge - 1):
        assert lie.hash_at(step) == honest.hash_at(step)
    for step in (lie.diverge, lie.diverge + 1, honest.steps - 1):
        assert lie.hash_at(step) != honest.hash_at(step)
        assert lie.hash_at(step) == lie.state_at(step).hash()
    assert lie.hash_at(honest.steps) == lie.final_hash != honest.hash_at(honest.steps)


def test_token_lie_with_only_zero_ids_is_a_final_state_lie() -> None:
    from optimist.demo_gpt import TokenLie

    honest = FakeRun([0, 0], [10, 20], 30)
    lie = TokenLie(honest, 2, 65)   # type: ignore[arg-type]
    assert lie.diverge == honest.steps and lie.token == 1
    assert lie.hash_at(honest.steps - 1) == honest.hash_at(honest.steps - 1)
    assert lie.hash_at(honest.steps) != honest.hash_at(honest.steps)


@pytest.mark.slow
def test_gpt_demo_catches_a_one_token_lie() -> None:
    from optimist.demo_gpt import run_gpt_demo

    console = Console(record=True, width=140)
    k = 2
    out = run_gpt_demo(console, prompt="ROMEO:", tokens=k).outcome
    assert out["game"]["status"] == "challenger_won" and out["game"]["reason"] == "proof"
    assert out["request_status"] == "FINALIZED" and out["contract_balance"] == 0
    assert 0 < out["prove_gas"] < 250_000
    # the lie is the honest continuation with exactly one token changed, stored at the proven step
    honest, lie = out["honest_ids"], out["lie_ids"]
    assert len(honest) == len(lie) == k
    assert [j for j in range(k) if honest[j] != lie[j]] == [out["lie_token"]]
    assert out["proven"].startswith(f"step {out['diverge'] - 1:,}: sw at pc ")
    assert out["proven"].endswith(f"word {OUTPUT_BASE + 4 * out['lie_token']:#010x}")
    assert 0 < out["diverge"] < out["steps"]
    # the finalized text is what `optimist generate` generates natively (greedy) for the same prompt
    result = CliRunner().invoke(main, ["generate", out["model"], "--prompt", "ROMEO:", "-k", str(k),
                                       "--vocab", str(GPT_VOCAB), "--json"])
    assert result.exit_code == 0, result.output
    native = json.loads(result.output)
    assert native["ids"] == honest and native["text"] == out["honest_text"] != out["lie_text"]
    text = console.export_text()
    assert "one-step proof" in text and "summary" in text and "finalized" in text
