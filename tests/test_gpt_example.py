"""The committed character-level GPT (examples/train_gpt.py -> examples/models/gpt_shakespeare.onnx):
converts with no edits, matches onnxruntime, generates greedily as its own logits say, and (slow:
7.4G VM steps per token) generates the same ids in the VM."""

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
ONNX = MODELS / "gpt_shakespeare.onnx"
VOCAB = json.loads((MODELS / "gpt_shakespeare.vocab.json").read_text(encoding="utf-8"))["tokens"]


@pytest.fixture(scope="module")
def conv():  # converter.api.Conversion
    return convert(ONNX)


def ids(text: str) -> list[int]:
    return [VOCAB.index(c) for c in text]


def test_converts_with_no_edits_and_matches_onnxruntime(conv) -> None:
    assert conv.graph.int_input and conv.input_shape == (1, 64) and conv.output_shape == (1, 64, len(VOCAB))
    xs = np.array([[ids("ROMEO:\nWhat light through yonder window breaks? It is the east, and")[:64]]])
    report = verify(conv.onnx_model, conv.mdnn, conv.graph.input, xs)
    assert report.ok and report.max_rel < 1e-4 and report.argmax_agree == 1.0


def test_greedy_token_is_the_argmax_of_the_forward_pass(conv) -> None:
    prompt = ids("ROMEO:")
    gen = minidnn.Model.load(generation_model(conv.mdnn))
    assert (gen.context, gen.vocab) == (64, len(VOCAB))
    window = np.zeros((1, 64), np.int32)
    window[0, :len(prompt)] = prompt
    logits = minidnn.infer(conv.mdnn, window)
    assert gen.generate(prompt, 1).tolist() == [int(np.argmax(logits[0, len(prompt) - 1]))]


@pytest.mark.slow
@pytest.mark.parametrize("k, temperature, seed", [(2, 0.0, 0), (1, 0.8, 3)])
def test_native_equals_vm(conv, k: int, temperature: float, seed: int) -> None:
    gen = minidnn.Model.load(generation_model(conv.mdnn))
    request = encode_request(ids("ROMEO:"), k, gen.context, gen.vocab, temperature, seed)
    native = gen.run(request)
    image = vm_image(gen)
    final, _ = run_state(image.initial_state(request))
    assert final.exited and final.exit_code == 0
    assert image.decode_output(final).tobytes() == native.tobytes()
