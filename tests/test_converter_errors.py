"""Every converter error path: specific exception, one-line message, CLI exit code without traceback."""

from __future__ import annotations

import builtins
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from converter_helpers import make_model, rand
from onnx import TensorProto, helper

from converter import (
    ConversionError,
    DtypeError,
    DynamicShapeError,
    InputShapeError,
    InvalidModelError,
    OpsetError,
    TorchUnavailableError,
    UnsupportedAttributeError,
    UnsupportedOpError,
    convert,
)
from optimist.cli import main as cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "models"


def relu_model(**kw) -> onnx.ModelProto:
    return make_model([helper.make_node("Relu", ["x"], ["y"], name="act")], {"x": [1, 4]}, {"y": [1, 4]}, **kw)


def test_truncated_onnx_file(tmp_path: Path) -> None:
    data = (EXAMPLES / "mlp_digits.onnx").read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidModelError, match="cut.onnx"):
        convert(path)


def test_garbage_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "junk.onnx").write_bytes(b"\xff\xfe not protobuf at all \x00" * 10)
    (tmp_path / "empty.onnx").write_bytes(b"")
    for name in ("junk.onnx", "empty.onnx"):
        with pytest.raises(InvalidModelError):
            convert(tmp_path / name)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidModelError, match="cannot read"):
        convert(tmp_path / "nope.onnx")


def test_checker_rejects_ill_formed_graph() -> None:
    model = make_model([helper.make_node("Relu", ["undefined"], ["y"])], {"x": [1, 4]}, {"y": [1, 4]})
    with pytest.raises(InvalidModelError, match="checker"):
        convert(model)


@pytest.mark.parametrize("opset", [6])
def test_opset_out_of_range(opset: int) -> None:
    with pytest.raises(OpsetError, match=f"opset {opset}"):
        convert(relu_model(opset=opset))


def test_opset_newer_than_supported() -> None:
    model = relu_model()
    model.opset_import[0].version = onnx.defs.onnx_opset_version() + 1
    with pytest.raises(OpsetError, match="supported range"):
        convert(model)


def test_dynamic_shape_needs_input_shape() -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": [None, 4]}, {"y": [None, 4]})
    with pytest.raises(DynamicShapeError, match="--input-shape x=1x4"):
        convert(model)
    assert convert(model, input_shape="x=3x4").input_shape == (3, 4)
    assert convert(model, input_shape="2x4").input_shape == (2, 4)


@pytest.mark.parametrize("spec, match", [
    ("x=1x", "bad shape"), ("x=ax4", "bad shape"), ("x=0x4", "bad shape"), ("x=1x4x5", "rank"),
    ("x=1x5", "fixed to 4"), ("other=1x4", "names 'other'"),
])
def test_bad_input_shape_specs(spec: str, match: str) -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": [None, 4]}, {"y": [None, 4]})
    with pytest.raises(InputShapeError, match=match):
        convert(model, input_shape=spec)


def test_non_float32_input() -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": [1, 4]}, {"y": [1, 4]},
                       in_type=TensorProto.DOUBLE)
    with pytest.raises(DtypeError, match="DOUBLE"):
        convert(model)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_non_float32_weight(dtype: type) -> None:
    model = make_model([helper.make_node("Cast", ["x"], ["xc"], to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype))),
                        helper.make_node("Add", ["xc", "w"], ["s"], name="add"),
                        helper.make_node("Cast", ["s"], ["y"], to=TensorProto.FLOAT)],
                       {"x": [1, 4]}, {"y": [1, 4]}, {"w": np.ones(4, dtype)})
    with pytest.raises(DtypeError, match="float32 only"):
        convert(model)


def test_unsupported_op_names_node_and_op() -> None:
    model = make_model([helper.make_node("Hardmax", ["x"], ["y"], name="hard_node")],
                       {"x": [1, 4]}, {"y": [1, 4]})
    with pytest.raises(UnsupportedOpError, match="node 'hard_node' \\(Hardmax\\): op is not supported"):
        convert(model)


def test_every_unsupported_op_and_attribute_in_one_error() -> None:
    """Three Hardmax, one Mod and one Pow with an unsupported exponent: one error, grouped, with counts."""
    nodes = [helper.make_node("Hardmax", ["x"], ["h0"], name="h0"),
             helper.make_node("Hardmax", ["h0"], ["h1"], name="h1"),
             helper.make_node("Hardmax", ["h1"], ["h2"], name="h2"),
             helper.make_node("Mod", ["h2", "m"], ["md"], name="mod", fmod=1),
             helper.make_node("Pow", ["md", "p"], ["y"], name="pw")]
    model = make_model(nodes, {"x": [1, 4]}, {"y": [1, 4]}, {"m": np.float32(3.0), "p": np.float32(0.3)})
    with pytest.raises(UnsupportedOpError) as info:
        convert(model)
    text = str(info.value)
    assert text.startswith("5 nodes cannot be converted (3 distinct problems)")
    assert "Hardmax x3: op is not supported by minidnn (nodes 'h0', 'h1', 'h2')" in text
    assert "Mod x1" in text and "Pow x1: exponent 0.3; supported: 0.5, -0.5 or an integer" in text
    assert "supported ops: " in text and "Softmax" in text


@pytest.mark.parametrize("node, what", [
    (helper.make_node("Resize", ["x", "", "s"], ["y"], name="up", mode="linear"), "mode='linear'"),
    (helper.make_node("Gelu", ["x"], ["y"], name="g", approximate="fast"), "approximate='fast'"),
])
def test_unsupported_attribute(node: onnx.NodeProto, what: str) -> None:
    out = [1, 1, 4, 4] if node.op_type == "Resize" else [1, 1, 2, 2]
    model = make_model([node], {"x": [1, 1, 2, 2]}, {"y": out},
                       {"s": np.array([1, 1, 2, 2], np.float32)} if node.op_type == "Resize" else None,
                       opset=20)
    with pytest.raises(UnsupportedAttributeError, match=f"node '{node.name}' \\({node.op_type}\\): .*{what}"):
        convert(model)


def test_batchnorm_training_mode_is_unsupported() -> None:
    c = np.ones(2, np.float32)
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"], name="bn",
                            training_mode=1)
    model = make_model([node], {"x": [1, 2, 3, 3]}, {"y": [1, 2, 3, 3]}, dict(s=c, b=c, m=c, v=c))
    with pytest.raises(UnsupportedAttributeError, match="training_mode"):
        convert(model)


def test_runtime_weight_is_unsupported() -> None:
    model = make_model([helper.make_node("Conv", ["x", "x"], ["y"], name="c")], {"x": [1, 1, 3, 3]}, {"y": [1, 1, 1, 1]})
    with pytest.raises(UnsupportedAttributeError, match="must be a constant"):
        convert(model)


def test_two_inputs_and_two_outputs() -> None:
    add = make_model([helper.make_node("Add", ["a", "b"], ["y"])], {"a": [1, 4], "b": [1, 4]}, {"y": [1, 4]})
    with pytest.raises(UnsupportedOpError, match="exactly one input.*a, b"):
        convert(add)
    assert convert(add, bind={"b": rand(1, 4)}).graph.nodes[0].op == "Add"
    two = make_model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Tanh", ["x"], ["z"])],
                     {"x": [1, 4]}, {"y": [1, 4], "z": [1, 4]})
    with pytest.raises(UnsupportedOpError, match="exactly one output"):
        convert(two)


def test_custom_domain_and_control_flow() -> None:
    node = helper.make_node("Fancy", ["x"], ["y"], name="f", domain="com.example")
    graph = helper.make_graph([node], "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    with pytest.raises(ConversionError, match="Fancy|com.example"):
        convert(model)


def test_cast_to_narrow_integer_is_a_dtype_error() -> None:
    model = make_model([helper.make_node("Cast", ["x"], ["i"], name="to_u8", to=TensorProto.UINT8),
                        helper.make_node("Cast", ["i"], ["y"], to=TensorProto.FLOAT)], {"x": [1, 4]}, {"y": [1, 4]})
    with pytest.raises(DtypeError, match="to_u8.*UINT8"):
        convert(model)


def test_external_data_is_rejected(tmp_path: Path) -> None:
    w = rand(64, 64)
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": [1, 64]}, {"y": [1, 64]}, {"w": w})
    onnx.save(model, tmp_path / "ext.onnx", save_as_external_data=True, size_threshold=0, location="ext.bin")
    assert convert(tmp_path / "ext.onnx").parameters == w.size  # beside the model: loaded
    loaded = onnx.load(tmp_path / "ext.onnx", load_external_data=False)
    with pytest.raises(InvalidModelError, match="external"):
        convert(loaded)
    (tmp_path / "ext.bin").unlink()
    with pytest.raises(InvalidModelError, match="external data"):
        convert(tmp_path / "ext.onnx")


def test_torch_missing_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_import = builtins.__import__

    def no_torch(name: str, *args, **kw):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    from converter.torch_export import require_torch

    with pytest.raises(TorchUnavailableError, match=r"pip install -e '\.\[torch\]'"):
        require_torch()
    (tmp_path / "m.pt").write_bytes(b"x")
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "m.pt"), "--example-shape", "1x4"])
    assert result.exit_code == 1 and "TorchUnavailableError" in result.output


@pytest.mark.parametrize("args, match", [
    ([], "InvalidModelError"),
    (["--input-shape", "x=1xq"], "InvalidModelError"),
])
def test_cli_errors_are_one_line_without_traceback(tmp_path: Path, args: list[str], match: str) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    result = CliRunner().invoke(cli, ["convert", str(bad), "-o", str(tmp_path / "o.mdnn"), *args])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and match in lines[0]
    assert not (tmp_path / "o.mdnn").exists()


def test_cli_dynamic_shape_and_unsupported_op(tmp_path: Path) -> None:
    dyn = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": [None, 4]}, {"y": [None, 4]})
    onnx.save(dyn, tmp_path / "dyn.onnx")
    runner = CliRunner()
    result = runner.invoke(cli, ["convert", str(tmp_path / "dyn.onnx")])
    assert result.exit_code == 1 and "DynamicShapeError" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli, ["convert", str(tmp_path / "dyn.onnx"), "--input-shape", "x=2x4"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dyn.mdnn").exists()
    pow_model = make_model([helper.make_node("Hardmax", ["x"], ["y"], name="pw")], {"x": [1, 4]}, {"y": [1, 4]})
    onnx.save(pow_model, tmp_path / "pow.onnx")
    result = runner.invoke(cli, ["convert", str(tmp_path / "pow.onnx")])
    assert result.exit_code == 1 and "UnsupportedOpError: node 'pw' (Hardmax)" in result.output


def test_cli_example_shape_only_for_torch(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["convert", str(EXAMPLES / "mlp_digits.onnx"), "-o", str(tmp_path / "m.mdnn"),
                                      "--example-shape", "1x784"])
    assert result.exit_code == 1 and "InputShapeError" in result.output


def test_inspect_rejects_non_mdnn(tmp_path: Path) -> None:
    (tmp_path / "bad.mdnn").write_bytes(b"NOPE" + bytes(100))
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "bad.mdnn")])
    assert result.exit_code == 1 and "bad.mdnn: not a .mdnn model (magic b'NOPE'" in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 1
    (tmp_path / "short.mdnn").write_bytes(b"MDNN")
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "short.mdnn")])
    assert result.exit_code == 1 and "truncated" in result.output


def test_cli_unwritable_output_and_bad_verify_count(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["convert", str(EXAMPLES / "mlp_digits.onnx"), "-o", str(tmp_path / "no" / "m.mdnn")])
    assert result.exit_code == 1 and "cannot write" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli, ["convert", str(EXAMPLES / "mlp_digits.onnx"), "--verify", "-3"])
    assert result.exit_code == 2 and "--verify" in result.output
