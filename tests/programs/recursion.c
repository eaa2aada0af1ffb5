/* Recursion: fib, ackermann, mutual recursion, deep stack frames. */
#include "common.h"

__attribute__((noinline)) static u32 fib(u32 n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

__attribute__((noinline)) static u32 ack(u32 m, u32 n) {
  if (m == 0) return n + 1;
  if (n == 0) return ack(m - 1, 1);
  return ack(m - 1, ack(m, n - 1));
}

static int is_odd(u32 n);
__attribute__((noinline)) static int is_even(u32 n) { return n == 0 ? 1 : is_odd(n - 1); }
__attribute__((noinline)) static int is_odd(u32 n) { return n == 0 ? 0 : is_even(n - 1); }

__attribute__((noinline)) static u32 frame_sum(u32 depth, volatile u32 *prev) {
  volatile u32 local[8];
  for (u32 i = 0; i < 8; i++) local[i] = depth * 8 + i + (prev ? prev[i] : 0);
  if (depth == 0) return local[7];
  return frame_sum(depth - 1, local) ^ local[0];
}

int main(void) {
  results[0] = fib(18);
  results[1] = ack(2, 3);
  results[2] = is_even(101);
  results[3] = is_odd(77);
  results[4] = frame_sum(40, 0);
  return (int)(results[0] & 0x7f);
}
