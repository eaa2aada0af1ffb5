"""The committed example models convert, verify against onnxruntime and keep their accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from converter import convert
from converter.datasets import load_digits_28
from converter.inspect import inspect_model
from converter.verify import compare, make_inputs, onnxruntime_outputs
from optimist.cli import main as cli

MODELS = Path(__file__).resolve().parent.parent / "examples" / "models"


def native():
    minidnn = pytest.importorskip("minidnn")
    if not hasattr(minidnn, "infer"):
        pytest.skip("minidnn native runtime (minidnn.infer) not built yet")
    from converter.verify import minidnn_outputs

    return minidnn_outputs


@pytest.fixture(scope="module")
def digits():
    return load_digits_28()


@pytest.mark.parametrize("name, ops", [
    ("mlp_digits", ["Reshape", "Gemm", "Relu", "Gemm"]),
    ("lenet_digits", ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Reshape", "Gemm", "Relu", "Gemm",
                      "Relu", "Gemm"]),
    ("dcgan_generator", ["ConvTranspose", "Relu", "ConvTranspose", "Relu", "ConvTranspose", "Tanh"]),
])
def test_examples_convert(name: str, ops: list[str]) -> None:
    result = convert(MODELS / f"{name}.onnx")
    assert [n.op for n in result.graph.nodes] == ops  # BatchNorm folded, Flatten -> Reshape
    info = inspect_model(result.mdnn)
    assert info.parameters == result.parameters and info.macs == result.macs > 0


@pytest.mark.parametrize("name", ["mlp_digits", "lenet_digits"])
def test_digits_accuracy_kept(name: str, digits) -> None:
    """Every image of the test split: argmax agreement with onnxruntime >= 99.9%, same accuracy."""
    minidnn_outputs = native()
    result = convert(MODELS / f"{name}.onnx")
    images = digits.test_x.reshape(-1, *result.input_shape)
    ours = minidnn_outputs(result.mdnn, images)
    ref = onnxruntime_outputs(result.onnx_model, "input", images)
    report = compare(ours, ref)
    assert report.ok, report.line()
    assert report.argmax_agree >= 0.999
    acc_ours = float(np.mean(ours.reshape(len(ours), -1).argmax(1) == digits.test_y))
    acc_ref = float(np.mean(ref.reshape(len(ref), -1).argmax(1) == digits.test_y))
    assert abs(acc_ours - acc_ref) < 1e-9 and acc_ours > (0.95 if name == "mlp_digits" else 0.97)


def test_generator_verifies() -> None:
    minidnn_outputs = native()
    result = convert(MODELS / "dcgan_generator.onnx")
    zs = make_inputs(result.input_shape, 8, seed=3)
    images = minidnn_outputs(result.mdnn, zs)
    report = compare(images, onnxruntime_outputs(result.onnx_model, "z", zs))
    assert report.ok, report.line()
    assert images.shape == (8, 1, 1, 16, 16) and np.abs(images).max() <= 1.0
    assert np.std(images, axis=0).mean() > 0.01  # different latents, different images


def test_cli_convert_verify_and_inspect(tmp_path: Path) -> None:
    native()
    out = tmp_path / "mlp.mdnn"
    runner = CliRunner()
    result = runner.invoke(cli, ["convert", str(MODELS / "mlp_digits.onnx"), "-o", str(out), "--verify", "4"])
    assert result.exit_code == 0, result.output
    assert "verify OK: 4 inputs" in result.output and "argmax agreement" in result.output
    np.save(tmp_path / "x.npy", load_digits_28().test_x[:3])
    result = runner.invoke(cli, ["convert", str(MODELS / "mlp_digits.onnx"), "-o", str(out),
                                 "--verify-input", str(tmp_path / "x.npy")])
    assert result.exit_code == 0 and "verify OK: 3 inputs" in result.output, result.output
    result = runner.invoke(cli, ["inspect", str(out)])
    assert result.exit_code == 0, result.output
    from minidnn.format import content_hash

    assert f"0x{content_hash(out.read_bytes()).hex()}" in result.output.replace("\n", "")
    assert "101,632 MACs" in result.output and "estimated VM steps" in result.output
    result = runner.invoke(cli, ["inspect", str(out), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["macs"] == 101_632 and info["content_hash"] == f"0x{content_hash(out.read_bytes()).hex()}"
    assert sum(n["macs"] for n in info["nodes"]) == info["macs"]


def test_cli_verify_failure_exits_nonzero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A runtime whose outputs are off by 0.01 must fail verification (exit 1, one error line)."""
    minidnn_outputs = native()
    import converter.verify as verify

    monkeypatch.setattr(verify, "minidnn_outputs", lambda blob, xs: minidnn_outputs(blob, xs) + 0.01)
    result = CliRunner().invoke(cli, ["convert", str(MODELS / "mlp_digits.onnx"), "-o", str(tmp_path / "m.mdnn"),
                                      "--verify", "2"])
    assert result.exit_code == 1 and "verify FAIL" in result.output and "Traceback" not in result.output


def test_verify_input_shape_errors(tmp_path: Path) -> None:
    from converter import InputShapeError

    np.save(tmp_path / "bad.npy", np.zeros((2, 5), np.float32))
    with pytest.raises(InputShapeError, match="expected"):
        make_inputs((1, 1, 28, 28), None, tmp_path / "bad.npy")
    np.save(tmp_path / "one.npy", np.zeros((1, 1, 28, 28)))
    assert make_inputs((1, 1, 28, 28), None, tmp_path / "one.npy").shape == (1, 1, 1, 28, 28)


@pytest.mark.parametrize("name", ["mlp_digits", "dcgan_generator"])
def test_step_estimate_close_to_vm(name: str) -> None:
    """`optimist inspect`'s estimate is within 15% of the VM's exact step count.

    If the runtime's kernels changed, re-measure: .venv/bin/python -m converter.calibrate
    """
    native()
    from minidnn.image import run_vm

    result = convert(MODELS / f"{name}.onnx")
    steps = run_vm(result.mdnn, make_inputs(result.input_shape, 1, seed=5)[0]).steps
    estimate = inspect_model(result.mdnn).estimated_steps
    assert abs(estimate - steps) <= 0.15 * steps, f"estimate {estimate}, VM {steps}: run python -m converter.calibrate"


@pytest.mark.parametrize("name, ops", [
    ("mlp_digits_int8", ["Reshape", "QuantizeLinear", "QGemm", "QGemm", "DequantizeLinear"]),
    ("lenet_digits_int8", ["QuantizeLinear", "QLinearConv", "MaxPool", "QLinearConv", "MaxPool", "Reshape", "QGemm",
                           "QGemm", "QGemm", "DequantizeLinear"]),
])
def test_int8_examples(name: str, ops: list[str], digits) -> None:
    """examples/quantize_digits.py's models: every Gemm/Conv an integer kernel, outputs equal to
    onnxruntime's bit for bit on the whole test split, accuracy within one point of the float
    model's, native == VM, and at most 15 VM steps per MAC for the MLP (11.9 measured)."""
    minidnn_outputs = native()
    from minidnn.image import run_vm

    result = convert(MODELS / f"{name}.onnx")
    assert [n.op for n in result.graph.nodes] == ops
    images = digits.test_x.reshape(-1, *result.input_shape)
    ours = minidnn_outputs(result.mdnn, images)
    ref = onnxruntime_outputs(result.onnx_model, "input", images)
    assert ours.tobytes() == ref.tobytes()
    float_model = convert(MODELS / f"{name.removesuffix('_int8')}.onnx")
    float_ref = onnxruntime_outputs(float_model.onnx_model, "input", images)
    acc, float_acc = (float(np.mean(o.reshape(len(o), -1).argmax(1) == digits.test_y)) for o in (ours, float_ref))
    assert acc >= float_acc - 0.01
    vm = run_vm(result.mdnn, images[7])
    assert vm.exit_code == 0 and vm.output.tobytes() == ours[7].tobytes()
    if name == "mlp_digits_int8":
        assert vm.steps <= 15 * result.macs
