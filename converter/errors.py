"""Conversion errors: each says what is wrong and how to fix it, in one line."""

from __future__ import annotations


class ConversionError(Exception):
    """Base class of every error the converter reports to the user."""


class InvalidModelError(ConversionError):
    """The file is not a loadable, well-formed ONNX model (truncated, corrupt, fails the checker)."""


class OpsetError(ConversionError):
    """The model's default-domain opset is outside the supported range."""


class UnsupportedOpError(ConversionError):
    """A node whose op type (or domain) minidnn does not implement."""

    def __init__(self, node: str, op_type: str, what: str) -> None:
        super().__init__(f"node '{node}' ({op_type}): {what}")
        self.node, self.op_type, self.what = node, op_type, what


class UnsupportedAttributeError(UnsupportedOpError):
    """A supported op used with an attribute value (or input form) minidnn does not implement."""


class DynamicShapeError(ConversionError):
    """An input (or derived tensor) has a symbolic or unknown dimension."""


class DtypeError(ConversionError):
    """A tensor that is not float32 where minidnn needs float32."""


class InputShapeError(ConversionError):
    """A malformed or inconsistent --input-shape / --example-shape specification."""


class VerificationError(ConversionError):
    """minidnn's output is further from onnxruntime's than the documented tolerance."""


class TorchUnavailableError(ConversionError):
    """The optional torch extra is not installed."""
