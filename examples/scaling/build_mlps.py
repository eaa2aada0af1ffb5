"""MLPs of growing width for the scaling run (`optimist bench --scaling`).

Each model is 784 -> W -> W -> 10 (Gemm, Relu, Gemm, Relu, Gemm) with seeded random weights,
written with minidnn.format's ModelBuilder. Parameters grow as ~W^2: W = 2048 is ~5.9M parameters
(~24 MB of float32 weights). The bench measures each in its own process under a 10-minute budget
and reports the largest the VM executes within it.

    python examples/scaling/build_mlps.py [OUT_DIR] [WIDTH ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from minidnn.format import VERSION, ModelBuilder

WIDTHS = (128, 256, 512, 1024, 2048, 4096)   # 7168 (57M parameters) left out: its run takes hours
INPUTS, OUTPUTS = 784, 10


def mlp(width: int, seed: int = 0) -> bytes:
    """The .mdnn bytes of a 784-W-W-10 ReLU MLP (He-initialised weights)."""
    rng = np.random.default_rng(seed + width)
    b = ModelBuilder().add_input("x", (1, INPUTS))
    prev, dims = "x", (INPUTS, width, width, OUTPUTS)
    for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        w = (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(np.float32)
        b.add_initializer(f"w{i}", w).add_initializer(f"b{i}", np.zeros(n_out, np.float32))
        b.add_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"g{i}"], trans_b=1)
        prev = f"g{i}"
        if i < len(dims) - 2:
            b.add_node("Relu", [prev], [f"r{i}"])
            prev = f"r{i}"
    return b.set_output(prev).to_bytes()


def parameters(width: int) -> int:
    return INPUTS * width + width + width * width + width + width * OUTPUTS + OUTPUTS


def build_all(out_dir: Path, widths: tuple[int, ...] | None = None) -> dict[str, Path]:
    """Write every scaling MLP into `out_dir`/v<format version> (once); {name: path}, smallest first."""
    out_dir = out_dir / f"v{VERSION}"   # a format change never reads an older build
    out_dir.mkdir(parents=True, exist_ok=True)
    models = {}
    for width in widths or WIDTHS:
        path = out_dir / f"mlp_{INPUTS}x{width}x{width}x{OUTPUTS}.mdnn"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(mlp(width))
            tmp.replace(path)
        models[path.stem] = path
    return models


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("build/bench/scaling")
    widths = tuple(int(w) for w in sys.argv[2:]) or None
    for name, path in build_all(out, widths).items():
        print(f"{name}: {path} ({path.stat().st_size:,} bytes)")
