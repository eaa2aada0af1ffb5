"""Compare minidnn (native, soft float) with onnxruntime on the same inputs."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from converter.errors import InputShapeError, VerificationError

# An output value passes when |minidnn - onnxruntime| <= VERIFY_ATOL + VERIFY_RTOL * |onnxruntime|
# (numpy.isclose). minidnn rounds every operation to float32 in a fixed order and uses its own
# exp/tanh/erf; onnxruntime may reorder sums, use FMA and vendor math. See docs/converter.md.
VERIFY_ATOL = 1e-4
VERIFY_RTOL = 1e-3


@dataclass(frozen=True)
class VerifyReport:
    """Errors of minidnn against onnxruntime over `count` inputs."""

    count: int
    max_abs: float
    max_rel: float
    argmax_agree: float  # fraction of inputs whose argmax matches (flattened output)
    worst_excess: float  # max of |d| - (atol + rtol*|ref|); <= 0 means within tolerance
    exact: bool = False  # a quantized output (DequantizeLinear of integers): tolerance 0

    @property
    def ok(self) -> bool:
        return self.worst_excess <= 0.0

    def line(self) -> str:
        verdict = "OK" if self.ok else "FAIL"
        tolerance = "exact: a quantized output" if self.exact else f"tolerance atol {VERIFY_ATOL:g} + rtol {VERIFY_RTOL:g}"
        return (f"verify {verdict}: {self.count} inputs, max abs err {self.max_abs:.3g}, max rel err "
                f"{self.max_rel:.3g}, argmax agreement {self.argmax_agree:.2%} ({tolerance})")


def make_inputs(shape: tuple[int, ...], count: int | None, npy: Path | None = None, seed: int = 0,
                int_high: int | None = None) -> np.ndarray:
    """(n, *shape) inputs: from a .npy of shape `shape` or (n, *shape), else seeded N(0, 1)
    float32, or, with `int_high` (an integer input), seeded int64 ids uniform in [0, int_high)."""
    if npy is not None:
        data = np.load(npy)
        if int_high is not None:
            if data.dtype.kind not in "iu":
                raise InputShapeError(f"{npy}: {data.dtype} values; the model takes integer ids")
            data = data.astype(np.int64)
        elif data.dtype != np.float32:
            data = data.astype(np.float32)
        if tuple(data.shape) == tuple(shape):
            data = data[None]
        elif tuple(data.shape[1:]) != tuple(shape) and data.size % int(np.prod(shape)) == 0 \
                and tuple(data.shape[1:]) == tuple(shape[1:]):
            data = data.reshape(-1, *shape)
        if tuple(data.shape[1:]) != tuple(shape):
            raise InputShapeError(f"{npy}: array of shape {list(data.shape)}; expected {list(shape)} "
                                  f"or (n, {', '.join(map(str, shape))})")
        return data[:count] if count else data
    rng = np.random.default_rng(seed)
    if int_high is not None:
        return rng.integers(0, int_high, (count or 1, *shape), dtype=np.int64)
    return rng.standard_normal((count or 1, *shape)).astype(np.float32)


def onnxruntime_outputs(model: onnx.ModelProto | bytes, input_name: str, xs: np.ndarray) -> np.ndarray:
    """The first output of onnxruntime (CPU) for each input."""
    import onnxruntime as ort

    blob = model if isinstance(model, bytes) else model.SerializeToString()
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    out_name = session.get_outputs()[0].name
    kind = next((i.type for i in session.get_inputs() if i.name == input_name), "tensor(float)")
    dtype = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}.get(kind, np.float32)
    return np.stack([session.run([out_name], {input_name: np.asarray(x).astype(dtype)})[0] for x in xs])


def minidnn_outputs(mdnn: bytes, xs: np.ndarray) -> np.ndarray:
    """minidnn native outputs for each input (loads the model once; a thread per core)."""
    import minidnn

    try:
        model = minidnn.Model.load(mdnn)
        if len(xs) < 8:
            return np.stack([model.run(x) for x in xs])
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # cffi releases the GIL
            return np.stack(list(pool.map(model.run, xs)))
    except minidnn.MinidnnError as exc:
        raise VerificationError(f"minidnn native failed: {exc}") from exc


def compare(ours: np.ndarray, ref: np.ndarray, exact: bool = False) -> VerifyReport:
    """Error statistics of `ours` against `ref` (both (n, ...)); `exact`: any difference fails."""
    ours64, ref64 = ours.astype(np.float64).reshape(len(ref), -1), ref.astype(np.float64).reshape(len(ref), -1)
    if ours64.shape != ref64.shape:
        raise VerificationError(f"output shapes differ: minidnn {list(ours.shape[1:])}, onnxruntime {list(ref.shape[1:])}")
    diff = np.abs(ours64 - ref64)
    nan_mismatch = np.isnan(ours64) != np.isnan(ref64)
    diff = np.where(np.isnan(ours64) & np.isnan(ref64), 0.0, np.where(nan_mismatch, np.inf, diff))
    scale = np.maximum(np.abs(ref64).max(axis=1, keepdims=True), np.finfo(np.float32).tiny)
    excess = diff if exact else diff - (VERIFY_ATOL + VERIFY_RTOL * np.abs(ref64))
    agree = float(np.mean(ours64.argmax(axis=1) == ref64.argmax(axis=1)))
    return VerifyReport(len(ref), float(diff.max(initial=0.0)), float((diff / scale).max(initial=0.0)),
                        agree, float(excess.max(initial=-np.inf)), exact)


def quantized_output(mdnn: bytes) -> bool:
    """The model's output is DequantizeLinear of integers: its values are exact (integer kernels,
    one float32 multiply), so --verify requires equality with onnxruntime."""
    from minidnn import format as mdf

    graph = mdf.read_model(mdnn)
    return any(n.op == "DequantizeLinear" and graph.output in n.outputs for n in graph.nodes)


def verify(onnx_model: onnx.ModelProto | bytes, mdnn: bytes, input_name: str, xs: np.ndarray) -> VerifyReport:
    """Run both engines on `xs` and compare; raise VerificationError beyond the tolerance."""
    report = compare(minidnn_outputs(mdnn, xs), onnxruntime_outputs(onnx_model, input_name, xs),
                     exact=quantized_output(mdnn))
    if not report.ok:
        raise VerificationError(report.line())
    return report
