/* minidnn VM entry: model at MODEL_BASE, input at INPUT_BASE, output to OUTPUT_BASE, scratch in
 * ARENA_BASE..ARENA_END. main's return value is the exit code (0 = success, else an MD_ERR_*
 * code, docs/model-format.md). Compiled only for the VM. The addresses copy mipsvm/layout.py
 * (tests/test_shared_numbers.py compares them). */
#if defined(__mips__)
#include "runtime.h"

#define ARENA_BASE 0x10000000u
#define ARENA_END 0x20000000u
#define INPUT_BASE 0x20000000u
#define OUTPUT_BASE 0x30000000u
#define MODEL_BASE 0x40000000u
#define MODEL_END 0x70000000u

int main(void) {
  const uint8_t *blob = (const uint8_t *)MODEL_BASE;
  md_info info;
  int rc = md_plan(blob, MODEL_END - MODEL_BASE, &info);
  if (rc) return rc;
  return md_run(blob, MODEL_END - MODEL_BASE, (const float32_t *)INPUT_BASE, info.input_size,
                (float32_t *)OUTPUT_BASE, info.output_size, (uint8_t *)ARENA_BASE,
                ARENA_END - ARENA_BASE);
}
#endif
