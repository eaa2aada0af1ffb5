"""`optimist infer model.mdnn --input x.npy [--json]`: native inference (bit-exact with the VM)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from minidnn.native import MinidnnError, Model
from optimist.inputs import read_array


@click.command("infer")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--input", "-i", "input_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path), help="input array (.npy or .json)")
@click.option("--json", "as_json", is_flag=True, help="print a JSON object")
def infer(model: str, input_path: Path, as_json: bool) -> None:
    """Run MODEL (.mdnn) natively on an input array and print the output."""
    try:
        m = Model.load(model)
        x = read_array(input_path, dtype=m.input_dtype)
        t0 = time.perf_counter()
        y = m.run(x)
        seconds = time.perf_counter() - t0
    except MinidnnError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps({
            "model_hash": "0x" + m.hash.hex(), "shape": list(y.shape),
            "output": [int(v) if y.dtype.kind == "i" else float(v) for v in y.ravel()],   # ids of a generation model
            "output_hex": "0x" + y.tobytes().hex(), "seconds": seconds}))
        return
    click.echo(f"model   0x{m.hash.hex()}")
    click.echo(f"shape   {tuple(y.shape)}")
    click.echo(f"output  {np.array2string(y.ravel(), precision=6, max_line_width=100)}")
    if y.dtype.kind == "f" and y.size > 1 and y.size == max(y.shape):   # class scores: the argmax means something
        click.echo(f"argmax  {int(np.argmax(y.ravel()))}")
    click.echo(f"time    {seconds * 1e3:.3f} ms")
