/* Host-only accuracy scan of mathf.c against the C library's double functions (not part of the
 * runtime). Build: minidnn/csrc/tests/build_ulp_scan.sh; run: ulp_scan [stride] [func...].
 * Scans every `stride`-th float32 bit pattern (both signs) and prints, per function, the max
 * error in float32 ulps of the float64 reference, where it occurs, and the mean. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mathf.h"

typedef float32_t (*mf_fn)(float32_t);
typedef double (*ref_fn)(double);

static double gelu_ref(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
static double gelu_tanh_ref(double x) {
  double u = sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
  return x / (1.0 + exp(-2.0 * u));  /* = x/2 (1 + tanh u) without cancellation */
}
static double sigmoid_ref(double x) { return 1.0 / (1.0 + exp(-x)); }

static const struct { const char *name; mf_fn f; ref_fn ref; } FUNCS[] = {
  {"exp", mf_exp, exp}, {"log", mf_log, log}, {"tanh", mf_tanh, tanh},
  {"sigmoid", mf_sigmoid, sigmoid_ref}, {"erf", mf_erf, erf}, {"erfc", mf_erfc, erfc},
  {"gelu", mf_gelu, gelu_ref}, {"gelu_tanh", mf_gelu_tanh, gelu_tanh_ref},
  {"sqrt", mf_sqrt, sqrt},
};

static double ulp_of(double r) {
  r = fabs(r);
  if (r < 0x1p-126) return 0x1p-149;
  int e;
  frexp(r, &e);  /* r = m 2^e, m in [0.5, 1) */
  return ldexp(1.0, e - 24);
}

static float as_float(uint32_t bits) { float f; memcpy(&f, &bits, 4); return f; }

int main(int argc, char **argv) {
  uint64_t stride = argc > 1 ? strtoull(argv[1], 0, 0) : 97;
  for (size_t k = 0; k < sizeof FUNCS / sizeof FUNCS[0]; k++) {
    int wanted = argc <= 2;
    for (int a = 2; a < argc; a++) wanted |= strcmp(argv[a], FUNCS[k].name) == 0;
    if (!wanted) continue;
    double worst = 0, sum = 0, worst_x = 0, worst_mid = 0;
    uint64_t n = 0, bad_special = 0;
    for (uint64_t b = 0; b < 0x100000000ull; b += stride) {
      uint32_t bits = (uint32_t)b;
      float32_t x = mf_f32(bits);
      float32_t y = FUNCS[k].f(x);
      double xd = as_float(bits), yd = as_float(y.v);
      double ref = FUNCS[k].ref(xd);
      if (isnan(ref) || isnan(xd)) {
        /* NaN expected: must be the canonical one (gelu(-inf) = -0 is the documented limit) */
        if (y.v != MF_CANONICAL_NAN && !((FUNCS[k].f == mf_gelu || FUNCS[k].f == mf_gelu_tanh) && bits == 0xff800000u)) bad_special++;
        continue;
      }
      double err;
      if (isinf(yd) || isinf(ref) || fabs(ref) > 0x1.fffffep127) {
        float rf = (float)ref;
        err = (float)yd == rf ? 0 : 1e30;
      } else {
        err = fabs(yd - ref) / ulp_of(ref);
      }
      if (err > worst) { worst = err; worst_x = xd; }
      if (fabs(xd) <= 8 && fabs(ref) >= 0x1p-126 && err > worst_mid) worst_mid = err;
      sum += err;
      n++;
    }
    printf("%-10s max %.3f ulp at x=%.9g  max(|x|<=8, normal result) %.3f  mean %.4f  n=%llu"
           "  nan-errors=%llu\n", FUNCS[k].name, worst, worst_x, worst_mid, sum / n, (unsigned long long)n,
           (unsigned long long)bad_special);
  }
  return 0;
}
