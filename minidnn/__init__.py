"""minidnn: deterministic soft-float DNN runtime (native via cffi, and runtime.elf for the VM)."""

from minidnn.format import FormatError, ModelBuilder, content_hash, read_model
from minidnn.native import InputError, MinidnnError, Model, ModelError, infer

__all__ = ["FormatError", "InputError", "MinidnnError", "Model", "ModelBuilder", "ModelError",
           "content_hash", "infer", "read_model"]
