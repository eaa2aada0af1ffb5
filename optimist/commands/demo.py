"""`optimist demo`: the whole story on the embedded chain (the digits MLP, or `--model gpt`)."""

from __future__ import annotations

import time

import click
from rich.console import Console

from optimist.demo import (
    GPT_DEFAULT_PROMPT,
    GPT_DEFAULT_TOKENS,
    DemoInputError,
    encode_prompt,
    run_demo,
    vocabulary,
)

MODELS = ("digits", "gpt")


@click.command("demo")
@click.option("--model", "model", type=click.Choice(MODELS), default="digits", show_default=True,
              help="digits: the digits MLP, three requests, one lie. gpt: a k-token continuation of a prompt by "
                   "the committed character-level GPT, a one-token lie caught, the honest text finalized.")
@click.option("--tokens", "-k", type=int, default=None,
              help=f"--model gpt: new tokens to generate (default {GPT_DEFAULT_TOKENS}; each costs ~0.5 billion VM "
                   "steps per run, and the demo runs the request three times: liar, challenger, honest operator).")
@click.option("--prompt", "-p", default=None,
              help=f"--model gpt: the text to continue (default {GPT_DEFAULT_PROMPT!r}).")
@click.option("--window", default=600, show_default=True, help="Challenge window (s, chain time).")
@click.option("--clock", default=300, show_default=True, help="Chess clock per side (s, chain time).")
def demo(model: str, tokens: int | None, prompt: str | None, window: int, clock: int) -> None:
    """The whole story on the embedded chain: honest results, a lie caught by a one-step proof."""
    console = Console()
    t0 = time.perf_counter()
    if model == "digits":
        given = [name for name, value in (("--tokens", tokens), ("--prompt", prompt)) if value is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise click.UsageError(f"{' and '.join(given)} {verb} to --model gpt only")
        run_demo(console, window=window, clock=clock)
    else:
        prompt = GPT_DEFAULT_PROMPT if prompt is None else prompt
        tokens = GPT_DEFAULT_TOKENS if tokens is None else tokens
        try:
            encode_prompt(prompt, tokens, vocabulary())     # before the (slow) imports of the scenario
            from optimist.demo_gpt import run_gpt_demo

            run_gpt_demo(console, prompt=prompt, tokens=tokens, window=window, clock=clock)
        except DemoInputError as exc:
            raise click.UsageError(str(exc)) from None
    console.print(f"demo finished in {time.perf_counter() - t0:.1f} s")
