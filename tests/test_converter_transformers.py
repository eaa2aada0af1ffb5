"""Transformer-shaped graphs through the converter: batched attention MatMul, token-id inputs with
run-time Gather, RMSNorm-style reductions, masks, one output of several (--output-name), and a
tiny GPT exported by torch.onnx.export (skipped without torch). Each: minidnn native close to
onnxruntime, and native == VM bit for bit."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

import minidnn
from converter.api import convert
from converter.errors import InputShapeError, UnsupportedOpError
from converter.reference import run_reference
from converter.verify import make_inputs, verify
from minidnn.image import run_state, run_vm, vm_image
from optimist.cli import main as cli
from tests.converter_helpers import make_model, ort_run, rand


def check(model: onnx.ModelProto, x: np.ndarray, rtol: float = 1e-5, atol: float = 1e-6) -> np.ndarray:
    """Convert, compare with onnxruntime (and the float64 reference), and native == VM bits."""
    conv = convert(model)
    got = minidnn.infer(conv.mdnn, x)
    want = ort_run(model, x)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    np.testing.assert_allclose(run_reference(conv.graph, x), want, rtol=1e-4, atol=1e-5)
    vm = run_vm(conv.mdnn, x)
    assert vm.exit_code == 0 and vm.output.tobytes() == got.tobytes()
    return got


def test_attention_block_as_torch_exports_it() -> None:
    """q k^T / sqrt(d) with batch dims [1, 4, 8] x [1, 8, 4], causal mask by Where, softmax, @ v."""
    t, d = 4, 8
    wq, wk, wv = rand(d, d, seed=1), rand(d, d, seed=2), rand(d, d, seed=3)
    mask = np.tril(np.ones((t, t), np.float32))[None]
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"]),
             helper.make_node("MatMul", ["x", "wk"], ["k"]),
             helper.make_node("MatMul", ["x", "wv"], ["v"]),
             helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]),                  # [1,4,8] x [1,8,4]
             helper.make_node("Div", ["s", "scale"], ["ss"]),
             helper.make_node("Equal", ["mask", "zero"], ["hide"]),
             helper.make_node("Where", ["hide", "ninf", "ss"], ["masked"]),
             helper.make_node("Softmax", ["masked"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["y"])]
    model = make_model(nodes, {"x": [1, t, d]}, {"y": [1, t, d]},
                       {"wq": wq, "wk": wk, "wv": wv, "mask": mask, "zero": np.float32(0),
                        "ninf": np.float32(-np.inf), "scale": np.float32(math.sqrt(d))})
    check(model, rand(1, t, d, seed=4))
    ops = [n.op for n in convert(model).graph.nodes]
    assert ops.count("MatMul") == 5 and "Where" in ops  # the mask comparison is folded


@pytest.mark.parametrize("a, b", [((2, 1, 3, 4), (5, 4, 2)), ((4,), (3, 4, 2)), ((2, 3, 4), (4,)), ((4,), (4,))])
def test_matmul_batch_broadcasting_and_vectors(a: tuple, b: tuple) -> None:
    out = list(np.matmul(np.zeros(a), np.zeros(b)).shape)
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": list(a)}, {"y": out},
                       {"w": rand(*b, seed=5)})
    check(model, rand(*a, seed=6))


def test_rmsnorm_and_reductions() -> None:
    """x * 1/sqrt(mean(x^2, -1) + eps) * w, plus ReduceSum/ReduceMax with the axes as an input."""
    nodes = [helper.make_node("Pow", ["x", "two"], ["sq"]),
             helper.make_node("ReduceMean", ["sq"], ["ms"], axes=[-1], keepdims=1),
             helper.make_node("Add", ["ms", "eps"], ["mse"]),
             helper.make_node("Sqrt", ["mse"], ["rms"]),
             helper.make_node("Reciprocal", ["rms"], ["inv"]),
             helper.make_node("Mul", ["x", "inv"], ["n"]),
             helper.make_node("Mul", ["n", "w"], ["nw"]),
             helper.make_node("ReduceSum", ["nw", "ax"], ["s"], keepdims=0),
             helper.make_node("ReduceMax", ["nw"], ["m"], axes=[0, 2], keepdims=0),
             helper.make_node("Add", ["s", "m"], ["y"])]
    model = make_model(nodes, {"x": [2, 3, 8]}, {"y": [3]},
                       {"two": np.float32(2), "eps": np.float32(1e-6), "w": rand(8, seed=7), "ax": np.array([0, 2])},
                       opset=17)
    check(model, rand(2, 3, 8, seed=8), rtol=1e-5, atol=1e-5)


def embedding_model(vocab: int = 11, dim: int = 6, t: int = 5, in_type: int = TensorProto.INT64) -> onnx.ModelProto:
    """ids [1, t] -> token + position embeddings -> a mask of pad ids (0) -> logits over the vocab."""
    table, pos = rand(vocab, dim, seed=9), rand(t, dim, seed=10)
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"]),
             helper.make_node("Add", ["e", "pos"], ["h"]),
             helper.make_node("Cast", ["ids"], ["idf"], to=TensorProto.FLOAT),
             helper.make_node("Equal", ["ids", "pad"], ["is_pad"]),
             helper.make_node("Not", ["is_pad"], ["keep"]),
             helper.make_node("Cast", ["keep"], ["keepf"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["keepf", "last"], ["k3"]),
             helper.make_node("Mul", ["h", "k3"], ["hm"]),
             helper.make_node("MatMul", ["hm", "table_t"], ["logits"]),
             helper.make_node("ReduceMean", ["idf"], ["mean_id"], keepdims=1),
             helper.make_node("Unsqueeze", ["mean_id", "last"], ["m3"]),
             helper.make_node("Add", ["logits", "m3"], ["y"])]
    inits = {"table": table, "pos": pos, "table_t": np.ascontiguousarray(table.T),
             "pad": np.array(0, np.int64 if in_type == TensorProto.INT64 else np.int32), "last": np.array([-1])}
    return make_model(nodes, {"ids": [1, t]}, {"y": [1, t, vocab]}, inits, in_type=in_type)


@pytest.mark.parametrize("in_type", [TensorProto.INT64, TensorProto.INT32])
def test_token_ids_input_and_runtime_gather(in_type: int) -> None:
    model = embedding_model(in_type=in_type)
    conv = convert(model)
    assert conv.graph.int_input and conv.input_high == 11
    assert minidnn.Model.load(conv.mdnn).input_dtype == "int32"
    dtype = np.int64 if in_type == TensorProto.INT64 else np.int32
    for ids in ([[3, 0, 10, 1, 7]], [[-1, -11, 0, 5, 5]]):  # negative ids count from the end
        check(model, np.array(ids, dtype))
    xs = make_inputs(conv.input_shape, 4, seed=1, int_high=conv.input_high)
    assert xs.dtype == np.int64 and xs.min() >= 0 and xs.max() < 11
    assert verify(conv.onnx_model, conv.mdnn, conv.graph.input, xs).ok


@pytest.mark.parametrize("bad", [11, -12, 2**31 - 1])
def test_out_of_range_token_id_is_exit_code_15(bad: int) -> None:
    conv = convert(embedding_model())
    ids = np.array([[1, 2, bad, 3, 4]])
    with pytest.raises(minidnn.ModelError) as info:
        minidnn.infer(conv.mdnn, ids)
    assert info.value.code == 15
    final, _ = run_state(vm_image(conv.mdnn).initial_state(ids))
    assert final.exited and final.exit_code == 15


def test_integer_input_read_by_float_ops_gets_one_cast() -> None:
    nodes = [helper.make_node("Cast", ["ids"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["f", "k"], ["y"])]
    model = make_model(nodes, {"ids": [2, 3]}, {"y": [2, 3]}, {"k": np.float32(0.5)}, in_type=TensorProto.INT64)
    conv = convert(model)
    assert [n.op for n in conv.graph.nodes] == ["Cast", "Mul"]
    check(model, np.array([[1, -2, 3], [2**20, 5, 0]]))
    ident = make_model([helper.make_node("Identity", ["ids"], ["y"])], {"ids": [3]}, {"y": [3]},
                       in_type=TensorProto.INT32)
    ident.graph.output[0].type.tensor_type.elem_type = TensorProto.INT32
    assert minidnn.infer(convert(ident).mdnn, np.array([4, -5, 6], np.int32)).tolist() == [4.0, -5.0, 6.0]


def test_slice_split_tile_expand_trilu_chain() -> None:
    nodes = [helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=-1),
             helper.make_node("Slice", ["b", "st", "en", "ax", "sp"], ["bs"]),
             helper.make_node("Tile", ["a", "reps"], ["at"]),
             helper.make_node("Concat", ["at", "bs"], ["c"], axis=-1),
             helper.make_node("Trilu", ["c", "k"], ["tri"], upper=1),
             helper.make_node("Expand", ["tri", "shape"], ["y"])]
    inits = {"sizes": np.array([2, 4]), "st": np.array([-1]), "en": np.array([-10**9]), "ax": np.array([-1]),
             "sp": np.array([-2]), "reps": np.array([1, 2]), "k": np.array(1), "shape": np.array([2, 3, 6])}
    model = make_model(nodes, {"x": [3, 6]}, {"y": [2, 3, 6]}, inits, opset=18)
    check(model, rand(3, 6, seed=11))


def test_scalar_constant_gather_index_keeps_rank() -> None:
    """x[:, -1, :] as exported for the last token: a scalar index drops the axis."""
    model = make_model([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], {"x": [1, 4, 3]}, {"y": [1, 3]},
                       {"i": np.array(-1, np.int64)})
    check(model, rand(1, 4, 3, seed=12))


def two_outputs() -> onnx.ModelProto:
    nodes = [helper.make_node("Gemm", ["x", "w"], ["scores"]),
             helper.make_node("Softmax", ["scores"], ["probabilities"]),
             helper.make_node("ArgMax", ["scores"], ["label"], axis=1),
             helper.make_node("Hardmax", ["scores"], ["hard"])]  # unsupported, in a dead branch
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("label", TensorProto.INT64, [1, 1]),
                               helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 3]),
                               helper.make_tensor_value_info("hard", TensorProto.FLOAT, [1, 3])],
                              [onnx.numpy_helper.from_array(rand(4, 3, seed=13), "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_output_name_keeps_one_output_and_prunes_dead_branches(tmp_path: Path) -> None:
    model = two_outputs()
    with pytest.raises(UnsupportedOpError, match="3 \\(label, probabilities, hard\\): keep one with --output-name"):
        convert(model)
    conv = convert(model, output_name="probabilities")
    assert [n.op for n in conv.graph.nodes] == ["Gemm", "Softmax"]
    x = rand(1, 4, seed=14)
    np.testing.assert_allclose(minidnn.infer(conv.mdnn, x), ort_run(conv.onnx_model, x), rtol=1e-6)
    assert [o.name for o in conv.onnx_model.graph.output] == ["probabilities"]
    with pytest.raises(InputShapeError, match="'nope' is not a graph output; the outputs are: label, probabilities"):
        convert(model, output_name="nope")
    with pytest.raises(UnsupportedOpError, match="Hardmax"):
        convert(model, output_name="hard")
    label = convert(model, output_name="label")
    assert minidnn.infer(label.mdnn, x).tolist() == ort_run(label.onnx_model, x).astype(float).tolist()
    onnx.save(model, tmp_path / "two.onnx")
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "two.onnx"), "--output-name", "probabilities",
                                      "--verify", "3"])
    assert result.exit_code == 0, result.output
    assert "verify OK" in result.output and (tmp_path / "two.mdnn").exists()


def test_cli_verifies_a_token_id_model(tmp_path: Path) -> None:
    onnx.save(embedding_model(), tmp_path / "emb.onnx")
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "emb.onnx"), "--verify", "5"])
    assert result.exit_code == 0, result.output
    assert "verify OK: 5 inputs" in result.output


def tiny_gpt(torch: object, vocab: int = 20, d: int = 16, heads: int = 2, t: int = 8, layers: int = 2) -> object:
    """A GPT as nanoGPT writes it (causal mask buffer, masked_fill, split heads, GELU MLP) with an
    RMSNorm (pow, mean, rsqrt) before the head; returns the last position's logits."""
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
            self.register_buffer("mask", torch.tril(torch.ones(t, t)).view(1, 1, t, t))

        def forward(self, x):
            b, n, c = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
            q, k, v = (z.view(b, n, heads, c // heads).transpose(1, 2) for z in (q, k, v))
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // heads))
            att = F.softmax(att.masked_fill(self.mask[:, :, :n, :n] == 0, float("-inf")), dim=-1)
            x = x + self.proj((att @ v).transpose(1, 2).contiguous().view(b, n, c))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(t, d)
            self.blocks = nn.Sequential(*[Block() for _ in range(layers)])
            self.w = nn.Parameter(torch.rand(d) + 0.5)
            self.head = nn.Linear(d, vocab, bias=False)

        def forward(self, idx):
            x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
            x = self.blocks(x)
            x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.w
            return self.head(x)[:, -1, :]

    return GPT()


def test_torch_tiny_gpt_converts_and_verifies(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from converter.torch_export import export_onnx

    torch.manual_seed(0)
    model = export_onnx(tiny_gpt(torch), torch.zeros((1, 8), dtype=torch.long), input_names=("idx",),
                        output_names=("logits",))
    conv = convert(model)
    assert conv.graph.int_input and conv.input_high == 20
    xs = make_inputs(conv.input_shape, 6, seed=2, int_high=conv.input_high)
    report = verify(conv.onnx_model, conv.mdnn, conv.graph.input, xs)
    assert report.ok and report.max_rel < 1e-4 and report.argmax_agree == 1.0
    native = minidnn.infer(conv.mdnn, xs[0])
    vm = run_vm(conv.mdnn, xs[0])
    assert vm.exit_code == 0 and vm.output.tobytes() == native.tobytes()
    onnx.save(model, tmp_path / "gpt.onnx")
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "gpt.onnx"), "--verify", "4"])
    assert result.exit_code == 0 and "verify OK" in result.output, result.output


def test_torch_llama_style_block(tmp_path: Path) -> None:
    """Rotary embeddings (cos/sin of constant positions, rotate_half by Slice/Neg/Concat), RMSNorm,
    a triu boolean mask, SwiGLU, and PReLU/ELU/Softplus heads: converts, verifies, native == VM."""
    torch = pytest.importorskip("torch")
    from converter.torch_export import export_onnx

    nn, F = torch.nn, torch.nn.functional
    vocab, d, heads = 30, 16, 2

    def rotate_half(x):
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    class Llama(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(vocab, d)
            self.qkv, self.o = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
            self.up, self.gate, self.down = nn.Linear(d, 32, bias=False), nn.Linear(d, 32, bias=False), \
                nn.Linear(32, d, bias=False)
            self.w1, self.w2 = nn.Parameter(torch.rand(d) + 0.5), nn.Parameter(torch.rand(d) + 0.5)
            self.act, self.elu, self.sp = nn.PReLU(), nn.ELU(), nn.Softplus()
            self.head = nn.Linear(d, vocab, bias=False)

        def forward(self, idx):
            b, t = idx.shape
            x = self.emb(idx)
            hd = d // heads
            freqs = torch.outer(torch.arange(t).float(), 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd)))
            angles = torch.cat((freqs, freqs), dim=-1)
            cos, sin = angles.cos(), angles.sin()
            rms = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.w1
            q, k, v = (z.view(b, t, heads, hd).transpose(1, 2) for z in self.qkv(rms).split(d, dim=2))
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
            att = att.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1), float("-inf"))
            x = x + self.o((att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d))
            h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.w2
            x = x + self.down(F.silu(self.gate(h)) * self.up(h))
            x = self.act(x) + 0.1 * self.elu(x) + 0.1 * self.sp(x)
            return self.head(x)[:, -1]

    torch.manual_seed(1)
    model = export_onnx(Llama(), torch.zeros((1, 8), dtype=torch.long), input_names=("idx",),
                        output_names=("logits",))
    conv = convert(model)
    assert {"PRelu", "Elu", "Softplus", "Where", "Slice", "Concat"} <= {n.op for n in conv.graph.nodes}
    xs = make_inputs(conv.input_shape, 4, seed=3, int_high=conv.input_high)
    report = verify(conv.onnx_model, conv.mdnn, conv.graph.input, xs)
    assert report.ok and report.max_rel < 1e-4
    vm = run_vm(conv.mdnn, xs[0])
    assert vm.exit_code == 0 and vm.output.tobytes() == minidnn.infer(conv.mdnn, xs[0]).tobytes()


def test_shape_range_constant_of_shape_chains_fold() -> None:
    """Positions as exporters write them (Shape -> Gather -> Range -> Cast, ConstantOfShape of a
    shape): all static, so folded into one constant before canonicalisation."""
    t, d = 5, 3
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Gather", ["shape", "one"], ["t"], axis=0),
             helper.make_node("Range", ["zero", "t", "step"], ["pos"]),
             helper.make_node("Cast", ["pos"], ["posf"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["posf", "last"], ["pos2"]),
             helper.make_node("ConstantOfShape", ["shape"], ["ones"],
                              value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
             helper.make_node("Mul", ["ones", "pos2"], ["scaled"]),
             helper.make_node("Add", ["x", "scaled"], ["y"])]
    model = make_model(nodes, {"x": [1, t, d]}, {"y": [1, t, d]},
                       {"one": np.array(1, np.int64), "zero": np.array(0, np.int64), "step": np.array(1, np.int64),
                        "last": np.array([-1])}, opset=17)
    conv = convert(model)
    assert [n.op for n in conv.graph.nodes] == ["Add"]
    check(model, rand(1, t, d, seed=15))


@pytest.mark.parametrize("eq, a, b", [
    ("bhqd,bhkd->bhqk", (1, 2, 3, 4), (1, 2, 5, 4)), ("bqhd,bkhd->bhqk", (1, 3, 2, 4), (1, 5, 2, 4)),
    ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)), ("ij,jk", (3, 4), (4, 2)), ("i,i->", (4,), (4,)),
    ("ij,j->i", (3, 4), (4,)), ("i,j->ij", (3,), (4,)), ("abc,cd->abd", (2, 3, 4), (4, 5)),
    ("ijk,jl->il", (2, 3, 4), (3, 5)), ("ba,ac->cb", (3, 2), (2, 4)),
    ("ij->ji", (3, 4), None), ("ij->", (3, 4), None), ("bij->bj", (2, 3, 4), None), ("ijk->kji", (2, 3, 4), None),
])
def test_einsum_as_transpose_reduce_matmul(eq: str, a: tuple, b: tuple | None) -> None:
    x = rand(*a, seed=16)
    inputs, inits = (["x"], {}) if b is None else (["x", "w"], {"w": rand(*b, seed=17)})
    out = list(np.einsum(eq, x, *inits.values()).shape)
    model = make_model([helper.make_node("Einsum", inputs, ["y"], equation=eq)], {"x": list(a)}, {"y": out}, inits)
    check(model, x)
    assert "Einsum" not in {n.op for n in convert(model).graph.nodes}


@pytest.mark.parametrize("eq, what", [("ii->i", "repeats a letter"), ("...ij,...jk->...ik", "ellipsis")])
def test_einsum_limits(eq: str, what: str) -> None:
    shape = [3, 3] if eq == "ii->i" else [2, 3, 3]
    inputs = ["x"] if eq == "ii->i" else ["x", "x"]
    model = make_model([helper.make_node("Einsum", inputs, ["y"], equation=eq)], {"x": shape},
                       {"y": list(np.einsum(eq, *[np.zeros(shape)] * len(inputs)).shape)})
    with pytest.raises(UnsupportedOpError, match=what):
        convert(model)
