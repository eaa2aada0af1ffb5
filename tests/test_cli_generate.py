"""`optimist generate`: prompt -> ids through the character vocabulary, native == --vm, and every
bad prompt or model is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import minidnn
from minidnn.format import ModelBuilder
from minidnn.generation import generation_model
from optimist.cli import main as cli
from tests.test_minidnn_generation import T, V, causal_lm

CHARS = "abc de\n"   # V = 7 tokens


@pytest.fixture()
def lm(tmp_path: Path) -> Path:
    path = tmp_path / "lm.mdnn"
    path.write_bytes(causal_lm())
    (tmp_path / "lm.vocab.json").write_text(json.dumps({"type": "char", "tokens": list(CHARS)}))
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["generate", *args])
    return result.exit_code, result.output


def test_greedy_text_is_the_models_ids(lm: Path) -> None:
    code, out = run(str(lm), "--prompt", "ab d", "-k", "5")
    assert code == 0, out
    want = minidnn.Model.load(generation_model(lm.read_bytes())).generate([0, 1, 3, 4], 5)
    assert out.startswith("ab d" + "".join(CHARS[i] for i in want))


@pytest.mark.parametrize("extra", [[], ["--temperature", "1.3", "--seed", "5"]])
def test_native_equals_vm(lm: Path, extra: list[str]) -> None:
    outs = []
    for vm in ([], ["--vm"]):
        code, out = run(str(lm), "--prompt", "cab", "-k", str(T), "--json", *extra, *vm)
        assert code == 0, out
        outs.append(json.loads(out))
    assert outs[0]["ids"] == outs[1]["ids"] and outs[0]["text"] == outs[1]["text"] and len(outs[0]["ids"]) == T
    assert outs[1]["engine"] == "vm" and outs[1]["steps"] > 0
    assert outs[0]["model_hash"] == outs[1]["model_hash"]


def test_a_flagged_model_and_an_explicit_vocab(lm: Path, tmp_path: Path) -> None:
    flagged = tmp_path / "gen.mdnn"
    flagged.write_bytes(generation_model(lm.read_bytes()))
    code, out = run(str(flagged), "--prompt", "e", "-k", "2", "--vocab", str(tmp_path / "lm.vocab.json"), "--json")
    assert code == 0, out
    assert json.loads(out)["ids"] == minidnn.Model.load(flagged).generate([5], 2).tolist()


def test_bad_prompts_and_models_are_one_line_errors(lm: Path, tmp_path: Path) -> None:
    bad_vocab = tmp_path / "bad.json"
    bad_vocab.write_text(json.dumps({"tokens": ["ab", "c"]}))
    big_vocab = tmp_path / "big.json"
    big_vocab.write_text(json.dumps({"tokens": [chr(65 + i) for i in range(V + 1)]}))
    float_model = tmp_path / "f.mdnn"
    b = ModelBuilder().add_input("x", (1, T))
    b.add_node("Relu", ["x"], ["y"])
    float_model.write_bytes(b.set_output("y").to_bytes())
    (tmp_path / "f.vocab.json").write_text(json.dumps({"tokens": list(CHARS)}))
    cases = [
        ([str(lm), "--prompt", "abz!"], "characters not in the vocabulary (7 characters): '!', 'z'"),
        ([str(lm), "--prompt", ""], "the prompt is empty"),
        ([str(lm), "--prompt", "a" * (T + 1)], f"the prompt has {T + 1} characters; the model's context holds {T}"),
        ([str(lm), "--prompt", "a", "-k", str(T + 1)], f"must be 1..{T}"),
        ([str(lm), "--prompt", "a", "-k", "0"], f"must be 1..{T}"),
        ([str(lm), "--prompt", "a", "-k", "2", "--temperature", "-1"], "temperature -1.0 must be a finite number >= 0"),
        ([str(lm), "--prompt", "a", "--vocab", str(tmp_path / "none.json")], "no vocabulary"),
        ([str(lm), "--prompt", "a", "--vocab", str(bad_vocab)], "not a character vocabulary"),
        ([str(lm), "--prompt", "a", "--vocab", str(big_vocab)], "the vocabulary has 8 tokens; the model's logits cover 7"),
        ([str(float_model), "--prompt", "a"], "is not a causal language model"),
    ]
    for args, message in cases:
        code, out = run(*args)
        assert code == 1, (args, out)
        assert message in out and "Traceback" not in out and len(out.strip().splitlines()) == 1, (args, out)


def test_ids_of_the_vm_run_are_in_the_output_region(lm: Path) -> None:
    """The VM's output region holds exactly the ids the CLI prints (then zeros)."""
    from minidnn.generation import encode_request
    from minidnn.image import run_vm

    model = minidnn.Model.load(generation_model(lm.read_bytes()))
    result = run_vm(model, encode_request([2, 0], 3, T, V))
    assert result.output.dtype == np.int32 and result.output[3:].tolist() == [0] * (T - 3)
    assert result.output[:3].tolist() == model.generate([2, 0], 3).tolist()


def onnx_lm(t: int = T, v: int = V, d: int = 5):  # onnx.ModelProto
    """The causal stand-in LM as ONNX: int64 ids [1, t] -> logits [1, t, v]."""
    from onnx import TensorProto, helper

    from tests.converter_helpers import make_model, rand

    mix = (np.tril(np.ones((t, t))) / np.arange(1, t + 1)[:, None]).astype(np.float32)
    nodes = [helper.make_node("Gather", ["emb", "ids"], ["e"]), helper.make_node("MatMul", ["mix", "e"], ["h"]),
             helper.make_node("Tanh", ["h"], ["a"]), helper.make_node("MatMul", ["a", "w"], ["logits"])]
    return make_model(nodes, {"ids": [1, t]}, {"logits": [1, t, v]},
                      {"emb": rand(v, d, seed=1), "mix": mix, "w": rand(d, v, seed=2)}, in_type=TensorProto.INT64)


def test_convert_generate_writes_a_generation_model(tmp_path: Path) -> None:
    import onnx

    onnx.save(onnx_lm(), tmp_path / "lm.onnx")
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "lm.onnx"), "--generate", "--verify", "2"])
    assert result.exit_code == 0, result.output
    assert "(generation model)" in result.output and "verify OK: 2 inputs" in result.output
    blob = (tmp_path / "lm.mdnn").read_bytes()
    assert minidnn.Model.load(blob).generates and "0x" + minidnn.content_hash(blob).hex() in result.output
    (tmp_path / "lm.vocab.json").write_text(json.dumps({"tokens": list(CHARS)}))
    code, out = run(str(tmp_path / "lm.mdnn"), "--prompt", "dab", "-k", "3", "--json")
    assert code == 0 and json.loads(out)["ids"] == minidnn.Model.load(blob).generate([4, 0, 1], 3).tolist()
    float_model = make_float_onnx()
    onnx.save(float_model, tmp_path / "f.onnx")
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "f.onnx"), "--generate"])
    assert result.exit_code == 1 and "--generate needs a causal LM" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "f.mdnn").exists()


def make_float_onnx():  # onnx.ModelProto
    from onnx import helper

    from tests.converter_helpers import make_model

    return make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": [1, T]}, {"y": [1, T]})


def test_infer_runs_a_generation_request(lm: Path, tmp_path: Path) -> None:
    """`optimist infer` on a generation model takes the request words and prints the ids."""
    from minidnn.generation import encode_request

    flagged = tmp_path / "gen.mdnn"
    flagged.write_bytes(generation_model(lm.read_bytes()))
    request = encode_request([1, 2], 3, T, V, 0.5, 11)
    (tmp_path / "req.json").write_text(json.dumps(request.tolist()))
    result = CliRunner().invoke(cli, ["infer", str(flagged), "--input", str(tmp_path / "req.json"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    want = minidnn.Model.load(flagged).generate([1, 2], 3, temperature=0.5, seed=11).tolist()
    assert out["output"] == want + [0] * (T - 3)
    assert out["output_hex"] == "0x" + np.array(out["output"], "<i4").tobytes().hex()
