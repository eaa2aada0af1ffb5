/* Instruction-mix workload for the MIPS.sol differential test: unaligned copies (lwl/lwr/swl/swr),
 * byte and halfword access, 64-bit multiply, signed/unsigned division, shifts, jump tables, calls
 * through function pointers and recursion. The exit code is a checksum byte. */
#include <stdint.h>

struct __attribute__((packed)) rec {
  uint8_t tag;
  uint32_t a;
  int16_t b;
  uint32_t c;
};

static struct rec recs[8];
static volatile uint32_t sink;

static uint32_t fib(uint32_t n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
static uint32_t op_add(uint32_t x, uint32_t y) { return x + y; }
static uint32_t op_xor(uint32_t x, uint32_t y) { return x ^ (y << 3); }
static uint32_t op_div(uint32_t x, uint32_t y) { return x / (y | 1) + (uint32_t)((int32_t)x % (int32_t)(y | 3)); }
static uint32_t (*const ops[3])(uint32_t, uint32_t) = {op_add, op_xor, op_div};

static uint32_t classify(uint32_t v) {
  switch (v & 7) {
    case 0: return v >> 3;
    case 1: return (uint32_t)((int32_t)v >> 5);
    case 2: return v * 2654435761u;
    case 3: return ~v;
    case 4: return v << (v & 31);
    case 5: return (uint32_t)(((uint64_t)v * 0x9E3779B97F4A7C15ull) >> 32);
    case 6: return (uint32_t)(((int64_t)(int32_t)v * -12345) >> 16);
    default: return v - 17;
  }
}

int main(void) {
  uint32_t h = 2166136261u;
  char buf[64];
  for (int i = 0; i < 8; i++) {
    recs[i].tag = (uint8_t)(i * 37);
    recs[i].a = h;
    recs[i].b = (int16_t)(-i * 1000);
    recs[i].c = classify(h + (uint32_t)i);
    h = (h ^ recs[i].c) * 16777619u;
  }
  for (int round = 0; round < 6; round++) {
    for (int i = 0; i < 8; i++) {
      struct rec *r = &recs[(i + round) & 7];
      r->a = ops[(r->tag + round) % 3](r->a, r->c) + (uint32_t)r->b;
      r->c ^= classify(r->a);
      buf[(i * 7 + round) & 63] = (char)r->tag;
      h = (h ^ r->a ^ (uint32_t)(int8_t)buf[(i * 5) & 63]) * 16777619u;
    }
    for (int k = 1; k < 60; k += 7) {
      __builtin_memcpy(&buf[k], &recs[round].a, 4);  /* unaligned stores */
      uint32_t w;
      __builtin_memcpy(&w, &buf[k + 1], 4);          /* unaligned loads */
      h += w;
    }
  }
  h += fib(12);
  sink = h;
  return (int)(h & 0x7f);
}
