"""Native (host) inference through the cffi build of the same C sources the VM runs."""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from minidnn.format import (
    DTYPE_F32,
    ERROR_NAMES,
    FLAG_GENERATE,
    GEN_HEADER_WORDS,
    content_hash,
    integrity_error,
)


class MinidnnError(Exception):
    """Base class of minidnn errors; `.code` is the runtime error code (docs/model-format.md)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class ModelError(MinidnnError):
    """The model bytes are malformed, truncated or unsupported."""


class InputError(MinidnnError):
    """The input does not match the model's input shape/size."""


INPUT_ERRORS = {13, 18}  # INPUT_SIZE, BAD_REQUEST
ERROR_HELP = {
    1: "not a .mdnn file (convert it with `optimist convert`)",
    2: "written by another format version; reconvert the model",
    3: "the file is shorter than its header says; re-download or reconvert",
    7: "the model uses an op this runtime does not know",
    12: "the model needs more scratch memory than available",
    15: "a Gather index (e.g. a token id) is out of range for this input",
    18: "the generation request's prompt length, k or temperature is out of range",
    19: "the file is damaged (its checksum does not match); re-download or reconvert it",
}


def error_for(code: int, where: str = "model") -> MinidnnError:
    """The exception for a runtime error code."""
    name = ERROR_NAMES.get(code, f"code {code}")
    hint = ERROR_HELP.get(code, "the model is malformed; reconvert it")
    cls = InputError if code in INPUT_ERRORS else ModelError
    return cls(f"{where}: minidnn error {code} ({name}): {hint}", code)


@cache
def _lib() -> Any:
    from minidnn.build import load_native

    return load_native()


def _aligned_copy(data: bytes) -> np.ndarray:
    """The bytes in a fresh 32-byte aligned, read-only uint8 array."""
    raw = np.empty(len(data) + 32, np.uint8)
    start = (-raw.ctypes.data) % 32
    buf = raw[start:start + len(data)]
    buf[:] = np.frombuffer(data, np.uint8)
    buf.flags.writeable = False
    return buf


def _aligned_zeros(nbytes: int) -> np.ndarray:
    """Zeroed like the VM's memory, so even a kernel bug cannot make native differ from the VM."""
    raw = np.zeros(nbytes + 32, np.uint8)
    start = (-raw.ctypes.data) % 32
    return raw[start:start + nbytes]


@dataclass(frozen=True, eq=False)
class Model:
    """A validated .mdnn model, loaded once and run many times (thread-safe)."""

    blob: bytes
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    arena_bytes: int
    _buf: np.ndarray
    input_dtype: str = "float32"   # or "int32" (token ids; any integer tensor, as int32 words)
    output_dtype: str = "float32"  # or "int32" (a generation model's ids; a node's integer output)
    flags: int = 0                 # header flags (minidnn.format.FLAG_*)
    context: int = 0               # generation models: context window T
    vocab: int = 0                 # generation models: vocabulary size V

    @classmethod
    def load(cls, source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> Model:
        """Load from a path or bytes; raises ModelError (with .code) if the file is damaged
        (minidnn.format.integrity_error: size, magic, version, checksum) or the runtime rejects it."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            blob, where = bytes(source), "model"
        else:
            path = Path(source)
            if not path.is_file():
                raise ModelError(f"{path}: no such model file")
            try:
                blob, where = path.read_bytes(), str(path)
            except OSError as exc:
                raise ModelError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        problem = integrity_error(blob)
        if problem is not None:
            code, reason = problem
            raise ModelError(f"{where}: minidnn error {code} ({ERROR_NAMES[code]}): {reason}", code)
        lib = _lib()
        buf = _aligned_copy(blob)
        ffi = lib.ffi
        info = ffi.new("md_info *")
        ptr = ffi.cast("uint8_t *", buf.ctypes.data)
        rc = lib.lib.md_plan(ptr, len(blob), info)
        if rc:
            raise error_for(rc, where)
        arena = _aligned_zeros(max(info.arena_bytes, 32))
        rc = lib.lib.mdn_validate(ptr, len(blob), ffi.cast("uint8_t *", arena.ctypes.data),
                                  info.arena_bytes)
        if rc:
            raise error_for(rc, where)
        blob = blob[:info.length]
        return cls(blob, tuple(info.input_dims[0:info.input_ndim]),
                   tuple(info.output_dims[0:info.output_ndim]), info.arena_bytes, buf,
                   "float32" if info.input_dtype == DTYPE_F32 else "int32",    # integers: int32 words
                   "float32" if info.output_dtype == DTYPE_F32 else "int32",
                   info.flags, info.context, info.vocab)

    @property
    def generates(self) -> bool:
        """A generation model: run() maps a request to generated ids (docs/model-format.md)."""
        return bool(self.flags & FLAG_GENERATE)

    @property
    def hash(self) -> bytes:
        """keccak256 of the model bytes (the on-chain model hash)."""
        return content_hash(self.blob)

    def check_input(self, x: Any) -> np.ndarray:
        """x as a C-contiguous float32 (or int32, for an integer input) array of the input shape
        (a flat array of the right size is reshaped); InputError otherwise."""
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiub":
            raise InputError(f"input dtype {arr.dtype} is not numeric")
        size = int(np.prod(self.input_shape))
        if arr.shape != self.input_shape and not (arr.ndim == 1 and arr.size == size):
            raise InputError(f"input shape {arr.shape} does not match the model input "
                             f"{self.input_shape} ({size} {self.input_dtype} values)", 13)
        if self.input_dtype == "int32":
            return self._int_input(arr)
        return np.ascontiguousarray(arr, dtype="<f4").reshape(self.input_shape)

    def _int_input(self, arr: np.ndarray) -> np.ndarray:
        """An integer model input (token ids): every value an integer in the int32 range."""
        wide = arr.astype(np.float64) if arr.dtype.kind == "f" else arr.astype(np.int64)
        if arr.dtype.kind == "f":
            bad = ~np.isfinite(wide) | (wide != np.round(wide))
            if bad.any():
                i = int(np.flatnonzero(bad.ravel())[0])
                raise InputError(f"input value {arr.ravel()[i]} at index {i} is not an integer "
                                 "(the model takes int32 ids)", 13)
        if wide.size and (wide.min() < -(2**31) or wide.max() >= 2**31):
            raise InputError("input values do not fit int32 (the model takes int32 ids)", 13)
        return np.ascontiguousarray(wide, dtype="<i4").reshape(self.input_shape)

    def run(self, x: Any) -> np.ndarray:
        """Run the model on x; returns an array of the output shape (float32; int32 ids for a
        generation model, whose x is a request: minidnn.generation.encode_request)."""
        arr = self.check_input(x)
        lib = _lib()
        ffi = lib.ffi
        out = np.zeros(self.output_shape, "<i4" if self.output_dtype == "int32" else "<f4")
        arena = _aligned_zeros(max(self.arena_bytes, 32))
        rc = lib.lib.mdn_run(ffi.cast("uint8_t *", self._buf.ctypes.data), len(self.blob),
                             ffi.cast("uint8_t *", arr.ctypes.data), arr.size,
                             ffi.cast("uint8_t *", out.ctypes.data), out.size,
                             ffi.cast("uint8_t *", arena.ctypes.data), self.arena_bytes)
        if rc:
            raise error_for(rc)
        return out


    def generate(self, prompt: Any, k: int, temperature: float = 0.0, seed: int = 0) -> np.ndarray:
        """k new token ids after `prompt` (ids), greedy at temperature 0, else sampled with `seed`.
        Needs a generation model (minidnn.generation.generation_model); InputError on a bad request."""
        if not self.generates:
            raise InputError("not a generation model (set its flag: minidnn.generation.generation_model)")
        request = encode_request(prompt, k, self.context, self.vocab, temperature, seed)
        return self.run(request)[:k].copy()


def temperature_bits(temperature: float) -> int:
    """float32 bits of a temperature (finite, >= 0; 0 = greedy)."""
    t = float(temperature)
    if not math.isfinite(t) or t < 0:
        raise InputError(f"temperature {temperature} must be a finite number >= 0 (0 = greedy)", 18)
    bits = struct.unpack("<I", struct.pack("<f", t))[0]
    if bits >= 0x7F80_0000:
        raise InputError(f"temperature {temperature} overflows float32", 18)
    return int(bits)


def encode_request(prompt: Any, k: int, context: int, vocab: int, temperature: float = 0.0,
                   seed: int = 0) -> np.ndarray:
    """The request words (int32 [GEN_HEADER_WORDS + context]): n, k, temperature bits, seed, the
    n prompt ids, zeros. InputError (one line) for an empty or too long prompt, an id outside
    [0, vocab), k outside [1, context], a bad temperature or a seed outside [0, 2^32)."""
    ids = np.asarray(prompt).ravel()
    if ids.size == 0:
        raise InputError("the prompt is empty: give at least one token", 18)
    if ids.dtype.kind not in "iu":
        raise InputError(f"prompt ids must be integers, not {ids.dtype}", 18)
    if ids.size > context:
        raise InputError(f"the prompt has {ids.size} tokens; the model's context holds {context}", 18)
    if ids.min() < 0 or ids.max() >= vocab:
        bad = int(ids[(ids < 0) | (ids >= vocab)][0])
        raise InputError(f"token id {bad} is outside the vocabulary [0, {vocab})", 15)
    if not 1 <= int(k) <= context:
        raise InputError(f"k = {k} new tokens: must be 1..{context} (the model's context)", 18)
    if not 0 <= int(seed) <= 0xFFFF_FFFF:
        raise InputError(f"seed {seed} must be in [0, 2^32)", 18)
    words = np.zeros(GEN_HEADER_WORDS + context, np.uint32)
    words[:GEN_HEADER_WORDS] = [ids.size, int(k), temperature_bits(temperature), int(seed)]
    words[GEN_HEADER_WORDS:GEN_HEADER_WORDS + ids.size] = ids
    return words.view(np.int32)


def load(source: Model | str | os.PathLike[str] | bytes) -> Model:
    return source if isinstance(source, Model) else Model.load(source)


def infer(model: Model | str | os.PathLike[str] | bytes, x: Any) -> np.ndarray:
    """Run `model` (path, bytes or Model) on input x natively; bit-exact with the VM."""
    return load(model).run(x)
