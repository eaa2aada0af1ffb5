"""A float64 numpy interpreter of the canonical graph: checks canonicalisation independently of minidnn."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import erf

from converter.graph import Graph, Node


def run_reference(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Evaluate `graph` on input `x` in float64; returns the output as float32."""
    env: dict[str, np.ndarray] = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in graph.consts.items()}
    env[graph.input] = np.asarray(x, dtype=np.int64 if graph.int_input else np.float64).reshape(graph.shape(graph.input))
    for node in graph.nodes:
        args = [env[i] if i else None for i in node.inputs]
        if node.op == "Resize":
            env[node.outputs[0]] = _resize(node, args[0], graph.shape(node.outputs[0]))
        elif node.op in ("Slice", "Expand", "Reshape"):
            out = graph.shape(node.outputs[0])
            x = args[0]
            env[node.outputs[0]] = _slice(node, x, out) if node.op == "Slice" else \
                np.broadcast_to(x, out).copy() if node.op == "Expand" else x.reshape(out)
        else:
            value = np.asarray(KERNELS[node.op](node, *args))
            out = graph.shape(node.outputs[0])
            env[node.outputs[0]] = value.reshape(out) if value.size == int(np.prod(out)) else value
    return env[graph.output].astype(np.float32)


def _conv(node: Node, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    (pt, pl, pb, pr), (sh, sw), (dh, dw), group = node.attrs["pads"], node.attrs["strides"], node.attrs["dilations"], node.attrs["group"]
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    oh, ow = (h - (kh - 1) * dh - 1) // sh + 1, (wd - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((n, m, oh, ow))
    mg = m // group
    for g in range(group):
        xs = x[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
                out[:, g * mg:(g + 1) * mg] += np.einsum("nchw,mc->nmhw", patch, w[g * mg:(g + 1) * mg, :, i, j])
    return out + (b.reshape(1, -1, 1, 1) if b is not None else 0)


def _conv_transpose(node: Node, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    (pt, pl, pb, pr), (sh, sw), (dh, dw) = node.attrs["pads"], node.attrs["strides"], node.attrs["dilations"]
    oph, opw = node.attrs["output_padding"]
    group = node.attrs["group"]
    n, c, h, wd = x.shape
    _, mg, kh, kw = w.shape
    full = np.zeros((n, mg * group, sh * (h - 1) + (kh - 1) * dh + 1 + oph, sw * (wd - 1) + (kw - 1) * dw + 1 + opw))
    cg = c // group
    for g in range(group):
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,cm->nmhw", x[:, g * cg:(g + 1) * cg], w[g * cg:(g + 1) * cg, :, i, j])
                full[:, g * mg:(g + 1) * mg, i * dh:i * dh + sh * (h - 1) + 1:sh, j * dw:j * dw + sw * (wd - 1) + 1:sw] += contrib
    out = full[:, :, pt:full.shape[2] - pb, pl:full.shape[3] - pr]
    return out + (b.reshape(1, -1, 1, 1) if b is not None else 0)


def _pool(node: Node, x: np.ndarray) -> np.ndarray:
    (kh, kw), (pt, pl, pb, pr), (sh, sw) = node.attrs["kernel"], node.attrs["pads"], node.attrs["strides"]
    dh, dw = node.attrs.get("dilations", (1, 1))
    is_max = node.op == "MaxPool"
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf if is_max else 0.0)
    ones = np.pad(np.ones(x.shape[2:]), ((pt, pb), (pl, pr)))
    if node.attrs.get("count_include_pad"):
        ones = np.pad(np.ones((x.shape[2] + pt + pb, x.shape[3] + pl + pr)), 0)
    h, w = xp.shape[2:]
    oh, ow = (h - (kh - 1) * dh - 1) // sh + 1, (w - (kw - 1) * dw - 1) // sw + 1
    windows = [xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
               for i in range(kh) for j in range(kw)]
    if is_max:
        return np.max(windows, axis=0)
    counts = sum(ones[i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] for i in range(kh) for j in range(kw))
    return np.sum(windows, axis=0) / counts


def _gemm(node: Node, a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None) -> np.ndarray:
    a = a.T if node.attrs.get("transA") else a
    b = b.T if node.attrs.get("transB") else b
    return node.attrs.get("alpha", 1.0) * (a @ b) + node.attrs.get("beta", 1.0) * (c if c is not None else 0)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _batch_norm(node: Node, x: np.ndarray, scale: np.ndarray, b: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    shape = (1, -1) + (1,) * (x.ndim - 2)
    eps = float(np.float32(node.attrs["epsilon"]))
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * scale.reshape(shape) + b.reshape(shape)


def _layer_norm(node: Node, x: np.ndarray, scale: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    axes = tuple(range(node.attrs["axis"], x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + node.attrs["epsilon"]) * scale + (b if b is not None else 0)


def _gelu(node: Node, x: np.ndarray) -> np.ndarray:
    if node.attrs["approximate"] == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def _resize(node: Node, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    from converter.ops import nearest_map

    out = x
    for axis in (2, 3):
        size, n_out = x.shape[axis], shape[axis]
        idx = nearest_map(size, n_out, node.attrs["scales"][axis], node.attrs["coordinate_transformation_mode"],
                          node.attrs["nearest_mode"], node)
        out = np.take(out, idx, axis=axis)
    return out


def _slice(node: Node, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    index = [b + s * np.arange(n) for b, s, n in zip(node.attrs["starts"], node.attrs["steps"], shape, strict=True)]
    return x[np.ix_(*index)]


def _pow(node: Node, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.power(x, e)


def _cast(node: Node, x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    if node.attrs["to"] == "int":
        return np.trunc(x)
    if node.attrs["to"] == "bool":
        return (x != 0).astype(np.float64)
    return x


def _arg(node: Node, x: np.ndarray, fn: Callable[..., np.ndarray]) -> np.ndarray:
    axis = node.attrs["axis"]
    if node.attrs.get("select_last_index"):
        flipped = np.flip(x, axis)
        return (x.shape[axis] - 1 - fn(flipped, axis=axis)).astype(np.float64)
    return fn(x, axis=axis).astype(np.float64)


def _reduce(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def run(node: Node, x: np.ndarray) -> np.ndarray:
        return fn(x, axis=tuple(node.attrs["axes"]))
    return run


KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "Gemm": _gemm,
    "MatMul": lambda n, a, b: a @ b,
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": lambda n, x: x.mean(axis=(2, 3), keepdims=True),
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
    "Relu": lambda n, x: np.maximum(x, 0),
    "LeakyRelu": lambda n, x: np.where(x >= 0, x, x * n.attrs["alpha"]),
    "Clip": lambda n, x: np.minimum(np.maximum(x, n.attrs["min"]), n.attrs["max"]),
    "Sigmoid": lambda n, x: 1 / (1 + np.exp(-x)),
    "Tanh": lambda n, x: np.tanh(x),
    "Gelu": _gelu,
    "Erf": lambda n, x: erf(x),
    "Add": lambda n, a, b: a + b,
    "Sub": lambda n, a, b: a - b,
    "Mul": lambda n, a, b: a * b,
    "Div": lambda n, a, b: a / b,
    "Softmax": lambda n, x: _softmax(x, n.attrs["axis"]),
    "LogSoftmax": lambda n, x: np.log(_softmax(x, n.attrs["axis"])),
    "Reshape": lambda n, x: x.reshape(n.attrs["shape"]),
    "Transpose": lambda n, x: x.transpose(n.attrs["perm"]),
    "Concat": lambda n, *xs: np.concatenate(xs, axis=n.attrs["axis"]),
    "Gather": lambda n, x, idx: np.take(x, np.asarray(idx).astype(np.int64), axis=n.attrs["axis"]),
    "Identity": lambda n, x: x,
    "Pow": _pow,
    "Sqrt": lambda n, x: np.sqrt(x),
    "Exp": lambda n, x: np.exp(x),
    "Log": lambda n, x: np.log(x),
    "Reciprocal": lambda n, x: 1 / x,
    "Softplus": lambda n, x: np.logaddexp(0, x),
    "Sin": lambda n, x: np.sin(x),
    "Abs": lambda n, x: np.abs(x),
    "Floor": lambda n, x: np.floor(x),
    "Ceil": lambda n, x: np.ceil(x),
    "Max": lambda n, a, b: np.maximum(a, b),
    "Min": lambda n, a, b: np.minimum(a, b),
    "LessOrEqual": lambda n, a, b: (a <= b).astype(np.float64),
    "GreaterOrEqual": lambda n, a, b: (a >= b).astype(np.float64),
    "And": lambda n, a, b: ((a != 0) & (b != 0)).astype(np.float64),
    "Or": lambda n, a, b: ((a != 0) | (b != 0)).astype(np.float64),
    "Xor": lambda n, a, b: ((a != 0) ^ (b != 0)).astype(np.float64),
    "ArgMax": lambda n, x: _arg(n, x, np.argmax),
    "ArgMin": lambda n, x: _arg(n, x, np.argmin),
    "Cos": lambda n, x: np.cos(x),
    "Elu": lambda n, x: np.where(x < 0, n.attrs["alpha"] * np.expm1(np.minimum(x, 0)), x),
    "PRelu": lambda n, x, s: np.where(x < 0, s * x, x),
    "Not": lambda n, x: (x == 0).astype(np.float64),
    "Equal": lambda n, a, b: (a == b).astype(np.float64),
    "Less": lambda n, a, b: (a < b).astype(np.float64),
    "Greater": lambda n, a, b: (a > b).astype(np.float64),
    "Where": lambda n, c, a, b: np.where(c != 0, a, b),
    "Cast": _cast,
    "ReduceSum": _reduce(np.sum),
    "ReduceMean": _reduce(np.mean),
    "ReduceMax": _reduce(np.max),
}
