/* Shared by the VM test programs: results[] is read back by tests/test_vm_stepper.py via the ELF symtab. */
#ifndef VMTEST_COMMON_H
#define VMTEST_COMMON_H
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
typedef long long i64;

volatile u32 results[64];

static inline u32 f2u(float f) {
  union { float f; u32 u; } x;
  x.f = f;
  return x.u;
}
static inline float u2f(u32 u) {
  union { float f; u32 u; } x;
  x.u = u;
  return x.f;
}
#endif
