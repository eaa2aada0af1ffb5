"""scikit-learn pipelines exported by skl2onnx (ai.onnx.ml Scaler, Normalizer, LinearRegressor,
LinearClassifier, ZipMap): converted with --output-name, compared with onnxruntime on the iris set,
native == VM. Skipped without the optional `sklearn` extra (skl2onnx)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import minidnn
from converter.api import convert
from converter.errors import UnsupportedOpError
from converter.verify import verify
from minidnn.image import run_vm

skl2onnx = pytest.importorskip("skl2onnx")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MaxAbsScaler, Normalizer, StandardScaler  # noqa: E402


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


def export(model: object, x: np.ndarray) -> object:
    return skl2onnx.to_onnx(model, x[:1])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("make, output, ops", [
    (lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), "output_probability",
     {"Gemm", "Softmax", "ReduceSum", "Div"}),
    (lambda: make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=300, random_state=0)),
     "output_probability", {"Gemm", "Relu", "Softmax"}),
    (lambda: make_pipeline(Normalizer(), LinearRegression()), "variable", {"Sqrt", "Div", "Gemm"}),
    (lambda: make_pipeline(Normalizer("max"), MaxAbsScaler(), LinearRegression()), "variable", {"ReduceMax"}),
    (lambda: make_pipeline(Normalizer("l1"), LinearRegression()), "variable", {"Relu", "ReduceSum"}),
])
def test_sklearn_pipelines_convert_and_verify(iris: tuple, make: object, output: str, ops: set) -> None:
    x, y = iris
    model = make().fit(x, y if output != "variable" else y.astype(np.float32))
    conv = convert(export(model, x), input_shape="X=1x4", output_name=output)
    assert ops <= {n.op for n in conv.graph.nodes}
    report = verify(conv.onnx_model, conv.mdnn, conv.graph.input, x[:, None, :])
    assert report.ok and report.max_abs < 1e-5, report.line()
    if output == "output_probability":
        want = model.predict_proba(x)
        got = np.stack([minidnn.infer(conv.mdnn, row[None]) for row in x])[:, 0]
        np.testing.assert_allclose(got, want, atol=1e-5)
    vm = run_vm(conv.mdnn, x[:1])
    assert vm.exit_code == 0 and vm.output.tobytes() == minidnn.infer(conv.mdnn, x[:1]).tobytes()


def test_zero_rows_are_left_as_they_are(iris: tuple) -> None:
    """onnxruntime's Normalizer copies a row whose norm is 0; so does the conversion."""
    x, y = iris
    model = make_pipeline(Normalizer(), LinearRegression()).fit(x, y.astype(np.float32))
    conv = convert(export(model, x), input_shape="X=1x4", output_name="variable")
    zeros = np.zeros((1, 1, 4), np.float32)
    assert verify(conv.onnx_model, conv.mdnn, conv.graph.input, zeros).ok


def test_label_outputs_and_binary_classifiers_are_refused(iris: tuple) -> None:
    x, y = iris
    multi = export(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y), x)
    with pytest.raises(UnsupportedOpError, match="keep one with --output-name"):
        convert(multi, input_shape="X=1x4")
    with pytest.raises(UnsupportedOpError, match="label output"):
        convert(multi, input_shape="X=1x4", output_name="output_label")
    binary = export(LogisticRegression().fit(x, y == 0), x)  # skl2onnx writes two rows: supported
    conv = convert(binary, input_shape="X=1x4", output_name="output_probability")
    assert verify(conv.onnx_model, conv.mdnn, conv.graph.input, x[:, None, :]).ok
    node = helper.make_node("LinearClassifier", ["X"], ["label", "scores"], domain="ai.onnx.ml",
                            coefficients=[1.0, 2.0, 3.0, 4.0], intercepts=[0.5], classlabels_ints=[0, 1])
    graph = helper.make_graph([node], "one_row", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 2])])
    one_row = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)])
    with pytest.raises(UnsupportedOpError, match="binary classifier with one coefficient row"):
        convert(one_row)
