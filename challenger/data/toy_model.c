/* A toy "model" for daemon tests and small demos: 16 input words -> 8 output words.
 * Input at INPUT_BASE (0x20000000), output at OUTPUT_BASE (0x30000000), exit 0.
 * A few thousand steps: enough for a real bisection game (a dozen rounds).
 * Two inputs end otherwise, after the same work, for the failure outcomes: last input word
 * TOY_TRAP -> a `break` (the VM halts with its trap exit code), TOY_SPIN -> never halts. */
typedef unsigned int u32;

#define INPUT_BASE 0x20000000u   /* copies of mipsvm/layout.py (tests/test_shared_numbers.py) */
#define OUTPUT_BASE 0x30000000u
#define INPUT ((volatile const u32 *)INPUT_BASE)
#define OUTPUT ((volatile u32 *)OUTPUT_BASE)
#define ROUNDS 24
#define TOY_TRAP 0x7a7a7a7au
#define TOY_SPIN 0x5b5b5b5bu

static u32 mix(u32 x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  return x;
}

int main(void) {
  u32 acc[8];
  for (int j = 0; j < 8; j++) acc[j] = (u32)j * 0x9e3779b9u;
  for (int r = 0; r < ROUNDS; r++) {
    for (int j = 0; j < 8; j++) {
      u32 s = acc[j];
      for (int i = 0; i < 16; i++) s = mix(s + INPUT[i] * (u32)(i + j + r + 1));
      acc[j] = s;
    }
  }
  for (int j = 0; j < 8; j++) OUTPUT[j] = acc[j];
  if (INPUT[15] == TOY_TRAP) __asm__ volatile("break");
  if (INPUT[15] == TOY_SPIN) for (volatile u32 k = 0;; k++) {}
  return 0;
}
