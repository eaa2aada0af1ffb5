"""The .mdnn writer/reader: round trip, layout rules, content hash, builder errors."""

import struct

import numpy as np
import pytest

from minidnn import examples
from minidnn.format import (
    CHECKSUM_OFFSET,
    DATA_ALIGN,
    HEADER_SIZE,
    OP_IDS,
    VERSION,
    FormatError,
    ModelBuilder,
    checksum,
    content_hash,
    read_model,
    seal,
    write_model,
)


def _small() -> ModelBuilder:
    rng = np.random.default_rng(0)
    b = ModelBuilder().add_input("x", (1, 1, 6, 6))
    b.add_initializer("w", rng.standard_normal((2, 1, 3, 3)))
    b.add_initializer("idx", np.array([1, 0], np.int64))
    b.add_node("Conv", ["x", "w", ""], ["c"], pads=[1, 1, 1, 1], strides=[2, 2])
    b.add_node("Gather", ["c", "idx"], ["g"], axis=1)
    b.add_node("LeakyRelu", ["g"], ["y"], alpha=0.2)
    return b.set_output("y")


def test_round_trip_preserves_graph_and_bytes():
    blob = _small().to_bytes()
    g = read_model(blob)
    assert write_model(g) == blob
    assert [n.op for n in g.nodes] == ["Conv", "Gather", "LeakyRelu"]
    assert g.nodes[0].inputs == ["x", "w", ""]
    assert g.nodes[0].attrs == {"pads": [1, 1, 1, 1], "strides": [2, 2]}
    assert g.nodes[2].attrs["alpha"] == pytest.approx(0.2)
    assert g.tensors["c"].shape == (1, 2, 3, 3)
    assert g.tensors["g"].shape == (1, 2, 3, 3)
    assert g.tensors["idx"].dtype == 1 and g.tensors["idx"].data.tolist() == [1, 0]
    assert g.input_shape == (1, 1, 6, 6) and g.output_shape == (1, 2, 3, 3)


def test_layout_header_alignment_and_hash():
    blob = _small().to_bytes()
    magic, version, total = struct.unpack_from("<4sII", blob)
    assert (magic, version, total) == (b"MDNN", VERSION, len(blob))
    assert struct.unpack_from("<I", blob, CHECKSUM_OFFSET)[0] == checksum(blob) != 0
    assert blob[CHECKSUM_OFFSET + 4:HEADER_SIZE] == bytes(HEADER_SIZE - CHECKSUM_OFFSET - 4)
    assert len(blob) % DATA_ALIGN == 0 and len(blob) > HEADER_SIZE
    g = read_model(blob)
    w = g.tensors["w"].data
    assert w.dtype == np.float32
    # weights are stored 32-byte aligned, float32 little-endian
    off = struct.unpack_from("<I", blob, 64 + 48 * 1 + 36)[0]
    assert off % 32 == 0 and blob[off:off + w.nbytes] == w.astype("<f4").tobytes()
    assert content_hash(blob) != content_hash(blob[:-32] + b"\1" * 32)
    # keccak256, not sha3-256
    assert content_hash(b"").hex().startswith("c5d2460186f7233c")


def test_writer_is_deterministic():
    assert _small().to_bytes() == _small().to_bytes()
    assert examples.generator() == examples.generator()


def test_op_ids_are_unique_and_match_docs():
    assert len(set(OP_IDS.values())) == len(OP_IDS)
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "model-format.md").read_text()
    for name, op_id in OP_IDS.items():
        assert f"| {op_id} | {name} |" in doc, name


@pytest.mark.parametrize("build, message", [
    (lambda b: b.add_node("Nope", ["x"], ["y"]), "unknown op"),
    (lambda b: b.add_node("Relu", ["missing"], ["y"]), "not defined"),
    (lambda b: b.add_node("Relu", ["x"], ["x"]), "defined twice"),
    (lambda b: b.add_node("Relu", ["x"], ["y"], bogus=1), "unknown attribute"),
    (lambda b: b.add_node("Gemm", ["x", "x"], ["y"]), "inner dims"),
    (lambda b: b.add_input("z", (1,)), "only one"),
    (lambda b: b.add_initializer("w", np.zeros((0, 3))), "dims must be >= 1"),
    (lambda b: b.add_initializer("w", np.zeros((1,) * 7)), "rank"),
    (lambda b: b.set_output("nothing"), "not a defined tensor"),
])
def test_builder_rejects_bad_graphs(build, message):
    b = ModelBuilder().add_input("x", (2, 3))
    with pytest.raises(FormatError, match=message):
        build(b)


def test_reader_rejects_malformed_bytes():
    blob = _small().to_bytes()
    with pytest.raises(FormatError, match="truncated"):
        read_model(blob[:40])
    with pytest.raises(FormatError, match="magic"):
        read_model(b"XXXX" + blob[4:])
    with pytest.raises(FormatError, match="truncated"):
        read_model(blob[:-32])
    with pytest.raises(FormatError, match="version"):
        read_model(blob[:4] + struct.pack("<I", 9) + blob[8:])


def test_damaged_name_bytes_are_a_format_error() -> None:
    """Flipped bytes in a tensor name: FormatError (the CLI's clear error), never UnicodeDecodeError."""
    import struct

    import pytest

    from minidnn.format import (
        FormatError,
        ModelBuilder,
        read_model,
        write_model,
    )

    graph = ModelBuilder().add_input("input", [1, 4]).add_node("Relu", ["input"], ["output"]) \
        .set_output("output").graph()
    blob = bytearray(write_model(graph))
    t_off = struct.unpack_from("<I", blob, 20)[0]        # header: magic, version, total, flags, count, offset
    name_off = struct.unpack_from("<12I", blob, t_off)[10]
    blob[name_off] = 0xFF
    with pytest.raises(FormatError, match="checksum mismatch"):
        read_model(bytes(blob))
    with pytest.raises(FormatError, match="not UTF-8"):     # a forged checksum: the name is still checked
        read_model(seal(blob))


def _flip_two_bytes(blob: bytes, rng: np.random.Generator) -> bytes:
    """Two distinct bytes XORed with nonzero masks (a damaged download)."""
    b = bytearray(blob)
    for off in rng.choice(len(b), size=2, replace=False):
        b[off] ^= int(rng.integers(1, 256))
    return bytes(b)


def test_two_flipped_bytes_anywhere_are_rejected_by_reader_and_runtime():
    """Every damaged copy is refused with one FormatError / ModelError naming the problem (the
    checksum unless the header's magic/version/length field itself was hit)."""
    import minidnn

    blob = examples.mlp((6, 5, 3))
    rng = np.random.default_rng(18)
    codes = []
    for _ in range(300):
        bad = _flip_two_bytes(blob, rng)
        with pytest.raises(FormatError) as read_info:
            read_model(bad)
        with pytest.raises(minidnn.ModelError) as load_info:
            minidnn.Model.load(bad)
        assert read_info.value.code == load_info.value.code in (1, 2, 3, 19)
        codes.append(load_info.value.code)
    assert codes.count(19) > 250
    with pytest.raises(FormatError, match="checksum mismatch"):
        read_model(blob[:200] + bytes([blob[200] ^ 1]) + blob[201:])


def test_version_1_files_are_refused_with_the_fix():
    blob = seal(_small().to_bytes()[:4] + struct.pack("<I", 1) + _small().to_bytes()[8:])
    with pytest.raises(FormatError, match="version 1 .*before models carried a checksum.*optimist convert"):
        read_model(blob)


def _structural_mutants(blob: bytes, n: int, seed: int) -> list[bytes]:
    """Resealed word-level corruptions of the header, tables and arrays, and truncations: what a
    forged (or buggy-writer) file can hold; the checksum passes, the structure does not."""
    rng = np.random.default_rng(seed)
    data_start = min(o for o in (struct.unpack_from("<I", blob, 64 + 48 * i + 36)[0]
                                 for i in range(struct.unpack_from("<I", blob, 16)[0])) if o)
    out = []
    for _ in range(n):
        b = bytearray(blob)
        for _ in range(int(rng.integers(1, 4))):
            off = 4 * int(rng.integers(0, data_start // 4))
            old = struct.unpack_from("<I", b, off)[0]
            new = [old ^ (1 << int(rng.integers(0, 32))), int(rng.integers(0, 2**32)),
                   old + int(rng.integers(-3, 4)), int(rng.integers(0, 64))][int(rng.integers(0, 4))]
            struct.pack_into("<I", b, off, new & 0xFFFFFFFF)
        out.append(seal(bytes(b)))
    cuts = sorted({int(c) for c in rng.integers(0, len(blob), 40)} | {0, 3, HEADER_SIZE - 1, HEADER_SIZE})
    return out + [blob[:c] for c in cuts] + [seal(blob[:c]) for c in cuts if c >= HEADER_SIZE]


@pytest.mark.parametrize("make", [examples.digits_cnn, lambda: _small().to_bytes()])
def test_reader_and_inspect_never_raise_anything_but_their_errors(make):
    """Fuzz: read_model raises only FormatError, converter.inspect only InvalidModelError (the
    CLI's one-line errors), on resealed structural corruptions and truncations."""
    from converter.errors import InvalidModelError
    from converter.inspect import inspect_model

    blob = make()
    parsed = rejected = 0
    for mutant in _structural_mutants(blob, 300, seed=len(blob)):
        try:
            read_model(mutant)
            parsed += 1
        except FormatError:
            rejected += 1
        try:
            inspect_model(mutant)
        except InvalidModelError:
            pass
    assert rejected > 100 and parsed > 10
