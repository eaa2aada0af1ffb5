"""Load an ONNX model into the converter's graph: checks, static shapes, constant folding."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from converter.errors import (
    DtypeError,
    DynamicShapeError,
    InputShapeError,
    InvalidModelError,
    OpsetError,
    UnsupportedOpError,
)
from converter.graph import Graph, Node

MIN_OPSET = 7
MAX_OPSET = onnx.defs.onnx_opset_version()
FOLD_ROUNDS = 8
# Ops never folded even when their inputs are constant (random or side-effect-like).
NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
           "Bernoulli", "Dropout",
           # kept as nodes: converter.ops_quant folds them into integer kernels (and quantizes
           # constants itself with onnxruntime's rounding)
           "QuantizeLinear", "DequantizeLinear"}
SUBGRAPH_OPS = {"If", "Loop", "Scan"}
# Element types a model input may have: float32, or integers (token ids, stored as int32).
INPUT_TYPES = {TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32, TensorProto.BOOL}


def load_model(source: str | Path | bytes | onnx.ModelProto) -> onnx.ModelProto:
    """Parse and check an ONNX model; InvalidModelError if truncated, corrupt or ill-formed."""
    if isinstance(source, onnx.ModelProto):
        model = source
    else:
        data = source if isinstance(source, bytes) else _read(Path(source))
        where = "model bytes" if isinstance(source, bytes) else str(source)
        try:
            model = onnx.load_from_string(data)
            if not isinstance(source, bytes):
                onnx.external_data_helper.load_external_data_for_model(model, str(Path(source).parent))
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise InvalidModelError(f"{where}: not a valid ONNX file (truncated or corrupt: {exc})") from exc
        except (OSError, onnx.checker.ValidationError) as exc:
            raise InvalidModelError(f"{where}: cannot read its external data ({exc})") from exc
        if not model.graph.node and not model.graph.output:
            raise InvalidModelError(f"{where}: not an ONNX model (no graph); is the file truncated?")
    for tensor in model.graph.initializer:
        to_array(tensor) if tensor.data_location == TensorProto.EXTERNAL else None
    _check_opset(model)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0]
        raise InvalidModelError(f"ONNX checker rejected the model: {first}") from exc
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    return model


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidModelError(f"{path}: cannot read ({exc.strerror})") from exc


def opset_of(model: onnx.ModelProto) -> int:
    """The default-domain ('' / ai.onnx) opset version the model imports."""
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    raise OpsetError("model imports no default-domain (ai.onnx) opset")


def _check_opset(model: onnx.ModelProto) -> None:
    version = opset_of(model)
    if not MIN_OPSET <= version <= MAX_OPSET:
        raise OpsetError(
            f"opset {version} is outside the supported range {MIN_OPSET}..{MAX_OPSET}; "
            "re-export the model with a supported opset"
        )


def parse_shape_spec(spec: str) -> tuple[str | None, tuple[int, ...]]:
    """'name=1x1x28x28' or '1x1x28x28' -> (name or None, dims)."""
    name, _, dims = spec.rpartition("=")
    try:
        shape = tuple(int(d) for d in dims.lower().split("x"))
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise InputShapeError(f"bad shape '{spec}': expected [name=]DxDx...D with positive integers, e.g. input=1x1x28x28")
    return (name or None), shape


def runtime_inputs(model: onnx.ModelProto, bound: Mapping[str, np.ndarray]) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are neither initializers nor bound to constants."""
    inits = {t.name for t in model.graph.initializer} | set(bound)
    return [vi for vi in model.graph.input if vi.name not in inits]


def resolve_input_shape(vi: onnx.ValueInfoProto, override: tuple[int, ...] | None) -> tuple[int, ...]:
    """The input's static shape: the override (checked against the declared rank/dims) or the declared one."""
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type"):
        raise DtypeError(f"input '{vi.name}' is not a tensor (sequence/map inputs are not supported)")
    if tt.elem_type not in INPUT_TYPES:
        kind = TensorProto.DataType.Name(tt.elem_type)
        raise DtypeError(f"input '{vi.name}' is {kind}; minidnn models take one float32 input "
                         "or one integer input (int32/int64 token ids, or bool)")
    declared = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim] \
        if tt.HasField("shape") else None
    if override is not None:
        if declared is not None and len(declared) != len(override):
            raise InputShapeError(f"input '{vi.name}' has rank {len(declared)}, --input-shape gives {len(override)} dims")
        for i, (want, got) in enumerate(zip(declared or [], override, strict=False)):
            if want not in (None, 0) and want != got:
                raise InputShapeError(f"input '{vi.name}' dim {i} is fixed to {want}, --input-shape gives {got}")
        return override
    if declared is None or any(d in (None, 0) for d in declared):
        dims = "x".join("?" if d in (None, 0) else str(d) for d in declared or [])
        raise DynamicShapeError(
            f"input '{vi.name}' has a dynamic shape [{dims or 'unknown rank'}]; give it with "
            f"--input-shape {vi.name}=" + "x".join("1" if d in (None, 0) else str(d) for d in declared or [1])
        )
    return tuple(declared)


def to_array(tensor: TensorProto) -> np.ndarray:
    """numpy array of a TensorProto (external data is not supported)."""
    if tensor.data_location == TensorProto.EXTERNAL:
        raise InvalidModelError(f"tensor '{tensor.name}' keeps its data in an external file; "
                                "save the model with all tensors inside (onnx.save(..., save_as_external_data=False))")
    return numpy_helper.to_array(tensor)


def keep_output(model: onnx.ModelProto, name: str) -> onnx.ModelProto:
    """The model with graph output `name` only and the nodes it needs (dead branches pruned)."""
    g = model.graph
    outputs = [o.name for o in g.output]
    if name not in outputs:
        raise InputShapeError(f"--output-name '{name}' is not a graph output; the outputs are: {', '.join(outputs)}")
    zipmap = next((n for n in g.node if n.op_type == "ZipMap" and n.domain == "ai.onnx.ml" and name in n.output), None)
    target = zipmap.input[0] if zipmap is not None else name  # ZipMap dropped: its input tensor is the output
    needed, kept = {target}, []
    for node in reversed(g.node):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    pruned = onnx.ModelProto()
    pruned.CopyFrom(model)
    pg = pruned.graph
    del pg.node[:]
    pg.node.extend(reversed(kept))
    keep = [o for o in pg.output if o.name == name] if zipmap is None else [_zipmap_input_info(zipmap, g)]
    del pg.output[:]
    pg.output.extend(keep)
    inputs = [i for i in pg.input if i.name in needed]
    del pg.input[:]
    pg.input.extend(inputs)
    inits = [t for t in pg.initializer if t.name in needed]
    del pg.initializer[:]
    pg.initializer.extend(inits)
    return pruned


def _zipmap_input_info(zipmap: onnx.NodeProto, g: onnx.GraphProto) -> onnx.ValueInfoProto:
    """The value info of ZipMap's input: [batch, classes] float (batch left symbolic)."""
    known = next((v for v in g.value_info if v.name == zipmap.input[0]), None)
    if known is not None:
        return known
    attrs = {a.name: helper.get_attribute_value(a) for a in zipmap.attribute}
    classes = len(attrs.get("classlabels_int64s") or attrs.get("classlabels_strings") or [])
    return helper.make_tensor_value_info(zipmap.input[0], TensorProto.FLOAT, [None, classes or None])


def freeze(model: onnx.ModelProto, input_shape: tuple[int, ...] | None = None,
           bind: Mapping[str, np.ndarray] | None = None, output: str | None = None) -> tuple[onnx.ModelProto, str]:
    """Keep `output` only (if given), fix the single runtime input's shape, turn bound inputs into initializers."""
    if output is not None:
        model = keep_output(model, output)
    bound = {k: v for k, v in (bind or {}).items() if output is None or k in {i.name for i in model.graph.input}}
    inputs = runtime_inputs(model, bound)
    if len(inputs) != 1:
        names = ", ".join(vi.name for vi in inputs) or "none"
        raise UnsupportedOpError("<graph>", "inputs", f"minidnn models take exactly one input; this graph has {len(inputs)} ({names})")
    vi = inputs[0]
    shape = resolve_input_shape(vi, input_shape)
    if any(d <= 0 for d in shape):
        raise InputShapeError(f"input '{vi.name}' shape {list(shape)}: every dim must be >= 1 (no empty tensors)")
    frozen = onnx.ModelProto()
    frozen.CopyFrom(model)
    g = frozen.graph
    keep = [i for i in g.input if i.name not in bound]
    del g.input[:]
    for i in keep:
        if i.name == vi.name:
            i = helper.make_tensor_value_info(vi.name, vi.type.tensor_type.elem_type, list(shape))
        g.input.append(i)
    for name, value in bound.items():
        g.initializer.append(numpy_helper.from_array(np.asarray(value), name))
    return frozen, vi.name


def infer(model: onnx.ModelProto) -> onnx.ModelProto:
    """ONNX shape inference with data propagation (plus the ai.onnx.ml shapes it leaves out);
    InvalidModelError if inconsistent."""
    for _ in range(len(model.graph.node) + 1):
        try:
            model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
        except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise InvalidModelError(f"shape inference failed: {first}") from exc
        if not _add_ml_shapes(model):
            return model
    return model


def _add_ml_shapes(model: onnx.ModelProto) -> bool:
    """Static output shapes of ai.onnx.ml nodes whose input shape is known (onnx infers none for
    Scaler, Normalizer, LinearRegressor and LinearClassifier); True if any was added."""
    shapes = static_shapes(model)
    added = False
    for node in model.graph.node:
        if node.domain != "ai.onnx.ml" or not node.input or node.input[0] not in shapes:
            continue
        x = shapes[node.input[0]]
        rows = x[0] if len(x) == 2 else 1
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        outs: list[tuple[int, tuple[int, ...]]] = []
        if node.op_type in ("Scaler", "Normalizer"):
            outs = [(TensorProto.FLOAT, x)]
        elif node.op_type == "LinearRegressor":
            outs = [(TensorProto.FLOAT, (rows, int(attrs.get("targets", 1))))]
        elif node.op_type == "LinearClassifier":
            labels = attrs.get("classlabels_ints") or attrs.get("classlabels_strings") or []
            classes = len(attrs.get("intercepts") or labels)
            classes = 2 if classes == 1 and len(labels) == 2 else classes
            label_type = TensorProto.INT64 if attrs.get("classlabels_ints") else TensorProto.STRING
            outs = [(label_type, (rows,)), (TensorProto.FLOAT, (rows, classes))]
        for name, (elem, shape) in zip(node.output, outs, strict=False):
            if name and name not in shapes:
                model.graph.value_info.append(helper.make_tensor_value_info(name, elem, list(shape)))
                shapes[name] = shape
                added = True
    return added


def static_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Tensor name -> static shape, for every value whose shape inference found all dims."""
    out: dict[str, tuple[int, ...]] = {}
    g = model.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            out[vi.name] = tuple(d.dim_value for d in tt.shape.dim)
    return out


def elem_types(model: onnx.ModelProto) -> dict[str, int]:
    """Tensor name -> ONNX element type, where known."""
    g = model.graph
    types = {vi.name: vi.type.tensor_type.elem_type for vi in list(g.input) + list(g.value_info) + list(g.output)}
    types.update({t.name: t.data_type for t in g.initializer})
    return types


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    """Evaluate nodes whose inputs are all constant (and Shape/Size of static tensors) until stable."""
    for _ in range(FOLD_ROUNDS):
        model = infer(model)
        consts = {t.name: to_array(t) for t in model.graph.initializer}
        shapes = static_shapes(model)
        kept, folded = [], False
        for node in model.graph.node:
            values = _try_fold(node, consts, shapes, opset_of(model))
            if values is None:
                kept.append(node)
                continue
            folded = True
            for name, value in zip(node.output, values, strict=False):
                if name:
                    consts[name] = value
        if not folded:
            return model
        model = _rebuild(model, kept, consts)
    return infer(model)


def _try_fold(node: onnx.NodeProto, consts: dict[str, np.ndarray],
              shapes: dict[str, tuple[int, ...]], opset: int) -> list[np.ndarray] | None:
    if node.domain not in ("", "ai.onnx") or node.op_type in NO_FOLD | SUBGRAPH_OPS:
        return None
    if node.op_type == "Constant":
        return [_constant_value(node)]
    if node.op_type in ("Shape", "Size") and node.input[0] in shapes:
        return [_shape_value(node, shapes[node.input[0]])]
    if not node.input or not all(i == "" or i in consts for i in node.input):
        return None
    feeds = {i: consts[i] for i in node.input if i}
    graph = helper.make_graph(
        [node], "fold",
        [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for i, v in feeds.items()],
        [helper.make_empty_tensor_value_info(o) for o in node.output if o],
    )
    mini = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    try:
        results = ReferenceEvaluator(mini).run(None, feeds)
    except Exception:  # leave the node for the op mapper to judge
        return None
    return [np.asarray(r) for r in results]


def _constant_value(node: onnx.NodeProto) -> np.ndarray:
    attr = node.attribute[0]
    if attr.name == "value":
        return to_array(attr.t)
    if attr.name in ("value_float", "value_int"):
        return np.array(helper.get_attribute_value(attr), dtype=np.float32 if attr.name == "value_float" else np.int64)
    if attr.name in ("value_floats", "value_ints"):
        return np.array(helper.get_attribute_value(attr), dtype=np.float32 if attr.name == "value_floats" else np.int64)
    raise UnsupportedOpError(node.name, "Constant", f"attribute '{attr.name}' (sparse/string constants) is not supported")


def _shape_value(node: onnx.NodeProto, shape: tuple[int, ...]) -> np.ndarray:
    if node.op_type == "Size":
        return np.array(int(np.prod(shape)), dtype=np.int64)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    rank = len(shape)
    start, end = attrs.get("start", 0), attrs.get("end", rank)
    return np.array(shape[slice(start, end)], dtype=np.int64)


def _rebuild(model: onnx.ModelProto, nodes: list[onnx.NodeProto], consts: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The same model with `nodes` only and every still-used constant as an initializer."""
    used = {i for n in nodes for i in n.input} | {o.name for o in model.graph.output}
    g = model.graph
    graph = helper.make_graph(
        nodes, g.name, list(g.input), list(g.output),
        [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items() if k in used],
    )
    out = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    return out


def import_graph(model: onnx.ModelProto, input_shape: tuple[int, ...] | None = None,
                 bind: Mapping[str, np.ndarray] | None = None,
                 output: str | None = None) -> tuple[Graph, dict[str, int]]:
    """Frozen, folded, shape-inferred ONNX -> raw Graph (ONNX ops, opset-specific attributes)."""
    frozen, input_name = freeze(model, input_shape, bind, output)
    folded = fold_constants(frozen)
    g = folded.graph
    if len(g.output) != 1:
        names = ", ".join(o.name for o in g.output)
        raise UnsupportedOpError("<graph>", "outputs", f"minidnn models have exactly one output; this graph has "
                                 f"{len(g.output)} ({names}): keep one with --output-name NAME")
    consts = {t.name: to_array(t) for t in g.initializer}
    nodes = []
    for i, n in enumerate(g.node):
        name = n.name or f"{n.op_type}_{i}"
        attrs = {a.name: _attr(a) for a in n.attribute if a.type != onnx.AttributeProto.GRAPH}
        nodes.append(Node(name, n.op_type, list(n.input), list(n.output), attrs, n.op_type, n.domain))
    types = elem_types(folded)
    graph = Graph(g.name or "model", input_name, g.output[0].name, static_shapes(folded), consts,
                  nodes, opset_of(folded), types)
    return graph, types


def _attr(a: onnx.AttributeProto) -> object:
    value = helper.get_attribute_value(a)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode() for v in value]
    if isinstance(value, TensorProto):
        return to_array(value)
    return value
