"""`optimist generate model.mdnn --prompt "..." -k 16 [--vm] [--temperature T --seed S]`: text from a
character-level language model, generated inside one run (native, or one VM run with --vm).

The tokenizer stays off-chain: a character vocabulary next to the model (MODEL with the suffix
.vocab.json, e.g. gpt_shakespeare.vocab.json: {"type": "char", "tokens": ["\\n", " ", ...]}; token id
= index). A plain causal LM (.mdnn of ids [1, T] -> logits [1, T, V]) is run as the generation
model with the same graph (docs/model-format.md, Generation models).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from minidnn.format import FormatError
from minidnn.native import MinidnnError, Model


def load_vocab(path: Path) -> list[str]:
    """The tokens of a character vocabulary file (ClickException, one line, if it is not one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise click.ClickException(f"no vocabulary {path} (give one with --vocab)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"cannot read the vocabulary {path}: {exc}") from None
    tokens = data.get("tokens") if isinstance(data, dict) else None
    if (not isinstance(tokens, list) or not tokens or data.get("type", "char") != "char"
            or not all(isinstance(t, str) and len(t) == 1 for t in tokens) or len(set(tokens)) != len(tokens)):
        raise click.ClickException(f"{path}: not a character vocabulary (expected "
                                   '{"type": "char", "tokens": [distinct one-character strings]})')
    return tokens


def generation_model_of(path: Path) -> Model:
    """MODEL as a generation model: as it is if flagged, else its graph with the flag set."""
    from minidnn.format import ERROR_CODES
    from minidnn.generation import generation_model

    try:
        model = Model.load(path)
        if model.generates:
            return model
        return Model.load(generation_model(model.blob))
    except MinidnnError as exc:
        if exc.code == ERROR_CODES["BAD_TENSOR"]:
            raise click.ClickException(f"{path} is not a causal language model: generation needs int32 ids "
                                       "[1, T] -> float32 logits of every position [1, T, V]") from None
        raise click.ClickException(str(exc)) from None
    except FormatError as exc:
        raise click.ClickException(f"{path}: {exc}") from None


def encode(prompt: str, tokens: list[str], context: int) -> list[int]:
    """The prompt's ids (ClickException naming the characters outside the vocabulary)."""
    if not prompt:
        raise click.ClickException("the prompt is empty: give at least one character")
    index = {t: i for i, t in enumerate(tokens)}
    unknown = sorted({c for c in prompt if c not in index})
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:10]) + (", ..." if len(unknown) > 10 else "")
        raise click.ClickException(f"characters not in the vocabulary ({len(tokens)} characters): {shown}")
    if len(prompt) > context:
        raise click.ClickException(f"the prompt has {len(prompt)} characters; the model's context holds {context}")
    return [index[c] for c in prompt]


@click.command("generate")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--prompt", "-p", required=True, help="Text to continue (characters of the vocabulary).")
@click.option("-k", "k", type=int, default=16, show_default=True, help="New tokens (at most the model's context).")
@click.option("--vm", "use_vm", is_flag=True, help="Generate in one run of the MIPS VM (unicorn) instead of natively.")
@click.option("--temperature", "-t", type=float, default=0.0, show_default=True,
              help="0 = greedy; > 0 samples from softmax(logits / T) with --seed.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Seed of the runtime's counter-based PRNG (sampling only).")
@click.option("--vocab", type=click.Path(dir_okay=False, path_type=Path),
              help="Character vocabulary (default: MODEL with suffix .vocab.json).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def generate(model: Path, prompt: str, k: int, use_vm: bool, temperature: float, seed: int,
             vocab: Path | None, as_json: bool) -> None:
    """Continue a text prompt with a character-level language model, inside one run (native or --vm)."""
    from minidnn.generation import encode_request

    tokens = load_vocab(vocab or model.with_suffix(".vocab.json"))
    m = generation_model_of(model)
    if len(tokens) > m.vocab:
        raise click.ClickException(f"the vocabulary has {len(tokens)} tokens; the model's logits cover {m.vocab}")
    ids = encode(prompt, tokens, m.context)
    try:
        request = encode_request(ids, k, m.context, m.vocab, temperature, seed)
        steps = None
        if use_vm:
            from minidnn.image import run_vm

            if not as_json:
                click.echo(f"-- {k} tokens in one VM run (each recomputes the {m.context}-token window) ...", err=True)
            result = run_vm(m, request)
            out, seconds, steps = result.output, result.seconds, result.steps
        else:
            t0 = time.perf_counter()
            out = m.run(request)
            seconds = time.perf_counter() - t0
    except MinidnnError as exc:
        raise click.ClickException(str(exc)) from None
    new = [int(i) for i in out[:k]]
    text = "".join(tokens[i] if i < len(tokens) else f"[{i}]" for i in new)
    if as_json:
        click.echo(json.dumps({"model_hash": "0x" + m.hash.hex(), "prompt": prompt, "prompt_ids": ids,
                               "ids": new, "text": text, "engine": "vm" if use_vm else "native",
                               "temperature": temperature, "seed": seed, "seconds": seconds, "steps": steps}))
        return
    click.echo(prompt + text)
    where = f"VM, {steps:,} steps" if steps is not None else "native"
    click.echo(f"-- {len(new)} tokens in {seconds:.3f} s ({where}); generation model 0x{m.hash.hex()}", err=True)
