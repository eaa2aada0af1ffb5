/* Fast-runner workload: soft-float arithmetic, arrays on the stack and in .bss, calls, branches.
 * ITERATIONS sets the length (compile with -DITERATIONS=n); the exit code is a checksum byte. */
#ifndef ITERATIONS
#define ITERATIONS 200
#endif

static float table[256];
static volatile unsigned sink;

static float poly(float x) { return ((0.25f * x - 0.5f) * x + 1.0f) * x - 2.0f; }

int main(void) {
  float local[64];
  unsigned h = 2166136261u;
  for (int i = 0; i < 256; i++) table[i] = (float)i / 7.0f;
  for (int it = 0; it < ITERATIONS; it++) {
    for (int i = 0; i < 64; i++) local[i] = poly(table[(i * 5 + it) & 255]) / (1.0f + (float)it);
    for (int i = 0; i < 64; i++) {
      union { float f; unsigned u; } v = {local[i]};
      h = (h ^ v.u) * 16777619u;
    }
    table[it & 255] = local[it & 63];
    sink = h;
  }
  return (int)(h & 0x7f);
}
