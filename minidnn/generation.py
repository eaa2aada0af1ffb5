"""Generation models: a causal LM (int32 ids [1, T] -> float32 logits [1, T, V]) whose .mdnn header
carries FLAG_GENERATE maps one request (prompt ids, k, temperature, seed) to k new ids, natively and
in one VM run (docs/model-format.md, Generation models; the loop is minidnn/csrc/generate.c)."""

from __future__ import annotations

from minidnn.format import FLAG_GENERATE, header_flags, with_flags
from minidnn.native import Model, encode_request, temperature_bits

PHILOX_M = 0xD256D193
PHILOX_W = 0x9E3779B9
MASK32 = 0xFFFF_FFFF

__all__ = ["encode_request", "forward_model", "generation_model", "philox2x32", "temperature_bits", "uniform"]


def generation_model(blob: bytes) -> bytes:
    """The model with FLAG_GENERATE set (ModelError, code BAD_TENSOR, unless it is ids -> logits)."""
    flagged = with_flags(blob, header_flags(blob) | FLAG_GENERATE)
    Model.load(flagged)
    return flagged


def forward_model(blob: bytes) -> bytes:
    """The model with FLAG_GENERATE cleared: run() gives the logits of one forward pass."""
    return with_flags(blob, header_flags(blob) & ~FLAG_GENERATE)


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
