"""Generation models: a causal LM (int32 ids [1, T] -> float32 logits [1, T, V]) whose .mdnn header
carries FLAG_GENERATE maps one request (prompt ids, k, temperature, seed) to k new ids, natively and
in one VM run (docs/model-format.md, Generation models; the loop is minidnn/csrc/generate.c)."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from minidnn.format import FLAG_GENERATE, GEN_HEADER_WORDS, header_flags, with_flags
from minidnn.native import InputError, Model

PHILOX_M = 0xD256D193
PHILOX_W = 0x9E3779B9
MASK32 = 0xFFFF_FFFF


def generation_model(blob: bytes) -> bytes:
    """The model with FLAG_GENERATE set (ModelError, code BAD_TENSOR, unless it is ids -> logits)."""
    flagged = with_flags(blob, header_flags(blob) | FLAG_GENERATE)
    Model.load(flagged)
    return flagged


def forward_model(blob: bytes) -> bytes:
    """The model with FLAG_GENERATE cleared: run() gives the logits of one forward pass."""
    return with_flags(blob, header_flags(blob) & ~FLAG_GENERATE)


def temperature_bits(temperature: float) -> int:
    """float32 bits of a temperature (finite, >= 0; 0 = greedy)."""
    t = float(temperature)
    if not math.isfinite(t) or t < 0:
        raise InputError(f"temperature {temperature} must be a finite number >= 0 (0 = greedy)", 18)
    bits = struct.unpack("<I", struct.pack("<f", t))[0]
    if bits >= 0x7F80_0000:
        raise InputError(f"temperature {temperature} overflows float32", 18)
    return int(bits)


def encode_request(prompt: Any, k: int, context: int, vocab: int, temperature: float = 0.0,
                   seed: int = 0) -> np.ndarray:
    """The request words (int32 [GEN_HEADER_WORDS + context]): n, k, temperature bits, seed, the
    n prompt ids, zeros. InputError (one line) for an empty or too long prompt, an id outside
    [0, vocab), k outside [1, context], a bad temperature or a seed outside [0, 2^32)."""
    ids = np.asarray(prompt).ravel()
    if ids.size == 0:
        raise InputError("the prompt is empty: give at least one token", 18)
    if ids.dtype.kind not in "iu":
        raise InputError(f"prompt ids must be integers, not {ids.dtype}", 18)
    if ids.size > context:
        raise InputError(f"the prompt has {ids.size} tokens; the model's context holds {context}", 18)
    if ids.min() < 0 or ids.max() >= vocab:
        bad = int(ids[(ids < 0) | (ids >= vocab)][0])
        raise InputError(f"token id {bad} is outside the vocabulary [0, {vocab})", 15)
    if not 1 <= int(k) <= context:
        raise InputError(f"k = {k} new tokens: must be 1..{context} (the model's context)", 18)
    if not 0 <= int(seed) <= MASK32:
        raise InputError(f"seed {seed} must be in [0, 2^32)", 18)
    words = np.zeros(GEN_HEADER_WORDS + context, np.uint32)
    words[:GEN_HEADER_WORDS] = [ids.size, int(k), temperature_bits(temperature), int(seed)]
    words[GEN_HEADER_WORDS:GEN_HEADER_WORDS + ids.size] = ids
    return words.view(np.int32)


def philox2x32(c0: int, c1: int, key: int, rounds: int = 10) -> tuple[int, int]:
    """Philox2x32 (Salmon et al., SC'11): the reference of minidnn/csrc/generate.c's PRNG."""
    for _ in range(rounds):
        p = PHILOX_M * c0
        c0, c1 = ((p >> 32) ^ key ^ c1) & MASK32, p & MASK32
        key = (key + PHILOX_W) & MASK32
    return c0, c1


def uniform(seed: int, counter: int) -> float:
    """The uniform number in [0, 1) the runtime draws for the `counter`-th new token."""
    return (philox2x32(counter, 0, seed)[0] >> 8) / (1 << 24)
