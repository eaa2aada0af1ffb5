/* 64-bit arithmetic: mul/div/mod (compiler_rt helpers), shifts, signed and unsigned. */
#include "common.h"

volatile u64 ua[4] = {0xFFFFFFFFFFFFFFFFull, 0x123456789ABCDEF0ull, 1000000007ull, 0x8000000000000000ull};
volatile i64 sa[4] = {-9223372036854775807ll, -123456789012345ll, 987654321987ll, -7ll};
volatile u32 sh = 37;

int main(void) {
  u32 k = 0;
  for (int i = 0; i < 4; i++) {
    for (int j = 0; j < 4; j++) {
      u64 p = ua[i] * ua[j];
      u64 q = ua[i] / (ua[j] | 1);
      u64 r = ua[i] % (ua[j] | 1);
      i64 sp = (i64)((u64)sa[i] * (u64)sa[j]);
      i64 sq = sa[i] / sa[j];
      i64 sr = sa[i] % sa[j];
      results[k++ & 63] = (u32)(p ^ (p >> 32)) + (u32)q * 3 + (u32)(r >> 7);
      results[k++ & 63] = (u32)sp ^ (u32)((u64)sq >> 32) ^ (u32)sq ^ (u32)sr;
    }
    results[32 + i] = (u32)(ua[i] >> sh) ^ (u32)((u64)(sa[i] >> sh) >> 16) ^ (u32)(ua[i] << (sh - 30));
  }
  return 0;
}
