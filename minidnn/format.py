"""The `.mdnn` model format: op ids, attribute encoding, writer (ModelBuilder), reader, hash.

The byte layout is specified in docs/model-format.md; `minidnn/csrc/model.c` is the C reader.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from eth_hash.auto import keccak

MAGIC = b"MDNN"
VERSION = 2
HEADER_SIZE = 64
CHECKSUM_OFFSET = 40   # u32: CRC-32 of the blob without these 4 bytes (check_integrity)
TENSOR_RECORD_SIZE = 48
NODE_RECORD_SIZE = 32
ATTR_RECORD_SIZE = 16
DATA_ALIGN = 32
MAX_DIMS = 6
MAX_IO = 32
MAX_LIST = 64
MAX_ELEMENTS = 1 << 26
ABSENT = 0xFFFF_FFFF

# Header flags (offset 12). A generation model maps a request (GEN_HEADER_WORDS words: prompt
# length, k, temperature bits, seed; then the prompt ids) to the ids it generates.
FLAG_GENERATE = 1
GEN_HEADER_WORDS = 4

KIND_VALUE = 0
KIND_CONSTANT = 1
DTYPE_F32 = 0
DTYPE_I32 = 1
DTYPE_I8 = 2    # the integer path: one 32-bit word per element, the value sign-extended
DTYPE_U8 = 3    # zero-extended
DTYPES = (DTYPE_F32, DTYPE_I32, DTYPE_I8, DTYPE_U8)
# numpy dtype of each element type as the blob stores it (int8/uint8 widened to int32 words)
_STORED = {DTYPE_F32: "<f4", DTYPE_I32: "<i4", DTYPE_I8: "<i4", DTYPE_U8: "<i4"}
_RANGES = {DTYPE_I32: (-(2**31), 2**31 - 1), DTYPE_I8: (-128, 127), DTYPE_U8: (0, 255)}

OP_IDS: dict[str, int] = {
    "Identity": 1, "Reshape": 2, "Flatten": 3, "Transpose": 4, "Concat": 5, "Squeeze": 6,
    "Unsqueeze": 7, "Gather": 8, "Resize": 9, "Slice": 10, "Expand": 11, "Where": 12, "Cast": 13,
    "Gemm": 16, "MatMul": 17,
    "Conv": 24, "ConvTranspose": 25, "MaxPool": 26, "AveragePool": 27, "GlobalAveragePool": 28,
    "Relu": 32, "LeakyRelu": 33, "Clip": 34, "Sigmoid": 35, "Tanh": 36, "Gelu": 37, "Erf": 38,
    "Sqrt": 39, "Add": 40, "Sub": 41, "Mul": 42, "Div": 43, "Exp": 44, "Log": 45, "Reciprocal": 46,
    "Pow": 47,
    "BatchNormalization": 48, "LayerNormalization": 49, "Softmax": 50, "LogSoftmax": 51,
    "ReduceSum": 52, "ReduceMean": 53, "ReduceMax": 54,
    "Equal": 56, "Less": 57, "Greater": 58, "Not": 59, "PRelu": 60,
    "Elu": 64, "Softplus": 65, "Sin": 66, "Cos": 67, "Abs": 68, "Floor": 69, "Ceil": 70,
    "Max": 72, "Min": 73, "LessOrEqual": 74, "GreaterOrEqual": 75, "And": 76, "Or": 77, "Xor": 78,
    "ArgMax": 80, "ArgMin": 81,
    "GenInit": 88, "GenWindow": 89, "GenSelect": 90,
    "QuantizeLinear": 91, "DequantizeLinear": 92, "QLinearMatMul": 93, "MatMulInteger": 94,
    "QLinearConv": 95, "ConvInteger": 96, "QGemm": 97,
}
OP_NAMES: dict[int, str] = {v: k for k, v in OP_IDS.items()}


def format_tag() -> str:
    """`v<VERSION>-<8 hex of the op table>`: names a cached conversion, so a format change or an op
    renumbering never serves a file converted before it."""
    import hashlib

    ops = ",".join(f"{name}={op}" for name, op in sorted(OP_IDS.items()))
    return f"v{VERSION}-{hashlib.sha256(ops.encode()).hexdigest()[:8]}"

ATTR_INT, ATTR_FLOAT, ATTR_INTS, ATTR_FLOATS = 0, 1, 2, 3

# name -> (key id, type)
ATTRS: dict[str, tuple[int, int]] = {
    "alpha": (1, ATTR_FLOAT), "beta": (2, ATTR_FLOAT), "trans_a": (3, ATTR_INT),
    "trans_b": (4, ATTR_INT), "axis": (5, ATTR_INT), "axes": (6, ATTR_INTS),
    "epsilon": (7, ATTR_FLOAT), "group": (8, ATTR_INT), "kernel_shape": (9, ATTR_INTS),
    "pads": (10, ATTR_INTS), "strides": (11, ATTR_INTS), "dilations": (12, ATTR_INTS),
    "perm": (13, ATTR_INTS), "min": (14, ATTR_FLOAT), "max": (15, ATTR_FLOAT),
    "output_padding": (16, ATTR_INTS), "ceil_mode": (17, ATTR_INT),
    "count_include_pad": (18, ATTR_INT), "approximate": (19, ATTR_INT),
    "coord_mode": (20, ATTR_INT), "nearest_mode": (21, ATTR_INT), "scales": (22, ATTR_FLOATS),
    "starts": (23, ATTR_INTS), "steps": (24, ATTR_INTS), "to": (25, ATTR_INT),
    "select_last_index": (26, ATTR_INT),
}
ATTR_NAMES: dict[int, str] = {key: name for name, (key, _) in ATTRS.items()}

COORD_MODES = {"half_pixel": 0, "asymmetric": 1, "align_corners": 2, "pytorch_half_pixel": 3}
NEAREST_MODES = {"round_prefer_floor": 0, "round_prefer_ceil": 1, "floor": 2, "ceil": 3}
CAST_TARGETS = {"float": 0, "int": 1, "bool": 2}

# Runtime error codes (docs/model-format.md §Errors, minidnn/csrc/ops.h).
ERROR_NAMES: dict[int, str] = {
    1: "BAD_MAGIC", 2: "BAD_VERSION", 3: "TRUNCATED", 4: "BAD_OFFSET", 5: "BAD_ALIGNMENT",
    6: "BAD_TENSOR", 7: "UNKNOWN_OP", 8: "BAD_ARITY", 9: "BAD_ATTRIBUTE", 10: "SHAPE",
    11: "BAD_GRAPH", 12: "ARENA", 13: "INPUT_SIZE", 14: "OUTPUT_SIZE", 15: "INDEX",
    16: "UNSUPPORTED", 17: "BAD_HEADER", 18: "BAD_REQUEST", 19: "BAD_CHECKSUM",
}
ERROR_CODES: dict[str, int] = {v: k for k, v in ERROR_NAMES.items()}


class FormatError(ValueError):
    """A model could not be built or parsed (message says what and how to fix); `.code` is the
    runtime error code when one applies (ERROR_NAMES), else 0."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


def content_hash(blob: bytes) -> bytes:
    """keccak256 of the .mdnn bytes: the model hash registered on-chain."""
    return keccak(bytes(blob))


def checksum(blob: bytes) -> int:
    """CRC-32 (zlib's, as in gzip and PNG) of the model's first `total_length` bytes (the header's
    field, at most the blob's length) without the 4 checksum bytes at CHECKSUM_OFFSET."""
    view = memoryview(blob)
    total = min(len(view), struct.unpack_from("<I", view, 8)[0]) if len(view) >= HEADER_SIZE else len(view)
    return zlib.crc32(view[CHECKSUM_OFFSET + 4:max(total, CHECKSUM_OFFSET + 4)],
                      zlib.crc32(view[:CHECKSUM_OFFSET]))


def seal(blob: bytes) -> bytes:
    """The same bytes with their checksum field set (the writer's last step; after any patch)."""
    out = bytearray(blob)
    if len(out) < HEADER_SIZE:
        raise FormatError(f"model truncated: {len(out)} bytes < {HEADER_SIZE}-byte header")
    struct.pack_into("<I", out, CHECKSUM_OFFSET, checksum(out))
    return bytes(out)


def integrity_error(blob: bytes) -> tuple[int, str] | None:
    """(error code, one-line reason) if `blob` is not an intact .mdnn file of this version, else None.

    Checks what a damaged or foreign file gets wrong first: size, magic, version, `total_length`,
    then the checksum (any flipped byte). The structure itself is validated afterwards by the
    runtime (native) or by read_model."""
    n = len(blob)
    if n < HEADER_SIZE:
        return 3, f"truncated: {n} bytes, shorter than the {HEADER_SIZE}-byte header"
    magic, version, total = struct.unpack_from("<4sII", blob, 0)
    if magic != MAGIC:
        return 1, f"not a .mdnn model (magic {bytes(magic)!r}, expected {MAGIC!r})"
    if version != VERSION:
        old = " (written before models carried a checksum)" if version == 1 else ""
        return 2, (f"format version {version}{old}; this optimist reads version {VERSION}: "
                   "reconvert the model with `optimist convert`")
    if total > n or total < HEADER_SIZE:
        return 3, f"truncated: the header says {total} bytes, the file has {n} (re-download or reconvert it)"
    stored, actual = struct.unpack_from("<I", blob, CHECKSUM_OFFSET)[0], checksum(blob)
    if stored != actual:
        return 19, (f"damaged: checksum mismatch (header {stored:#010x}, content {actual:#010x}); "
                    "re-download or reconvert it")
    return None


def check_integrity(blob: bytes) -> None:
    """FormatError (with `.code`) unless `blob` passes integrity_error."""
    problem = integrity_error(blob)
    if problem is not None:
        raise FormatError(problem[1], problem[0])


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


@dataclass
class Tensor:
    """One tensor table entry."""

    name: str
    shape: tuple[int, ...]
    kind: int = KIND_VALUE
    dtype: int = DTYPE_F32
    data: np.ndarray | None = None

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass
class Node:
    """One graph node: op name, input/output tensor names ("" = absent), attributes."""

    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelGraph:
    """A whole model: tensors by name (table order), nodes in execution order, input/output."""

    tensors: dict[str, Tensor]
    nodes: list[Node]
    input: str
    output: str
    flags: int = 0   # header flags (FLAG_GENERATE)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.tensors[self.input].shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.tensors[self.output].shape


class ModelBuilder:
    """Builds a .mdnn blob: add_input, add_initializer, add_node (shapes inferred), set_output."""

    def __init__(self) -> None:
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.input: str | None = None
        self.output: str | None = None

    def _add(self, tensor: Tensor) -> None:
        if not tensor.name:
            raise FormatError("tensor names must be non-empty")
        if tensor.name in self.tensors:
            raise FormatError(f"tensor {tensor.name!r} defined twice (names must be unique)")
        _check_shape(tensor.name, tensor.shape)
        self.tensors[tensor.name] = tensor

    def add_input(self, name: str, shape: Sequence[int], dtype: int = DTYPE_F32) -> ModelBuilder:
        """Declare the (single) model input: float32, or int32 (DTYPE_I32, e.g. token ids)."""
        if self.input is not None:
            raise FormatError(f"model already has input {self.input!r}; only one is supported")
        if dtype not in (DTYPE_F32, DTYPE_I32):
            raise FormatError(f"input dtype {dtype}: 0 (float32) or 1 (int32)")
        self._add(Tensor(name, tuple(int(d) for d in shape), dtype=dtype))
        self.input = name
        return self

    def add_initializer(self, name: str, array: Any, dtype: int | None = None) -> ModelBuilder:
        """Add a constant tensor (float arrays stored as float32, integer arrays as int32, or as
        `dtype` DTYPE_I8 / DTYPE_U8 for the integer path: values must lie in its range)."""
        arr = np.asarray(array)
        if dtype in (DTYPE_I8, DTYPE_U8):
            lo, hi = _RANGES[dtype]
            if arr.dtype.kind not in "iub" or (arr.size and (arr.min() < lo or arr.max() > hi)):
                raise FormatError(f"initializer {name!r}: {'int8' if dtype == DTYPE_I8 else 'uint8'} "
                                  f"needs integers in [{lo}, {hi}]")
            arr = arr.astype("<i4")
        elif dtype not in (None, DTYPE_F32, DTYPE_I32):
            raise FormatError(f"initializer {name!r}: dtype {dtype} unknown")
        elif arr.dtype.kind in "iub":
            if arr.size and (arr.min() < -(2**31) or arr.max() >= 2**31):
                raise FormatError(f"initializer {name!r}: integer values do not fit int32")
            arr, dtype = arr.astype("<i4"), DTYPE_I32
        elif arr.dtype.kind == "f":
            arr, dtype = arr.astype("<f4"), DTYPE_F32
        else:
            raise FormatError(f"initializer {name!r}: unsupported dtype {arr.dtype}")
        self._add(Tensor(name, tuple(arr.shape), KIND_CONSTANT, dtype, np.ascontiguousarray(arr)))
        return self

    def add_node(self, op: str, inputs: Sequence[str], outputs: Sequence[str],
                 shapes: Sequence[Sequence[int]] | None = None, dtypes: Sequence[int] | None = None,
                 **attrs: Any) -> ModelBuilder:
        """Append a node; output shapes are inferred unless given in `shapes`; output element
        types are float32 unless given in `dtypes` (the integer path's ops, docs/model-format.md)."""
        if op not in OP_IDS:
            raise FormatError(f"unknown op {op!r}; supported: {', '.join(OP_IDS)}")
        for name in inputs:
            if name and name not in self.tensors:
                raise FormatError(f"{op}: input {name!r} is not defined yet (add it first)")
        for key in attrs:
            if key not in ATTRS:
                raise FormatError(f"{op}: unknown attribute {key!r}; known: {', '.join(ATTRS)}")
        node = Node(op, list(inputs), list(outputs), dict(attrs))
        if shapes is None:
            shapes = infer_shapes(node, self.tensors)
        if len(shapes) != len(outputs):
            raise FormatError(f"{op}: {len(outputs)} outputs but {len(shapes)} shapes")
        dtypes = list(dtypes) if dtypes is not None else [DTYPE_F32] * len(outputs)
        if len(dtypes) != len(outputs) or any(d not in DTYPES for d in dtypes):
            raise FormatError(f"{op}: output dtypes {dtypes}: one of {DTYPES} per output")
        for name, shape, dtype in zip(outputs, shapes, dtypes, strict=True):
            self._add(Tensor(name, tuple(int(d) for d in shape), dtype=dtype))
        self.nodes.append(node)
        return self

    def set_output(self, name: str) -> ModelBuilder:
        if name not in self.tensors:
            raise FormatError(f"output {name!r} is not a defined tensor")
        self.output = name
        return self

    def graph(self) -> ModelGraph:
        if self.input is None or self.output is None:
            raise FormatError("a model needs add_input(...) and set_output(...)")
        return ModelGraph(dict(self.tensors), list(self.nodes), self.input, self.output)

    def to_bytes(self) -> bytes:
        return write_model(self.graph())

    def save(self, path: str) -> bytes:
        blob = self.to_bytes()
        with open(path, "wb") as f:
            f.write(blob)
        return blob


def _check_shape(name: str, shape: tuple[int, ...]) -> None:
    if len(shape) > MAX_DIMS:
        raise FormatError(f"tensor {name!r}: rank {len(shape)} > {MAX_DIMS}")
    if any(d < 1 for d in shape):
        raise FormatError(f"tensor {name!r}: dims must be >= 1 (got {shape})")
    if math.prod(shape) > MAX_ELEMENTS:
        raise FormatError(f"tensor {name!r}: {math.prod(shape)} elements > {MAX_ELEMENTS}")


# ---- writer --------------------------------------------------------------------------------

def _encode_attr(name: str, value: Any) -> tuple[int, int, list[int]]:
    key, kind = ATTRS[name]
    if name == "coord_mode" and isinstance(value, str):
        value = COORD_MODES[value]
    if name == "nearest_mode" and isinstance(value, str):
        value = NEAREST_MODES[value]
    if name == "approximate" and isinstance(value, str):
        value = {"none": 0, "tanh": 1}[value]
    if name == "to" and isinstance(value, str):
        value = CAST_TARGETS[value]
    if kind == ATTR_INT:
        return key, kind, [int(value) & 0xFFFF_FFFF]
    if kind == ATTR_FLOAT:
        return key, kind, [_f32_bits(value)]
    values = list(value)
    if len(values) > MAX_LIST:
        raise FormatError(f"attribute {name}: {len(values)} values > {MAX_LIST}")
    if kind == ATTR_INTS:
        return key, kind, [int(v) & 0xFFFF_FFFF for v in values]
    return key, kind, [_f32_bits(v) for v in values]


def _f32_bits(v: float) -> int:
    return struct.unpack("<I", struct.pack("<f", float(v)))[0]


def write_model(graph: ModelGraph) -> bytes:
    """Serialize a ModelGraph to .mdnn bytes (deterministic)."""
    names = list(graph.tensors)
    index = {n: i for i, n in enumerate(names)}
    tensors_off = HEADER_SIZE
    nodes_off = tensors_off + TENSOR_RECORD_SIZE * len(names)
    arrays = bytearray()
    arrays_off = nodes_off + NODE_RECORD_SIZE * len(graph.nodes)

    def put_words(words: Sequence[int]) -> int:
        off = arrays_off + len(arrays)
        arrays.extend(struct.pack(f"<{len(words)}I", *words))
        return off

    node_records = []
    for node in graph.nodes:
        ins = [index[n] if n else ABSENT for n in node.inputs]
        outs = [index[n] for n in node.outputs]
        in_off = put_words(ins) if ins else 0
        out_off = put_words(outs)
        encoded = [_encode_attr(k, v) for k, v in sorted(node.attrs.items(),
                                                         key=lambda kv: ATTRS[kv[0]][0])]
        records = []
        for key, kind, words in encoded:
            if kind in (ATTR_INT, ATTR_FLOAT):
                records.append((key, kind, 1, words[0]))
            else:
                records.append((key, kind, len(words), put_words(words) if words else 0))
        attr_off = put_words([w for r in records for w in r]) if records else 0
        node_records.append(struct.pack("<8I", OP_IDS[node.op], len(ins), in_off, len(outs),
                                        out_off, len(records), attr_off, 0))

    strings = bytearray()
    strings_off = arrays_off + len(arrays)
    name_refs = []
    for n in names:
        raw = n.encode()
        name_refs.append((strings_off + len(strings), len(raw)))
        strings.extend(raw)

    pos = _align(strings_off + len(strings), DATA_ALIGN)
    data_parts: list[tuple[int, bytes]] = []
    tensor_records = []
    for n, (name_off, name_len) in zip(names, name_refs, strict=True):
        t = graph.tensors[n]
        data_off = 0
        if t.kind == KIND_CONSTANT:
            assert t.data is not None
            raw = t.data.astype(_STORED[t.dtype]).tobytes()
            data_off = pos
            data_parts.append((pos, raw))
            pos = _align(pos + len(raw), DATA_ALIGN)
        dims = list(t.shape) + [1] * (MAX_DIMS - len(t.shape))
        tensor_records.append(struct.pack("<12I", t.kind, t.dtype, len(t.shape), *dims,
                                          data_off, name_off, name_len))
    total = _align(max(pos, HEADER_SIZE), DATA_ALIGN)

    out = bytearray(total)
    struct.pack_into("<4s9I", out, 0, MAGIC, VERSION, total, graph.flags, len(names), tensors_off,
                     len(graph.nodes), nodes_off, index[graph.input], index[graph.output])
    out[tensors_off:nodes_off] = b"".join(tensor_records)
    out[nodes_off:arrays_off] = b"".join(node_records)
    out[arrays_off:strings_off] = arrays
    out[strings_off:strings_off + len(strings)] = strings
    for off, raw in data_parts:
        out[off:off + len(raw)] = raw
    return seal(out)


# ---- reader --------------------------------------------------------------------------------

def _decode_attr(kind: int, count: int, value: int, blob: bytes, name: str) -> Any:
    if kind == ATTR_INT:
        return struct.unpack("<i", struct.pack("<I", value))[0]
    if kind == ATTR_FLOAT:
        return struct.unpack("<f", struct.pack("<I", value))[0]
    if count == 0:
        return []
    _need(blob, value, 4 * count, f"attribute {name} list")
    fmt = f"<{count}i" if kind == ATTR_INTS else f"<{count}f"
    return list(struct.unpack_from(fmt, blob, value))


def _need(blob: bytes, off: int, size: int, what: str) -> None:
    if off < 0 or off + size > len(blob):
        raise FormatError(f"{what} at {off}+{size} lies outside the {len(blob)}-byte model")


def read_model(blob: bytes) -> ModelGraph:
    """Parse .mdnn bytes back into a ModelGraph; any malformed or damaged input raises FormatError
    (never another exception). Checks integrity first (check_integrity), then every offset, count,
    index and kind the graph reads; op semantics and shapes are the runtime's to validate."""
    blob = bytes(blob)
    check_integrity(blob)
    _, _, total, flags, n_t, t_off, n_n, n_off, inp, outp = struct.unpack_from("<4s9I", blob, 0)
    blob = blob[:total]
    _need(blob, t_off, TENSOR_RECORD_SIZE * n_t, "tensor table")
    _need(blob, n_off, NODE_RECORD_SIZE * n_n, "node table")
    if inp >= n_t or outp >= n_t:
        raise FormatError("model input/output tensor index out of range")
    tensors: dict[str, Tensor] = {}
    names: list[str] = []
    for i in range(n_t):
        rec = struct.unpack_from("<12I", blob, t_off + TENSOR_RECORD_SIZE * i)
        kind, dtype, ndim = rec[0], rec[1], rec[2]
        if kind not in (KIND_VALUE, KIND_CONSTANT) or dtype not in DTYPES:
            raise FormatError(f"tensor {i}: kind {kind} / dtype {dtype} unknown")
        if ndim > MAX_DIMS:
            raise FormatError(f"tensor {i}: rank {ndim} > {MAX_DIMS}")
        shape = tuple(rec[3:3 + ndim])
        data_off, name_off, name_len = rec[9], rec[10], rec[11]
        _need(blob, name_off, name_len, f"tensor {i} name")
        try:
            name = blob[name_off:name_off + name_len].decode() or f"t{i}"
        except UnicodeDecodeError:
            raise FormatError(f"tensor {i}: its name is not UTF-8 (a damaged file?)") from None
        if name in tensors:
            raise FormatError(f"tensor {i}: name {name!r} used twice")
        data = None
        if kind == KIND_CONSTANT:
            n = math.prod(shape)
            _need(blob, data_off, 4 * n, f"tensor {name!r} data")
            data = np.frombuffer(blob, _STORED[dtype], n, data_off).reshape(shape).copy()
        tensors[name] = Tensor(name, shape, kind, dtype, data)
        names.append(name)

    def tensor_names(off: int, count: int, what: str) -> list[str]:
        _need(blob, off, 4 * count, what)
        indices = struct.unpack_from(f"<{count}I", blob, off)
        if any(j >= n_t and j != ABSENT for j in indices):
            raise FormatError(f"{what}: tensor index out of range (the model has {n_t} tensors)")
        return [names[j] if j != ABSENT else "" for j in indices]

    nodes = []
    for i in range(n_n):
        op, n_in, in_off, n_out, out_off, n_attr, a_off, _ = struct.unpack_from(
            "<8I", blob, n_off + NODE_RECORD_SIZE * i)
        if op not in OP_NAMES:
            raise FormatError(f"node {i}: unknown op id {op}")
        ins = tensor_names(in_off, n_in, f"node {i} inputs")
        outs = tensor_names(out_off, n_out, f"node {i} outputs")
        if not outs or "" in outs:
            raise FormatError(f"node {i}: every node writes at least one tensor")
        _need(blob, a_off, ATTR_RECORD_SIZE * n_attr, f"node {i} attributes")
        attrs = {}
        for k in range(n_attr):
            key, kind, count, value = struct.unpack_from("<4I", blob, a_off + ATTR_RECORD_SIZE * k)
            if key not in ATTR_NAMES or kind > ATTR_FLOATS:
                raise FormatError(f"node {i}: unknown attribute key {key} or type {kind}")
            attrs[ATTR_NAMES[key]] = _decode_attr(kind, count, value, blob, ATTR_NAMES[key])
        nodes.append(Node(OP_NAMES[op], ins, outs, attrs))
    return ModelGraph(tensors, nodes, names[inp], names[outp], flags)


def with_flags(blob: bytes, flags: int) -> bytes:
    """The same model with header flags `flags` (e.g. FLAG_GENERATE, or 0 for the plain forward)."""
    blob = bytes(blob)
    if len(blob) < HEADER_SIZE or blob[:4] != MAGIC:
        raise FormatError("not a .mdnn model")
    return seal(blob[:12] + struct.pack("<I", flags) + blob[16:])


def header_flags(blob: bytes) -> int:
    """The header flags of .mdnn bytes (FormatError if it is not one)."""
    if len(blob) < HEADER_SIZE or bytes(blob[:4]) != MAGIC:
        raise FormatError("not a .mdnn model")
    return int(struct.unpack_from("<I", blob, 12)[0])


# ---- shape inference (ONNX semantics, static shapes) ----------------------------------------

def infer_shapes(node: Node, tensors: dict[str, Tensor]) -> list[tuple[int, ...]]:
    """Output shapes of `node` given its input tensors (FormatError if inconsistent)."""
    shapes = [tensors[n].shape if n else None for n in node.inputs]
    fn = _SHAPE_RULES.get(node.op)
    if fn is None:
        raise FormatError(f"{node.op}: no shape rule; pass shapes=[...] to add_node")
    if not shapes or shapes[0] is None:
        raise FormatError(f"{node.op}: first input is required")
    try:
        return fn(node, shapes, tensors)
    except (IndexError, KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"{node.op}: cannot infer output shape from inputs "
                          f"{shapes} and attributes {node.attrs}: {exc}") from exc


def _same(node: Node, s: list, t: dict) -> list:
    return [s[0]]


def _broadcast(node: Node, s: list, t: dict) -> list:
    return [tuple(np.broadcast_shapes(s[0], s[1]))]


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise FormatError(f"axis {axis} out of range for rank {rank}")
    return axis % rank


def _gemm(node: Node, s: list, t: dict) -> list:
    a, b = s[0], s[1]
    m, k = (a[1], a[0]) if node.attrs.get("trans_a", 0) else a
    k2, n = (b[1], b[0]) if node.attrs.get("trans_b", 0) else b
    if k != k2:
        raise FormatError(f"Gemm: inner dims differ ({k} vs {k2})")
    return [(m, n)]


def _matmul(node: Node, s: list, t: dict) -> list:
    a, b = s[0], s[1]
    out = np.matmul(np.empty(a, np.int8), np.empty(b, np.int8)).shape
    return [tuple(out)]


def _spatial(node: Node, x: tuple, kernel: Sequence[int]) -> tuple[list, list, list]:
    n = len(kernel)
    pads = list(node.attrs.get("pads", [0] * 2 * n))
    strides = list(node.attrs.get("strides", [1] * n))
    dil = list(node.attrs.get("dilations", [1] * n))
    return pads, strides, dil


def _conv(node: Node, s: list, t: dict) -> list:
    x, w = s[0], s[1]
    kernel = node.attrs.get("kernel_shape", w[2:])
    pads, strides, dil = _spatial(node, x, kernel)
    out = [x[0], w[0]]
    for i, k in enumerate(kernel):
        span = dil[i] * (k - 1) + 1
        out.append((x[2 + i] + pads[i] + pads[i + len(kernel)] - span) // strides[i] + 1)
    return [tuple(out)]


def _conv_transpose(node: Node, s: list, t: dict) -> list:
    x, w = s[0], s[1]
    kernel = node.attrs.get("kernel_shape", w[2:])
    pads, strides, dil = _spatial(node, x, kernel)
    opad = node.attrs.get("output_padding", [0] * len(kernel))
    out = [x[0], w[1] * node.attrs.get("group", 1)]
    for i, k in enumerate(kernel):
        out.append(strides[i] * (x[2 + i] - 1) + opad[i] + (k - 1) * dil[i] + 1
                   - pads[i] - pads[i + len(kernel)])
    return [tuple(out)]


def _pool(node: Node, s: list, t: dict) -> list:
    x = s[0]
    kernel = node.attrs["kernel_shape"]
    pads, strides, dil = _spatial(node, x, kernel)
    ceil = node.attrs.get("ceil_mode", 0)
    out = [x[0], x[1]]
    for i, k in enumerate(kernel):
        span = dil[i] * (k - 1) + 1
        num = x[2 + i] + pads[i] + pads[i + len(kernel)] - span
        o = (-(-num // strides[i]) if ceil else num // strides[i]) + 1
        if ceil and (o - 1) * strides[i] >= x[2 + i] + pads[i]:
            o -= 1
        out.append(o)
    return [tuple(out)]


def _global_pool(node: Node, s: list, t: dict) -> list:
    return [tuple(s[0][:2]) + (1,) * (len(s[0]) - 2)]


def _flatten(node: Node, s: list, t: dict) -> list:
    x = s[0]
    axis = node.attrs.get("axis", 1)
    axis = axis + len(x) if axis < 0 else axis
    return [(math.prod(x[:axis]), math.prod(x[axis:]))]


def _transpose(node: Node, s: list, t: dict) -> list:
    x = s[0]
    perm = node.attrs.get("perm", list(range(len(x)))[::-1])
    return [tuple(x[p] for p in perm)]


def _concat(node: Node, s: list, t: dict) -> list:
    axis = _axis(node.attrs["axis"], len(s[0]))
    out = list(s[0])
    out[axis] = sum(x[axis] for x in s)
    return [tuple(out)]


def _squeeze(node: Node, s: list, t: dict) -> list:
    x = s[0]
    axes = node.attrs.get("axes")
    if axes is None:
        return [tuple(d for d in x if d != 1)]
    axes = {_axis(a, len(x)) for a in axes}
    return [tuple(d for i, d in enumerate(x) if i not in axes)]


def _unsqueeze(node: Node, s: list, t: dict) -> list:
    x = list(s[0])
    rank = len(x) + len(node.attrs["axes"])
    axes = sorted(_axis(a, rank) for a in node.attrs["axes"])
    for a in axes:
        x.insert(a, 1)
    return [tuple(x)]


def _gather(node: Node, s: list, t: dict) -> list:
    data, idx = s[0], s[1]
    axis = _axis(node.attrs.get("axis", 0), len(data))
    return [tuple(data[:axis]) + tuple(idx) + tuple(data[axis + 1:])]


def _resize(node: Node, s: list, t: dict) -> list:
    x = s[0]
    scales = node.attrs.get("scales")
    if scales is None:
        raise FormatError("Resize: give scales=[...] or shapes=[...]")
    return [tuple(int(math.floor(d * sc)) for d, sc in zip(x, scales, strict=True))]


def _slice(node: Node, s: list, t: dict) -> list:
    raise FormatError("Slice: pass the output shape as shapes=[(...)]")


def _expand(node: Node, s: list, t: dict) -> list:
    raise FormatError("Expand: pass the output shape as shapes=[(...)]")


def _where(node: Node, s: list, t: dict) -> list:
    return [tuple(np.broadcast_shapes(s[0], s[1], s[2]))]


def _reduce(node: Node, s: list, t: dict) -> list:
    x = s[0]
    axes = {_axis(a, len(x)) for a in node.attrs["axes"]}
    return [tuple(d for i, d in enumerate(x) if i not in axes)]


def _arg(node: Node, s: list, t: dict) -> list:
    x = s[0]
    axis = _axis(node.attrs.get("axis", 0), len(x))
    return [tuple(d for i, d in enumerate(x) if i != axis)]


def _gen_init(node: Node, s: list, t: dict) -> list:
    return [(2 * (math.prod(s[0]) - GEN_HEADER_WORDS) + 8,)]


def _gen_window(node: Node, s: list, t: dict) -> list:
    raise FormatError("GenWindow: pass the window shape as shapes=[(...)]")
def _qlinear_conv(node: Node, s: list, t: dict) -> list:
    return _conv(node, [s[0], s[3]], t)


def _qlinear_matmul(node: Node, s: list, t: dict) -> list:
    return _matmul(node, [s[0], s[3]], t)


def _qgemm(node: Node, s: list, t: dict) -> list:
    return _gemm(node, [s[0], s[3]], t)


def _reshape(node: Node, s: list, t: dict) -> list:
    raise FormatError("Reshape: pass the target shape as shapes=[(...)]")


_SHAPE_RULES = {
    "Identity": _same, "Relu": _same, "LeakyRelu": _same, "Clip": _same, "Sigmoid": _same,
    "Tanh": _same, "Gelu": _same, "Erf": _same, "BatchNormalization": _same,
    "LayerNormalization": _same, "Softmax": _same, "LogSoftmax": _same,
    "Sqrt": _same, "Exp": _same, "Log": _same, "Reciprocal": _same, "Not": _same,
    "Elu": _same, "Softplus": _same, "Sin": _same, "Cos": _same, "Abs": _same, "Floor": _same,
    "Ceil": _same, "Max": _broadcast, "Min": _broadcast, "LessOrEqual": _broadcast,
    "GreaterOrEqual": _broadcast, "And": _broadcast, "Or": _broadcast, "Xor": _broadcast,
    "ArgMax": _arg, "ArgMin": _arg, "Cast": _same, "PRelu": _same,
    "Add": _broadcast, "Sub": _broadcast, "Mul": _broadcast, "Div": _broadcast,
    "Pow": _broadcast, "Equal": _broadcast, "Less": _broadcast, "Greater": _broadcast, "Where": _where,
    "ReduceSum": _reduce, "ReduceMean": _reduce, "ReduceMax": _reduce,
    "Slice": _slice, "Expand": _expand,
    "Gemm": _gemm, "MatMul": _matmul, "Conv": _conv, "ConvTranspose": _conv_transpose,
    "MaxPool": _pool, "AveragePool": _pool, "GlobalAveragePool": _global_pool,
    "Flatten": _flatten, "Transpose": _transpose, "Concat": _concat, "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze, "Gather": _gather, "Resize": _resize, "Reshape": _reshape,
    "GenInit": _gen_init, "GenWindow": _gen_window, "GenSelect": lambda node, s, t: [tuple(s[1])],
    "QuantizeLinear": _same, "DequantizeLinear": _same, "QLinearMatMul": _qlinear_matmul,
    "MatMulInteger": _matmul, "QLinearConv": _qlinear_conv, "ConvInteger": _conv, "QGemm": _qgemm,
}
