"""minidnn SoftFloat glue (bit-exact vs softfloatpy) and mathf accuracy (ulps vs float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import softfloatpy as sfp
from minidnn_mathf_harness import MathF

CANON_NAN = 0x7FC00000

EDGE_BITS = np.array([
    0x00000000, 0x80000000,              # +-0
    0x00000001, 0x80000001, 0x007FFFFF,  # subnormals
    0x00800000, 0x80800000, 0x00800001,  # smallest normals
    0x3F800000, 0xBF800000, 0x3F800001, 0x3F7FFFFF,  # 1, -1, neighbours
    0x33800000, 0x33800001, 0x34000000,  # 2^-24 (tie against 1), 2^-23
    0x3F000000, 0x3FC00000, 0x40200000, 0x40600000, 0xC0200000,  # 0.5 1.5 2.5 3.5 -2.5
    0x3EFFFFFF, 0x4B000001, 0x4B800001, 0x4AFFFFFF,  # near 0.5, 2^23+.., 2^24+..
    0x4F000000, 0xCF000000, 0x4EFFFFFF, 0x4F800000,  # +-2^31, 2^32
    0x7F7FFFFF, 0xFF7FFFFF, 0x7F000000,  # max finite
    0x7F800000, 0xFF800000,              # +-inf
    0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FC00001, 0xFFBFFFFF,  # quiet/signalling NaNs
    0x501502F9, 0x3DCCCCCD, 0x40490FDB,  # 1e10, 0.1, pi
], dtype=np.uint32)


@pytest.fixture(scope="module")
def mf() -> MathF:
    return MathF()


def _sample_bits(n: int, seed: int) -> np.ndarray:
    """Random bit patterns (all classes) plus random 'ordinary' floats and the edge values."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    ordinary = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)).astype(np.float32)
    return np.concatenate([raw, ordinary.view(np.uint32), EDGE_BITS])


def _pairs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    a = _sample_bits(700, seed)
    b = _sample_bits(700, seed + 1)
    ea, eb = np.meshgrid(EDGE_BITS, EDGE_BITS)
    # near-ties: operands with equal exponents and a carry into the last bit
    rng = np.random.default_rng(seed + 2)
    base = rng.integers(0x3F800000, 0x3FFFFFFF, 300, dtype=np.uint32)
    return (np.concatenate([a, ea.ravel(), base, base]),
            np.concatenate([b, eb.ravel(), base + 1, np.full(300, 0x33800000, np.uint32)]))


def _f(bits: int) -> sfp.Float32:
    return sfp.Float32.from_bytes(int(bits).to_bytes(4, "big"))


def _u(f: sfp.Float32) -> int:
    return int.from_bytes(f.to_bytes(), "big")


SFP_BINARY = {"add": sfp.f32_add, "sub": sfp.f32_sub, "mul": sfp.f32_mul, "div": sfp.f32_div}
SFP_COMPARE = {"eq": sfp.f32_eq, "le": sfp.f32_le, "lt": sfp.f32_lt,
               "eq_signaling": sfp.f32_eq_signaling, "le_quiet": sfp.f32_le_quiet,
               "lt_quiet": sfp.f32_lt_quiet}
NE = sfp.RoundingMode.NEAR_EVEN


@pytest.mark.parametrize("name", list(SFP_BINARY))
def test_softfloat_binary_bit_exact(mf: MathF, name: str) -> None:
    sfp.set_rounding_mode(NE)
    a, b = _pairs(hash(name) % 1000)
    got = mf.binary(name, a, b).view(np.uint32)
    want = [_u(SFP_BINARY[name](_f(x), _f(y))) for x, y in zip(a, b, strict=True)]
    bad = np.nonzero(got != np.array(want, np.uint32))[0]
    assert bad.size == 0, [(hex(a[i]), hex(b[i]), hex(got[i]), hex(want[i])) for i in bad[:5]]


@pytest.mark.parametrize("name", list(SFP_COMPARE))
def test_softfloat_compare_bit_exact(mf: MathF, name: str) -> None:
    a, b = _pairs(7)
    got = mf.compare(name, a, b)
    want = np.array([bool(SFP_COMPARE[name](_f(x), _f(y))) for x, y in zip(a, b, strict=True)])
    assert np.array_equal(got, want)


def test_softfloat_conversions_bit_exact(mf: MathF) -> None:
    sfp.set_rounding_mode(NE)
    x = _sample_bits(3000, 11)
    ints = np.concatenate([x, np.array([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 16777217,
                                        16777219, 0x80000001, 33554435], np.uint32)])
    checks = {
        "sqrt": (x, lambda w: _u(sfp.f32_sqrt(_f(w)))),
        "i32_to_f32": (ints, lambda w: _u(sfp.i32_to_f32(sfp.Int32.from_int(
            int(np.uint32(w).view(np.int32)))))),
        "ui32_to_f32": (ints, lambda w: _u(sfp.ui32_to_f32(sfp.UInt32.from_int(int(w))))),
        "is_signaling_nan": (x, lambda w: int(sfp.f32_is_signaling_nan(_f(w)))),
    }
    for name, (words, ref) in checks.items():
        got = mf.convert(name, words)
        want = np.array([ref(w) for w in words], np.uint32)
        bad = np.nonzero(got != want)[0]
        assert bad.size == 0, (name, [(hex(words[i]), hex(got[i]), hex(want[i])) for i in bad[:5]])


@pytest.mark.parametrize("mode", list(sfp.RoundingMode))
def test_softfloat_rounding_conversions_bit_exact(mf: MathF, mode: sfp.RoundingMode) -> None:
    halves = (np.arange(-40, 41, dtype=np.float32) / 2).view(np.uint32)  # ties of every parity
    x = np.concatenate([_sample_bits(1000, 12), halves])
    checks = {
        "round_to_int": lambda w: _u(sfp.f32_round_to_int(_f(w), mode, False)),
        "to_i32": lambda w: sfp.f32_to_i32(_f(w), mode, False).to_int() & 0xFFFFFFFF,
        "to_ui32": lambda w: sfp.f32_to_ui32(_f(w), mode, False).to_int() & 0xFFFFFFFF,
    }
    for name, ref in checks.items():
        got = mf.convert(name, x, int(mode))
        want = np.array([ref(w) for w in x], np.uint32)
        bad = np.nonzero(got != want)[0]
        assert bad.size == 0, (name, [(hex(x[i]), hex(got[i]), hex(want[i])) for i in bad[:5]])


def test_arithmetic_nans_are_canonical(mf: MathF) -> None:
    nans = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FC12345, 0xFFFFFFFF], np.uint32)
    for name in ("add", "sub", "mul", "div"):
        out = mf.binary(name, nans, np.float32(1.5)).view(np.uint32)
        assert (out == CANON_NAN).all(), name
    inf = np.float32(np.inf)
    assert mf.binary("sub", inf, inf).view(np.uint32)[0] == CANON_NAN
    assert mf.binary("mul", np.float32(0), inf).view(np.uint32)[0] == CANON_NAN


def test_canon_and_min_max(mf: MathF) -> None:
    x = _sample_bits(2000, 3)
    out = mf.unary("canon", x).view(np.uint32)
    is_nan = np.isnan(x.view(np.float32))
    assert (out[is_nan] == CANON_NAN).all() and np.array_equal(out[~is_nan], x[~is_nan])
    a, b = _pairs(5)
    fa, fb = a.view(np.float32), b.view(np.float32)
    for name, ref in (("max", np.fmax), ("min", np.fmin)):
        got = mf.binary(name, a, b)
        either_nan = np.isnan(fa) | np.isnan(fb)
        assert (got.view(np.uint32)[either_nan] == CANON_NAN).all(), name
        assert np.array_equal(got[~either_nan], ref(fa, fb)[~either_nan]), name
    zeros = [np.float32(0.0), np.float32(-0.0)]
    for a0 in zeros:
        for b0 in zeros:
            negs = (a0.tobytes() + b0.tobytes()).count(0x80)
            want_max, want_min = (0x80000000 if negs == 2 else 0), (0x80000000 if negs else 0)
            assert mf.binary("max", a0, b0).view(np.uint32)[0] == want_max
            assert mf.binary("min", a0, b0).view(np.uint32)[0] == want_min


# ---- accuracy --------------------------------------------------------------------------------

try:  # scipy comes with the converter's dependencies; math.erf is the (slower) fallback
    from scipy.special import erf as _erf
    from scipy.special import erfc as _erfc
except ImportError:  # pragma: no cover
    _erf = np.vectorize(math.erf, otypes=[float])
    _erfc = np.vectorize(math.erfc, otypes=[float])


def _gelu_tanh_ref(x: np.ndarray) -> np.ndarray:
    u = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    return x / (1 + np.exp(-2 * u))  # = x/2 (1 + tanh u), without cancellation


REFERENCES = {
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "erf": _erf,
    "erfc": _erfc,
    "gelu": lambda x: 0.5 * x * _erfc(-x / math.sqrt(2)),
    "gelu_tanh": _gelu_tanh_ref,
    "sqrt": np.sqrt,
    "expm1": np.expm1,
    "log1p": np.log1p,
    "softplus": lambda x: np.logaddexp(0.0, x),
    "sin": np.sin,
    "cos": np.cos,
}

# Max error in float32 ulps of the float64 reference (docs/math.md has the measured figures;
# bounds here leave a little room above them).
ULP_BOUNDS = {"exp": 1.0, "log": 1.0, "tanh": 1.5, "sigmoid": 2.5, "erf": 1.5, "erfc": 4.5,
              "sqrt": 0.5, "expm1": 2.75, "log1p": 2.5, "softplus": 3.0,
              "sin": 1.1, "cos": 1.1}
# (domain |x| <= limit, bound)
GELU_BOUNDS = [(np.inf, 5.0)]
# gelu_tanh loses accuracy where x < 0 and |u| is large (rounding of u, amplified by exp)
GELU_TANH_BOUNDS = [(1.0, 3.5), (2.0, 9.0), (4.0, 28.0), (8.0, 120.0), (np.inf, 250.0)]


def ulp_error(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got - ref| in units of the float32 ulp at ref (2^-149 below the normal range)."""
    ref = np.asarray(ref, np.float64)
    _, e = np.frexp(np.abs(ref))
    ulp = np.where(np.abs(ref) < 2.0**-126, 2.0**-149, np.ldexp(1.0, e - 24))
    with np.errstate(invalid="ignore"):
        err = np.abs(got.astype(np.float64) - ref) / ulp
    with np.errstate(over="ignore"):
        ref32 = ref.astype(np.float32)  # overflows to inf where float32 rounding does
    both_inf = np.isinf(ref32) & (got == ref32)
    return np.where(both_inf, 0.0, err)


def _accuracy_sample(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    dense = np.linspace(-20, 20, 400_001, dtype=np.float32)
    small = np.linspace(-1, 1, 200_001, dtype=np.float32)
    x = np.concatenate([raw, dense, small, EDGE_BITS.view(np.float32)])
    return x[np.isfinite(x)]


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return _accuracy_sample(2024)


@pytest.mark.parametrize("name", list(ULP_BOUNDS))
def test_accuracy_ulps(mf: MathF, sample: np.ndarray, name: str) -> None:
    x = sample
    with np.errstate(all="ignore"):
        ref = REFERENCES[name](x.astype(np.float64))
    got = mf.unary(name, x)
    ok = ~np.isnan(ref)
    assert (got.view(np.uint32)[~ok] == CANON_NAN).all()
    err = ulp_error(got[ok], ref[ok])
    worst = int(np.argmax(err))
    assert err[worst] <= ULP_BOUNDS[name], (name, float(x[ok][worst]), float(err[worst]))


@pytest.mark.parametrize(("name", "bounds"), [("gelu", GELU_BOUNDS),
                                              ("gelu_tanh", GELU_TANH_BOUNDS)])
def test_gelu_accuracy_by_range(mf: MathF, sample: np.ndarray, name: str, bounds: list) -> None:
    x = sample
    with np.errstate(all="ignore"):
        err = ulp_error(mf.unary(name, x), REFERENCES[name](x.astype(np.float64)))
    for limit, bound in bounds:
        inside = np.abs(x) <= limit
        assert err[inside].max() <= bound, (limit, float(err[inside].max()))


SPECIAL = {
    # name: [(x, expected bits)]
    "exp": [(0.0, 0x3F800000), (-0.0, 0x3F800000), (np.inf, 0x7F800000), (-np.inf, 0),
            (89.0, 0x7F800000), (88.8, 0x7F800000), (-104.0, 0), (-103.0, 0x00000001),
            (1.0, 0x402DF854)],
    "log": [(0.0, 0xFF800000), (-0.0, 0xFF800000), (-1.0, CANON_NAN), (np.inf, 0x7F800000),
            (-np.inf, CANON_NAN), (1.0, 0), (2.0, 0x3F317218)],
    "tanh": [(0.0, 0), (-0.0, 0x80000000), (np.inf, 0x3F800000), (-np.inf, 0xBF800000),
             (20.0, 0x3F800000)],
    "sigmoid": [(0.0, 0x3F000000), (-0.0, 0x3F000000), (np.inf, 0x3F800000), (-np.inf, 0),
                (200.0, 0x3F800000)],
    "erf": [(0.0, 0), (-0.0, 0x80000000), (np.inf, 0x3F800000), (-np.inf, 0xBF800000),
            (5.0, 0x3F800000)],
    "erfc": [(0.0, 0x3F800000), (np.inf, 0), (-np.inf, 0x40000000), (20.0, 0)],
    "gelu": [(0.0, 0), (-0.0, 0x80000000), (np.inf, 0x7F800000), (-np.inf, 0x80000000),
             (-30.0, 0x80000000), (30.0, 0x41F00000)],
    "gelu_tanh": [(0.0, 0), (np.inf, 0x7F800000), (-np.inf, 0x80000000), (30.0, 0x41F00000)],
    "sqrt": [(0.0, 0), (-0.0, 0x80000000), (-1.0, CANON_NAN), (np.inf, 0x7F800000),
             (4.0, 0x40000000)],
    "expm1": [(0.0, 0), (-0.0, 0x80000000), (np.inf, 0x7F800000), (-np.inf, 0xBF800000),
              (-30.0, 0xBF800000), (100.0, 0x7F800000), (1e-10, 0x2EDBE6FF)],
    "log1p": [(0.0, 0), (-0.0, 0x80000000), (-1.0, 0xFF800000), (-2.0, CANON_NAN),
              (np.inf, 0x7F800000), (-np.inf, CANON_NAN), (1e-10, 0x2EDBE6FF)],
    "softplus": [(0.0, 0x3F317218), (-0.0, 0x3F317218), (np.inf, 0x7F800000), (-np.inf, 0),
                 (-200.0, 0), (200.0, 0x43480000)],
    "sin": [(0.0, 0), (-0.0, 0x80000000), (np.inf, CANON_NAN), (-np.inf, CANON_NAN), (1e-5, 0x3727C5AC),
            (-1e-5, 0xB727C5AC), (3.4028235e38, 0xBF0599B3)],
    "cos": [(0.0, 0x3F800000), (-0.0, 0x3F800000), (np.inf, CANON_NAN), (-np.inf, CANON_NAN),
            (1e-5, 0x3F800000), (3.4028235e38, 0x3F5A5F96)],
}


def test_trig_reduction_near_multiples_of_half_pi(mf: MathF) -> None:
    """Floats nearest to k pi/2 (large k too) and huge arguments: within 1.1 ulp of float64."""
    k = np.concatenate([np.arange(1, 2000), np.geomspace(2000, 1e30, 3000)])
    near = (k * (np.pi / 2)).astype(np.float32)
    x = np.concatenate([near, np.nextafter(near, np.float32(np.inf)), np.nextafter(near, np.float32(0))])
    for name, ref in (("sin", np.sin), ("cos", np.cos)):
        err = ulp_error(mf.unary(name, x), ref(x.astype(np.float64)))
        assert err.max() <= 1.1, (name, float(x[int(np.argmax(err))]), float(err.max()))


@pytest.mark.parametrize("name", list(SPECIAL))
def test_special_values(mf: MathF, name: str) -> None:
    xs = np.array([x for x, _ in SPECIAL[name]], np.float32)
    got = mf.unary(name, xs).view(np.uint32)
    want = np.array([w for _, w in SPECIAL[name]], np.uint32)
    assert [hex(v) for v in got] == [hex(v) for v in want]


@pytest.mark.parametrize("name", list(REFERENCES))
def test_nan_inputs_give_canonical_nan(mf: MathF, name: str) -> None:
    nans = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FC12345, 0xFFFFFFFF], np.uint32)
    assert (mf.unary(name, nans).view(np.uint32) == CANON_NAN).all()


def test_odd_functions_are_exactly_odd(mf: MathF, sample: np.ndarray) -> None:
    x = sample[:50_000]
    for name in ("tanh", "erf", "sin"):
        assert np.array_equal(mf.unary(name, -x), -mf.unary(name, x)), name
    assert np.array_equal(mf.unary("cos", -x).view(np.uint32), mf.unary("cos", x).view(np.uint32))


def test_monotone_on_dense_grid(mf: MathF) -> None:
    x = np.linspace(-12, 12, 200_001, dtype=np.float32)
    for name in ("exp", "tanh", "sigmoid", "erf", "expm1", "softplus"):
        y = mf.unary(name, x)
        assert (np.diff(y.astype(np.float64)) >= 0).all(), name
    y = mf.unary("log", np.linspace(1e-6, 100, 200_001, dtype=np.float32))
    assert (np.diff(y.astype(np.float64)) >= 0).all()

