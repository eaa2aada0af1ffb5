/* Signed/unsigned compares, min/max, shifts of negative numbers, clz/clo patterns. */
#include "common.h"

volatile i32 sv[6] = {-2147483647 - 1, -1, 0, 1, 2147483647, -12345};
volatile u32 uv[6] = {0x80000000u, 0xFFFFFFFFu, 0, 1, 0x7FFFFFFFu, 0xFFFFCFC7u};

int main(void) {
  u32 bits = 0, k = 0;
  for (int i = 0; i < 6; i++) {
    for (int j = 0; j < 6; j++) {
      u32 m = (sv[i] < sv[j]) | (sv[i] <= sv[j]) << 1 | (uv[i] < uv[j]) << 2 | (uv[i] >= uv[j]) << 3 |
              (sv[i] > -5) << 4 | (uv[i] > 0xFFFF0000u) << 5 | (sv[i] == sv[j]) << 6;
      bits = bits * 131 + m;
      k += (u32)(sv[i] >> (j * 5)) + (uv[i] >> (j * 5)) + (u32)__builtin_clz(uv[i] | 1);
    }
  }
  results[0] = bits;
  results[1] = k;
  i32 mn = sv[0], mx = sv[0];
  for (int i = 1; i < 6; i++) {
    mn = sv[i] < mn ? sv[i] : mn;
    mx = sv[i] > mx ? sv[i] : mx;
  }
  results[2] = (u32)mn;
  results[3] = (u32)mx;
  return 0;
}
