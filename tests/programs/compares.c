/* Signed/unsigned compares, min/max, shifts of negative numbers, clz/clo patterns. */
#include "common.h"

volatile i32 sv[6] = {-2147483647 - 1, -1, 0, 1, 2147483647, -12345};
volatile u32 uv[6] = {0x80000000u, 0xFFFFFFFFu, 0, 1, 0x7FFFFFFFu, 0xFFFFCFC7u};

volatile signed char sc8[5] = {-128, -1, 0, 1, 127};
volatile short s16[5] = {-32768, -2, 0, 3, 32767};
volatile unsigned short u16[5] = {0, 1, 0x7FFF, 0x8000, 0xFFFF};

typedef i32 (*binop)(i32, i32);
__attribute__((noinline)) static i32 op_div(i32 a, i32 b) { return a / b; }
__attribute__((noinline)) static i32 op_mod(i32 a, i32 b) { return a % b; }
__attribute__((noinline)) static i32 op_mulhi(i32 a, i32 b) { return (i32)(((i64)a * b) >> 32); }
static binop ops[3] = {op_div, op_mod, op_mulhi};

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
  u32 w = 0;
  for (int i = 0; i < 5; i++) w = w * 37 + (u32)sc8[i] + (u32)s16[i] + u16[i] + (u32)(s16[i] < sc8[i]);
  results[4] = w;
  w = 0;
  for (int o = 0; o < 3; o++)
    for (int i = 0; i < 6; i++)
      for (int j = 0; j < 6; j++)
        if (sv[j] != 0 && !(sv[i] == -2147483647 - 1 && sv[j] == -1)) w = w * 3 + (u32)ops[o](sv[i], sv[j]);
  results[5] = w;
  return 0;
}
