"""Generation inside one run (minidnn/csrc/generate.c): greedy = argmax of the model's own logits
fed back over a sliding window, sampling follows the documented Philox draw, bad requests are
error codes, and native == VM bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import minidnn
from minidnn.format import ERROR_CODES, FLAG_GENERATE, GEN_HEADER_WORDS, ModelBuilder, with_flags
from minidnn.generation import encode_request, forward_model, generation_model, philox2x32, uniform
from minidnn.image import run_raw, run_state, vm_image

T, V, D = 6, 7, 5


def causal_lm(t: int = T, v: int = V, d: int = D, seed: int = 0) -> bytes:
    """ids [1, t] -> embedding -> prefix means (a lower-triangular mix: causal) -> tanh -> logits
    [1, t, v]; a torch-free stand-in for a GPT."""
    rng = np.random.default_rng(seed)
    mix = np.tril(np.ones((t, t))) / np.arange(1, t + 1)[:, None]
    b = ModelBuilder().add_input("ids", (1, t), dtype=1)
    b.add_initializer("emb", rng.standard_normal((v, d)) * 2).add_initializer("mix", mix)
    b.add_initializer("w", rng.standard_normal((d, v)) * 2).add_initializer("pos", rng.standard_normal((t, d)))
    b.add_node("Gather", ["emb", "ids"], ["e"])
    b.add_node("Add", ["e", "pos"], ["ep"])
    b.add_node("MatMul", ["mix", "ep"], ["h"])
    b.add_node("Tanh", ["h"], ["a"])
    b.add_node("MatMul", ["a", "w"], ["logits"])
    return b.set_output("logits").to_bytes()


PLAIN = causal_lm()
GEN = generation_model(PLAIN)


def reference_greedy(plain: bytes, prompt: list[int], k: int, t: int) -> list[int]:
    """The loop of generate.c in Python over the plain model's logits: left-aligned window of the
    last t tokens, padded with id 0, argmax of the last real position."""
    model, seq = minidnn.Model.load(plain), list(prompt)
    for _ in range(k):
        window = seq[-t:]
        logits = model.run(np.array([window + [0] * (t - len(window))], np.int32))
        seq.append(int(np.argmax(logits[0, len(window) - 1])))
    return seq[len(prompt):]


def test_philox_known_answers() -> None:
    """Random123's known-answer vectors for philox2x32-10 (ctr0, ctr1, key) -> (out0, out1)."""
    assert philox2x32(0, 0, 0) == (0xFF1DAE59, 0x6CD10DF2)
    assert philox2x32(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF) == (0x2C3F628B, 0xAB4FD7AD)
    assert philox2x32(0x243F6A88, 0x85A308D3, 0x13198A2E) == (0xDD7CE038, 0xF62A4C12)


def test_model_facts_and_flag_round_trip() -> None:
    m = minidnn.Model.load(GEN)
    assert m.generates and (m.context, m.vocab) == (T, V)
    assert m.input_shape == (GEN_HEADER_WORDS + T,) and m.output_shape == (T,)
    assert (m.input_dtype, m.output_dtype) == ("int32", "int32")
    assert forward_model(GEN) == PLAIN and minidnn.read_model(GEN).flags == FLAG_GENERATE
    assert not minidnn.Model.load(PLAIN).generates
    assert minidnn.Model.load(PLAIN).output_shape == (1, T, V)


@pytest.mark.parametrize("prompt, k", [([3], 1), ([1, 2, 3], 3), ([6, 0, 5, 4], T), ([2] * T, T), ([5, 1], 5)])
def test_greedy_is_argmax_of_the_models_logits_fed_back(prompt: list[int], k: int) -> None:
    """Includes prompts that fill the context and n + k > T (the window slides)."""
    got = minidnn.Model.load(GEN).generate(prompt, k)
    assert got.tolist() == reference_greedy(PLAIN, prompt, k, T)


def test_sampling_follows_the_documented_draw() -> None:
    """Each sampled id's cumulative-probability interval (float64, from the model's own logits at
    the temperature) holds the Philox uniform of its step; seeds reproduce and differ."""
    model, plain = minidnn.Model.load(GEN), minidnn.Model.load(PLAIN)
    prompt, temp = [1, 4], 1.7
    draws = {}
    for seed in (0, 1, 2, 0xFFFFFFFF):
        ids = model.generate(prompt, T, temperature=temp, seed=seed)
        seq = list(prompt)
        for j, tok in enumerate(ids.tolist()):
            window = seq[-T:]
            z = plain.run(np.array([window + [0] * (T - len(window))], np.int32))[0, len(window) - 1] / temp
            p = np.exp(z.astype(np.float64) - z.max())
            cdf = np.cumsum(p / p.sum())
            u = uniform(seed, j)
            lo = cdf[tok - 1] if tok else 0.0
            assert lo - 1e-5 <= u < cdf[tok] + 1e-5, (seed, j, tok, u, lo, cdf[tok])
            seq.append(tok)
        draws[seed] = ids.tolist()
        assert model.generate(prompt, T, temperature=temp, seed=seed).tolist() == draws[seed]
    assert len({tuple(d) for d in draws.values()}) > 1
    assert model.generate(prompt, 4, temperature=1e-6, seed=9).tolist() == model.generate(prompt, 4).tolist()


@pytest.mark.parametrize("prompt, k, temp, seed", [([1, 2], 4, 0.0, 0), ([6, 6, 0], T, 0.9, 12345), ([3] * T, 3, 2.5, 7)])
def test_native_equals_vm(prompt: list[int], k: int, temp: float, seed: int) -> None:
    """The whole output region (k ids, then zeros) is the same bytes natively and in the VM."""
    model = minidnn.Model.load(GEN)
    request = encode_request(prompt, k, T, V, temp, seed)
    native = model.run(request)
    assert native[k:].tolist() == [0] * (T - k)
    image = vm_image(GEN)
    assert image.input_size == 64 and image.output_size == 32  # (4 + 6) words, 6 ids
    final, _ = run_state(image.initial_state(request))
    assert final.exited and final.exit_code == 0
    assert image.decode_output(final).tobytes() == native.tobytes()
    assert final.memory.read(image.output_base, image.output_size) == native.tobytes().ljust(image.output_size, b"\0")


def _request(n: int, k: int, temp_bits: int = 0, seed: int = 0, ids: list[int] | None = None) -> np.ndarray:
    words = np.zeros(GEN_HEADER_WORDS + T, np.uint32)
    words[:4] = [n, k, temp_bits, seed]
    prompt = ids if ids is not None else [1] * min(n, T)
    words[4:4 + len(prompt)] = prompt
    return words.view(np.int32)


@pytest.mark.parametrize("request_words, name", [
    (_request(0, 1), "BAD_REQUEST"), (_request(T + 1, 1), "BAD_REQUEST"), (_request(2, 0), "BAD_REQUEST"),
    (_request(2, T + 1), "BAD_REQUEST"), (_request(2, 1, 0x80000000), "BAD_REQUEST"),   # -0.0
    (_request(2, 1, 0x7F800000), "BAD_REQUEST"), (_request(2, 1, 0x7FC00000), "BAD_REQUEST"),  # inf, NaN
    (_request(3, 1, ids=[1, V, 2]), "INDEX"), (_request(1, 1, ids=[0xFFFFFFFF]), "INDEX"),
])
def test_bad_requests_are_error_codes_native_and_vm(request_words: np.ndarray, name: str) -> None:
    code = ERROR_CODES[name]
    with pytest.raises(minidnn.MinidnnError) as info:
        minidnn.Model.load(GEN).run(request_words)
    assert info.value.code == code
    final, _ = run_state(vm_image(GEN).initial_state(request_words))
    assert final.exited and final.exit_code == code


def test_python_request_checks_are_one_line_errors() -> None:
    model = minidnn.Model.load(GEN)
    for args, match in [(([], 1), "empty"), (([1] * (T + 1), 1), "context holds"), (([V], 1), "outside the vocabulary"),
                        (([1], 0), "must be 1..6"), (([1], T + 1), "must be 1..6"), (([1.5], 1), "integers")]:
        with pytest.raises(minidnn.InputError, match=match):
            model.generate(*args)
    with pytest.raises(minidnn.InputError, match="temperature"):
        model.generate([1], 1, temperature=-1.0)
    with pytest.raises(minidnn.InputError, match="seed"):
        model.generate([1], 1, temperature=1.0, seed=2**32)
    with pytest.raises(minidnn.InputError, match="not a generation model"):
        minidnn.Model.load(PLAIN).generate([1], 1)


def test_flag_needs_ids_to_logits_and_unknown_flags_are_rejected() -> None:
    float_in = ModelBuilder().add_input("x", (1, T))
    float_in.add_node("Relu", ["x"], ["y"])
    last_only = ModelBuilder().add_input("ids", (1, T), dtype=1)
    last_only.add_initializer("emb", np.ones((V, D))).add_initializer("i", np.array(-1, np.int32))
    last_only.add_node("Gather", ["emb", "ids"], ["e"]).add_node("Gather", ["e", "i"], ["y"], axis=1)
    for builder in (float_in, last_only):   # a float input; logits of the last position only
        blob = with_flags(builder.set_output("y").to_bytes(), FLAG_GENERATE)
        with pytest.raises(minidnn.ModelError) as info:
            minidnn.Model.load(blob)
        assert info.value.code == ERROR_CODES["BAD_TENSOR"]
        assert run_raw(blob).exit_code == ERROR_CODES["BAD_TENSOR"]
    with pytest.raises(minidnn.ModelError) as info:
        minidnn.Model.load(with_flags(PLAIN, 2))
    assert info.value.code == ERROR_CODES["BAD_HEADER"]
