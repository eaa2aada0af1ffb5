"""The committed character-level GPTs (examples/train_gpt.py -> examples/models/gpt_shakespeare*.onnx):
convert with no edits, match onnxruntime, generate greedily as their own logits say, and generate
the same ids in the VM (the small one by default: ~0.5G steps per token; the large one is slow:
7.4G steps per token)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import minidnn
from converter.api import convert
from converter.verify import verify
from minidnn.generation import encode_request, generation_model
from minidnn.image import run_state, vm_image

MODELS = Path(__file__).resolve().parents[1] / "examples" / "models"
SHAPES = {"gpt_shakespeare": 64, "gpt_shakespeare_small": 32}   # name -> context


def vocab(name: str) -> list[str]:
    return json.loads((MODELS / f"{name}.vocab.json").read_text(encoding="utf-8"))["tokens"]


@pytest.fixture(scope="module", params=sorted(SHAPES))
def conv(request):  # (name, converter.api.Conversion)
    return request.param, convert(MODELS / f"{request.param}.onnx")


def ids(name: str, text: str) -> list[int]:
    tokens = vocab(name)
    return [tokens.index(c) for c in text]


def test_converts_with_no_edits_and_matches_onnxruntime(conv) -> None:
    name, c = conv
    t = SHAPES[name]
    assert c.graph.int_input and c.input_shape == (1, t) and c.output_shape == (1, t, len(vocab(name)))
    xs = np.array([[ids(name, "ROMEO:\nWhat light through yonder window breaks? It is the east, and")[:t]]])
    report = verify(c.onnx_model, c.mdnn, c.graph.input, xs)
    assert report.ok and report.max_rel < 1e-4 and report.argmax_agree == 1.0


def test_greedy_token_is_the_argmax_of_the_forward_pass(conv) -> None:
    name, c = conv
    prompt = ids(name, "ROMEO:")
    gen = minidnn.Model.load(generation_model(c.mdnn))
    assert (gen.context, gen.vocab) == (SHAPES[name], len(vocab(name)))
    window = np.zeros((1, SHAPES[name]), np.int32)
    window[0, :len(prompt)] = prompt
    logits = minidnn.infer(c.mdnn, window)
    assert gen.generate(prompt, 1).tolist() == [int(np.argmax(logits[0, len(prompt) - 1]))]


def native_and_vm(c, name: str, k: int, temperature: float, seed: int) -> tuple[bytes, bytes]:
    gen = minidnn.Model.load(generation_model(c.mdnn))
    request = encode_request(ids(name, "ROMEO:"), k, gen.context, gen.vocab, temperature, seed)
    native = gen.run(request)
    image = vm_image(gen)
    final, _ = run_state(image.initial_state(request))
    assert final.exited and final.exit_code == 0
    return image.decode_output(final).tobytes(), native.tobytes()


def test_small_gpt_native_equals_vm() -> None:
    c = convert(MODELS / "gpt_shakespeare_small.onnx")
    vm, native = native_and_vm(c, "gpt_shakespeare_small", 2, 0.0, 0)
    assert vm == native


@pytest.mark.slow
@pytest.mark.parametrize("k, temperature, seed", [(2, 0.0, 0), (1, 0.8, 3)])
def test_native_equals_vm(conv, k: int, temperature: float, seed: int) -> None:
    name, c = conv
    vm, native = native_and_vm(c, name, k, temperature, seed)
    assert vm == native
