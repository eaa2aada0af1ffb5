"""`optimist demo`: the whole story on the embedded chain (the digits MLP, or `--model gpt`)."""

from __future__ import annotations

import functools
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
@click.option("--batch", "entries", type=click.IntRange(2, 100), default=None, metavar="N",
              help="Rollup mode (digits): N digit images in one request batch, answered in one postEntries with "
                   "one lie; the lie's leaf disputed alone, the other N - 1 finalized in one call; gas per "
                   "inference alone and batched.")
@click.option("--window", default=600, show_default=True, help="Challenge window (s, chain time).")
@click.option("--clock", default=300, show_default=True, help="Chess clock per side (s, chain time).")
@click.option("--explorer", is_flag=True,
              help="Serve the explorer (read-only web page) of the demo's chain on 127.0.0.1 and show the dispute "
                   "live; it keeps serving after the story until Ctrl-C.")
@click.option("--explorer-port", default=8600, show_default=True, type=click.IntRange(0, 65535),
              help="Port of --explorer (0: any free port).")
@click.option("--pace", default=0.4, show_default=True, type=click.FloatRange(0, 60),
              help="With --explorer: seconds each game move waits, so the page shows the rounds one by one.")
def demo(model: str, tokens: int | None, prompt: str | None, entries: int | None, window: int, clock: int,
         explorer: bool, explorer_port: int, pace: float) -> None:
    """The whole story on the embedded chain: honest results, a lie caught by a one-step proof."""
    console = Console()
    t0 = time.perf_counter()
    if model == "digits":
        given = [name for name, value in (("--tokens", tokens), ("--prompt", prompt)) if value is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise click.UsageError(f"{' and '.join(given)} {verb} to --model gpt only")
        story = run_demo
        if entries is not None:
            from optimist.demo_rollup import run_rollup_demo

            story = functools.partial(run_rollup_demo, entries=entries)
        try:
            summary = story(console, window=window, clock=clock,
                            explorer_port=explorer_port if explorer else None, pace=pace if explorer else 0.0)
        except OSError as exc:
            if not explorer or exc.errno is None:
                raise
            raise click.ClickException(f"cannot listen on 127.0.0.1:{explorer_port}: {exc.strerror} "
                                       "(fix: --explorer-port another one, or 0)") from None
    else:
        if entries is not None:
            raise click.UsageError("--batch applies to the digits demo only")
        if explorer:
            raise click.UsageError("--explorer applies to the digits demo only (for a GPT dispute, run "
                                   "`optimist explorer --rpc-url URL` beside your own chain)")
        prompt = GPT_DEFAULT_PROMPT if prompt is None else prompt
        tokens = GPT_DEFAULT_TOKENS if tokens is None else tokens
        try:
            encode_prompt(prompt, tokens, vocabulary())     # before the (slow) imports of the scenario
            from optimist.demo_gpt import run_gpt_demo

            run_gpt_demo(console, prompt=prompt, tokens=tokens, window=window, clock=clock)
        except DemoInputError as exc:
            raise click.UsageError(str(exc)) from None
    console.print(f"demo finished in {time.perf_counter() - t0:.1f} s")
    if explorer:
        console.print(f"explorer still serving the finished chain at {summary.outcome['explorer']}; Ctrl-C ends")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            summary.outcome["server"].close()
