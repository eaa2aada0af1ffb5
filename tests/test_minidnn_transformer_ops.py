"""Kernels added for transformers: reductions, Slice, Expand, Where, comparisons, Not, Pow, Cast,
Sqrt/Exp/Log/Reciprocal, Elu/Softplus/PRelu, the int32 model input and run-time Gather.

Each kernel is checked against numpy (bit for bit where the op is one correctly rounded
operation per element or a copy, or a fold in the documented order), and its bytes native ==
VM (reference stepper).
"""

from __future__ import annotations

import numpy as np
import pytest

import minidnn
from minidnn.format import DTYPE_I32, ModelBuilder
from minidnn.image import run_state, run_vm, vm_image

RNG = np.random.default_rng(77)
NAN = np.uint32(0x7FC00000)


def rnd(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def build(x_shape: tuple[int, ...], op: str, inputs: list[str], consts: dict | None = None,
          shape: tuple[int, ...] | None = None, dtype: int = 0, **attrs: object) -> bytes:
    b = ModelBuilder().add_input("x", x_shape, dtype)
    for name, arr in (consts or {}).items():
        b.add_initializer(name, arr)
    b.add_node(op, inputs, ["y"], shapes=[shape] if shape is not None else None, **attrs)
    return b.set_output("y").to_bytes()


def same_bits(native: np.ndarray, want: np.ndarray) -> None:
    """Bytes equal, every NaN of `want` being the canonical NaN."""
    want = np.asarray(want, np.float32).copy()
    want[np.isnan(want)] = NAN.view(np.float32)
    assert native.shape == want.shape
    assert native.tobytes() == want.tobytes(), (native, want)


def run_both(blob: bytes, x: np.ndarray) -> np.ndarray:
    native = minidnn.infer(blob, x)
    vm = run_vm(blob, x, engine="stepper")
    assert vm.exit_code == 0 and vm.output.tobytes() == native.tobytes()
    return native


def sequential(x: np.ndarray, axes: tuple[int, ...], fn: str) -> np.ndarray:
    """float32 left-to-right fold over the reduced axes, in C order (the kernel's order)."""
    keep = [d for d in range(x.ndim) if d not in axes]
    moved = np.transpose(x, keep + list(axes))
    lead = moved.shape[:len(keep)]
    flat = moved.reshape(*lead, -1)
    acc = np.full(lead, -np.inf if fn == "max" else 0.0, np.float32)
    for k in range(flat.shape[-1]):
        v = flat[..., k]
        acc = np.where(np.isnan(acc) | np.isnan(v), np.nan, np.maximum(acc, v)).astype(np.float32) \
            if fn == "max" else (acc + v).astype(np.float32)
    if fn == "mean":
        acc = (acc / np.float32(flat.shape[-1])).astype(np.float32)
    return acc


@pytest.mark.parametrize("op, fn", [("ReduceSum", "sum"), ("ReduceMean", "mean"), ("ReduceMax", "max")])
@pytest.mark.parametrize("axes", [(2,), (0, 2), (1,), (0, 1, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_fold_in_c_order(op: str, fn: str, axes: tuple[int, ...], keepdims: bool) -> None:
    x = rnd(2, 3, 5) * np.float32(100)
    x[1, 2, 3] = np.nan if fn == "max" else x[1, 2, 3]
    want = sequential(x, axes, fn)
    if keepdims:
        want = want.reshape([1 if d in axes else n for d, n in enumerate(x.shape)])
    blob = build(x.shape, op, ["x"], shape=want.shape, axes=list(axes))
    same_bits(run_both(blob, x), want)


def test_reduction_rejects_a_wrong_output_shape_and_missing_axes() -> None:
    with pytest.raises(minidnn.ModelError) as info:
        minidnn.Model.load(build((2, 3), "ReduceSum", ["x"], shape=(3,), axes=[1])).run(rnd(2, 3))
    assert info.value.code == 10
    with pytest.raises(minidnn.ModelError) as info:
        minidnn.Model.load(build((2, 3), "ReduceSum", ["x"], shape=(2,))).run(rnd(2, 3))
    assert info.value.code == 9


@pytest.mark.parametrize("starts, steps, index", [
    ((0, 1, 0), (1, 1, 2), np.s_[:, 1:, ::2]),
    ((1, 2, 4), (-1, -1, -1), np.s_[::-1, 2::-1, ::-1]),
    ((0, 0, 3), (1, 2, -3), np.s_[:, ::2, 3::-3]),
])
def test_slice_matches_numpy(starts: tuple, steps: tuple, index: tuple) -> None:
    x = rnd(2, 3, 5)
    want = x[index]
    blob = build(x.shape, "Slice", ["x"], shape=want.shape, starts=list(starts), steps=list(steps))
    same_bits(run_both(blob, x), want)


def test_slice_out_of_range_is_a_shape_error() -> None:
    blob = build((4,), "Slice", ["x"], shape=(3,), starts=[2], steps=[1])
    with pytest.raises(minidnn.ModelError) as info:
        minidnn.infer(blob, rnd(4))
    assert info.value.code == 10


def test_expand_and_where_broadcast() -> None:
    x = rnd(3, 1)
    same_bits(run_both(build(x.shape, "Expand", ["x"], shape=(2, 3, 4)), x), np.broadcast_to(x, (2, 3, 4)))
    cond = (RNG.random((1, 4)) > 0.5).astype(np.float32)
    cond[0, 0] = -0.0  # -0 is false
    other = np.array([np.inf, -np.inf, np.nan], np.float32).reshape(3, 1)
    blob = build(x.shape, "Where", ["c", "x", "o"], {"c": cond, "o": other})
    same_bits(run_both(blob, x), np.where(cond != 0, x, other))


def test_comparisons_and_not() -> None:
    x = np.array([[-0.0, 0.0, 1.0, np.nan, -np.inf, 2.0]], np.float32)
    ref = np.array([[0.0], [1.0], [np.nan]], np.float32)
    for op, fn in (("Equal", np.equal), ("Less", np.less), ("Greater", np.greater)):
        with np.errstate(invalid="ignore"):
            want = fn(x, ref).astype(np.float32)
        same_bits(run_both(build(x.shape, op, ["x", "r"], {"r": ref}), x), want)
    same_bits(run_both(build(x.shape, "Not", ["x"]), x), (x == 0).astype(np.float32))


SPECIALS = np.array([-0.0, 0.0, -np.inf, np.inf, np.nan, -2.0, 2.0, 0.3, 3.3e38, 1e-40, -1.5], np.float32)


@pytest.mark.parametrize("e", [2.0, -1.0, 0.5, 0.0, 1.0])
def test_pow_exact_exponents_are_correctly_rounded(e: float) -> None:
    x = np.concatenate([SPECIALS, rnd(64) * 10])
    with np.errstate(all="ignore"):
        want = np.power(x.astype(np.float64), e).astype(np.float32)
    if e == 0.5:  # C99 pow (and onnxruntime), where numpy's power takes sqrt: pow(-0, .5) = +0, pow(-inf, .5) = +inf
        want[(x == 0)] = 0.0
        want[x == -np.inf] = np.inf
    blob = build(x.shape, "Pow", ["x", "e"], {"e": np.float32(e)})
    same_bits(run_both(blob, x), want)


def test_pow_other_exponents_multiply_left_to_right() -> None:
    x = np.concatenate([SPECIALS, rnd(32) * 3])
    e = np.array([3.0, -2.0, -0.5, 16.0], np.float32).reshape(4, 1)
    want = []
    with np.errstate(all="ignore"):
        for n in e.ravel():
            if n == -0.5:
                base = np.where(x == 0, 0, np.where(x == -np.inf, np.inf, x)).astype(np.float32)
                want.append((np.float32(1) / np.sqrt(base)).astype(np.float32))
                continue
            r = x.copy()
            for _ in range(int(abs(n)) - 1):
                r = (r * x).astype(np.float32)
            want.append((np.float32(1) / r).astype(np.float32) if n < 0 else r)
    blob = build(x.shape, "Pow", ["x", "e"], {"e": e})
    same_bits(run_both(blob, x), np.stack(want))


@pytest.mark.parametrize("e", [0.3, 17.0, np.nan, np.inf])
def test_pow_unsupported_exponent_is_error_16(e: float) -> None:
    blob = build((3,), "Pow", ["x", "e"], {"e": np.float32(e)})
    with pytest.raises(minidnn.ModelError) as info:
        minidnn.infer(blob, rnd(3))
    assert info.value.code == 16


def test_unary_math_ops() -> None:
    x = np.concatenate([SPECIALS, rnd(64) * 4])
    with np.errstate(all="ignore"):
        same_bits(run_both(build(x.shape, "Sqrt", ["x"]), x), np.sqrt(x.astype(np.float64)).astype(np.float32))
        same_bits(run_both(build(x.shape, "Reciprocal", ["x"]), x), (np.float32(1) / x).astype(np.float32))
    x = np.concatenate([x, np.array([1e30, -3e38, 1.5707964, 3.1415927, 6.2831855], np.float32)])
    for op, ref, ulps in (("Exp", np.exp, 1), ("Log", np.log, 1), ("Softplus", lambda v: np.logaddexp(0, v), 3),
                          ("Sin", np.sin, 1.1), ("Cos", np.cos, 1.1)):
        got = run_both(build(x.shape, op, ["x"]), x).astype(np.float64)
        with np.errstate(all="ignore"):
            want = ref(x.astype(np.float64))
        assert (np.isnan(got) == np.isnan(want)).all()
        ok = ~np.isnan(want) & np.isfinite(want)
        assert (got[~np.isnan(want) & ~ok] == want[~np.isnan(want) & ~ok]).all()
        assert (np.abs(got[ok] - want[ok]) <= ulps * np.spacing(np.abs(want[ok]).astype(np.float32))).all(), op


def test_elu_and_prelu() -> None:
    x = np.concatenate([SPECIALS, rnd(61)]).reshape(3, 24)
    got = run_both(build(x.shape, "Elu", ["x"], alpha=0.5), x)
    with np.errstate(all="ignore"):
        want = np.where(x < 0, 0.5 * np.expm1(x.astype(np.float64)), x)
    close = np.isclose(got, want, rtol=3 * 2.0**-23, atol=0, equal_nan=True)
    assert close.all()
    assert got.view(np.uint32)[np.isnan(x)].tolist() == [NAN] * int(np.isnan(x).sum())
    slope = rnd(24)
    with np.errstate(invalid="ignore"):
        want = np.where(x < 0, (slope * x).astype(np.float32), x)
    same_bits(run_both(build(x.shape, "PRelu", ["x", "s"], {"s": slope}), x), want)


def test_cast_float_input() -> None:
    x = np.array([-2.7, -0.5, -0.0, 0.0, 0.5, 2.7, np.inf, -np.inf, np.nan, 3e9], np.float32)
    same_bits(run_both(build(x.shape, "Cast", ["x"], to="int"), x), np.trunc(x))
    same_bits(run_both(build(x.shape, "Cast", ["x"], to="bool"), x), (x != 0).astype(np.float32))  # NaN != 0: true
    same_bits(run_both(build(x.shape, "Cast", ["x"], to="float"), x), x)


def test_int32_input_cast_and_gather() -> None:
    ids = np.array([[0, 5, -1, 2**24 + 1, -(2**31)]], np.int32)
    blob = build(ids.shape, "Cast", ["x"], dtype=DTYPE_I32, to="float")
    model = minidnn.Model.load(blob)
    assert model.input_dtype == "int32"
    same_bits(run_both(blob, ids), ids.astype(np.float32))
    table = rnd(6, 3)
    blob = build((2, 2), "Gather", ["t", "x"], {"t": table}, dtype=DTYPE_I32)
    good = np.array([[0, 5], [-1, 3]])
    same_bits(run_both(blob, good), table[good])


def test_int32_input_is_checked() -> None:
    model = minidnn.Model.load(build((3,), "Cast", ["x"], dtype=DTYPE_I32, to="float"))
    with pytest.raises(minidnn.InputError, match="not an integer"):
        model.run(np.array([1.0, 2.5, 3.0]))
    with pytest.raises(minidnn.InputError, match="int32"):
        model.run(np.array([1, 2**31, 3]))
    assert model.run(np.array([1.0, 2.0, 3.0])).tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("bad", [6, -7, 2**31 - 1])
def test_gather_out_of_range_id_is_exit_code_15(bad: int) -> None:
    blob = build((2,), "Gather", ["t", "x"], {"t": rnd(6, 3)}, dtype=DTYPE_I32)
    ids = np.array([1, bad], np.int32)
    with pytest.raises(minidnn.ModelError) as info:
        minidnn.infer(blob, ids)
    assert info.value.code == 15
    final, _ = run_state(vm_image(blob).initial_state(ids), engine="stepper")
    assert final.exited and final.exit_code == 15  # the halted state the game proves


def test_only_the_input_may_be_an_int32_value() -> None:
    """An int32 value tensor other than the input is rejected when the model loads (BAD_TENSOR)."""
    from minidnn import format as mdf

    g = mdf.read_model(build((3,), "Relu", ["x"]))
    g.tensors["y"].dtype = DTYPE_I32
    with pytest.raises(minidnn.ModelError) as info:
        minidnn.Model.load(mdf.write_model(g))
    assert info.value.code == 6


def test_abs_floor_ceil_max_min_logic() -> None:
    x = np.concatenate([SPECIALS, np.array([-0.5, 0.5, -1.5, 2.5, -7.0], np.float32), rnd(16) * 5])
    same_bits(run_both(build(x.shape, "Abs", ["x"]), x), np.abs(x))
    same_bits(run_both(build(x.shape, "Floor", ["x"]), x), np.floor(x))
    same_bits(run_both(build(x.shape, "Ceil", ["x"]), x), np.ceil(x))  # ceil(-0.5) = -0
    other = np.concatenate([np.array([0.0, -0.0, np.nan, 1.0], np.float32), rnd(x.size - 4)])[::-1].copy()
    with np.errstate(invalid="ignore"):
        same_bits(run_both(build(x.shape, "Max", ["x", "o"], {"o": other}), x), np.maximum(x, other))
        same_bits(run_both(build(x.shape, "Min", ["x", "o"], {"o": other}), x), np.minimum(x, other))
        for op, fn in (("LessOrEqual", np.less_equal), ("GreaterOrEqual", np.greater_equal)):
            same_bits(run_both(build(x.shape, op, ["x", "o"], {"o": other}), x), fn(x, other).astype(np.float32))
    a, b = x != 0, other != 0  # NaN is true
    for op, fn in (("And", np.logical_and), ("Or", np.logical_or), ("Xor", np.logical_xor)):
        same_bits(run_both(build(x.shape, op, ["x", "o"], {"o": other}), x), fn(a, b).astype(np.float32))


@pytest.mark.parametrize("op, fn", [("ArgMax", np.argmax), ("ArgMin", np.argmin)])
@pytest.mark.parametrize("last", [0, 1])
def test_arg_extremes(op: str, fn: object, last: int) -> None:
    x = np.round(rnd(3, 5, 4)).astype(np.float32)  # ties
    x[1, 2, 3] = np.nan
    x[1, 4, 3] = np.nan
    for axis, keep in ((1, False), (2, True), (0, False)):
        src = np.flip(x, axis) if last else x
        idx = fn(src, axis=axis)
        want = (x.shape[axis] - 1 - idx if last else idx).astype(np.float32)
        if keep:
            want = np.expand_dims(want, axis)
        blob = build(x.shape, op, ["x"], shape=want.shape, axis=axis, select_last_index=last)
        same_bits(run_both(blob, x), want)
