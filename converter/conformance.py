"""ONNX backend node test cases (generated offline by the onnx package) run through the converter."""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from converter.errors import ConversionError
from converter.graph import Graph
from converter.ops import HANDLERS
from converter.pipeline import onnx_to_graph

# Tolerance for a conformance case: |got - want| <= ATOL + RTOL * |want| (or the case's own, if looser).
ATOL = 1e-5
RTOL = 1e-4

Runner = Callable[[Graph, np.ndarray], np.ndarray]
# Runtime input dtypes minidnn takes; integer and boolean outputs (float32 values at run time)
# are compared exactly.
INPUT_DTYPES = {np.dtype(np.float32), np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.bool_)}
EXACT_OUTPUT_DTYPES = {np.dtype(np.bool_), np.dtype(np.int32), np.dtype(np.int64)}


@dataclass(frozen=True)
class CaseResult:
    """Outcome of one node test case: 'pass', 'skip' (with reason) or 'fail' (with reason)."""

    op: str
    name: str
    status: str
    reason: str = ""


@dataclass(frozen=True)
class NodeCase:
    """One ONNX node test case: model, first data set (inputs, expected outputs), tolerances."""

    name: str
    model: onnx.ModelProto
    data_sets: list
    rtol: float
    atol: float


CACHE_DIR = Path(__file__).resolve().parent.parent / "build" / "converter"


def collect_cases(cache: bool = True) -> list[NodeCase]:
    """Single-node test cases whose op the converter supports.

    Generating all cases takes seconds of CPU, so the selection is pickled under build/ per onnx
    version and converter op set (a cache of the onnx package's own output, rebuilt when absent).
    """
    key = hashlib.sha256(f"{onnx.__version__}:{sorted(HANDLERS)}".encode()).hexdigest()[:16]
    path = CACHE_DIR / f"onnx-node-cases-{key}.pkl"
    if cache and path.exists():
        try:
            return pickle.loads(path.read_bytes())
        except (pickle.UnpicklingError, EOFError, AttributeError):
            pass
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    selected = [NodeCase(c.name, c.model, c.data_sets[:1], float(c.rtol), float(c.atol)) for c in cases
                if c.model is not None and len(c.model.graph.node) == 1 and c.model.graph.node[0].op_type in HANDLERS]
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps(selected))
        tmp.replace(path)
    return selected


def _arrays(values: list) -> list[np.ndarray]:
    return [numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else np.asarray(v) for v in values]


def skip_reason(model: onnx.ModelProto, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> str | None:
    """Why a case cannot run on minidnn at all (before trying to convert), or None."""
    if not inputs:
        return "no runtime input (the node only reads constants)"
    if inputs[0].dtype not in INPUT_DTYPES:
        return f"{inputs[0].dtype} input data (the runtime input is float32, int32/int64 or bool)"
    if outputs[0].dtype != np.float32 and outputs[0].dtype not in EXACT_OUTPUT_DTYPES:
        return f"{outputs[0].dtype} output (minidnn computes float32)"
    if inputs[0].ndim == 0:
        return "scalar (rank-0) runtime input"
    return None


def first_output_only(model: onnx.ModelProto) -> onnx.ModelProto:
    """The case's model with only its first output (extra outputs are auxiliary: mask, mean, indices)."""
    if len(model.graph.output) == 1:
        return model
    trimmed = onnx.ModelProto()
    trimmed.CopyFrom(model)
    del trimmed.graph.output[1:]
    return trimmed


def run_case(case: NodeCase, runner: Runner) -> CaseResult:
    """Convert with the first input as the runtime input (the rest bound as constants), run, compare."""
    model = first_output_only(case.model)
    op = model.graph.node[0].op_type
    inputs, outputs = (_arrays(v) for v in case.data_sets[0])
    reason = skip_reason(model, inputs, outputs)
    if reason:
        return CaseResult(op, case.name, "skip", reason)
    names = [i for i in model.graph.node[0].input]
    graph_inputs = [vi.name for vi in model.graph.input]
    bind = {name: value for name, value in zip(graph_inputs[1:], inputs[1:], strict=False)}
    try:
        graph = onnx_to_graph(model, tuple(inputs[0].shape), bind)
    except ConversionError as exc:
        return CaseResult(op, case.name, "skip", f"unsupported: {exc}")
    if graph.input not in names:
        return CaseResult(op, case.name, "skip", "first input is not read by the node")
    try:
        got = runner(graph, inputs[0])
    except Exception as exc:  # a runtime error is this case's failure, not the suite's
        return CaseResult(op, case.name, "fail", f"{type(exc).__name__}: {exc}")
    want = outputs[0]  # auxiliary outputs (mask, mean, argmax indices) are not compared
    atol, rtol = max(ATOL, float(case.atol)), max(RTOL, float(case.rtol))
    if got.shape != want.shape:
        return CaseResult(op, case.name, "fail", f"shape {got.shape} != expected {want.shape}")
    if want.dtype in EXACT_OUTPUT_DTYPES:
        wrong = got.astype(np.float64) != want.astype(np.float64)
        if wrong.any():
            return CaseResult(op, case.name, "fail", f"{int(wrong.sum())} of {want.size} values differ (exact)")
        return CaseResult(op, case.name, "pass")
    close = np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    if not close.all():
        err = float(np.nanmax(np.abs(got.astype(np.float64) - want)))
        return CaseResult(op, case.name, "fail", f"max abs error {err:.3g} beyond atol {atol} + rtol {rtol}")
    return CaseResult(op, case.name, "pass")


def summarize(results: list[CaseResult]) -> str:
    """Per-op pass/skip/fail counts, then every skip and failure with its reason."""
    counts: dict[str, Counter] = {}
    for r in results:
        counts.setdefault(r.op, Counter())[r.status] += 1
    lines = [f"{'op':<20} pass skip fail"]
    for op in sorted(counts):
        c = counts[op]
        lines.append(f"{op:<20} {c['pass']:>4} {c['skip']:>4} {c['fail']:>4}")
    total = Counter(r.status for r in results)
    lines.append(f"{'total':<20} {total['pass']:>4} {total['skip']:>4} {total['fail']:>4}")
    lines += [f"  {r.status}: {r.name}: {r.reason}" for r in results if r.status != "pass"]
    return "\n".join(lines)
