"""Whole models: native == VM bit for bit for several inputs; the VM image data the contract
uses; opcode census of runtime.elf; the infer CLI."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import minidnn
from minidnn import examples
from minidnn.image import run_vm, runtime_elf, vm_image, vm_initial_state
from mipsvm import layout
from mipsvm.elf import load_elf
from mipsvm.isa import is_implemented
from mipsvm.regions import climb


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return (load_digits().data / 16.0).astype(np.float32)


@pytest.fixture(scope="module")
def digits_mlp():
    return examples.digits_mlp()


def test_digits_mlp_is_accurate_natively(digits_mlp, digits):
    from sklearn.datasets import load_digits

    blob, sk_acc = digits_mlp
    labels = load_digits().target[1500:]
    model = minidnn.Model.load(blob)
    pred = [int(np.argmax(model.run(x))) for x in digits[1500:]]
    acc = float(np.mean(np.array(pred) == labels))
    assert acc > 0.9 and abs(acc - sk_acc) < 0.01


def test_digits_mlp_native_equals_vm(digits_mlp, digits):
    blob, _ = digits_mlp
    for x in digits[[0, 7, 1500, 1700]]:
        native = minidnn.infer(blob, x)
        vm = run_vm(blob, x)
        assert vm.exit_code == 0 and vm.output.tobytes() == native.tobytes()
        np.testing.assert_allclose(native.sum(), 1.0, rtol=1e-5)


@pytest.mark.parametrize("make", [examples.digits_cnn, examples.generator])
def test_cnn_and_generator_native_equals_vm(make):
    blob = make()
    for seed in range(3):
        x = examples.sample_input(blob, seed)
        native = minidnn.infer(blob, x)
        vm = run_vm(blob, x)
        assert vm.exit_code == 0 and vm.output.tobytes() == native.tobytes(), seed


def test_generator_output_matches_float64_reference():
    """The GAN-style generator against a float64 numpy re-implementation."""
    blob = examples.generator()
    g = minidnn.read_model(blob)
    t = {k: v.data.astype(np.float64) for k, v in g.tensors.items() if v.data is not None}
    z = examples.sample_input(blob, 0)
    h = (z.astype(np.float64) @ t["w0"].T + t["b0"]).reshape(1, 16, 2, 2)
    from test_minidnn_ops import conv_transpose_ref

    for i in range(2):
        s, b, m, v = (t[f"bn{i}_{k}"].reshape(1, -1, 1, 1) for k in "sbmv")
        h = np.maximum((h - m) / np.sqrt(v + 1e-5) * s + b, 0)
        h = conv_transpose_ref(h, t[f"ct{i}_w"], t[f"ct{i}_b"], (1, 1, 1, 1), (2, 2))
    ref = np.tanh(h)
    np.testing.assert_allclose(minidnn.infer(blob, z), ref, atol=1e-5)


def test_image_roots_and_sibling_paths():
    blob = examples.mlp((16, 8, 4))
    img = vm_image(blob)
    assert img.model_hash == minidnn.content_hash(blob)
    assert img.input_size == layout.region_size(64) and img.output_size == layout.region_size(16)
    zero = np.zeros(img.input_shape, np.float32)
    # imageRoot = memRoot with the input region zero; the contract recomputes it from the input
    assert img.initial_state(zero).memory.root() == img.image_root
    assert climb(img.input_root(zero), img.input_base, img.input_size,
                 list(img.input_siblings)) == img.image_root
    x = examples.sample_input(blob, 3)
    state, decode = vm_initial_state(blob, x)
    assert state.pc == img.entry and state.step == 0
    assert climb(img.input_root(x), img.input_base, img.input_size,
                 list(img.input_siblings)) == state.memory.root()
    result = run_vm(blob, x)
    out_root, out_siblings = img.output_path(result.state)
    assert climb(out_root, img.output_base, img.output_size,
                 list(out_siblings)) == result.state.memory.root()
    assert decode(result.state).tobytes() == minidnn.infer(blob, x).tobytes()
    assert result.final_hash == result.state.hash()
    with pytest.raises(minidnn.InputError):
        img.initial_state(np.zeros(3, np.float32))


def test_runtime_elf_opcode_census():
    words = load_elf(runtime_elf()).text_words()
    missing = sorted({f"{a:#x}: {w:08x}" for a, w in words if not is_implemented(w)})
    assert len(words) > 1000 and not missing, missing[:10]


def test_infer_cli(tmp_path):
    from optimist.commands.infer import infer

    blob = examples.mlp((16, 8, 4))
    model = tmp_path / "m.mdnn"
    model.write_bytes(blob)
    x = examples.sample_input(blob, 1)
    np.save(tmp_path / "x.npy", x)
    runner = CliRunner()
    res = runner.invoke(infer, [str(model), "--input", str(tmp_path / "x.npy"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["output"] == [float(v) for v in minidnn.infer(blob, x).ravel()]
    assert out["model_hash"] == "0x" + minidnn.content_hash(blob).hex()
    res = runner.invoke(infer, [str(model), "--input", str(tmp_path / "x.npy")])
    assert res.exit_code == 0 and "argmax" in res.output
    np.save(tmp_path / "bad.npy", np.zeros(5, np.float32))
    res = runner.invoke(infer, [str(model), "--input", str(tmp_path / "bad.npy")])
    assert res.exit_code != 0 and "does not match the model input" in res.output
    model.write_bytes(b"garbage" * 20)
    res = runner.invoke(infer, [str(model), "--input", str(tmp_path / "x.npy")])
    assert res.exit_code != 0 and "BAD_MAGIC" in res.output


def test_native_is_thread_safe():
    from concurrent.futures import ThreadPoolExecutor

    blob = examples.digits_cnn()
    model = minidnn.Model.load(blob)
    xs = [examples.sample_input(blob, s) for s in range(16)]
    expected = [model.run(x).tobytes() for x in xs]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda x: model.run(x).tobytes(), xs * 4))
    assert got == expected * 4


@pytest.mark.slow
@pytest.mark.parametrize("make", [lambda: examples.mlp((784, 128, 10)), examples.lenet5])
def test_benchmark_models_native_equals_vm(make):
    blob = make()
    for seed in range(2):
        x = examples.sample_input(blob, seed)
        vm = run_vm(blob, x)
        assert vm.output.tobytes() == minidnn.infer(blob, x).tobytes()


@pytest.mark.slow
def test_fast_runner_agrees_with_reference_stepper():
    blob = examples.digits_cnn()
    x = examples.sample_input(blob, 5)
    fast = run_vm(blob, x)
    ref = run_vm(blob, x, engine="stepper")
    assert (fast.steps, fast.final_hash) == (ref.steps, ref.final_hash)
