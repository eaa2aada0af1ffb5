/* Soft-float (compiler_rt) float32/float64: add, mul, div, sqrt (Newton), conversions. */
#include "common.h"

volatile float fa[4] = {1.5f, -3.25f, 1e-3f, 12345.678f};
volatile float fb[4] = {0.1f, 7.0f, -2.5e4f, 3.0f};
volatile i32 ints[4] = {-7, 0, 1 << 24 | 1, 2147483647};
volatile double da = 2.0, db = 3.0;

static float newton_sqrtf(float x) {
  if (x <= 0.0f) return 0.0f;
  float g = x > 1.0f ? x : 1.0f;
  for (int i = 0; i < 40; i++) g = 0.5f * (g + x / g);
  return g;
}

int main(void) {
  u32 k = 0;
  for (int i = 0; i < 4; i++) {
    for (int j = 0; j < 4; j++) {
      results[k++] = f2u(fa[i] + fb[j]) ^ f2u(fa[i] * fb[j]) * 3u ^ f2u(fa[i] / fb[j]) * 5u;
    }
  }
  for (int i = 0; i < 4; i++) {
    results[k++] = f2u((float)ints[i]);
    results[k++] = (u32)(i32)(fa[i] * 100.0f);
    results[k++] = f2u(newton_sqrtf(fa[i] < 0 ? -fa[i] : fa[i]));
  }
  double d = da / db;
  union { double d; u64 u; } x = {d};
  results[k++] = (u32)x.u;
  results[k++] = (u32)(x.u >> 32);
  results[k++] = f2u((float)d);
  return (int)k;
}
