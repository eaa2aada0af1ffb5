"""Public converter API: ONNX or PyTorch -> .mdnn bytes (+ the graph, for summaries)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from converter.emit import to_mdnn
from converter.errors import InputShapeError
from converter.graph import Graph, macs
from converter.onnx_import import keep_output, load_model, parse_shape_spec, runtime_inputs
from converter.pipeline import onnx_to_graph


@dataclass
class Conversion:
    """Result of a conversion: the .mdnn bytes, the canonical graph and the source ONNX model."""

    mdnn: bytes
    graph: Graph
    onnx_model: onnx.ModelProto

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.graph.shape(self.graph.input)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.graph.shape(self.graph.output)

    @property
    def input_high(self) -> int | None:
        """For an integer input (token ids): the smallest table size a Gather indexes with it
        (ids in [0, input_high) are in range); None for a float input."""
        g = self.graph
        if not g.int_input:
            return None
        sizes = [g.shape(n.inputs[0])[int(n.attrs.get("axis", 0))] for n in g.nodes
                 if n.op == "Gather" and n.inputs[1] == g.input]
        return min(sizes) if sizes else None

    @property
    def parameters(self) -> int:
        return int(sum(v.size for v in self.graph.consts.values()))

    @property
    def macs(self) -> int:
        return sum(macs(self.graph, n) for n in self.graph.nodes)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.mdnn)
        return path


def _input_shape(model: onnx.ModelProto, spec: str | tuple[int, ...] | None,
                 bind: Mapping[str, np.ndarray] | None) -> tuple[int, ...] | None:
    if spec is None or isinstance(spec, tuple):
        return spec
    name, shape = parse_shape_spec(spec)
    inputs = [vi.name for vi in runtime_inputs(model, dict(bind or {}))]
    if name is not None and name not in inputs:
        raise InputShapeError(f"--input-shape names '{name}', but the model's input is {', '.join(inputs) or 'none'}")
    return shape


def convert(source: str | Path | bytes | onnx.ModelProto, output: str | Path | None = None, *,
            input_shape: str | tuple[int, ...] | None = None,
            bind: Mapping[str, np.ndarray] | None = None, output_name: str | None = None) -> Conversion:
    """Convert an ONNX model (path, bytes or ModelProto) to .mdnn; write it to `output` if given.

    `input_shape` fixes a dynamic input ('name=1x1x28x28', '1x1x28x28' or a tuple); `bind` turns
    extra graph inputs into constants; `output_name` keeps that one output of a multi-output
    graph (the branches only the other outputs need are dropped).
    """
    model = load_model(source)
    if output_name is not None:
        model = keep_output(model, output_name)
    graph = onnx_to_graph(model, _input_shape(model, input_shape, bind), bind)
    result = Conversion(to_mdnn(graph), graph, model)
    if output is not None:
        result.save(output)
    return result


def from_torch(module: Any, example_input: Any, output: str | Path | None = None, *,
               opset: int | None = None) -> Conversion:
    """Export a torch.nn.Module (traced on `example_input`, fixed shapes) to ONNX, then convert."""
    from converter.torch_export import DEFAULT_OPSET, export_onnx

    model = export_onnx(module, example_input, opset=opset or DEFAULT_OPSET)
    return convert(model, output)
