"""Malformed models and bad inputs give specific errors, natively (ModelError/InputError .code)
and in the VM (exit code), and never crash or read out of bounds."""

import struct

import numpy as np
import pytest

import minidnn
from minidnn.format import ERROR_CODES, ModelBuilder, seal
from minidnn.image import run_raw


def _model() -> bytes:
    rng = np.random.default_rng(0)
    b = ModelBuilder().add_input("x", (1, 4))
    b.add_initializer("w", rng.standard_normal((3, 4))).add_initializer("b", np.ones(3))
    b.add_node("Gemm", ["x", "w", "b"], ["h"], trans_b=1, alpha=0.5)
    b.add_node("Relu", ["h"], ["y"])
    return b.set_output("y").to_bytes()


BLOB = _model()
X = np.arange(4, dtype=np.float32).reshape(1, 4)
N_TENSORS, T_OFF, N_NODES, N_OFF = struct.unpack_from("<4I", BLOB, 16)


def _patch(blob: bytes, off: int, value: int) -> bytes:
    """One word changed, checksum resealed: the runtime's own validation is what is tested."""
    return seal(blob[:off] + struct.pack("<I", value) + blob[off + 4:])


def _node(j: int) -> int:
    return N_OFF + 32 * j


def _tensor(i: int) -> int:
    return T_OFF + 48 * i


def _with_shapes(op, inputs, shape, **attrs) -> bytes:
    b = ModelBuilder().add_input("x", (2, 3))
    b.add_node(op, inputs, ["y"], shapes=[shape], **attrs)
    return b.set_output("y").to_bytes()


CASES = {
    "bad_magic": (b"MDNX" + BLOB[4:], "BAD_MAGIC"),
    "bad_version": (_patch(BLOB, 4, 1), "BAD_VERSION"),
    "damaged": (BLOB[:-40] + bytes([BLOB[-40] ^ 0x10]) + BLOB[-39:], "BAD_CHECKSUM"),
    "length_beyond_region": (_patch(BLOB, 8, 0x3000_0020), "TRUNCATED"),   # > the VM's 768 MiB
    "header_only": (BLOB[:64], "TRUNCATED"),
    "length_unaligned": (_patch(BLOB, 8, len(BLOB) - 4), "BAD_ALIGNMENT"),
    "flags": (_patch(BLOB, 12, 2), "BAD_HEADER"),
    "generate_flag_on_a_float_model": (_patch(BLOB, 12, 1), "BAD_TENSOR"),
    "reserved": (_patch(BLOB, 60, 7), "BAD_HEADER"),
    "tensor_table_oob": (_patch(BLOB, 20, len(BLOB) - 48), "BAD_OFFSET"),
    "node_count_huge": (_patch(BLOB, 24, 0x0FFF_FFFF), "BAD_OFFSET"),
    "node_table_misaligned": (_patch(BLOB, 28, N_OFF + 2), "BAD_ALIGNMENT"),
    "input_index": (_patch(BLOB, 32, 99), "BAD_TENSOR"),
    "dtype": (_patch(BLOB, _tensor(1) + 4, 5), "BAD_TENSOR"),
    "rank": (_patch(BLOB, _tensor(1) + 8, 7), "BAD_TENSOR"),
    "zero_dim": (_patch(BLOB, _tensor(1) + 12, 0), "BAD_TENSOR"),
    "huge_dims": (_patch(_patch(BLOB, _tensor(1) + 12, 1 << 20), _tensor(1) + 16, 1 << 20),
                  "BAD_TENSOR"),
    "weights_oob": (_patch(BLOB, _tensor(1) + 36, len(BLOB) - 32), "BAD_OFFSET"),
    "weights_misaligned": (_patch(BLOB, _tensor(1) + 36, 68), "BAD_ALIGNMENT"),
    "name_oob": (_patch(BLOB, _tensor(0) + 44, 1 << 30), "BAD_OFFSET"),
    "unknown_op": (_patch(BLOB, _node(1), 62), "UNKNOWN_OP"),
    "op_id_huge": (_patch(BLOB, _node(0), 0xFFFF_FFFF), "UNKNOWN_OP"),
    "too_many_inputs": (_patch(BLOB, _node(0) + 4, 40), "BAD_ARITY"),
    "inputs_oob": (_patch(BLOB, _node(0) + 8, len(BLOB)), "BAD_OFFSET"),
    "attr_key": (_patch(BLOB, struct.unpack_from("<I", BLOB, _node(0) + 24)[0], 99),
                 "BAD_ATTRIBUTE"),
    "attr_type": (_patch(BLOB, struct.unpack_from("<I", BLOB, _node(0) + 24)[0] + 4, 9),
                  "BAD_ATTRIBUTE"),
    "read_before_write": (_patch(BLOB, struct.unpack_from("<I", BLOB, _node(0) + 8)[0], 4),
                          "BAD_GRAPH"),
    "tensor_index_oob": (_patch(BLOB, struct.unpack_from("<I", BLOB, _node(1) + 8)[0], 1000),
                         "BAD_GRAPH"),
    "output_never_written": (_patch(BLOB, 24, 1), "BAD_GRAPH"),
    "relu_two_inputs": (_with_shapes("Relu", ["x", "x"], (2, 3)), "BAD_ARITY"),
    "gemm_shape": (_with_shapes("Gemm", ["x", "x"], (2, 2), trans_b=1, alpha=1.0) , None),
    "transpose_shape": (_with_shapes("Transpose", ["x"], (2, 3)), "SHAPE"),
    "conv_rank": (_with_shapes("Conv", ["x", "x"], (2, 3)), "SHAPE"),
    "concat_no_axis": (_with_shapes("Concat", ["x", "x"], (4, 3)), "BAD_ATTRIBUTE"),
    "flatten_axis": (_with_shapes("Flatten", ["x"], (6, 1), axis=5), "BAD_ATTRIBUTE"),
}


def _expected(name):
    blob, err = CASES[name]
    return blob, ERROR_CODES[err] if err else 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_native_error_codes(name):
    blob, code = _expected(name)
    if code == 0:  # a valid model used as a control
        minidnn.infer(blob, np.ones((2, 3), np.float32))
        return
    with pytest.raises(minidnn.ModelError) as info:
        model = minidnn.Model.load(blob)
        model.run(np.zeros(model.input_shape, np.float32))
    assert info.value.code == code, str(info.value)
    assert CASES[name][1] in str(info.value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_vm_exit_codes(name):
    blob, code = _expected(name)
    if name == "header_only":
        code = ERROR_CODES["BAD_TENSOR"]  # the VM region is zero beyond the blob, not short
    if name == "damaged":
        code = 0   # runtime.elf ignores the checksum: on-chain, the image root pins every byte
    final = run_raw(blob, b"", engine="stepper", max_steps=5_000_000)
    assert final.exited and final.exit_code == code


def test_gather_index_out_of_range_at_run_time():
    b = ModelBuilder().add_input("i", (2,))
    b.add_initializer("table", np.arange(8, dtype=np.float32).reshape(4, 2))
    b.add_node("Gather", ["table", "i"], ["y"], axis=0)
    blob = b.set_output("y").to_bytes()
    ok = minidnn.infer(blob, np.array([3, -1], np.float32))
    assert ok.tolist() == [[6, 7], [6, 7]]
    with pytest.raises(minidnn.ModelError) as info:
        minidnn.infer(blob, np.array([1, 4], np.float32))
    assert info.value.code == ERROR_CODES["INDEX"]
    final = run_raw(blob, np.array([1, 4], "<f4").tobytes(), engine="stepper")
    assert final.exit_code == ERROR_CODES["INDEX"]


@pytest.mark.parametrize("x", [np.zeros(5, np.float32), np.zeros((4, 1), np.float32),
                               np.zeros((1, 4, 1), np.float32), np.array(["a"] * 4)])
def test_wrong_input_shape_is_an_input_error(x):
    with pytest.raises(minidnn.InputError, match="input"):
        minidnn.infer(BLOB, x)


def test_flat_input_of_the_right_size_is_accepted():
    assert minidnn.infer(BLOB, X.ravel()).tobytes() == minidnn.infer(BLOB, X).tobytes()


def test_missing_model_file(tmp_path):
    with pytest.raises(minidnn.ModelError, match="no such model"):
        minidnn.Model.load(tmp_path / "nope.mdnn")
