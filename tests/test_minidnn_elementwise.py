"""minidnn elementwise and normalization ops: native vs numpy references, native bytes == VM bytes.

Tolerances: Relu/LeakyRelu/Clip and Add/Sub/Mul/Div are exact (same IEEE operation as numpy
float32, NaN canonical). Sigmoid/Tanh/Erf/Gelu: ulp bounds of docs/math.md. Norm ops: see
NORM_TOL below (float64 reference; fixed-order float32 sums).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import minidnn
from minidnn.format import ModelBuilder
from minidnn.image import run_raw, run_vm

CANON_NAN = 0x7FC00000
F32 = np.float32

SPECIAL_BITS = [
    0x00000000, 0x80000000, 0x3F800000, 0xBF800000, 0x3F000000, 0xBF000000, 0x40200000,
    0x00000001, 0x80000001, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000,
    0x7FC00000, 0x7F800001, 0xFFC00001, 0x322BCC77, 0xB22BCC77,  # NaNs, +-1e-8
    0x41200000, 0xC1200000, 0x41A00000, 0xC1A00000, 0x42B00000, 0xC2B00000, 0x42C80000,
    0xC2C80000,  # +-10 +-20 +-88 +-100
]


def special_and_random(n_random: int, seed: int, scale: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rand = (rng.standard_normal(n_random) * scale).astype(F32)
    return np.concatenate([np.array(SPECIAL_BITS, np.uint32).view(F32), rand,
                           np.linspace(-8, 8, 129, dtype=F32)])


def unary_model(op: str, n: int, **attrs) -> bytes:
    b = ModelBuilder().add_input("x", (n,))
    b.add_node(op, ["x"], ["y"], **attrs)
    return b.set_output("y").to_bytes()


def run_both(blob: bytes, x: np.ndarray) -> np.ndarray:
    """Native result, after checking the VM produces the same bytes."""
    y = minidnn.infer(blob, x)
    vm = run_vm(blob, x)
    assert vm.exit_code == 0
    assert vm.output.shape == y.shape
    assert vm.output.astype(F32).tobytes() == y.tobytes(), "native and VM bytes differ"
    return y


def canon_bits(a: np.ndarray) -> np.ndarray:
    """float32 array -> bit patterns with every NaN canonical."""
    bits = np.ascontiguousarray(a, dtype=F32).view(np.uint32).copy()
    bits[np.isnan(a)] = CANON_NAN
    return bits


def assert_bits_equal(got: np.ndarray, want: np.ndarray) -> None:
    g, w = got.view(np.uint32).ravel(), canon_bits(want).ravel()
    bad = np.nonzero(g != w)[0]
    assert bad.size == 0, [(i, hex(g[i]), hex(w[i])) for i in bad[:6]]


def ulp_error(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    ref = np.asarray(ref, np.float64)
    _, e = np.frexp(np.abs(ref))
    ulp = np.where(np.abs(ref) < 2.0**-126, 2.0**-149, np.ldexp(1.0, e - 24))
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(got.astype(np.float64) - ref) / ulp
        ref32 = ref.astype(F32)
    return np.where(np.isinf(ref32) & (got == ref32), 0.0, err)


# ---- unary --------------------------------------------------------------------------------

def test_relu_exact() -> None:
    x = special_and_random(200, 1)
    y = run_both(unary_model("Relu", x.size), x)
    with np.errstate(invalid="ignore"):
        want = np.where(np.isnan(x), x, np.where(x > 0, x, F32(0)))
    assert_bits_equal(y, want)


def test_leaky_relu_exact() -> None:
    x = special_and_random(200, 2)
    for alpha in (0.01, 0.2):
        blob = unary_model("LeakyRelu", x.size, alpha=alpha)
        y = run_both(blob, x) if alpha == 0.2 else minidnn.infer(blob, x)
        with np.errstate(invalid="ignore", over="ignore"):
            want = np.where(x < 0, x * F32(alpha), x)
        assert_bits_equal(y, want)


def test_leaky_relu_default_alpha() -> None:
    x = np.array([-1.0, -300.0, 2.0], F32)
    b = ModelBuilder().add_input("x", (3,))
    b.add_node("LeakyRelu", ["x"], ["y"])
    y = minidnn.infer(b.set_output("y").to_bytes(), x)
    assert_bits_equal(y, np.where(x < 0, x * F32(0.01), x))


@pytest.mark.parametrize(("lo", "hi"), [(-1.5, 2.0), (None, 0.25), (-np.inf, np.inf)])
def test_clip_exact(lo: float | None, hi: float) -> None:
    x = special_and_random(100, 3)
    attrs = {"max": hi} if lo is None else {"min": lo, "max": hi}
    y = run_both(unary_model("Clip", x.size, **attrs), x)
    lo_v = -np.inf if lo is None else lo
    with np.errstate(invalid="ignore"):
        want = np.where(np.isnan(x), x, np.minimum(np.maximum(x, F32(lo_v)), F32(hi)))
    assert_bits_equal(y, want.astype(F32))


try:  # scipy comes with the converter's dependencies
    from scipy.special import erf as _erf
    from scipy.special import erfc as _erfc
except ImportError:  # pragma: no cover
    _erf = np.vectorize(math.erf, otypes=[float])
    _erfc = np.vectorize(math.erfc, otypes=[float])


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    u = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    return x / (1 + np.exp(-2 * u))


# op, attrs, float64 reference, max ulps on this sample (docs/math.md)
UNARY_CASES = [
    ("Sigmoid", {}, lambda x: 1 / (1 + np.exp(-x)), 2.5),
    ("Tanh", {}, np.tanh, 1.5),
    ("Erf", {}, _erf, 1.5),
    ("Gelu", {}, lambda x: 0.5 * x * _erfc(-x / math.sqrt(2)), 5.0),
    ("Gelu", {"approximate": 0}, lambda x: 0.5 * x * _erfc(-x / math.sqrt(2)), 5.0),
    ("Gelu", {"approximate": 1}, _gelu_tanh, 30.0),
]


@pytest.mark.parametrize(("op", "attrs", "ref", "ulps"), UNARY_CASES,
                         ids=["sigmoid", "tanh", "erf", "gelu", "gelu-erf", "gelu-tanh"])
def test_transcendental_ops(op: str, attrs: dict, ref, ulps: float) -> None:
    x = special_and_random(300, 4)
    y = run_both(unary_model(op, x.size, **attrs), x)
    with np.errstate(all="ignore"):
        want = ref(x.astype(np.float64))
    if op == "Gelu":  # the float64 formula gives -inf * 0 = NaN; minidnn returns the limit -0
        assert y.view(np.uint32)[np.isneginf(x)].tolist() == [0x80000000]
        want[np.isneginf(x)] = -0.0
    nan = np.isnan(want) | np.isnan(x)
    assert (y.view(np.uint32)[nan] == CANON_NAN).all()
    ok = ~nan & (np.abs(x) <= 4) if attrs.get("approximate") == 1 else ~nan
    err = ulp_error(y[ok], want[ok])
    assert err.max() <= ulps, (op, float(x[ok][np.argmax(err)]), float(err.max()))


def test_gelu_rejects_unknown_approximation() -> None:
    blob = unary_model("Gelu", 4, approximate=2)
    with pytest.raises(minidnn.ModelError) as exc:
        minidnn.infer(blob, np.zeros(4, F32))
    assert exc.value.code == 9
    assert run_raw(blob, np.zeros(4, F32).tobytes()).exit_code == 9


# ---- binary with broadcasting ----------------------------------------------------------------

NUMPY_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}
BROADCASTS = [  # (input shape, constant shape, constant first?)
    ((2, 3, 4), (2, 3, 4), False),
    ((2, 3, 4), (4,), False),
    ((3, 1), (1, 4), False),
    ((2, 1, 4), (3, 1), True),
    ((4,), (2, 3, 4), True),
    ((2, 3), (), False),
    ((1,), (2, 2), True),
]


def _operand(shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    pool = np.concatenate([np.array(SPECIAL_BITS, np.uint32).view(F32),
                           (rng.standard_normal(64) * 5).astype(F32)])
    return rng.choice(pool, n).reshape(shape).astype(F32)


@pytest.mark.parametrize("op", list(NUMPY_BINARY))
@pytest.mark.parametrize("case", range(len(BROADCASTS)))
def test_binary_broadcast_exact(op: str, case: int) -> None:
    xs, cs, const_first = BROADCASTS[case]
    x, c = _operand(xs, case), _operand(cs, 100 + case)
    b = ModelBuilder().add_input("x", xs).add_initializer("c", c)
    b.add_node(op, ["c", "x"] if const_first else ["x", "c"], ["y"])
    blob = b.set_output("y").to_bytes()
    vm_check = case in (1, 3, 4)  # three broadcast layouts per op on the VM
    y = run_both(blob, x) if vm_check else minidnn.infer(blob, x)
    with np.errstate(all="ignore"):
        want = NUMPY_BINARY[op](c, x) if const_first else NUMPY_BINARY[op](x, c)
    assert y.shape == want.shape
    assert_bits_equal(y, want.astype(F32))


def test_binary_same_input_twice() -> None:
    x = special_and_random(50, 5)
    b = ModelBuilder().add_input("x", x.shape)
    b.add_node("Mul", ["x", "x"], ["y"])
    y = run_both(b.set_output("y").to_bytes(), x)
    with np.errstate(all="ignore"):
        assert_bits_equal(y, x * x)


def test_binary_shape_mismatch_is_an_error() -> None:
    b = ModelBuilder().add_input("x", (3, 4)).add_initializer("c", np.ones(3, F32))
    b.add_node("Add", ["x", "c"], ["y"], shapes=[(3, 4)])
    blob = b.set_output("y").to_bytes()
    with pytest.raises(minidnn.ModelError) as exc:
        minidnn.infer(blob, np.zeros((3, 4), F32))
    assert exc.value.code == 10
    assert run_raw(blob, np.zeros(12, F32).tobytes()).exit_code == 10


def test_binary_wrong_output_shape_is_an_error() -> None:
    b = ModelBuilder().add_input("x", (3, 1)).add_initializer("c", np.ones((1, 4), F32))
    b.add_node("Add", ["x", "c"], ["y"], shapes=[(4, 3)])
    with pytest.raises(minidnn.ModelError) as exc:
        minidnn.infer(b.set_output("y").to_bytes(), np.zeros((3, 1), F32))
    assert exc.value.code == 10


# ---- normalization -------------------------------------------------------------------------

NORM_TOL = {"rtol": 1e-5, "atol": 2e-6}


def test_batch_norm() -> None:
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((2, 3, 4, 4)) * 2 + 0.5).astype(F32)
    scale, bias = rng.standard_normal(3).astype(F32), rng.standard_normal(3).astype(F32)
    mean, var = rng.standard_normal(3).astype(F32), rng.uniform(0.5, 2, 3).astype(F32)
    b = ModelBuilder().add_input("x", x.shape)
    for name, arr in (("s", scale), ("b", bias), ("m", mean), ("v", var)):
        b.add_initializer(name, arr)
    b.add_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)
    y = run_both(b.set_output("y").to_bytes(), x)
    c = (slice(None), None, None)
    x64 = x.astype(np.float64)
    want = (x64 - mean[c]) / np.sqrt(var[c].astype(np.float64) + 1e-3) * scale[c] + bias[c]
    np.testing.assert_allclose(y, want, **NORM_TOL)


@pytest.mark.parametrize(("axis", "with_bias"), [(-1, True), (1, True), (2, False)])
def test_layer_norm(axis: int, with_bias: bool) -> None:
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((2, 3, 8)) * 3 + 1).astype(F32)
    block = x.shape[axis % 3:]
    scale = rng.standard_normal(block).astype(F32)
    bias = rng.standard_normal(block).astype(F32)
    b = ModelBuilder().add_input("x", x.shape).add_initializer("s", scale)
    inputs = ["x", "s"]
    if with_bias:
        b.add_initializer("b", bias)
        inputs.append("b")
    b.add_node("LayerNormalization", inputs, ["y"], axis=axis, epsilon=1e-5)
    y = run_both(b.set_output("y").to_bytes(), x)
    axes = tuple(range(axis % 3, 3))
    x64 = x.astype(np.float64)
    mu = x64.mean(axis=axes, keepdims=True)
    var = ((x64 - mu) ** 2).mean(axis=axes, keepdims=True)
    want = (x64 - mu) / np.sqrt(var + 1e-5) * scale + (bias if with_bias else 0)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


def test_layer_norm_bad_scale_is_an_error() -> None:
    b = ModelBuilder().add_input("x", (2, 8)).add_initializer("s", np.ones(3, F32))
    b.add_node("LayerNormalization", ["x", "s"], ["y"], axis=-1)
    with pytest.raises(minidnn.ModelError) as exc:
        minidnn.infer(b.set_output("y").to_bytes(), np.zeros((2, 8), F32))
    assert exc.value.code == 10


def _softmax_input() -> np.ndarray:
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((3, 4, 5)) * 10).astype(F32)
    x[0] += F32(1000.0)  # overflows exp without the max subtraction
    x[1, 2, 3] = -np.inf
    return x


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax(axis: int) -> None:
    x = _softmax_input()
    b = ModelBuilder().add_input("x", x.shape)
    b.add_node("Softmax", ["x"], ["y"], axis=axis)
    y = run_both(b.set_output("y").to_bytes(), x)
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=axis, keepdims=True))
    want = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(y, want, rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(y.astype(np.float64).sum(axis=axis), 1.0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("axis", [0, 2])
def test_log_softmax(axis: int) -> None:
    x = _softmax_input()
    x[1, 2, 3] = -50.0
    b = ModelBuilder().add_input("x", x.shape)
    b.add_node("LogSoftmax", ["x"], ["y"], axis=axis)
    y = run_both(b.set_output("y").to_bytes(), x)
    x64 = x.astype(np.float64)
    m = x64.max(axis=axis, keepdims=True)
    want = (x64 - m) - np.log(np.exp(x64 - m).sum(axis=axis, keepdims=True))
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=2e-5)


def test_softmax_nan_line_is_canonical_nan() -> None:
    x = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]], F32)
    b = ModelBuilder().add_input("x", x.shape)
    b.add_node("Softmax", ["x"], ["y"], axis=1)
    y = minidnn.infer(b.set_output("y").to_bytes(), x)
    assert (y[0].view(np.uint32) == CANON_NAN).all()
    assert np.isfinite(y[1]).all()


def test_softmax_bad_axis_is_an_error() -> None:
    b = ModelBuilder().add_input("x", (2, 3))
    b.add_node("Softmax", ["x"], ["y"], axis=1)
    g = b.set_output("y").graph()
    g.nodes[0].attrs["axis"] = 5
    from minidnn.format import write_model

    blob = write_model(g)
    with pytest.raises(minidnn.ModelError) as exc:
        minidnn.infer(blob, np.zeros((2, 3), F32))
    assert exc.value.code == 9
    assert run_raw(blob, np.zeros(6, F32).tobytes()).exit_code == 9


# ---- the reference stepper (the spec) agrees too ---------------------------------------------

EDGE_16 = np.array([-20, -9.9, -3.3, -0.6, -1e-30, 0.3, 0.9, 2.2, 5.5, 12, np.inf, -np.inf,
                    np.nan, -0.0, 1e-40, 88.5], F32)


def _reference_models() -> list[tuple[str, bytes, np.ndarray]]:
    out = []
    for op, attrs in [("Relu", {}), ("LeakyRelu", {"alpha": 0.1}), ("Clip", {"min": -1.0}),
                      ("Sigmoid", {}), ("Tanh", {}), ("Erf", {}), ("Gelu", {}),
                      ("Gelu", {"approximate": 1})]:
        out.append((f"{op}{attrs}", unary_model(op, 16, **attrs), EDGE_16))
    x = EDGE_16.reshape(4, 4)
    for op, attrs in [("Softmax", {"axis": 1}), ("LogSoftmax", {"axis": 0})]:
        b = ModelBuilder().add_input("x", (4, 4))
        b.add_node(op, ["x"], ["y"], **attrs)
        out.append((op, b.set_output("y").to_bytes(), x))
    b = ModelBuilder().add_input("x", (4, 4)).add_initializer("s", np.arange(4, dtype=F32))
    b.add_initializer("c", np.array([[1.0], [-2.0], [0.5], [3.0]], F32))
    b.add_node("LayerNormalization", ["x", "s"], ["n"], axis=-1)
    b.add_node("Div", ["n", "c"], ["y"])
    out.append(("LayerNorm+Div", b.set_output("y").to_bytes(), np.nan_to_num(x, posinf=7, neginf=-7)))
    b = ModelBuilder().add_input("x", (1, 2, 2, 4))
    for name in ("s", "b", "m", "v"):
        b.add_initializer(name, np.array([0.5, 2.0], F32))
    b.add_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])
    out.append(("BatchNorm", b.set_output("y").to_bytes(), EDGE_16.reshape(1, 2, 2, 4)))
    return out


@pytest.mark.parametrize("case", range(len(_reference_models())))
def test_reference_stepper_bytes_equal_native(case: int) -> None:
    name, blob, x = _reference_models()[case]
    ref = run_vm(blob, x, engine="stepper")
    assert ref.exit_code == 0, name
    assert ref.output.astype(F32).tobytes() == minidnn.infer(blob, x).tobytes(), name
