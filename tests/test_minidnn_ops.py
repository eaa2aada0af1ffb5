"""The core engineer's kernels (dense, conv/pool, shape): native output close to a float64 numpy
reference, and native bytes == VM bytes (reference stepper) on small shapes.

Tolerance: every float op rounds to float32 (relative error <= 2^-24 per op), sums run
sequentially, so a length-K dot product is within about K * 2^-23 * sum|a_k b_k| of the exact
value; we check |native - ref| <= 1e-5 * (1 + |ref|-scale of the products) via rtol/atol below.
Data movement ops must be exact.
"""

import numpy as np
import pytest

import minidnn
from minidnn.format import ModelBuilder
from minidnn.image import run_vm

RNG = np.random.default_rng(1234)


def rnd(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def conv_ref(x, w, b, pads=(0, 0, 0, 0), strides=(1, 1), dil=(1, 1), group=1):
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    n, c, h, wd = x.shape
    oc, icg, kh, kw = w.shape
    xp = np.zeros((n, c, h + pads[0] + pads[2], wd + pads[1] + pads[3]))
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + wd] = x
    oh = (xp.shape[2] - (dil[0] * (kh - 1) + 1)) // strides[0] + 1
    ow = (xp.shape[3] - (dil[1] * (kw - 1) + 1)) // strides[1] + 1
    y = np.zeros((n, oc, oh, ow))
    ocg = oc // group
    for o in range(oc):
        g = o // ocg
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * icg:(g + 1) * icg,
                           i * strides[0]:i * strides[0] + dil[0] * (kh - 1) + 1:dil[0],
                           j * strides[1]:j * strides[1] + dil[1] * (kw - 1) + 1:dil[1]]
                y[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3))
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv_transpose_ref(x, w, b, pads=(0, 0, 0, 0), strides=(1, 1), dil=(1, 1), group=1, opad=(0, 0)):
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    n, c, h, wd = x.shape
    _, ocg, kh, kw = w.shape
    fh = strides[0] * (h - 1) + opad[0] + (kh - 1) * dil[0] + 1
    fw = strides[1] * (wd - 1) + opad[1] + (kw - 1) * dil[1] + 1
    full = np.zeros((n, ocg * group, fh, fw))
    icg = c // group
    for ci in range(c):
        g = ci // icg
        for i in range(h):
            for j in range(wd):
                for ki in range(kh):
                    for kj in range(kw):
                        full[:, g * ocg:(g + 1) * ocg, i * strides[0] + ki * dil[0],
                             j * strides[1] + kj * dil[1]] += x[:, ci, i, j][:, None] * w[ci, :, ki, kj]
    y = full[:, :, pads[0]:fh - pads[2], pads[1]:fw - pads[3]]
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y


def pool_ref(x, kernel, pads, strides, kind, include_pad=0, ceil=0, dil=(1, 1)):
    x = x.astype(np.float64)
    n, c, h, w = x.shape
    out = []
    for dim, (k, p0, p1, s, d) in enumerate(zip(kernel, pads[:2], pads[2:], strides, dil, strict=True)):
        size = (h, w)[dim]
        num = size + p0 + p1 - (d * (k - 1) + 1)
        o = (-(-num // s) if ceil else num // s) + 1
        if ceil and (o - 1) * s >= size + p0:
            o -= 1
        out.append(o)
    y = np.zeros((n, c, *out))
    for i in range(out[0]):
        for j in range(out[1]):
            vals, padded = [], 0
            for ki in range(kernel[0]):
                for kj in range(kernel[1]):
                    r = i * strides[0] + ki * dil[0] - pads[0]
                    q = j * strides[1] + kj * dil[1] - pads[1]
                    if r >= h + pads[2] or q >= w + pads[3]:
                        continue
                    padded += 1
                    if 0 <= r < h and 0 <= q < w:
                        vals.append(x[:, :, r, q])
            v = np.stack(vals)
            y[:, :, i, j] = v.max(0) if kind == "max" else v.sum(0) / (padded if include_pad else len(vals))
    return y


def _build(x_shape, consts, op, inputs, **attrs):
    b = ModelBuilder().add_input("x", x_shape)
    for name, arr in consts.items():
        b.add_initializer(name, arr)
    shapes = attrs.pop("shapes", None)
    b.add_node(op, inputs, ["y"], shapes=shapes, **attrs)
    return b.set_output("y").to_bytes()


def _check(blob, x, ref, exact=False, rtol=1e-5, atol=1e-5):
    native = minidnn.infer(blob, x)
    assert native.shape == ref.shape
    if exact:
        assert native.tobytes() == np.asarray(ref, np.float32).tobytes()
    else:
        np.testing.assert_allclose(native, ref, rtol=rtol, atol=atol)
    vm = run_vm(blob, x, engine="stepper")
    assert vm.exit_code == 0
    assert vm.output.tobytes() == native.tobytes()
    return native


@pytest.mark.parametrize("ta, tb, alpha, beta, c_shape", [
    (0, 0, 1.0, 1.0, (5,)), (1, 0, 0.5, 1.0, (3, 5)), (0, 1, 1.0, 2.0, (3, 1)),
    (1, 1, -1.5, 0.25, ()), (0, 1, 1.0, 1.0, None)])
def test_gemm(ta, tb, alpha, beta, c_shape):
    a, bm = rnd(3, 4), rnd(4, 5)
    x = a.T.copy() if ta else a
    w = bm.T.copy() if tb else bm
    consts = {"w": w}
    inputs = ["x", "w"]
    ref = alpha * (a.astype(np.float64) @ bm.astype(np.float64))
    if c_shape is not None:
        c = rnd(*c_shape)
        consts["c"] = c
        inputs.append("c")
        ref = ref + beta * c.astype(np.float64)
    blob = _build(x.shape, consts, "Gemm", inputs, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta)
    _check(blob, x, ref)


@pytest.mark.parametrize("xs, ws", [((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2)),
                                    ((4,), (4, 3)), ((2, 3, 4), (4,))])
def test_matmul(xs, ws):
    x, w = rnd(*xs), rnd(*ws)
    blob = _build(xs, {"w": w}, "MatMul", ["x", "w"])
    _check(blob, x, np.matmul(x.astype(np.float64), w.astype(np.float64)))


@pytest.mark.parametrize("xs, ws, pads, strides, dil, group, bias", [
    ((1, 1, 5, 5), (2, 1, 3, 3), (0, 0, 0, 0), (1, 1), (1, 1), 1, True),
    ((2, 3, 6, 5), (4, 3, 3, 2), (1, 0, 2, 1), (2, 1), (1, 1), 1, False),
    ((1, 4, 7, 7), (4, 2, 3, 3), (1, 1, 1, 1), (2, 2), (2, 1), 2, True),
    ((1, 3, 5, 5), (3, 1, 3, 3), (1, 1, 1, 1), (1, 1), (1, 1), 3, True)])
def test_conv(xs, ws, pads, strides, dil, group, bias):
    x, w = rnd(*xs), rnd(*ws)
    b = rnd(ws[0]) if bias else None
    consts = {"w": w, **({"b": b} if bias else {})}
    blob = _build(xs, consts, "Conv", ["x", "w", "b"] if bias else ["x", "w"], pads=list(pads),
                  strides=list(strides), dilations=list(dil), group=group)
    _check(blob, x, conv_ref(x, w, b, pads, strides, dil, group))


@pytest.mark.parametrize("xs, ws, pads, strides, dil, group, opad", [
    ((1, 2, 3, 3), (2, 3, 3, 3), (0, 0, 0, 0), (1, 1), (1, 1), 1, (0, 0)),
    ((1, 4, 2, 2), (4, 2, 4, 4), (1, 1, 1, 1), (2, 2), (1, 1), 1, (0, 0)),
    ((2, 4, 3, 2), (4, 1, 3, 2), (1, 0, 0, 1), (2, 3), (1, 2), 2, (1, 1))])
def test_conv_transpose(xs, ws, pads, strides, dil, group, opad):
    x, w, b = rnd(*xs), rnd(*ws), rnd(ws[1] * group)
    blob = _build(xs, {"w": w, "b": b}, "ConvTranspose", ["x", "w", "b"], pads=list(pads),
                  strides=list(strides), dilations=list(dil), group=group, output_padding=list(opad))
    _check(blob, x, conv_transpose_ref(x, w, b, pads, strides, dil, group, opad))


@pytest.mark.parametrize("kind, kernel, pads, strides, include_pad, ceil", [
    ("max", (2, 2), (0, 0, 0, 0), (2, 2), 0, 0), ("max", (3, 3), (1, 1, 1, 1), (2, 2), 0, 1),
    ("avg", (2, 2), (0, 0, 0, 0), (2, 2), 0, 0), ("avg", (3, 2), (1, 0, 1, 1), (1, 2), 1, 0),
    ("avg", (3, 3), (1, 1, 1, 1), (2, 2), 0, 1)])
def test_pool(kind, kernel, pads, strides, include_pad, ceil):
    x = rnd(2, 3, 6, 5)
    attrs = dict(kernel_shape=list(kernel), pads=list(pads), strides=list(strides), ceil_mode=ceil)
    if kind == "avg":
        attrs["count_include_pad"] = include_pad
    blob = _build(x.shape, {}, "MaxPool" if kind == "max" else "AveragePool", ["x"], **attrs)
    ref = pool_ref(x, kernel, pads, strides, kind, include_pad, ceil)
    _check(blob, x, ref, exact=kind == "max")


def test_max_pool_dilation_and_nan():
    x = rnd(1, 1, 5, 5)
    x[0, 0, 0, 0] = np.nan
    blob = _build(x.shape, {}, "MaxPool", ["x"], kernel_shape=[2, 2], dilations=[2, 2])
    ref = pool_ref(x, (2, 2), (0,) * 4, (1, 1), "max", dil=(2, 2))
    y = _check(blob, x, ref, exact=True)
    assert y.view(np.uint32)[0, 0, 0, 0] == 0x7FC00000


def test_global_average_pool():
    x = rnd(2, 3, 4, 5)
    blob = _build(x.shape, {}, "GlobalAveragePool", ["x"])
    _check(blob, x, x.astype(np.float64).mean(axis=(2, 3), keepdims=True))


def test_shape_ops_exact():
    x = rnd(2, 3, 4)
    cases = [
        (_build(x.shape, {}, "Reshape", ["x"], shapes=[(4, 6)]), x.reshape(4, 6)),
        (_build(x.shape, {}, "Flatten", ["x"], axis=2), x.reshape(6, 4)),
        (_build(x.shape, {}, "Flatten", ["x"], axis=0), x.reshape(1, 24)),
        (_build(x.shape, {}, "Transpose", ["x"]), x.transpose()),
        (_build(x.shape, {}, "Transpose", ["x"], perm=[1, 0, 2]), x.transpose(1, 0, 2)),
        (_build(x.shape, {}, "Identity", ["x"]), x),
        (_build(x.shape, {}, "Unsqueeze", ["x"], axes=[0, -1]), x[None, ..., None]),
        (_build(x.shape, {"c": rnd(2, 5, 4)}, "Concat", ["x", "c"], axis=1), None),
    ]
    for blob, ref in cases[:-1]:
        _check(blob, x, ref, exact=True)
    c = minidnn.read_model(cases[-1][0]).tensors["c"].data
    _check(cases[-1][0], x, np.concatenate([x, c], axis=1), exact=True)
    x1 = rnd(1, 3, 1, 2)
    _check(_build(x1.shape, {}, "Squeeze", ["x"]), x1, x1.reshape(3, 2), exact=True)
    _check(_build(x1.shape, {}, "Squeeze", ["x"], axes=[-2]), x1, x1.reshape(1, 3, 2), exact=True)
    c = np.arange(6, dtype=np.float32).reshape(1, 3, 1, 2)
    blob = _build(x1.shape, {"c": c}, "Concat", ["c", "x", "c"], axis=-1)
    _check(blob, x1, np.concatenate([c, x1, c], axis=-1), exact=True)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_embedding(axis):
    table = rnd(5, 4, 3)
    idx = np.array([[0, 2], [1, 1]], np.int64)
    idx = idx % table.shape[axis]
    b = ModelBuilder().add_input("x", table.shape).add_initializer("i", idx)
    b.add_node("Gather", ["x", "i"], ["y"], axis=axis)
    _check(b.set_output("y").to_bytes(), table, np.take(table, idx, axis=axis), exact=True)


def test_gather_float_indices_from_input():
    table = rnd(6, 4)
    b = ModelBuilder().add_input("i", (3,)).add_initializer("t", table)
    b.add_node("Gather", ["t", "i"], ["y"], axis=0)
    idx = np.array([5, 0, -2], np.float32)
    _check(b.set_output("y").to_bytes(), idx, table[[5, 0, 4]], exact=True)


def _resize_ref(x, scales, coord, nearest):
    out_shape = [int(np.floor(d * s)) for d, s in zip(x.shape, scales, strict=True)]
    idx = []
    for n_in, n_out, s in zip(x.shape, out_shape, scales, strict=True):
        o = np.arange(n_out, dtype=np.float64)
        if coord == "asymmetric":
            orig = o / s
        elif coord == "align_corners":
            orig = o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0 * o
        else:
            orig = (o + 0.5) / s - 0.5
        fl = np.floor(orig)
        frac = orig - fl
        if nearest == "floor":
            r = fl
        elif nearest == "ceil":
            r = np.ceil(orig)
        elif nearest == "round_prefer_ceil":
            r = np.where(frac >= 0.5, fl + 1, fl)
        else:
            r = np.where(frac > 0.5, fl + 1, fl)
        idx.append(np.clip(r, 0, n_in - 1).astype(int))
    return x[np.ix_(*idx)]


@pytest.mark.parametrize("scales, coord, nearest", [
    ([1, 1, 2, 2], "half_pixel", "round_prefer_floor"), ([1, 1, 3, 2], "asymmetric", "floor"),
    ([1, 1, 2, 3], "align_corners", "round_prefer_ceil"), ([1, 1, 0.5, 1.5], "asymmetric", "ceil")])
def test_resize_nearest(scales, coord, nearest):
    x = rnd(1, 2, 4, 4)
    blob = _build(x.shape, {}, "Resize", ["x"], scales=scales, coord_mode=coord, nearest_mode=nearest)
    _check(blob, x, _resize_ref(x, scales, coord, nearest), exact=True)


def test_copies_canonicalize_nan():
    x = np.array([[1.0, 2.0]], np.float32)
    x.view(np.uint32)[0, 1] = 0x7FA00001  # a signalling NaN with payload
    blob = _build(x.shape, {}, "Identity", ["x"])
    y = minidnn.infer(blob, x)
    assert y.view(np.uint32).tolist() == [[0x3F800000, 0x7FC00000]]
