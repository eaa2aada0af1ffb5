/* minidnn deterministic float32 math (see mathf.h, docs/math.md).
 *
 * Method: range reduction with exact (Cody-Waite) steps, near-minimax polynomials whose
 * float32 coefficients are stored as bit patterns (fitted by minidnn/csrc/tests/fit_mathf.py),
 * Horner evaluation, and scaling by powers of two built from integer bits. Every float op is a
 * SoftFloat call with round-to-nearest-even; the order of evaluation is the order written.
 */
#include "mathf.h"

#include <stdbool.h>

/* ---- constants (float32 bit patterns) ------------------------------------------------- */
#define ZERO 0x00000000u
#define NEG_ZERO 0x80000000u
#define HALF 0x3f000000u
#define ONE 0x3f800000u
#define TWO 0x40000000u
#define MINUS_ONE 0xbf800000u
#define POS_INF 0x7f800000u
#define NEG_INF 0xff800000u
#define SIGN 0x80000000u

#define LOG2E 0x3fb8aa3bu          /* 1/ln 2 */
#define EXP_LN2_HI 0x3f317200u     /* ln 2 high part, 15 significant bits: n*hi exact */
#define EXP_LN2_LO 0x35bfbe8eu     /* ln 2 - EXP_LN2_HI */
#define LOG_LN2_HI 0x3f317180u     /* ln 2 high part for log (k*hi exact for |k| <= 152) */
#define LOG_LN2_LO 0x3717f7d1u
#define SQRT2 0x3fb504f3u          /* mantissas above this are halved in log */
#define EXP_MAX 0x42b20000u        /* 89: exp overflows above */
#define EXP_MIN 0xc2d00000u        /* -104: exp underflows to +0 below */
#define TANH_SMALL 0x3f200000u     /* 0.625: polynomial below, exp form above */
#define TANH_ONE 0x41100000u       /* 9: tanh rounds to 1 at and above */
#define ERF_SMALL 0x3f580000u      /* 0.84375: erf polynomial below, 1 - erfc above */
#define ERFC_SMALL 0x3f000000u     /* 0.5: erfc = 1 - erf below, tail form above */
#define ERF_ONE 0x40800000u        /* 4: erf rounds to 1 at and above */
#define ERFC_ZERO 0x41280000u      /* 10.5: erfc underflows to +0 above */
#define GELU_ZERO 0xc1680000u      /* -14.5: gelu underflows to -0 below */
#define RSQRT2 0x3f3504f3u         /* 1/sqrt 2 */
#define TWO_SQRT_2_OVER_PI 0x3fcc422au /* 2 sqrt(2/pi) */
#define GELU_TANH_C 0x3d372713u    /* 0.044715 */

/* exp(r) = 1 + r + r^2 P(r), |r| <= ln2/2 */
static const uint32_t EXP_P[5] = {0x3efffffe, 0x3e2aaa49, 0x3d2aac79, 0x3c091cf0, 0x3ab5121d};
/* log1p(f) = 2s + s R(z), s = f/(2+f), z = s^2, R(z) = z LOG_R(z) */
static const uint32_t LOG_R[4] = {0x3f2aaaaa, 0x3ecccd3d, 0x3e921c78, 0x3e717983};
/* tanh(x) = x + x z P(z), z = x^2, |x| < 0.625 */
static const uint32_t TANH_P[5] = {0xbeaaaa99, 0x3e088393, 0xbd5c1e2d, 0x3ca9134e, 0xbbbaf0e7};
/* erf(x) = x + x P(x^2), |x| < 0.84375 */
static const uint32_t ERF_P[7] = {0x3e0375d4, 0xbec093a3, 0x3de71759, 0xbcdc0f20, 0x3baab7b6,
                                  0xba5853e4, 0x38ba2614};
/* y erfc(y) exp(y^2) = H_i(1/y - c_i) on y in [0.5,1), [1,2), [2,4), [4,10.5] */
static const uint32_t ERFC_H0[9] = {0x3eb81364, 0xbdf27aad, 0x3d07cf97, 0xbbc25ff5, 0xba98b92a,
                                    0x3b05f967, 0xbac2cdff, 0x3a78e0b1, 0xb9ebe06e};
static const uint32_t ERFC_H1[8] = {0x3eefb53c, 0xbe2d238f, 0x3c9e8122, 0x3d2507dc, 0xbd4ef7f0,
                                    0x3d1ae90b, 0xbc878e91, 0xbb03a747};
static const uint32_t ERFC_H2[7] = {0x3f07e677, 0xbe1b3944, 0xbdbc7f69, 0x3e3593c8, 0xbdee3714,
                                    0xbd37139b, 0x3e4ccde0};
static const uint32_t ERFC_H3[7] = {0x3f0e5ed0, 0xbdb76105, 0xbe5f81ba, 0x3e550d31, 0x3de8ea3c,
                                    0xbee2fef8, 0x3e8629e4};
#define ERFC_C0 0x3fc00000u /* 1.5 */
#define ERFC_C1 0x3f400000u /* 0.75 */
#define ERFC_C2 0x3ec00000u /* 0.375 */
#define ERFC_C3 0x3e30c30cu /* 0.17261904 */

static inline float32_t K(uint32_t bits) { return mf_f32(bits); }
static inline float32_t add(float32_t a, float32_t b) { return f32_add(a, b); }
static inline float32_t sub(float32_t a, float32_t b) { return f32_sub(a, b); }
static inline float32_t mul(float32_t a, float32_t b) { return f32_mul(a, b); }
static inline float32_t dvd(float32_t a, float32_t b) { return f32_div(a, b); }
static inline float32_t nan32(void) { return mf_f32(MF_CANONICAL_NAN); }
/* x with the sign bit of s. */
static inline float32_t with_sign(float32_t x, float32_t s) {
  return mf_f32((x.v & ~SIGN) | (s.v & SIGN));
}

/* c[0] + t (c[1] + t (... + t c[n-1])) */
static float32_t horner(const uint32_t *c, int n, float32_t t) {
  float32_t p = K(c[n - 1]);
  for (int i = n - 2; i >= 0; i--) p = add(mul(p, t), K(c[i]));
  return p;
}

/* 2^k for k in [-126, 127] */
static inline float32_t pow2(int32_t k) { return mf_f32((uint32_t)(k + 127) << 23); }

/* y * 2^n with a single rounding (exact first step when the result over/underflows). */
static float32_t scale2(float32_t y, int32_t n) {
  if (n > 127) {
    y = mul(y, pow2(127));
    n -= 127;
  } else if (n < -126) {
    y = mul(y, pow2(n + 100));
    n = -100;
  }
  return mul(y, pow2(n));
}

/* exp(hi + lo) = 2^n * result, |lo| small (lo ignored unless has_lo); hi in [-160, 89]. */
static float32_t exp_reduced(float32_t hi, float32_t lo, int has_lo, int32_t *n_out) {
  float32_t arg = has_lo ? add(hi, lo) : hi;
  int32_t n = (int32_t)f32_to_i32(mul(arg, K(LOG2E)), softfloat_round_near_even, false);
  float32_t nf = i32_to_f32(n);
  float32_t r = sub(hi, mul(nf, K(EXP_LN2_HI)));  /* exact */
  if (has_lo) r = add(r, lo);
  r = sub(r, mul(nf, K(EXP_LN2_LO)));
  float32_t p = mul(mul(r, r), horner(EXP_P, 5, r));
  *n_out = n;
  return add(K(ONE), add(r, p));
}

float32_t mf_max(float32_t a, float32_t b) {
  if (mf_isnan(a) || mf_isnan(b)) return nan32();
  if (f32_lt(a, b)) return b;
  if (f32_lt(b, a)) return a;
  return mf_f32(a.v & b.v);  /* equal: +0 wins over -0 */
}

float32_t mf_min(float32_t a, float32_t b) {
  if (mf_isnan(a) || mf_isnan(b)) return nan32();
  if (f32_lt(a, b)) return a;
  if (f32_lt(b, a)) return b;
  return mf_f32(a.v | b.v);  /* equal: -0 wins over +0 */
}

float32_t mf_sqrt(float32_t x) { return f32_canon(f32_sqrt(x)); }

float32_t mf_exp(float32_t x) {
  if (mf_isnan(x)) return nan32();
  if (!(x.v & SIGN)) {
    if (x.v > EXP_MAX) return K(POS_INF);  /* x > 89 (sign-magnitude compare) */
  } else if (x.v > EXP_MIN) {
    return K(ZERO);  /* x < -104 */
  }
  int32_t n;
  float32_t y = exp_reduced(x, K(ZERO), 0, &n);
  return scale2(y, n);
}

float32_t mf_log(float32_t x) {
  if (mf_isnan(x)) return nan32();
  if ((x.v & ~SIGN) == 0) return K(NEG_INF);
  if (x.v & SIGN) return nan32();
  if (x.v == POS_INF) return x;
  int32_t k = 0;
  if ((x.v >> 23) == 0) {  /* subnormal: scale into the normal range (exact) */
    x = mul(x, pow2(25));
    k = -25;
  }
  k += (int32_t)(x.v >> 23) - 127;
  float32_t m = mf_f32((x.v & 0x007fffffu) | ONE);  /* [1, 2) */
  if (m.v > SQRT2) {
    m.v -= 0x00800000u;  /* halve: [sqrt2/2, 1) */
    k += 1;
  }
  float32_t f = sub(m, K(ONE));  /* exact */
  float32_t s = dvd(f, add(K(TWO), f));
  float32_t z = mul(s, s);
  float32_t r = mul(horner(LOG_R, 4, z), z);
  float32_t hfsq = mul(mul(K(HALF), f), f);
  float32_t dk = i32_to_f32(k);
  /* dk ln2_hi - ((hfsq - (s (hfsq + R) + dk ln2_lo)) - f) */
  float32_t t = add(mul(s, add(hfsq, r)), mul(dk, K(LOG_LN2_LO)));
  return sub(mul(dk, K(LOG_LN2_HI)), sub(sub(hfsq, t), f));
}

float32_t mf_tanh(float32_t x) {
  if (mf_isnan(x)) return nan32();
  float32_t ax = mf_abs(x);
  float32_t r;
  if (ax.v >= TANH_ONE) {
    r = K(ONE);
  } else if (ax.v < TANH_SMALL) {
    float32_t z = mul(ax, ax);
    r = add(ax, mul(ax, mul(z, horner(TANH_P, 5, z))));
  } else {
    /* 1 - 2 / (exp(2|x|) + 1) */
    r = sub(K(ONE), dvd(K(TWO), add(mf_exp(add(ax, ax)), K(ONE))));
  }
  return with_sign(r, x);
}

float32_t mf_sigmoid(float32_t x) {
  if (mf_isnan(x)) return nan32();
  if (!(x.v & SIGN)) return dvd(K(ONE), add(K(ONE), mf_exp(mf_neg(x))));
  float32_t e = mf_exp(x);  /* x < 0: e / (1 + e) keeps relative accuracy */
  return dvd(e, add(K(ONE), e));
}

/* erf(x) for |x| < 0.84375, x >= 0 */
static float32_t erf_small(float32_t ax) {
  return add(ax, mul(ax, horner(ERF_P, 7, mul(ax, ax))));
}

/* h(y) = erfc(y) exp(y^2) = inv H(inv - c) for y in [0.5, 10.5], inv = 1/y given by the
 * caller (H nearly constant; y only selects the piece) */
static float32_t erfc_scaled(float32_t y, float32_t inv) {
  float32_t g;
  if (y.v < ONE) g = horner(ERFC_H0, 9, sub(inv, K(ERFC_C0)));
  else if (y.v < TWO) g = horner(ERFC_H1, 8, sub(inv, K(ERFC_C1)));
  else if (y.v < 0x40800000u) g = horner(ERFC_H2, 7, sub(inv, K(ERFC_C2)));
  else g = horner(ERFC_H3, 7, sub(inv, K(ERFC_C3)));
  return mul(inv, g);
}

/* m * exp(-c x^2) for x >= 0, c in {1, 1/2}: x = xh + xl with xh of 12 significant bits, so
 * c xh^2 is exact and the small rest c xl (x + xh) is added inside the exp reduction. */
static float32_t mul_exp_neg_sq(float32_t m, float32_t x, float32_t c) {
  float32_t xh = mf_f32(x.v & 0xfffff000u);
  float32_t hi = mul(mul(xh, xh), c);
  float32_t lo = mul(mul(sub(x, xh), add(x, xh)), c);
  int32_t n;
  float32_t y = exp_reduced(mf_neg(hi), mf_neg(lo), 1, &n);
  return scale2(mul(m, y), n);
}

/* erfc(y) for y in [0.5, 10.5] */
static float32_t erfc_tail(float32_t y) {
  return mul_exp_neg_sq(erfc_scaled(y, dvd(K(ONE), y)), y, K(ONE));
}

/* erf(|x|) for finite or infinite non-NaN x */
static float32_t erf_abs(float32_t ax) {
  if (ax.v < ERF_SMALL) return erf_small(ax);
  if (ax.v >= ERF_ONE) return K(ONE);
  return sub(K(ONE), erfc_tail(ax));
}

float32_t mf_erf(float32_t x) {
  if (mf_isnan(x)) return nan32();
  return with_sign(erf_abs(mf_abs(x)), x);
}

float32_t mf_erfc(float32_t x) {
  if (mf_isnan(x)) return nan32();
  float32_t ax = mf_abs(x);
  if (ax.v < ERFC_SMALL) return sub(K(ONE), with_sign(erf_small(ax), x));
  float32_t tail = ax.v > ERFC_ZERO ? K(ZERO) : erfc_tail(ax);
  return (x.v & SIGN) ? sub(K(TWO), tail) : tail;
}

float32_t mf_gelu(float32_t x) {
  if (mf_isnan(x)) return nan32();
  if (x.v > GELU_ZERO) return K(NEG_ZERO);  /* x < -14.5 (sign-magnitude compare), -inf */
  float32_t y = mul(x, K(RSQRT2));
  float32_t ay = mf_abs(y);
  float32_t half_x = mul(K(HALF), x);
  if ((x.v & SIGN) && ay.v >= ERFC_SMALL) {
    /* x/2 erfc(|x|/sqrt2) = (x/2) h(|y|) exp(-x^2/2); 1/|y| = sqrt2/|x| and x^2/2 are
     * taken from x (not from the rounded y) */
    float32_t ax = mf_abs(x);
    float32_t h = erfc_scaled(ay, dvd(K(SQRT2), ax));
    return mul_exp_neg_sq(mul(half_x, h), ax, K(HALF));
  }
  return mul(half_x, add(K(ONE), with_sign(erf_abs(ay), y)));
}

float32_t mf_gelu_tanh(float32_t x) {
  /* x/2 (1 + tanh u) = x sigmoid(2u): no cancellation for negative x */
  if (mf_isnan(x)) return nan32();
  if (x.v == NEG_INF) return K(NEG_ZERO);
  float32_t x3 = mul(mul(x, x), x);
  float32_t two_u = mul(K(TWO_SQRT_2_OVER_PI), add(x, mul(K(GELU_TANH_C), x3)));
  return mul(x, mf_sigmoid(two_u));
}

/* Kahan's trick: u = exp(x) rounded; (u - 1) is exact, and x / log(u) corrects u's rounding:
 * expm1(x) = ((u - 1) / log(u)) x (divided first: no overflow near the top of the range). */
float32_t mf_expm1(float32_t x) {
  if (mf_isnan(x)) return nan32();
  float32_t u = mf_exp(x);
  if (u.v == ONE) return x;                 /* |x| below half an ulp of 1: expm1(x) rounds to x */
  float32_t um1 = sub(u, K(ONE));
  if (um1.v == (ONE | SIGN)) return um1;    /* exp(x) underflowed against 1: -1 */
  if (mf_isinf(u)) return u;
  if (f32_lt(x, K(MINUS_ONE))) return um1; /* u <= 1/e: u - 1 has no cancellation (and is monotone) */
  return mul(dvd(um1, mf_log(u)), x);
}

/* Goldberg's trick: u = 1 + x rounded; log1p(x) = log(u) (x / (u - 1)), (u - 1) exact. */
float32_t mf_log1p(float32_t x) {
  if (mf_isnan(x)) return nan32();
  float32_t u = add(K(ONE), x);
  if (u.v == ONE) return x;                 /* |x| below half an ulp of 1 */
  if (mf_isinf(u) || u.v == ZERO) return mf_log(u);
  return f32_canon(mul(mf_log(u), dvd(x, sub(u, K(ONE)))));
}

float32_t mf_softplus(float32_t x) {
  if (mf_isnan(x)) return nan32();
  return add(mf_max(x, K(ZERO)), mf_log1p(mf_exp(mf_neg(mf_abs(x)))));
}

/* ---- sin, cos -------------------------------------------------------------------------------
 * |x| < pi/4: r = x. Else exact integer (Payne-Hanek) reduction: x = m 2^e (m the 24-bit
 * significand) times 96 bits of 2/pi taken from the bit where the product's weight reaches 4
 * (higher bits only add multiples of 4 quarter turns) gives the quadrant q (2 bits) and 64 bits
 * of the fraction f; f > 1/2 is folded to f - 1 (q + 1); r = f pi/2 in [-pi/4, pi/4], as a
 * float32 pair hi + lo (~31 correct bits, |lo| < 2^-23 |hi|), from a 32 x 32-bit product. Then
 * sin r = hi + (lo (1 - z/2) + hi z S(z)), cos r = 1 - (z/2 - (z^2 C(z) - hi lo)), z = hi^2,
 * with the Taylor polynomials S, C (degree 4; truncation < 0.05 ulp on [0, pi/4]). */
static const uint32_t TWO_OVER_PI[10] = {0xa2f9836eu, 0x4e441529u, 0xfc2757d1u, 0xf534ddc0u,
                                         0xdb629599u, 0x3c439041u, 0xfe5163abu, 0xdebbc561u,
                                         0xb7246e3au, 0x424dd2e0u}; /* 2/pi = 0.a2f9836e... */
#define PIO2_32 0xc90fdaa2u /* pi/2 * 2^31, truncated */
#define PIO4 0x3f490fdbu    /* pi/4 rounded up: |x| below it needs no reduction */
#define TRIG_TINY 0x39800000u /* 2^-12: sin x rounds to x, cos x to 1 below */
/* -1/6, 1/120, -1/5040, 1/362880 */
static const uint32_t SIN_S[4] = {0xbe2aaaabu, 0x3c088889u, 0xb9500d01u, 0x3638ef1du};
/* 1/24, -1/720, 1/40320, -1/3628800 */
static const uint32_t COS_C[4] = {0x3d2aaaabu, 0xbab60b61u, 0x37d00d01u, 0xb493f27eu};

/* 32 bits of the big-endian bit string `w` (n words) from bit `t` on (zero past the end). */
static uint32_t bits_at(const uint32_t *w, uint32_t n, uint32_t t) {
  uint32_t k = t >> 5, s = t & 31u;
  uint32_t a = k < n ? w[k] : 0u, b = k + 1 < n ? w[k + 1] : 0u;
  return s ? (a << s) | (b >> (32u - s)) : a;
}

/* 32 bits of the little-endian 4-word integer `n` from bit `t` up (t <= 96). */
static uint32_t bits_from(const uint32_t *n, uint32_t t) {
  uint32_t k = t >> 5, s = t & 31u;
  uint32_t lo = n[k], hi = k + 1 < 4 ? n[k + 1] : 0u;
  return s ? (lo >> s) | (hi << (32u - s)) : lo;
}

static uint32_t clz64(uint64_t v) {
  uint32_t hi = (uint32_t)(v >> 32);
  return hi ? (uint32_t)__builtin_clz(hi) : 32u + (uint32_t)__builtin_clz((uint32_t)v);
}

/* |x| = (q + r / (pi/2)) quarter turns (mod 4), r = hi + lo; ax >= pi/4, finite. */
static uint32_t trig_reduce(float32_t ax, float32_t *hi, float32_t *lo) {
  uint32_t m = (ax.v & 0x7fffffu) | 0x800000u;
  int32_t e = (int32_t)(ax.v >> 23) - 150; /* |x| = m 2^e, e in [-24, 104] */
  int32_t i0 = e - 1 > 1 ? e - 1 : 1;      /* first 2/pi bit used (1-based) */
  uint32_t sh = (uint32_t)(i0 + 95 - e);   /* the product m W has weight 2^-sh */
  uint32_t w0 = bits_at(TWO_OVER_PI, 10, (uint32_t)i0 - 1);
  uint32_t w1 = bits_at(TWO_OVER_PI, 10, (uint32_t)i0 + 31);
  uint32_t w2 = bits_at(TWO_OVER_PI, 10, (uint32_t)i0 + 63);
  uint64_t p2 = (uint64_t)m * w2;
  uint64_t p1 = (uint64_t)m * w1 + (p2 >> 32);
  uint64_t p0 = (uint64_t)m * w0 + (p1 >> 32);
  uint32_t n[4] = {(uint32_t)p2, (uint32_t)p1, (uint32_t)p0, (uint32_t)(p0 >> 32)};
  uint32_t q = bits_from(n, sh) & 3u;
  uint64_t f = ((uint64_t)bits_from(n, sh - 32) << 32) | bits_from(n, sh - 64);
  int neg = 0;
  if (f >> 63) { /* fraction above 1/2: r = (f - 1) pi/2, next quadrant */
    f = ~f + 1u;
    q = (q + 1u) & 3u;
    neg = 1;
  }
  if (f == 0) {
    *hi = *lo = K(ZERO);
    return q;
  }
  uint32_t lz = clz64(f);
  uint32_t a = (uint32_t)((f << lz) >> 32);    /* f = a 2^(-32-lz), top bit of a set */
  uint64_t p = (uint64_t)a * PIO2_32;          /* r = p 2^(-63-lz) */
  int32_t k = -63 - (int32_t)lz;
  if (!(p >> 63)) {
    p <<= 1;
    k -= 1;
  }
  *hi = mul(ui32_to_f32((uint32_t)(p >> 40)), pow2(k + 40)); /* exact */
  *lo = mul(ui32_to_f32((uint32_t)(p >> 16) & 0xffffffu), pow2(k + 16));
  if (neg) {
    *hi = mf_neg(*hi);
    *lo = mf_neg(*lo);
  }
  return q;
}

static float32_t sin_kernel(float32_t hi, float32_t lo) {
  float32_t z = mul(hi, hi);
  float32_t lo_c = sub(lo, mul(mul(lo, z), K(HALF)));
  return add(hi, add(lo_c, mul(mul(hi, z), horner(SIN_S, 4, z))));
}

static float32_t cos_kernel(float32_t hi, float32_t lo) {
  float32_t z = mul(hi, hi);
  float32_t tail = sub(mul(mul(z, z), horner(COS_C, 4, z)), mul(hi, lo));
  return sub(K(ONE), sub(mul(z, K(HALF)), tail));
}

/* which = 0: sin, 1: cos */
static float32_t trig(float32_t x, int which) {
  if (mf_isnan(x) || mf_isinf(x)) return nan32();
  float32_t ax = mf_abs(x), hi = ax, lo = K(ZERO);
  if (ax.v < TRIG_TINY) return which ? K(ONE) : x;
  uint32_t q = ax.v < PIO4 ? 0u : trig_reduce(ax, &hi, &lo);
  q = (q + (uint32_t)which) & 3u; /* cos x = sin(x + pi/2) */
  float32_t v = (q & 1u) ? cos_kernel(hi, lo) : sin_kernel(hi, lo);
  if (q & 2u) v = mf_neg(v);
  if (!which && (x.v & SIGN)) v = mf_neg(v);
  return f32_canon(v);
}

float32_t mf_sin(float32_t x) { return trig(x, 0); }
float32_t mf_cos(float32_t x) { return trig(x, 1); }
