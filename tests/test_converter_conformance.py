"""ONNX backend node test cases for every op the converter supports, run by minidnn native.

The cases come from onnx.backend.test.case.node.collect_testcases() (generated offline by the
onnx package). Prints pass/skip/fail counts per op and the reason of every skip.
"""

from __future__ import annotations

import numpy as np
import pytest

from converter.conformance import CaseResult, collect_cases, run_case, summarize
from converter.emit import to_mdnn
from converter.graph import Graph
from converter.ops import HANDLERS
from converter.reference import run_reference

# Ops whose every node test case is legitimately skipped (reason printed per case).
NO_RUNNABLE_CASE = {
    "Cast": "every Cast case converts from or to a type other than float32, int32/int64 or bool "
            "(tests/test_converter_ops.py covers those)",
    "CastLike": "as Cast",
    "Not": "every Not case is opset 1 (below the supported 7); tests/test_converter_ops.py covers Not",
    "Pad": "a Pad is supported only merged into the Conv reading it; node cases have a Pad alone",
    "Einsum": "every Einsum case is float64 or bfloat16; tests/test_converter_transformers.py covers Einsum",
    **{f"ai.onnx.ml.{op}": "onnx has no node test case for it; tests/test_converter_sklearn.py covers it"
       for op in ("Scaler", "Normalizer", "LinearRegressor", "LinearClassifier")},
    **{op: "every case takes or gives an int8/uint8/int32 tensor as the model's input or output (converted "
           "models take and give float32); tests/test_minidnn_quant.py covers it against onnxruntime"
       for op in ("QuantizeLinear", "DequantizeLinear", "QLinearMatMul", "MatMulInteger", "QLinearConv",
                  "ConvInteger", "QGemm")},
}


@pytest.fixture(scope="module")
def cases() -> list:
    return collect_cases()


def minidnn_runner() -> object:
    minidnn = pytest.importorskip("minidnn")
    if not hasattr(minidnn, "infer"):
        pytest.skip("minidnn native runtime (minidnn.infer) not built yet")

    def run(graph: Graph, x: np.ndarray) -> np.ndarray:
        return np.asarray(minidnn.infer(to_mdnn(graph), x)).reshape(graph.shape(graph.output))

    return run


def check_results(results: list[CaseResult], capsys: pytest.CaptureFixture, backend: str) -> None:
    with capsys.disabled():
        print(f"\nONNX node conformance ({backend}):\n{summarize(results)}")
    failures = [f"{r.name}: {r.reason}" for r in results if r.status == "fail"]
    assert not failures, "\n".join(failures)
    assert all(r.reason for r in results if r.status == "skip")
    passed = {r.op for r in results if r.status == "pass"}
    assert set(HANDLERS) - set(NO_RUNNABLE_CASE) <= passed, sorted(set(HANDLERS) - passed)


def test_conformance_minidnn(cases: list, capsys: pytest.CaptureFixture) -> None:
    runner = minidnn_runner()
    check_results([run_case(c, runner) for c in cases], capsys, "minidnn native")


def test_conformance_canonical_graph(cases: list, capsys: pytest.CaptureFixture) -> None:
    """The canonicalisation alone (float64 reference interpreter), independent of minidnn's kernels."""
    check_results([run_case(c, run_reference) for c in cases], capsys, "canonical graph, float64 reference")
