"""Train a small character-level GPT on tiny Shakespeare and export it to ONNX.

    .venv/bin/python examples/train_gpt.py               # ~5 minutes on one CPU core
    .venv/bin/python examples/train_gpt.py --iters 200   # a quick, worse model
    .venv/bin/python examples/train_gpt.py --layers 2 --d 64 --context 32 --iters 4000 \
        --name gpt_shakespeare_small                     # ~2 min; 15x fewer VM steps per token

Writes examples/models/gpt_shakespeare.onnx (exported by `torch.onnx.export`, as a user would)
and examples/models/gpt_shakespeare.vocab.json (the character vocabulary: token id = index in
"tokens"). The text is examples/data/tinyshakespeare.txt, the tiny-Shakespeare file of
karpathy/char-rnn (data/tinyshakespeare/input.txt), public domain.

The model is nanoGPT-shaped: token + position embeddings, pre-LayerNorm blocks of causal
multi-head self-attention (masked_fill with -inf) and a GELU MLP, a final LayerNorm and a head
tied to the token embedding. Its forward returns the logits of every position, [1, T, vocab],
which is what `optimist generate` needs (docs/model-format.md, generation models). Needs the
optional torch extra (`pip install -e '.[torch]'`); not run by `make test`.

Then: optimist convert examples/models/gpt_shakespeare.onnx --verify 4
      optimist generate examples/models/gpt_shakespeare.mdnn --prompt "ROMEO:" -k 32
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import click
import torch
from torch import nn
from torch.nn import functional as F

EXAMPLES = Path(__file__).resolve().parent
TEXT = EXAMPLES / "data" / "tinyshakespeare.txt"
MODELS_DIR = EXAMPLES / "models"
NAME = "gpt_shakespeare"
OPSET = 17


class Block(nn.Module):
    """Pre-LayerNorm transformer block: causal self-attention, then a GELU MLP."""

    def __init__(self, d: int, heads: int, context: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, 1.0 / math.sqrt(d // heads)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.register_buffer("mask", torch.tril(torch.ones(context, context)).view(1, 1, context, context))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * self.scale
        att = F.softmax(att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf")), dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).contiguous().view(b, t, c))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Character-level GPT; forward(ids [B, T]) -> logits [B, T, vocab]."""

    def __init__(self, vocab: int, d: int, heads: int, layers: int, context: int) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.Sequential(*[Block(d, heads, context) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.tok.weight  # tied, as nanoGPT does
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.blocks(self.tok(ids) + self.pos(positions))
        return self.head(self.ln(x))


def batches(data: torch.Tensor, context: int, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch` random windows of the text and the same windows shifted by one character."""
    starts = torch.randint(len(data) - context - 1, (batch,), generator=gen)
    x = torch.stack([data[s:s + context] for s in starts.tolist()])
    y = torch.stack([data[s + 1:s + 1 + context] for s in starts.tolist()])
    return x, y


@torch.no_grad()
def evaluate(model: GPT, data: torch.Tensor, context: int, batch: int, seed: int, n: int = 20) -> float:
    """Mean cross-entropy (nats per character) over n fixed random batches."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(n):
        x, y = batches(data, context, batch, gen)
        losses.append(F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item())
    model.train()
    return sum(losses) / len(losses)


@click.command()
@click.option("--iters", type=int, default=1000, show_default=True, help="Optimizer steps.")
@click.option("--layers", type=int, default=4, show_default=True)
@click.option("--d", "d_model", type=int, default=128, show_default=True, help="Model width.")
@click.option("--heads", type=int, default=4, show_default=True)
@click.option("--context", type=int, default=64, show_default=True, help="Context window (tokens).")
@click.option("--batch", type=int, default=32, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True, help="Peak learning rate (cosine decay).")
@click.option("--threads", type=int, default=1, show_default=True,
              help="torch CPU threads (1 is fastest on a busy 2-core machine).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=MODELS_DIR, show_default=True)
@click.option("--name", default=NAME, show_default=True, help="File name stem of the ONNX model and vocabulary.")
def main(iters: int, layers: int, d_model: int, heads: int, context: int, batch: int, lr: float,
         threads: int, seed: int, out: Path, name: str) -> None:
    """Train the GPT, print train/validation loss, export ONNX and the vocabulary."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    text = TEXT.read_text(encoding="utf-8")
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    split = int(0.9 * len(data))
    train, val = data[:split], data[split:]
    model = GPT(len(chars), d_model, heads, layers, context)
    params = sum(p.numel() for p in model.parameters())
    print(f"{len(text):,} characters, vocabulary {len(chars)}, {params:,} parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.1)
    warmup = max(1, iters // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(i, iters) / iters)) * 0.9 + 0.1)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for it in range(1, iters + 1):
        x, y = batches(train, context, batch, gen)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if it % 100 == 0 or it == iters:
            print(f"iter {it:5d}  train loss {loss.item():.3f}  {time.perf_counter() - t0:6.0f} s", flush=True)
    print(f"validation loss {evaluate(model, val, context, batch, seed + 1):.3f} nats/char")

    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / f"{name}.onnx"
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros((1, context), dtype=torch.long),), str(onnx_path),
                          input_names=["ids"], output_names=["logits"], opset_version=OPSET, dynamo=False)
    vocab = {"type": "char", "tokens": chars,
             "source": "tiny Shakespeare (karpathy/char-rnn data/tinyshakespeare/input.txt)"}
    vocab_path = out / f"{name}.vocab.json"
    vocab_path.write_text(json.dumps(vocab, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    prompt = torch.tensor([[index[c] for c in "ROMEO:"]])
    with torch.no_grad():
        for _ in range(48):  # a greedy sample from PyTorch, cropping to the context as nanoGPT does
            nxt = model(prompt[:, -context:])[0, -1].argmax()
            prompt = torch.cat([prompt, nxt.view(1, 1)], dim=1)
    print("greedy sample (PyTorch):", repr("".join(chars[i] for i in prompt[0].tolist())))
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size:,} bytes) and {vocab_path}")


if __name__ == "__main__":
    main()
