"""`optimist convert` and `optimist inspect`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from converter.errors import ConversionError, InputShapeError

TORCH_SUFFIXES = {".pt", ".pth", ".ts", ".torchscript"}


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(f"{type(exc).__name__}: {exc}")


def _convert_source(source: Path, input_shape: str | None, example_shape: str | None,
                    output_name: str | None = None):
    from converter.api import convert, from_torch

    if source.suffix.lower() in TORCH_SUFFIXES:
        from converter.onnx_import import parse_shape_spec
        from converter.torch_export import load_torch_module, require_torch

        if not example_shape:
            raise InputShapeError(f"{source.name} is a PyTorch module: give the input shape with --example-shape 1x1x28x28")
        torch = require_torch()
        _, shape = parse_shape_spec(example_shape)
        return from_torch(load_torch_module(source), torch.zeros(shape))
    if example_shape:
        raise InputShapeError("--example-shape is for PyTorch modules (.pt); for ONNX use --input-shape name=DxD...")
    return convert(source, input_shape=input_shape, output_name=output_name)


def conversion_table(result) -> Table:  # converter.api.Conversion
    """Per-node summary: name, op, output shape, parameters read, MACs."""
    from converter.graph import macs

    g = result.graph
    table = Table(title=f"{g.name}: {len(g.nodes)} ops")
    for col in ("node", "op", "output shape", "params", "MACs"):
        table.add_column(col, justify="right" if col in ("params", "MACs") else "left")
    for node in g.nodes:
        params = sum(g.consts[i].size for i in node.inputs if i in g.consts)
        op = node.op + (f" (+{len(node.attrs['folded'])} BN folded)" if node.attrs.get("folded") else "")
        if node.source and node.source != node.op:
            op += f" <- {node.source}"
        shape = "x".join(map(str, g.shape(node.outputs[0])))
        table.add_row(node.name, op, shape, f"{params:,}", f"{macs(g, node):,}")
    return table


@click.command("convert")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the .mdnn model (default: SOURCE with suffix .mdnn).")
@click.option("--input-shape", metavar="[NAME=]DxDx..", help="Fix a dynamic input shape, e.g. input=1x1x28x28.")
@click.option("--example-shape", metavar="DxDx..", help="Input shape to trace a PyTorch module (.pt) with.")
@click.option("--verify", "verify_n", type=click.IntRange(min=0), default=0, metavar="N",
              help="Compare minidnn with onnxruntime on N inputs (random N(0,1); integer ids in range for "
                   "a token-id input; or from --verify-input).")
@click.option("--verify-input", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=".npy of one input or a batch (n, *input shape) for --verify.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random verify inputs.")
@click.option("--output-name", metavar="NAME",
              help="Keep this one output of a multi-output graph (branches only the others need are dropped).")
@click.option("--generate", is_flag=True,
              help="Write a generation model: a causal LM (ids [1, T] -> logits [1, T, V]) whose runs map a request "
                   "(prompt ids, k, temperature, seed) to k new ids (docs/model-format.md).")
def convert(source: Path, output: Path | None, input_shape: str | None, example_shape: str | None,
            verify_n: int, verify_input: Path | None, seed: int, output_name: str | None, generate: bool) -> None:
    """Convert an ONNX model (or a PyTorch module) to a minidnn .mdnn model."""
    from minidnn.format import content_hash
    from minidnn.native import MinidnnError

    console = Console()
    try:
        result = _convert_source(source, input_shape, example_shape, output_name)
        blob = result.mdnn
        if generate:
            from minidnn.generation import generation_model

            blob = generation_model(blob)
        output = output or source.with_suffix(".mdnn")
        output.write_bytes(blob)
    except MinidnnError as exc:
        raise click.ClickException(f"--generate needs a causal LM, int32 ids [1, T] -> float32 logits of every "
                                   f"position [1, T, V]: {exc}") from None
    except ConversionError as exc:
        raise _fail(exc) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    console.print(conversion_table(result))
    console.print(f"input {result.graph.input} {list(result.input_shape)} -> output {list(result.output_shape)}; "
                  f"{result.parameters:,} parameters, {result.macs:,} MACs", soft_wrap=True)
    kind = " (generation model)" if generate else ""
    console.print(f"wrote {output}{kind} ({len(blob):,} bytes), content hash 0x{content_hash(blob).hex()}",
                  soft_wrap=True)
    if verify_n or verify_input:
        _verify(console, result, verify_n, verify_input, seed)


def _id_range(result) -> int | None:  # converter.api.Conversion
    """Random verify ids for an integer input: [0, smallest table it indexes), else [0, 2)."""
    if not result.graph.int_input:
        return None
    return result.input_high or 2


def _verify(console: Console, result, count: int, npy: Path | None, seed: int) -> None:
    from converter.verify import (
        VerifyReport,
        compare,
        make_inputs,
        minidnn_outputs,
        onnxruntime_outputs,
        quantized_output,
    )

    try:
        xs = make_inputs(result.input_shape, count or None, npy, seed, int_high=_id_range(result))
        report: VerifyReport = compare(minidnn_outputs(result.mdnn, xs),
                                       onnxruntime_outputs(result.onnx_model, result.graph.input, xs),
                                       exact=quantized_output(result.mdnn))
    except ConversionError as exc:
        raise _fail(exc) from None
    console.print(report.line(), soft_wrap=True)
    if not report.ok:
        raise click.ClickException("minidnn differs from onnxruntime beyond the tolerance (docs/converter.md)")


@click.command("inspect")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def inspect(model: Path, as_json: bool) -> None:
    """Show a .mdnn model: ops, parameters, MACs, content hash, estimated VM steps."""
    import json

    from converter.inspect import inspect_model, summary_table

    try:
        info = inspect_model(model.read_bytes())
    except ConversionError as exc:
        raise click.ClickException(f"{model}: {exc}") from None
    if as_json:
        click.echo(json.dumps({
            "input_shape": list(info.input_shape), "output_shape": list(info.output_shape),
            "parameters": info.parameters, "macs": info.macs, "size": info.size,
            "content_hash": "0x" + info.content_hash.hex(), "estimated_steps": info.estimated_steps,
            "nodes": [{"name": n.name, "op": n.op, "output_shape": list(n.output_shape), "parameters": n.parameters,
                       "macs": n.macs, "estimated_steps": n.steps} for n in info.nodes]}))
        return
    console = Console()
    console.print(summary_table(info))
    console.print(f"input {list(info.input_shape)} -> output {list(info.output_shape)}; "
                  f"{info.parameters:,} parameters, {info.macs:,} MACs, {info.size:,} bytes", soft_wrap=True)
    console.print(f"content hash 0x{info.content_hash.hex()}", soft_wrap=True)
    console.print(f"estimated VM steps ~{info.estimated_steps:,} (docs/converter.md: estimate)", soft_wrap=True)
