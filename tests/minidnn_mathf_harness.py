"""Host test harness for minidnn/csrc/mathf.c and the SoftFloat glue (a tiny cffi module).

Compiles the project's SoftFloat files (minidnn.softfloat) and mathf.c with the native flags of
minidnn.build into build/mathf_test/<content key>/, and exposes array-at-a-time entry points.
Not part of the runtime: tests use it to check mathf directly and the glue against softfloatpy.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from minidnn import build, softfloat

UNARY = ["exp", "log", "tanh", "sigmoid", "erf", "erfc", "gelu", "gelu_tanh", "sqrt", "canon", "expm1",
         "log1p", "softplus", "sin", "cos"]
BINARY = ["add", "sub", "mul", "div", "max", "min"]
COMPARE = ["eq", "le", "lt", "eq_signaling", "le_quiet", "lt_quiet"]
CONVERT = ["sqrt", "round_to_int", "i32_to_f32", "ui32_to_f32", "to_i32", "to_ui32",
           "is_signaling_nan"]

CDEF = """
void t_unary(int which, const uint32_t *x, uint32_t *y, size_t n);
void t_binary(int which, const uint32_t *a, const uint32_t *b, uint32_t *y, size_t n);
void t_compare(int which, const uint32_t *a, const uint32_t *b, uint8_t *y, size_t n);
void t_convert(int which, int mode, const uint32_t *x, uint32_t *y, size_t n);
"""

SOURCE = """
#include "mathf.h"
static float32_t canon_fn(float32_t x) { return f32_canon(x); }
static float32_t (*const UNARY[])(float32_t) = {
  mf_exp, mf_log, mf_tanh, mf_sigmoid, mf_erf, mf_erfc, mf_gelu, mf_gelu_tanh, mf_sqrt, canon_fn,
  mf_expm1, mf_log1p, mf_softplus, mf_sin, mf_cos};
static float32_t (*const BINARY[])(float32_t, float32_t) = {
  f32_add, f32_sub, f32_mul, f32_div, mf_max, mf_min};
static bool (*const COMPARE[])(float32_t, float32_t) = {
  f32_eq, f32_le, f32_lt, f32_eq_signaling, f32_le_quiet, f32_lt_quiet};

void t_unary(int which, const uint32_t *x, uint32_t *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = UNARY[which](mf_f32(x[i])).v;
}
void t_binary(int which, const uint32_t *a, const uint32_t *b, uint32_t *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = BINARY[which](mf_f32(a[i]), mf_f32(b[i])).v;
}
void t_compare(int which, const uint32_t *a, const uint32_t *b, uint8_t *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = COMPARE[which](mf_f32(a[i]), mf_f32(b[i]));
}
void t_convert(int which, int mode, const uint32_t *x, uint32_t *y, size_t n) {
  uint_fast8_t rm = (uint_fast8_t)mode;
  for (size_t i = 0; i < n; i++) {
    float32_t f = mf_f32(x[i]);
    switch (which) {
      case 0: y[i] = f32_sqrt(f).v; break;
      case 1: y[i] = f32_roundToInt(f, rm, false).v; break;
      case 2: y[i] = i32_to_f32((int32_t)x[i]).v; break;
      case 3: y[i] = ui32_to_f32(x[i]).v; break;
      case 4: y[i] = (uint32_t)f32_to_i32(f, rm, false); break;
      case 5: y[i] = (uint32_t)f32_to_ui32(f, rm, false); break;
      default: y[i] = f32_isSignalingNaN(f); break;
    }
  }
}
"""

MODULE = "_mathf_test"
CSRC = Path(build.CSRC)


def _sources() -> list[Path]:
    return [CSRC / "mathf.c", *softfloat.sources()]


def _key() -> str:
    h = hashlib.sha256((CDEF + SOURCE + " ".join(build.NATIVE_FLAGS)).encode())
    for p in [*_sources(), CSRC / "mathf.h"]:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def load() -> ModuleType:
    """Build (once per content key) and import the harness module."""
    import cffi

    out = build.BUILD_DIR / "mathf_test" / _key()
    found = sorted(out.glob(f"{MODULE}*.so"))
    if not found:
        ffi = cffi.FFI()
        ffi.cdef(CDEF)
        ffi.set_source(MODULE, SOURCE, sources=[str(p) for p in _sources()],
                       include_dirs=[str(d) for d in build.include_dirs()],
                       extra_compile_args=build.NATIVE_FLAGS)
        out.mkdir(parents=True, exist_ok=True)
        found = [Path(ffi.compile(tmpdir=str(out)))]
    spec = importlib.util.spec_from_file_location(MODULE, found[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MathF:
    """numpy-array front end of the harness (uint32 bit patterns or float32 values in, out)."""

    def __init__(self) -> None:
        self.mod = load()
        self.ffi, self.lib = self.mod.ffi, self.mod.lib

    def _ptr(self, arr: np.ndarray, ctype: str = "uint32_t *"):
        return self.ffi.cast(ctype, self.ffi.from_buffer(arr))

    @staticmethod
    def bits(x) -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype != np.uint32:
            arr = arr.astype(np.float32).view(np.uint32)
        return np.ascontiguousarray(arr)

    def unary(self, name: str, x) -> np.ndarray:
        """mathf function `name` on x; float32 result."""
        xb = self.bits(x)
        y = np.empty_like(xb)
        self.lib.t_unary(UNARY.index(name), self._ptr(xb), self._ptr(y), xb.size)
        return y.view(np.float32)

    def binary(self, name: str, a, b) -> np.ndarray:
        ab, bb = np.broadcast_arrays(self.bits(a), self.bits(b))
        ab, bb = np.ascontiguousarray(ab), np.ascontiguousarray(bb)
        y = np.empty_like(ab)
        self.lib.t_binary(BINARY.index(name), self._ptr(ab), self._ptr(bb), self._ptr(y), ab.size)
        return y.view(np.float32)

    def compare(self, name: str, a, b) -> np.ndarray:
        ab, bb = np.broadcast_arrays(self.bits(a), self.bits(b))
        ab, bb = np.ascontiguousarray(ab), np.ascontiguousarray(bb)
        y = np.empty(ab.shape, np.uint8)
        self.lib.t_compare(COMPARE.index(name), self._ptr(ab), self._ptr(bb),
                           self._ptr(y, "uint8_t *"), ab.size)
        return y.astype(bool)

    def convert(self, name: str, x: np.ndarray, mode: int = 0) -> np.ndarray:
        """Conversion `name` (SoftFloat rounding mode `mode`) on uint32 words; uint32 words."""
        xb = np.ascontiguousarray(np.asarray(x, dtype=np.uint32))
        y = np.empty_like(xb)
        self.lib.t_convert(CONVERT.index(name), mode, self._ptr(xb), self._ptr(y), xb.size)
        return y
