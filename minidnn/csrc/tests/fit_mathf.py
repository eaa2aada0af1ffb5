"""Fit the polynomial coefficients used by minidnn/csrc/mathf.c (prints C tables).

Near-minimax fits (Lawson iterations on Chebyshev nodes, float64), rounded to float32.
Run: .venv/bin/python minidnn/csrc/tests/fit_mathf.py
The tables in mathf.c are the source of truth (a different LAPACK may change a last bit here).
"""

from __future__ import annotations

import math

import numpy as np

F32 = np.float32


def cheb_nodes(a: float, b: float, m: int = 4000) -> np.ndarray:
    """Chebyshev nodes of the first kind on [a, b]."""
    k = np.arange(m)
    return (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (k + 0.5) / m)


def lawson(basis: np.ndarray, target: np.ndarray, weight: np.ndarray, iters: int = 200):
    """Weighted near-minimax linear fit; returns (coefficients, max weighted error)."""
    u = np.full(len(target), 1.0 / len(target))
    for _ in range(iters):
        sw = np.sqrt(u) * weight
        c, *_ = np.linalg.lstsq(basis * sw[:, None], target * sw, rcond=None)
        e = np.abs((basis @ c - target) * weight)
        u = u * e
        u /= u.sum()
    return c, float(np.max(np.abs((basis @ c - target) * weight)))


def powers(t: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.stack([t**i for i in range(lo, hi + 1)], 1)


def table(name: str, c: np.ndarray, err: float) -> str:
    bits = ", ".join(f"0x{int(b):08x}" for b in c.astype(F32).view(np.uint32))
    return f"/* max weighted fit error {err:.3g} */\nstatic const uint32_t {name}[{len(c)}] = {{{bits}}};"


def fit_exp() -> str:
    """exp(r) = 1 + r + r^2 P(r), |r| <= ln2/2."""
    r = cheb_nodes(-0.3466, 0.3466)
    r = r[np.abs(r) > 1e-4]
    c, e = lawson(powers(r, 0, 4), (np.exp(r) - 1 - r) / r**2, r**2 / np.exp(r))
    return table("EXP_P", c, e)


def fit_log() -> str:
    """log1p(f) = 2s + s R(s^2), s = f/(2+f), R(z) = z (c1 + c2 z + ...)."""
    z = cheb_nodes(1e-12, (0.41422 / 2.41422) ** 2)
    s = np.sqrt(z)
    c, e = lawson(powers(z, 1, 4), 2 * np.arctanh(s) / s - 2, s / np.abs(np.log1p(2 * s / (1 - s))))
    return table("LOG_R", c, e)


def fit_tanh() -> str:
    """tanh(x) = x + x z P(z), z = x^2, |x| < 0.625."""
    x = cheb_nodes(1e-6, 0.625)
    z = x * x
    c, e = lawson(powers(z, 0, 4), (np.tanh(x) / x - 1) / z, z * x / np.tanh(x))
    return table("TANH_P", c, e)


def fit_erf_small() -> str:
    """erf(x) = x + x P(x^2), |x| < 0.84375."""
    erf = np.vectorize(math.erf)
    x = cheb_nodes(1e-6, 0.84375)
    c, e = lawson(powers(x * x, 0, 6), erf(x) / x - 1, x / erf(x))
    return table("ERF_P", c, e)


ERFC_PIECES = [(0.5, 1.0, 8), (1.0, 2.0, 7), (2.0, 4.0, 6), (4.0, 10.5, 6)]


def fit_erfc_scaled() -> str:
    """y h(y) = y erfc(y) exp(y^2) (nearly constant) on pieces, polynomials in t = 1/y - centre."""
    erfc = np.vectorize(math.erfc)
    out = []
    for i, (a, b, deg) in enumerate(ERFC_PIECES):
        tc = F32((1 / a + 1 / b) / 2)
        y = cheb_nodes(a, b, 3000)
        g = y * erfc(y) * np.exp(y * y)
        c, e = lawson(powers(1 / y - float(tc), 0, deg), g, 1 / g, iters=100)
        out.append(f"/* y in [{a}, {b}), centre 1/y = {float(tc)!r} (0x{int(np.array(tc).view(np.uint32)):08x}) */")
        out.append(table(f"ERFC_H{i}", c, e))
    return "\n".join(out)


def main() -> None:
    for fit in (fit_exp, fit_log, fit_tanh, fit_erf_small, fit_erfc_scaled):
        print(fit())


if __name__ == "__main__":
    main()
