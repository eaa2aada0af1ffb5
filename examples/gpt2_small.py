"""Build the GPT-2 small architecture (124M parameters) with random weights, export it to ONNX as a
user would (`torch.onnx.export`) and convert it to .mdnn; both are cached under build/models/.

    .venv/bin/python examples/gpt2_small.py                  # build (or reuse) and print the paths
    .venv/bin/python examples/gpt2_small.py --verify 1       # + compare with onnxruntime
    .venv/bin/python examples/gpt2_small.py --tokens 64      # a 64-token window (64x the compute)

The model is GPT-2 small as OpenAI's configuration defines it: vocabulary 50257, 12 pre-LayerNorm
blocks of width 768 with 12 heads, GELU (tanh approximation) MLPs of width 3072, LayerNorm eps
1e-5, a head tied to the token embedding; weights drawn as GPT-2 initialises them (N(0, 0.02),
residual projections N(0, 0.02 / sqrt(2 x 12))), since no weights can be had here. Its position
table holds `--context` positions (64 by default; GPT-2 has 1024, +0.7M parameters).

The exported graph takes a window of `--tokens` ids ([1, T] -> logits [1, T, 50257]). One token
(T = 1, the default) is one forward position: about 124M multiply-accumulates, the compute of one
decoding step; a window of T tokens recomputes every position (T times the work). Files are
neither committed nor downloaded: about 500 MB each, rebuilt on demand (~1 minute) and reused
while the script and the configuration are unchanged. Needs the optional torch extra.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / "models"
OPSET = 17


@dataclass(frozen=True)
class Config:
    """The architecture (GPT-2 small by default) and the exported window."""

    vocab: int = 50257
    layers: int = 12
    d: int = 768
    heads: int = 12
    context: int = 64      # positions in the position table
    tokens: int = 1        # ids per forward pass in the exported graph
    seed: int = 0

    @property
    def stem(self) -> str:
        """File name stem: the configuration and a hash of the model code (a changed model rebuilds)."""
        code = inspect.getsource(build_torch_model) + f"opset {OPSET}"
        script = hashlib.sha256(code.encode()).hexdigest()[:8]
        return (f"gpt2_v{self.vocab}_l{self.layers}_d{self.d}_h{self.heads}_c{self.context}"
                f"_t{self.tokens}_s{self.seed}_{script}")


def build_torch_model(cfg: Config):
    """The GPT-2-shaped torch module (eval mode, random weights from `cfg.seed`)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        """Pre-LayerNorm GPT-2 block: causal self-attention, then a GELU (tanh) MLP."""

        def __init__(self) -> None:
            super().__init__()
            d = cfg.d
            self.ln_1, self.ln_2 = nn.LayerNorm(d, eps=1e-5), nn.LayerNorm(d, eps=1e-5)
            self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
            mask = torch.tril(torch.ones(cfg.context, cfg.context)).view(1, 1, cfg.context, cfg.context)
            self.register_buffer("mask", mask)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, t, c = x.shape
            h = cfg.heads
            q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
            q, k, v = (z.view(b, t, h, c // h).transpose(1, 2) for z in (q, k, v))
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // h))
            att = F.softmax(att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf")), dim=-1)
            x = x + self.c_proj((att @ v).transpose(1, 2).contiguous().view(b, t, c))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT2(nn.Module):
        """forward(ids [1, T]) -> logits [1, T, vocab]."""

        def __init__(self) -> None:
            super().__init__()
            self.wte, self.wpe = nn.Embedding(cfg.vocab, cfg.d), nn.Embedding(cfg.context, cfg.d)
            self.h = nn.Sequential(*[Block() for _ in range(cfg.layers)])
            self.ln_f = nn.LayerNorm(cfg.d, eps=1e-5)
            self.lm_head = nn.Linear(cfg.d, cfg.vocab, bias=False)
            self.lm_head.weight = self.wte.weight

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            positions = torch.arange(ids.shape[1], device=ids.device)
            return self.lm_head(self.ln_f(self.h(self.wte(ids) + self.wpe(positions))))

    torch.manual_seed(cfg.seed)
    model = GPT2()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif ".ln_" in name or name.startswith("ln_f"):
                p.fill_(1.0)
            elif name.endswith(("c_proj.weight", "mlp_proj.weight")):
                p.normal_(0.0, 0.02 / math.sqrt(2 * cfg.layers))
            else:
                p.normal_(0.0, 0.02)
    return model.eval()


def export_onnx(cfg: Config, path: Path) -> int:
    """Export the model to `path` (torch.onnx.export, opset 17); returns its parameter count."""
    import torch

    torch.set_num_threads(1)
    model = build_torch_model(cfg)
    params = sum(p.numel() for p in model.parameters())
    tmp = path.with_suffix(f".{os.getpid()}.tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros((1, cfg.tokens), dtype=torch.long),), str(tmp),
                          input_names=["ids"], output_names=["logits"], opset_version=OPSET,
                          dynamo=False)
    tmp.replace(path)
    return params


def build(cfg: Config, log=print, cache: Path = CACHE) -> tuple[Path, Path]:
    """(ONNX path, .mdnn path) of `cfg`, built on the first call and reused from `cache` (the .mdnn named
    by the format version and op table, so a format change converts it again)."""
    cache.mkdir(parents=True, exist_ok=True)
    from minidnn.format import format_tag

    onnx_path, mdnn_path = cache / f"{cfg.stem}.onnx", cache / f"{cfg.stem}-{format_tag()}.mdnn"
    if not onnx_path.exists():
        t0 = time.perf_counter()
        params = export_onnx(cfg, onnx_path)
        log(f"exported {onnx_path.name}: {params:,} parameters, {onnx_path.stat().st_size:,} bytes "
            f"in {time.perf_counter() - t0:.1f} s")
    if not mdnn_path.exists():
        from converter.api import convert

        t0 = time.perf_counter()
        result = convert(onnx_path)
        tmp = mdnn_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(result.mdnn)
        tmp.replace(mdnn_path)
        log(f"converted to {mdnn_path.name}: {len(result.mdnn):,} bytes in {time.perf_counter() - t0:.1f} s")
    return onnx_path, mdnn_path


@click.command()
@click.option("--context", type=click.IntRange(1, 1024), default=64, show_default=True,
              help="Positions in the position table.")
@click.option("--tokens", type=click.IntRange(1, 1024), default=1, show_default=True,
              help="Ids per forward pass of the exported graph (<= --context).")
@click.option("--layers", type=click.IntRange(1, 48), default=12, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random weights.")
@click.option("--verify", "verify_n", type=click.IntRange(0, 100), default=0, show_default=True,
              help="Compare N random windows with onnxruntime.")
def main(context: int, tokens: int, layers: int, seed: int, verify_n: int) -> None:
    """Build (or reuse) the GPT-2-small-shaped ONNX and .mdnn under build/models/."""
    if tokens > context:
        raise click.BadParameter(f"--tokens {tokens} exceeds --context {context}", param_hint="--tokens")
    cfg = Config(context=context, tokens=tokens, layers=layers, seed=seed)
    onnx_path, mdnn_path = build(cfg)
    print(f"onnx: {onnx_path}\nmdnn: {mdnn_path}")
    if verify_n:
        import numpy as np
        import onnx

        from converter.verify import verify

        xs = np.random.default_rng(seed).integers(0, cfg.vocab, (verify_n, 1, tokens))
        t0 = time.perf_counter()
        report = verify(onnx.load(str(onnx_path)), mdnn_path.read_bytes(), "ids", xs)
        print(f"{report.line()} ({time.perf_counter() - t0:.1f} s)")
        sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
