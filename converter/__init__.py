"""ONNX and PyTorch models -> minidnn .mdnn, verified against onnxruntime."""

from converter.api import Conversion, convert, from_torch
from converter.errors import (
    ConversionError,
    DtypeError,
    DynamicShapeError,
    InputShapeError,
    InvalidModelError,
    OpsetError,
    TorchUnavailableError,
    UnsupportedAttributeError,
    UnsupportedOpError,
    VerificationError,
)

__all__ = [
    "Conversion", "ConversionError", "DtypeError", "DynamicShapeError", "InputShapeError",
    "InvalidModelError", "OpsetError", "TorchUnavailableError", "UnsupportedAttributeError",
    "UnsupportedOpError", "VerificationError", "convert", "from_torch",
]
