"""PyTorch modules to ONNX through `torch.onnx.export` (optional `torch` extra)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx

from converter.errors import ConversionError, TorchUnavailableError

DEFAULT_OPSET = 17


def require_torch() -> Any:
    """Import torch or raise TorchUnavailableError saying how to install the extra."""
    try:
        import torch
    except ImportError as exc:
        raise TorchUnavailableError(
            "PyTorch is not installed; install the optional extra: pip install -e '.[torch]'"
        ) from exc
    return torch


def export_onnx(module: Any, example_input: Any, *, opset: int = DEFAULT_OPSET,
                input_names: Sequence[str] = ("input",),
                output_names: Sequence[str] = ("output",)) -> onnx.ModelProto:
    """Export `module` (eval mode) traced on `example_input` to an in-memory ONNX model.

    Uses the TorchScript exporter (`dynamo=False`), which needs no extra packages; shapes are
    fixed to the example's (no dynamic axes), as minidnn models are.
    """
    torch = require_torch()
    example = example_input if isinstance(example_input, tuple) else (example_input,)
    module.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, buffer, dynamo=False, opset_version=opset,
                          input_names=list(input_names), output_names=list(output_names),
                          do_constant_folding=True)
    return onnx.load_from_string(buffer.getvalue())


def load_torch_module(path: Path) -> Any:
    """Load a whole pickled module (`torch.save(module)`) or a TorchScript file."""
    torch = require_torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except Exception:  # not TorchScript: try a pickled nn.Module next
            pass
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ConversionError(f"{path}: cannot load a PyTorch module ({exc})") from exc
    if not isinstance(obj, torch.nn.Module):
        raise ConversionError(
            f"{path}: holds a {type(obj).__name__}, not a module; save the whole module "
            "(torch.save(model)) or TorchScript (torch.jit.save), not a state_dict"
        )
    return obj
